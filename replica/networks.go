package replica

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/replica/fold"
)

// This file runs networks that change: networks given by name, which may
// declare templates (a propagator per matching cell) and may be replaced or
// removed while the replica runs, and whose propagators may be shared with
// the other replicas running them (members.go).
//
// The network manager sees every cell the first time it changes (from the
// fold, under r.mu, before the runtime is told of the change), and at once
// when a network is set, every cell the replica holds. A cell that matches
// a template makes the instance its captures name; a cell that matches an
// aggregate's wildcard becomes one more input of it. Every instance is
// recorded, but it runs here only when this replica owns it: always,
// unless the network is shared, and then when the rendezvous hash over the
// live members running the network picks this replica.
//
// Lock order: r.mu, then netManager.mu, then the runtime's. Membership
// changes take netManager.mu alone.

// Template makes propagators for the cells that match it;
// network.Template implements it. It must be safe for concurrent use.
type Template interface {
	// Name names the template (in metrics and logs).
	Name() string
	// Match says whether cell makes (or belongs to) an instance, which
	// (key), and whether it is one more input of it (grows: an
	// aggregate's wildcard input).
	Match(cell string) (key string, grows, ok bool)
	// Instance builds the propagator of instance key; first is a cell
	// that matched a wildcard input ("" if none).
	Instance(key, first string) (propagators.Propagator, error)
	// InstanceName is the name of that propagator, without building it.
	InstanceName(key string) string
}

// Network is a network as a replica runs it. The command line builds it
// from a network file or from the log (see package network).
type Network struct {
	// Name identifies the network: SetNetwork replaces the network of the
	// same name, and shared networks are shared among the replicas that
	// run one of that name.
	Name        string
	Propagators []propagators.Propagator
	Templates   []Template
	// Initial values (constants) are refined once the replica is ready.
	Initial map[string]lattice.Value
	// Fingerprints identify the definition of each propagator and
	// template, by name: on SetNetwork, those whose fingerprint is
	// unchanged keep running untouched, with their instances.
	Fingerprints map[string]string
	// Shared shares the propagators and instances among the live
	// replicas that run this network (see Config.Heartbeat): each runs on
	// one of them, picked by rendezvous hashing.
	Shared bool
	// TypeOf, if set, gives the type a cell is declared with, so that a
	// declaration that conflicts with a cell's established type is
	// reported (it is not applied: the cell's type stays).
	TypeOf func(cell string) (string, bool)
}

// TemplateStatus says how many instances a template has.
type TemplateStatus struct {
	Network string `json:"network"`
	Name    string `json:"template"`
	// Instances counts the instances known (one per binding seen);
	// Running those that run here.
	Instances int `json:"instances"`
	Running   int `json:"running"`
}

// NetworkStatus says what a replica runs of a network.
type NetworkStatus struct {
	Name   string `json:"name"`
	Shared bool   `json:"shared"`
	// Members are the live replicas running the network (shared ones), by
	// id, this one included.
	Members []string `json:"members,omitempty"`
	// Propagators counts the concrete propagators; Running those running
	// here.
	Propagators int              `json:"propagators"`
	Running     int              `json:"running"`
	Templates   []TemplateStatus `json:"templates,omitempty"`
	// Conflicts counts declarations that disagree with a cell's
	// established type.
	Conflicts int `json:"type_conflicts"`
}

// netManager runs the replica's named networks.
type netManager struct {
	r  *Replica
	rt *propagators.Runtime

	mu      sync.Mutex
	nets    map[string]*netRun
	cells   map[string]struct{} // every cell seen
	members *members            // nil: no sharing
}

// netRun is one network's state.
type netRun struct {
	net       Network
	props     map[string]*instance // concrete propagators, by name
	tmpls     []*tmplRun
	conflicts int
}

type tmplRun struct {
	t       Template
	fp      string
	inst    map[string]*instance // by key
	running int                  // instances running here, kept as they start and stop
}

// instance is a concrete propagator or a template's instance.
type instance struct {
	name    string
	key     string
	p       propagators.Propagator // concrete only; instances are built when started
	tr      *tmplRun               // the template of an instance; nil for a concrete one
	grown   []string               // wildcard inputs seen, in order
	running bool
}

