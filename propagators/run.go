package propagators

import (
	"log/slog"
	"runtime/debug"

	"github.com/dprop/dprop/lattice"
)

// maxLoggedInputs bounds how many changed inputs a failure report lists.
const maxLoggedInputs = 8

// maxLoggedValue bounds the bytes of one input value in a failure log.
const maxLoggedValue = 200

// run runs one propagator once and publishes what it returns; it reports
// whether anything failed.
func (rt *Runtime) run(n *node, j job) (failed bool) {
	rt.stats.fires.Add(1)
	n.runs.Add(1)
	in := &Inputs{cells: rt.cells, all: j.all, changed: j.changed, first: j.first}
	var refs []Refinement
	var err error
	if bad := contradicted(in); len(bad) > 0 {
		n.poisoned = true
		n.contradicted.Store(true)
		refs = contradictionRefinements(n, in, bad)
	} else if !n.poisoned {
		refs, err = rt.call(n, in)
	}
	if err != nil {
		failed = true
		kind := EventError
		if _, ok := err.(*PanicError); ok {
			kind = EventPanic
		}
		rt.report(n, in, kind, "", err)
	}
	if !rt.publish(n, in, refs) {
		failed = true
	}
	return failed
}

// call runs Propagate, turning a panic into a *PanicError.
func (rt *Runtime) call(n *node, in *Inputs) (refs []Refinement, err error) {
	defer func() {
		if r := recover(); r != nil {
			refs, err = nil, &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return n.p.Propagate(rt.ctx, in)
}

// contradicted returns the changed inputs that hold a contradiction.
func contradicted(in *Inputs) []string {
	var bad []string
	for _, c := range in.changed {
		if lattice.IsContradiction(in.Value(c)) {
			bad = append(bad, c)
		}
	}
	return bad
}

// contradictionRefinements makes every output that is not a contradiction
// yet say that it was derived from the contradicted inputs (and from the
// cells those were derived from). Outputs that are contradictions already
// are left alone: adding provenance to them would only cause churn.
func contradictionRefinements(n *node, in *Inputs, bad []string) []Refinement {
	from := append([]string(nil), bad...)
	for _, c := range bad {
		from = append(from, in.Value(c).(*lattice.Contradiction).From()...)
	}
	var refs []Refinement
	for _, out := range n.outList {
		if lattice.IsContradiction(in.Value(out)) {
			continue
		}
		refs = append(refs, Refinement{Cell: out, Value: lattice.NewContradiction(from)})
	}
	return refs
}

// publish merges each refinement into its cell's current value and refines
// the cell only when that adds information. It reports whether all went well.
func (rt *Runtime) publish(n *node, in *Inputs, refs []Refinement) bool {
	ok := true
	for _, r := range refs {
		if rt.ctx.Err() != nil {
			return ok
		}
		if _, isOut := n.outputs[r.Cell]; !isOut {
			rt.report(n, in, EventError, r.Cell, ErrNotOutput)
			ok = false
			continue
		}
		cur := rt.cells.Value(r.Cell)
		if _, changed, err := lattice.Merge(cur, r.Value); err != nil {
			rt.report(n, in, EventError, r.Cell, err)
			ok = false
			continue
		} else if !changed {
			rt.stats.suppressed.Add(1)
			continue
		}
		if err := rt.refine(n, in, r); err != nil {
			if rt.ctx.Err() == nil {
				rt.report(n, in, EventRefine, r.Cell, err)
			}
			ok = false
			continue
		}
		rt.stats.published.Add(1)
		n.published.Add(1)
		if n.poisoned && lattice.IsContradiction(r.Value) {
			rt.stats.contradictions.Add(1)
		}
	}
	return ok
}

// report logs a failure, counts it and sends the event.
func (rt *Runtime) report(n *node, in *Inputs, kind EventKind, cell string, cause error) {
	op := "propagate"
	if cell != "" {
		op = "refine"
	}
	err := &Error{Propagator: n.name, Op: op, Cell: cell, Err: cause}
	rt.stats.failures.Add(1)
	n.failed.Add(1)
	attrs := []any{
		slog.String("propagator", n.name),
		slog.String("kind", string(kind)),
		slog.Group("inputs", loggedInputs(in)...),
		slog.Any("err", cause),
	}
	if cell != "" {
		attrs = append(attrs, slog.String("cell", cell))
	}
	if pe, ok := cause.(*PanicError); ok {
		rt.stats.panics.Add(1)
		attrs = append(attrs, slog.String("stack", string(pe.Stack)))
	}
	rt.cfg.Logger.Error("propagator failed", attrs...)
	if rt.cfg.OnEvent != nil {
		rt.cfg.OnEvent(Event{Kind: kind, Propagator: n.name, Changed: changedSummary(in.changed), Cell: cell, Err: err})
	}
}

// loggedInputs lists the first changed inputs with their (truncated) values.
func loggedInputs(in *Inputs) []any {
	var attrs []any
	for i, c := range in.changed {
		if i == maxLoggedInputs {
			attrs = append(attrs, slog.Int("more", len(in.changed)-i))
			break
		}
		b := lattice.Encode(in.Value(c))
		if len(b) > maxLoggedValue {
			b = append(b[:maxLoggedValue:maxLoggedValue], "…"...)
		}
		attrs = append(attrs, slog.String(c, string(b)))
	}
	return attrs
}

func changedSummary(changed []string) []string {
	if len(changed) <= maxLoggedInputs {
		return append([]string(nil), changed...)
	}
	return append(append([]string(nil), changed[:maxLoggedInputs]...), "…")
}

// refine publishes one refinement, with its derivation when the cells
// record derivations.
func (rt *Runtime) refine(n *node, in *Inputs, r Refinement) error {
	if d, ok := rt.cells.(Deriver); ok {
		_, err := d.RefineDerived(rt.ctx, r.Cell, r.Value, in.derivation(n.name))
		return err
	}
	_, err := rt.cells.Refine(rt.ctx, r.Cell, r.Value, n.name)
	return err
}
