package propagators

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Runtime. The zero value is valid: validate fills in
// the defaults.
type Config struct {
	// Workers is the number of goroutines running propagators. Default 4.
	Workers int
	// Logger receives failure reports. Default slog.Default().
	Logger *slog.Logger
	// OnEvent, if set, is called for every failure, synchronously from the
	// worker that saw it. It must not block, and must not call back into the
	// runtime's WaitQuiescent or Close.
	OnEvent func(Event)
	// Backoff is how long a propagator that has just failed waits before its
	// next run; it doubles with each consecutive failure up to MaxBackoff and
	// resets on success. This keeps a propagator that keeps failing from
	// spinning a CPU. Default 50ms; MaxBackoff default 5s.
	Backoff    time.Duration
	MaxBackoff time.Duration
}

func (c *Config) validate() error {
	if c.Workers < 0 || c.Backoff < 0 || c.MaxBackoff < 0 {
		return errors.New("propagators: negative Workers, Backoff or MaxBackoff")
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Backoff == 0 {
		c.Backoff = 50 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Second
	}
	c.MaxBackoff = max(c.MaxBackoff, c.Backoff)
	return nil
}

// Runtime runs propagators over cells: it wakes a propagator whenever one of
// its inputs changes and publishes the refinements it returns. See the
// package documentation for the design.
type Runtime struct {
	cells Cells
	cfg   Config

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{} // closed by Close

	mu       sync.Mutex
	nodes    []*node            // in the order given; Remove drops nodes
	byName   map[string]*node   // the nodes, by name
	byInput  map[string][]*node // the nodes each cell wakes
	cond     *sync.Cond
	queue    []*node // FIFO of queued nodes
	running  int
	deferred int
	started  bool
	closed   bool
	idle     chan struct{} // closed on the next busy → quiescent transition

	stats struct {
		fires, published, suppressed, contradictions, failures, panics, backoffs atomic.Uint64
	}
}

// node is the runtime's state for one propagator. Fields below mu are
// guarded by Runtime.mu; poisoned belongs to the worker running the node.
type node struct {
	p       Propagator
	name    string
	inputs  []string
	outputs map[string]struct{}
	outList []string

	// guarded by Runtime.mu
	removed         bool // by Remove: never queued again
	queued, running bool
	dirty           bool                // woken while running
	first           bool                // the next run sees every input as changed
	pending         map[string]struct{} // inputs changed since the last run
	failures        int                 // consecutive failed runs
	notBefore       time.Time           // end of the current backoff
	timer           *time.Timer         // set while waiting out a backoff

	// poisoned: an input was a contradiction, so every output has been
	// refined to a contradiction and Propagate is not called again.
	poisoned bool

	// runs, failed and published count this node's runs, failures and
	// published refinements, and contradicted mirrors poisoned, for
	// NodeStats (any goroutine).
	runs, failed, published atomic.Uint64
	contradicted            atomic.Bool
}

// New returns a runtime over cells for the given propagators. Every
// propagator is queued for its first run, which happens once Start is
// called. Names must be unique (ErrDuplicateName).
func New(cells Cells, props []Propagator, cfg Config) (*Runtime, error) {
	if cells == nil {
		return nil, errors.New("propagators: nil Cells")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	rt := &Runtime{cells: cells, cfg: cfg, byInput: map[string][]*node{}, byName: map[string]*node{}, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	rt.cond = sync.NewCond(&rt.mu)
	if err := rt.Add(props...); err != nil {
		cancel()
		return nil, err
	}
	return rt, nil
}

func newNode(p Propagator) *node {
	n := &node{p: p, name: p.Name(), outputs: map[string]struct{}{}, pending: map[string]struct{}{}, first: true}
	dup := map[string]bool{}
	for _, in := range p.Inputs() {
		if !dup[in] {
			dup[in] = true
			n.inputs = append(n.inputs, in)
		}
	}
	for _, out := range p.Outputs() {
		if _, ok := n.outputs[out]; !ok {
			n.outputs[out] = struct{}{}
			n.outList = append(n.outList, out)
		}
	}
	return n
}

// Start launches the workers. It does nothing if the runtime was started or
// closed already.
func (rt *Runtime) Start() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.started || rt.closed {
		return
	}
	rt.started = true
	rt.wg.Add(rt.cfg.Workers)
	for range rt.cfg.Workers {
		go rt.worker()
	}
}

// Close stops the workers, cancels running propagators and refinements, and
// waits for them to return. Changed is a no-op afterwards.
func (rt *Runtime) Close() error {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return nil
	}
	rt.closed = true
	for _, n := range rt.nodes {
		if n.timer != nil && n.timer.Stop() {
			n.timer = nil
			rt.deferred--
		}
	}
	rt.cond.Broadcast()
	close(rt.done)
	rt.mu.Unlock()
	rt.cancel()
	rt.wg.Wait()
	return nil
}

// Changed tells the runtime that a cell gained information. It marks the
// propagators that read the cell and queues those not queued yet; it never
// blocks on a propagator and is safe to call from any goroutine, including
// from inside Cells.Refine and while holding the replica's own locks: the
// runtime never calls Cells while holding its lock.
func (rt *Runtime) Changed(cell string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	subs := rt.byInput[cell]
	if rt.closed || len(subs) == 0 {
		return
	}
	for _, n := range subs {
		if !n.first {
			n.pending[cell] = struct{}{}
		}
		rt.wakeLocked(n)
	}
}

// wakeLocked queues n unless it is queued, running (then it reruns when it
// finishes) or waiting out a failure backoff (then it runs when that ends).
func (rt *Runtime) wakeLocked(n *node) {
	switch {
	case rt.closed || n.removed || n.queued || n.timer != nil:
	case n.running:
		n.dirty = true
	case n.failures > 0 && time.Now().Before(n.notBefore):
		n.timer = time.AfterFunc(time.Until(n.notBefore), func() { rt.release(n) })
		rt.deferred++
		rt.stats.backoffs.Add(1)
	default:
		rt.enqueueLocked(n)
	}
}

func (rt *Runtime) enqueueLocked(n *node) {
	n.queued = true
	rt.queue = append(rt.queue, n)
	rt.cond.Signal()
}

// release ends n's backoff.
func (rt *Runtime) release(n *node) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if n.timer == nil { // stopped by Close or Remove
		return
	}
	n.timer = nil
	rt.deferred--
	if !rt.closed && !n.removed {
		rt.enqueueLocked(n)
	}
}