// setRunning records whether the instance runs here.
func (in *instance) setRunning(run bool) {
	if in.tr != nil && run != in.running {
		if run {
			in.tr.running++
		} else {
			in.tr.running--
		}
	}
	in.running = run
}

func newNetManager(r *Replica, rt *propagators.Runtime) *netManager {
	return &netManager{r: r, rt: rt, nets: map[string]*netRun{}, cells: map[string]struct{}{}}
}

// seen is told of every real change; the caller holds r.mu. Only a cell's
// first change does anything.
func (m *netManager) seen(cell string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cells[cell]; ok {
		return
	}
	m.cells[cell] = struct{}{}
	for _, nr := range m.nets {
		for _, tr := range nr.tmpls {
			m.match(nr, tr, cell)
		}
		m.checkType(nr, cell)
	}
}

// match makes or grows the instance cell belongs to, if any.
func (m *netManager) match(nr *netRun, tr *tmplRun, cell string) {
	key, grows, ok := tr.t.Match(cell)
	if !ok {
		return
	}
	in := tr.inst[key]
	if in == nil {
		in = &instance{name: tr.t.InstanceName(key), key: key, tr: tr}
		tr.inst[key] = in
	}
	if grows {
		in.grown = append(in.grown, cell)
	}
	switch {
	case in.running && grows:
		m.rt.AddInput(in.name, cell)
	case !in.running && m.owns(nr, in.name):
		m.start(tr.t, in)
	}
}

// start runs an instance here.
func (m *netManager) start(t Template, in *instance) {
	p := in.p
	if p == nil {
		first := ""
		if len(in.grown) > 0 {
			first = in.grown[0]
		}
		var err error
		if p, err = t.Instance(in.key, first); err != nil {
			m.r.log.Error("template instance not started", "template", t.Name(), "instance", in.name, "err", err)
			return
		}
	}
	if err := m.rt.Add(p); err != nil {
		m.r.log.Error("propagator not started", "propagator", in.name, "err", err)
		return
	}
	in.setRunning(true)
	if len(in.grown) > 1 {
		m.rt.AddInput(in.name, in.grown[1:]...)
	}
}

// owns reports whether this replica runs the named propagator of nr.
func (m *netManager) owns(nr *netRun, name string) bool {
	if !nr.net.Shared || m.members == nil {
		return true
	}
	return m.members.owner(m.shareKey(nr.net.Name), name) == m.members.self
}

// checkType reports a cell whose established type the network declares
// otherwise.
func (m *netManager) checkType(nr *netRun, cell string) {
	if nr.net.TypeOf == nil {
		return
	}
	want, ok := nr.net.TypeOf(cell)
	if !ok {
		return
	}
	if got := m.r.core.Type(cell); got != "" && got != want {
		nr.conflicts++
		m.r.log.Warn("a network declares a cell with another type than the one it has; the declaration is not applied",
			"network", nr.net.Name, "cell", cell, "declared", want, "type", got)
	}
}

// set replaces (or adds) a network: propagators and templates whose
// fingerprint is unchanged keep running; the others stop or start.
func (m *netManager) set(n Network) error {
	if n.Name == "" {
		return errors.New("replica: a network needs a name")
	}
	m.r.mu.RLock() // the cells held, and no fold meanwhile
	defer m.r.mu.RUnlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.nets[n.Name]
	nr := &netRun{net: n, props: map[string]*instance{}}
	keep, stop := kept(old, nr)
	m.rt.Remove(stop...)
	m.nets[n.Name] = nr
	if m.members != nil {
		m.members.setNetworks(m.sharedLocked())
	}
	for _, p := range n.Propagators {
		if keep[p.Name()] {
			nr.props[p.Name()].p = p
			continue
		}
		in := &instance{name: p.Name(), p: p}
		nr.props[p.Name()] = in
		if m.owns(nr, in.name) {
			m.start(nil, in)
		}
	}
	for _, t := range n.Templates {
		if keep[t.Name()] {
			i := slices.IndexFunc(old.tmpls, func(tr *tmplRun) bool { return tr.t.Name() == t.Name() })
			nr.tmpls = append(nr.tmpls, old.tmpls[i])
			continue
		}
		tr := &tmplRun{t: t, fp: n.Fingerprints[t.Name()], inst: map[string]*instance{}}
		nr.tmpls = append(nr.tmpls, tr)
	}
	m.r.core.Each(func(c fold.Cell) bool {
		m.cells[c.Name] = struct{}{}
		for _, tr := range nr.tmpls {
			if !keep[tr.t.Name()] {
				m.match(nr, tr, c.Name)
			}
		}
		m.checkType(nr, c.Name)
		return true
	})
	m.r.log.Info("network set", "network", n.Name, "propagators", len(n.Propagators), "templates", len(n.Templates),
		"kept", len(keep), "stopped", len(stop), "shared", n.Shared)
	if len(n.Initial) > 0 {
		m.r.spawn(func() { m.r.refineInitial(n.Name, n.Initial) })
	}
	return nil
}

