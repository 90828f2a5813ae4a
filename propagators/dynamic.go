package propagators

import (
	"fmt"
	"slices"
)

// A network that follows its cells changes while it runs: a template makes
// a propagator for each cell that appears, an aggregate over a pattern
// gains an input with each, and a network changed in the log starts and
// stops propagators. Add, Remove and AddInput do this on a running runtime
// without disturbing the other propagators. Each takes the runtime's lock
// only, never calls Cells, and may be called from any goroutine, including
// from inside a replica's fold, as Changed may.

// Add adds propagators to the runtime; each is queued for its first run,
// which sees every input as changed (so a propagator added late computes
// from the cells' current values). Names must be unique among the
// propagators running (ErrDuplicateName); on an error nothing is added.
func (rt *Runtime) Add(props ...Propagator) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	seen := make(map[string]bool, len(props))
	for i, p := range props {
		if p == nil {
			return fmt.Errorf("propagators: propagator %d is nil", i)
		}
		if _, dup := rt.byName[p.Name()]; dup || seen[p.Name()] {
			return fmt.Errorf("propagators: %w: %q", ErrDuplicateName, p.Name())
		}
		seen[p.Name()] = true
	}
	for _, p := range props {
		n := newNode(p)
		rt.nodes = append(rt.nodes, n)
		rt.byName[n.name] = n
		for _, in := range n.inputs {
			rt.byInput[in] = append(rt.byInput[in], n)
		}
		if !rt.closed {
			rt.enqueueLocked(n)
		}
	}
	return nil
}

// Remove stops the named propagators (names not running are ignored): they
// are never queued again, and a run under way finishes (its refinements,
// being refinements, are harmless). It returns how many it removed.
func (rt *Runtime) Remove(names ...string) int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	gone := 0
	for _, name := range names {
		n, ok := rt.byName[name]
		if !ok {
			continue
		}
		delete(rt.byName, name)
		n.removed = true
		gone++
		if n.timer != nil && n.timer.Stop() {
			n.timer = nil
			rt.deferred--
		}
		for _, in := range n.inputs {
			subs := slices.DeleteFunc(rt.byInput[in], func(m *node) bool { return m == n })
			if len(subs) == 0 {
				delete(rt.byInput, in)
			} else {
				rt.byInput[in] = subs
			}
		}
	}
	if gone == 0 {
		return 0
	}
	rt.nodes = slices.DeleteFunc(rt.nodes, func(n *node) bool { return n.removed })
	rt.queue = slices.DeleteFunc(rt.queue, func(n *node) bool {
		if n.removed {
			n.queued = false
		}
		return n.removed
	})
	rt.notifyIdleLocked()
	return gone
}

// AddInput makes cells inputs of the named propagator, and wakes it with
// them changed. It is for propagators that read only Inputs.Changed, such
// as the aggregates (Hull, Max, Min, Union): an aggregate over a pattern
// gains the cells that match it as they appear. The propagator's own
// Inputs are not changed; Inputs.All lists the cells added. It reports
// whether the propagator runs here (false: not added).
func (rt *Runtime) AddInput(name string, cells ...string) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	n, ok := rt.byName[name]
	if !ok {
		return false
	}
	for _, cell := range cells {
		if slices.Contains(rt.byInput[cell], n) {
			continue
		}
		// A run holds n.inputs cut at its length (job.all): appending
		// writes only past it.
		n.inputs = append(n.inputs, cell)
		rt.byInput[cell] = append(rt.byInput[cell], n)
		if !n.first {
			n.pending[cell] = struct{}{}
		}
	}
	rt.wakeLocked(n)
	return true
}

// Running reports whether the named propagator runs in the runtime.
func (rt *Runtime) Running(name string) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	_, ok := rt.byName[name]
	return ok
}

// Len returns how many propagators run in the runtime.
func (rt *Runtime) Len() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return len(rt.byName)
}
