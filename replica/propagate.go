package replica

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/replica/fold"
)

// This file runs a propagator network in a replica: the replica is the
// runtime's Cells, tells it of every real change from its fold, starts it
// once the resync is complete, and publishes the network's initial values
// (its constants) first. Both go through Refine, so they are signed with
// the replica's key (Config.SignKey) when it has one.

// cellsAdapter is the replica as the runtime's Cells.
type cellsAdapter struct{ r *Replica }

func (a cellsAdapter) Value(cell string) lattice.Value { return a.r.Value(cell) }

func (a cellsAdapter) Refine(ctx context.Context, cell string, v lattice.Value, propagator string) (lattice.Value, error) {
	c, err := a.r.Refine(ctx, cell, v, WithPropagator(propagator))
	if err != nil {
		return nil, err
	}
	return c.Value, nil
}

// ValueSeq implements propagators.Versioned: the value and the sequence of
// its last change, for the inputs of a derivation.
func (a cellsAdapter) ValueSeq(cell string) (lattice.Value, uint64) {
	c, ok := a.r.Get(cell)
	if !ok {
		return lattice.Nothing{}, 0
	}
	return c.Value, c.Seq
}

// RefineDerived implements propagators.Deriver: the update carries its
// derivation in its headers (Dprop-Propagator, Dprop-Inputs).
func (a cellsAdapter) RefineDerived(ctx context.Context, cell string, v lattice.Value, d propagators.Derivation) (lattice.Value, error) {
	c, err := a.r.Refine(ctx, cell, v, WithDerivation(d))
	if err != nil {
		return nil, err
	}
	return c.Value, nil
}

var (
	_ propagators.Cells     = cellsAdapter{}
	_ propagators.Versioned = cellsAdapter{}
	_ propagators.Deriver   = cellsAdapter{}
)

// changed tells the network manager and the runtime of a real change of
// cell; the caller holds r.mu.
func (r *Replica) changed(cell string) {
	if r.nets != nil {
		r.nets.seen(cell) // first: an instance it makes hears the change
	}
	if r.rt != nil {
		r.rt.Changed(cell)
	}
}

// checkRefinable checks that the replica may refine cell: it holds it,
// and its trust policy would take the replica's refinements.
func (r *Replica) checkRefinable(cell string) error {
	if err := r.checkHeld(cell); err != nil {
		return err
	}
	if err := r.core.CheckSigner(cell, r.signPub); err != nil {
		return fmt.Errorf("the trust policy would refuse its refinements from this replica: %w", err)
	}
	return nil
}

// startNetwork builds the runtime (before the consumer starts, so that no
// change is missed) and arranges for it to run once the replica is ready.
func (r *Replica) startNetwork() error {
	if len(r.cfg.Propagators) == 0 && len(r.cfg.Initial) == 0 && !r.cfg.LiveNetworks {
		close(r.initialDone)
		return nil
	}
	for cell, v := range r.cfg.Initial {
		if err := r.core.Check(cell, v); err != nil {
			return fmt.Errorf("replica: initial value of %q: %w", cell, err)
		}
		if !cellname.Match(r.cfg.Cells, cell) {
			return fmt.Errorf("replica: initial value of %q: %w (it holds %q)", cell, ErrNotHeld, r.cfg.Cells)
		}
		if err := r.core.CheckSigner(cell, r.signPub); err != nil {
			return fmt.Errorf("replica: initial value of %q: the trust policy would refuse it from this replica: %w", cell, err)
		}
	}
	for _, p := range r.cfg.Propagators {
		for _, out := range p.Outputs() {
			if !cellname.Match(r.cfg.Cells, out) {
				return fmt.Errorf("replica: propagator %q refines %q: %w (it holds %q)", p.Name(), out, ErrNotHeld, r.cfg.Cells)
			}
			if err := r.core.CheckSigner(out, r.signPub); err != nil {
				return fmt.Errorf("replica: propagator %q refines %q, and the trust policy would refuse its refinements from this replica: %w", p.Name(), out, err)
			}
		}
	}
	if len(r.cfg.Propagators) > 0 || r.cfg.LiveNetworks {
		rt, err := propagators.New(cellsAdapter{r}, r.cfg.Propagators, propagators.Config{
			Workers: r.cfg.PropagatorWorkers,
			Logger:  r.log,
			OnEvent: r.cfg.OnPropagatorEvent,
		})
		if err != nil {
			return fmt.Errorf("replica: %w", err)
		}
		r.rt = rt
	}
	if r.cfg.LiveNetworks {
		if err := r.startLiveNetworks(); err != nil {
			r.rt.Close()
			return err
		}
	}
	r.spawn(func() {
		select {
		case <-r.ready:
		case <-r.ctx.Done():
			return
		}
		if !r.publishInitial() {
			return
		}
		if r.rt != nil {
			r.rt.Start()
		}
	})
	return nil
}