// kept compares a network's new definition (nr, fresh) with the one
// running (old, nil if none): it moves the unchanged concrete propagators
// into nr and says which names are unchanged (propagators and templates,
// by fingerprint), and which running propagators must stop.
func kept(old, nr *netRun) (keep map[string]bool, stop []string) {
	keep = map[string]bool{}
	if old == nil {
		return keep, nil
	}
	n := nr.net
	same := func(name string, oldFP string) bool {
		fp, ok := n.Fingerprints[name]
		return ok && fp == oldFP
	}
	for name, in := range old.props {
		if same(name, old.net.Fingerprints[name]) && slices.ContainsFunc(n.Propagators, func(p propagators.Propagator) bool { return p.Name() == name }) {
			keep[name] = true
			nr.props[name] = in
		} else if in.running {
			stop = append(stop, name)
		}
	}
	for _, tr := range old.tmpls {
		if same(tr.t.Name(), tr.fp) && slices.ContainsFunc(n.Templates, func(t Template) bool { return t.Name() == tr.t.Name() }) {
			keep[tr.t.Name()] = true
			continue
		}
		for _, in := range tr.inst {
			if in.running {
				stop = append(stop, in.name)
			}
		}
	}
	return keep, stop
}

// remove stops a network's propagators and forgets it.
func (m *netManager) remove(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	nr := m.nets[name]
	if nr == nil {
		return false
	}
	var stop []string
	nr.each(func(_ Template, in *instance) {
		if in.running {
			stop = append(stop, in.name)
		}
	})
	m.rt.Remove(stop...)
	delete(m.nets, name)
	if m.members != nil {
		m.members.setNetworks(m.sharedLocked())
	}
	m.r.log.Info("network removed", "network", name, "stopped", len(stop))
	return true
}

// each calls fn for every concrete propagator (with a nil Template) and
// every instance.
func (nr *netRun) each(fn func(Template, *instance)) {
	for _, in := range nr.props {
		fn(nil, in)
	}
	for _, tr := range nr.tmpls {
		for _, in := range tr.inst {
			fn(tr.t, in)
		}
	}
}

// rebalance starts what this replica owns and stops what it no longer
// does, after the live members changed.
func (m *netManager) rebalance() {
	begin := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var stop []string
	started := 0
	for _, nr := range m.nets {
		if !nr.net.Shared {
			continue
		}
		nr.each(func(t Template, in *instance) {
			switch own := m.owns(nr, in.name); {
			case own && !in.running:
				m.start(t, in)
				started++
			case !own && in.running:
				in.setRunning(false)
				stop = append(stop, in.name)
			}
		})
	}
	m.rt.Remove(stop...)
	if started > 0 || len(stop) > 0 {
		m.r.log.Info("propagators rebalanced over the live replicas", "started", started, "stopped", len(stop),
			"took", time.Since(begin).Round(time.Millisecond))
	}
}

// shareKey is what a shared network is known by among the members: its
// name within its stream (two deployments on one NATS with the same
// prefix but different streams do not share).
func (m *netManager) shareKey(network string) string { return m.r.cfg.Stream + "/" + network }

