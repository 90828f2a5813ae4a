package replica

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/replica/fold"
)

// Worldview returns the worldview as this replica holds it: the premises
// withdrawn in propagators.WorldviewCell.
func (r *Replica) Worldview() propagators.Worldview {
	return propagators.WorldviewOf(r.Value(propagators.WorldviewCell))
}

// Nogoods returns the nogoods recorded in propagators.NogoodsCell.
func (r *Replica) Nogoods() [][]string {
	return propagators.NogoodsOf(r.Value(propagators.NogoodsCell))
}

// SetPremise withdraws premise p (believed false) or believes it again
// (true), for every replica: it refines the worldview cell with a
// last-writer-wins entry written by this replica's origin (or the
// WithOrigin option's), at the current time in milliseconds, or just
// after the entry's current time if that is later, so that a change made
// after another always wins. It returns the worldview cell.
func (r *Replica) SetPremise(ctx context.Context, p string, believed bool, opts ...RefineOption) (fold.Cell, error) {
	o := refineOptions{origin: r.cfg.Origin}
	for _, opt := range opts {
		opt(&o)
	}
	ts := time.Now().UnixMilli()
	if m, ok := r.Value(propagators.WorldviewCell).(*lattice.Map); ok {
		if cur, ok := m.Get(p).(*lattice.LWW); ok && cur.TS() >= ts {
			ts = cur.TS() + 1
		}
	}
	u, err := propagators.PremiseUpdate(p, believed, ts, o.origin)
	if err != nil {
		return fold.Cell{}, &fold.RefusedError{Cell: propagators.WorldviewCell, Reason: fold.ReasonInvalid, Err: err}
	}
	return r.Refine(ctx, propagators.WorldviewCell, u, opts...)
}

// Premises lists every premise this replica knows of: those the worldview
// cell names (withdrawn or believed again, with who changed them last and
// when) and those the claims of its supported cells rest on (believed
// unless withdrawn), sorted.
func (r *Replica) Premises() []propagators.PremiseState {
	var known []string
	r.mu.RLock()
	r.eachView(func(c fold.Cell) bool {
		if s, ok := c.Value.(*lattice.Supported); ok {
			known = append(known, s.Premises()...)
		}
		return true
	})
	r.mu.RUnlock()
	slices.Sort(known)
	return propagators.PremiseStates(r.Value(propagators.WorldviewCell), slices.Compact(known))
}

// AwaitConsequence is a threshold read of a supported cell: it returns the
// cell once its strongest consequence under the worldview is at least
// threshold (a value of the inner type) or a contradiction, with that
// consequence. It wakes on every change of the cell and of the worldview,
// so a reinstated premise can satisfy it as well as a new claim. The
// errors are Await's.
func (r *Replica) AwaitConsequence(ctx context.Context, cell string, threshold lattice.Value) (fold.Cell, lattice.Consequence, error) {
	if err := ctx.Err(); err != nil {
		return fold.Cell{}, lattice.Consequence{}, fmt.Errorf("await %q: %w", cell, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One goroutine per watched cell turns its changes into a wake-up;
	// both end with ctx.
	wake := make(chan error, 1)
	for _, name := range []string{cell, propagators.WorldviewCell} {
		w, err := r.Watch(name, false)
		if err != nil {
			return fold.Cell{}, lattice.Consequence{}, err
		}
		defer w.Close()
		go func() {
			for {
				ev, err := w.Next(ctx)
				if err == nil && name == cell && (ev.Forgotten || ev.AfterForget) {
					err = fmt.Errorf("%w (at stream sequence %d)", ErrForgotten, ev.Seq)
				}
				if err != nil {
					select {
					case wake <- err:
					case <-ctx.Done():
					}
					return
				}
				select {
				case wake <- nil:
				default: // a wake-up is pending already
				}
			}
		}()
	}
	for {
		c, _ := r.Get(cell)
		con := r.Worldview().Consequence(c.Value)
		if con.Contradicts() || lattice.Leq(threshold, con.Value) {
			return c, con, nil
		}
		select {
		case err := <-wake:
			if err != nil {
				return fold.Cell{}, lattice.Consequence{}, fmt.Errorf("await %q: %w", cell, err)
			}
		case <-ctx.Done():
			return fold.Cell{}, lattice.Consequence{}, fmt.Errorf("await %q: %w", cell, ctx.Err())
		}
	}
}