// initialAttempt bounds one attempt to publish an initial value.
const initialAttempt = 30 * time.Second

// publishInitial refines the network's constants, retrying until each is
// folded, and then closes initialDone; it reports false if the replica
// closed first. A constant the cell already knows costs nothing.
func (r *Replica) publishInitial() bool {
	for cell, v := range r.cfg.Initial {
		for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
			if lattice.Leq(v, r.Value(cell)) {
				break
			}
			ctx, cancel := context.WithTimeout(r.ctx, initialAttempt)
			_, err := r.Refine(ctx, cell, v)
			cancel()
			if err == nil {
				break
			}
			r.log.Warn("initial value not published yet; retrying", "cell", cell, "err", err, "retry_in", wait)
			if !r.sleep(wait) {
				return false
			}
		}
	}
	close(r.initialDone)
	return true
}

// initialPublished reports whether the network's initial values are folded.
func (r *Replica) initialPublished() bool {
	select {
	case <-r.initialDone:
		return true
	default:
		return false
	}
}

// Quiescent reports whether the replica is ready, its network's initial
// values are published, and no propagator has work queued or running or a
// refinement in flight: the network has settled, as far as this replica
// can tell (other hosts may still be working).
func (r *Replica) Quiescent() bool {
	return r.IsReady() && r.initialPublished() && (r.rt == nil || r.rt.Quiescent())
}

// WaitQuiescent waits until Quiescent holds or ctx ends.
func (r *Replica) WaitQuiescent(ctx context.Context) error {
	for _, ch := range []<-chan struct{}{r.ready, r.initialDone} {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-r.ctx.Done():
			return ErrClosed
		}
	}
	if r.rt == nil {
		return nil
	}
	return r.rt.WaitQuiescent(ctx)
}

// PropagatorStats returns the runtime's counters (zero without a network).
func (r *Replica) PropagatorStats() propagators.Stats {
	if r.rt == nil {
		return propagators.Stats{}
	}
	return r.rt.Stats()
}

// PropagatorNodes returns the counters of each propagator that runs here,
// in the order of Config.Propagators (nil without a network). The caller
// owns the slice.
func (r *Replica) PropagatorNodes() []propagators.NodeStats {
	if r.rt == nil {
		return nil
	}
	return r.rt.NodeStats()
}

// MaxLogPropagators bounds what LogPropagators returns.
const MaxLogPropagators = 64

// LogPropagators returns, sorted, the names of the propagators whose
// refinements the log of the held cells holds, as far as this replica has
// folded it: called once Ready is closed, those the whole log holds. Each
// cell remembers the last propagator that refined it (header
// Dprop-Propagator), through a local snapshot and a compaction alike, so
// this does not depend on how much of the log the replica read.
//
// A replica started without the network those propagators belong to holds
// cells that will not follow their inputs unless another replica runs it;
// comparing this with the propagators it runs tells. At most
// MaxLogPropagators names are returned (some 64 of them when there are
// more). The caller owns the slice.
func (r *Replica) LogPropagators() []string {
	set := map[string]bool{}
	r.mu.RLock()
	r.core.Each(func(c fold.Cell) bool {
		if c.Propagator != "" {
			set[c.Propagator] = true
		}
		return len(set) < MaxLogPropagators
	})
	r.mu.RUnlock()
	return slices.Sorted(maps.Keys(set))
}