// sharedLocked lists the shared networks, sorted.
func (m *netManager) sharedLocked() []string {
	var out []string
	for name, nr := range m.nets {
		if nr.net.Shared {
			out = append(out, m.shareKey(name))
		}
	}
	slices.Sort(out)
	return out
}

// status says what runs of each network.
func (m *netManager) status() []NetworkStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []NetworkStatus
	for _, name := range slices.Sorted(maps.Keys(m.nets)) {
		nr := m.nets[name]
		s := NetworkStatus{Name: name, Shared: nr.net.Shared, Propagators: len(nr.props), Conflicts: nr.conflicts}
		if nr.net.Shared && m.members != nil {
			s.Members = m.members.live(m.shareKey(name))
		}
		for _, in := range nr.props {
			if in.running {
				s.Running++
			}
		}
		for _, tr := range nr.tmpls {
			ts := TemplateStatus{Network: name, Name: tr.t.Name(), Instances: len(tr.inst), Running: tr.running}
			s.Templates = append(s.Templates, ts)
		}
		slices.SortFunc(s.Templates, func(a, b TemplateStatus) int { return cmp.Compare(a.Name, b.Name) })
		out = append(out, s)
	}
	return out
}

// SetNetwork runs n, or replaces the network of the same name: what
// changed (by Network.Fingerprints) stops or starts, the rest runs on
// untouched. It needs Config.LiveNetworks (ErrNoLiveNetworks). The
// network's propagators must refine only cells the replica holds.
func (r *Replica) SetNetwork(n Network) error {
	if r.nets == nil {
		return ErrNoLiveNetworks
	}
	for _, p := range n.Propagators {
		if err := r.checkOutputs(p); err != nil {
			return err
		}
	}
	return r.nets.set(n)
}

// RemoveNetwork stops the named network's propagators; it reports whether
// the network ran here.
func (r *Replica) RemoveNetwork(name string) bool {
	return r.nets != nil && r.nets.remove(name)
}

// Networks says what runs of each named network, sorted by name (nil
// without Config.LiveNetworks; empty, not nil, with it and none set).
func (r *Replica) Networks() []NetworkStatus {
	if r.nets == nil {
		return nil
	}
	return append([]NetworkStatus{}, r.nets.status()...)
}

// ErrNoLiveNetworks is returned by SetNetwork on a replica started without
// Config.LiveNetworks.
var ErrNoLiveNetworks = errors.New("replica: started without live networks")

// refineInitial publishes a network's constants once the replica is ready,
// retrying each until it is folded or the replica closes.
func (r *Replica) refineInitial(network string, initial map[string]lattice.Value) {
	select {
	case <-r.ready:
	case <-r.ctx.Done():
		return
	}
	for cell, v := range initial {
		for wait := 100 * time.Millisecond; !lattice.Leq(v, r.Value(cell)); wait = min(2*wait, 5*time.Second) {
			ctx, cancel := context.WithTimeout(r.ctx, initialAttempt)
			_, err := r.Refine(ctx, cell, v)
			cancel()
			if err == nil {
				break
			}
			r.log.Warn("initial value not published yet; retrying", "network", network, "cell", cell, "err", err, "retry_in", wait)
			if !r.sleep(wait) {
				return
			}
		}
	}
}

// checkOutputs checks that the replica may refine p's outputs.
func (r *Replica) checkOutputs(p propagators.Propagator) error {
	for _, out := range p.Outputs() {
		if err := r.checkRefinable(out); err != nil {
			return fmt.Errorf("replica: propagator %q refines %q: %w", p.Name(), out, err)
		}
	}
	return nil
}

// startLiveNetworks makes the network manager, sets Config.Networks, and
// starts following the other members.
func (r *Replica) startLiveNetworks() error {
	r.nets = newNetManager(r, r.rt)
	r.nets.members = newMembers(r.cfg.Conn, r.cfg.Prefix, r.cfg.Origin, r.cfg.Heartbeat, r.cfg.MemberTimeout)
	for _, n := range r.cfg.Networks {
		if err := r.SetNetwork(n); err != nil {
			return err
		}
	}
	r.spawn(func() {
		r.nets.members.run(r.ctx.Done(), r.nets.rebalance, func(msg string, args ...any) { r.log.Warn(msg, args...) })
	})
	return nil
}