// job is one run of a node: what changed since its previous run, and its
// inputs as they were when the run was taken (AddInput may add more).
type job struct {
	first   bool
	changed []string
	all     []string
}

func (rt *Runtime) worker() {
	defer rt.wg.Done()
	for {
		n, j, ok := rt.take()
		if !ok {
			return
		}
		failed := rt.run(n, j)
		rt.finish(n, j, failed)
	}
}

// take waits for a queued node and marks it running.
func (rt *Runtime) take() (*node, job, bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for len(rt.queue) == 0 && !rt.closed {
		rt.cond.Wait()
	}
	if rt.closed {
		return nil, job{}, false
	}
	n := rt.queue[0]
	rt.queue[0] = nil
	rt.queue = rt.queue[1:]
	n.queued, n.running = false, true
	rt.running++
	j := job{first: n.first, all: n.inputs[:len(n.inputs):len(n.inputs)]}
	if n.first {
		n.first = false
		j.changed = j.all
		clear(n.pending)
	} else {
		j.changed = make([]string, 0, len(n.pending))
		for c := range n.pending {
			j.changed = append(j.changed, c)
		}
		clear(n.pending)
	}
	return n, j, true
}

// finish marks n idle. A failed run's changes are kept for the next run,
// which waits out a backoff; a run woken meanwhile is queued again.
func (rt *Runtime) finish(n *node, j job, failed bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	n.running = false
	rt.running--
	if failed {
		n.failures++
		n.notBefore = time.Now().Add(rt.backoff(n.failures))
		if j.first {
			n.first = true
		} else {
			for _, c := range j.changed {
				n.pending[c] = struct{}{}
			}
		}
	} else {
		n.failures = 0
	}
	if n.dirty && !n.removed {
		n.dirty = false
		rt.wakeLocked(n)
	}
	rt.notifyIdleLocked()
}

func (rt *Runtime) backoff(failures int) time.Duration {
	d := rt.cfg.Backoff
	for i := 1; i < failures && d < rt.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, rt.cfg.MaxBackoff)
}

func (rt *Runtime) busyLocked() bool {
	return len(rt.queue) > 0 || rt.running > 0 || rt.deferred > 0
}

func (rt *Runtime) notifyIdleLocked() {
	if rt.idle != nil && !rt.busyLocked() {
		close(rt.idle)
		rt.idle = nil
	}
}

// Quiescent reports whether no propagator is queued, running (a running
// propagator includes its refinements in flight) or waiting out a backoff.
// Before Start, the first runs are queued, so a runtime with propagators is
// not quiescent.
func (rt *Runtime) Quiescent() bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return !rt.busyLocked()
}

// WaitQuiescent waits until the runtime is quiescent (see Quiescent), ctx is
// done (its error is returned) or the runtime is closed (ErrClosed).
// Because a replica queues a change's propagators before the Refine that
// made it returns, waiting after a refine waits for all its consequences.
func (rt *Runtime) WaitQuiescent(ctx context.Context) error {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return ErrClosed
	}
	if !rt.busyLocked() {
		rt.mu.Unlock()
		return nil
	}
	if rt.idle == nil {
		rt.idle = make(chan struct{})
	}
	idle := rt.idle
	rt.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-rt.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns the counters and gauges.
func (rt *Runtime) Stats() Stats {
	s := Stats{
		Fires:          rt.stats.fires.Load(),
		Published:      rt.stats.published.Load(),
		Suppressed:     rt.stats.suppressed.Load(),
		Contradictions: rt.stats.contradictions.Load(),
		Failures:       rt.stats.failures.Load(),
		Panics:         rt.stats.panics.Load(),
		Backoffs:       rt.stats.backoffs.Load(),
	}
	rt.mu.Lock()
	s.Queued, s.Running, s.Deferred = len(rt.queue), rt.running, rt.deferred
	rt.mu.Unlock()
	return s
}

// NodeStats returns the counters of each propagator, in the order they
// were given to New. The caller owns the slice.
func (rt *Runtime) NodeStats() []NodeStats {
	out := make([]NodeStats, len(rt.nodes))
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for i, n := range rt.nodes {
		out[i] = NodeStats{Name: n.name, Runs: n.runs.Load(), Failures: n.failed.Load(), Published: n.published.Load(),
			Failing: n.failures > 0, Poisoned: n.contradicted.Load()}
	}
	return out
}
