package replica

import (
	"context"
	"slices"
	"time"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/replica/fold"
)

// Recording nogoods from the cells themselves.
//
// A propagator over supported cells records the nogoods it meets; a
// supported cell that no propagator reads would not have its contradiction
// recorded. So every replica that holds propagators.NogoodsCell records the
// support of each held supported cell whose strongest consequence under
// the current worldview is a contradiction, when that nogood is not in the
// set yet. It looks when it folds (live, not during a resync) a change of a
// supported cell that makes it contradictory, a change of the worldview,
// and once at the end of each resync (what was missed while away). One
// background goroutine does it, woken through a channel of one slot, so
// wake-ups coalesce and the fold never waits. Several replicas may record
// the same nogood at once: the set's merge keeps it once.

// nogoodsTimeout bounds one sweep's publications.
const nogoodsTimeout = 30 * time.Second

// startNogoods starts the recorder if the replica holds the nogoods cell.
func (r *Replica) startNogoods() {
	if r.checkHeld(propagators.NogoodsCell) != nil {
		return
	}
	r.ngWake = make(chan struct{}, 1)
	r.spawn(r.recordNogoods)
}

// wakeNogoods asks the recorder to look again; it never blocks.
func (r *Replica) wakeNogoods() {
	if r.ngWake == nil {
		return
	}
	select {
	case r.ngWake <- struct{}{}:
	default: // a look is pending already
	}
}

// foldedForNogoods is told of each real change folded live (the caller
// holds no lock): it wakes the recorder when the change may call for a new
// nogood.
func (r *Replica) foldedForNogoods(cell string, v lattice.Value) {
	if r.ngWake == nil || r.catchingUp.Load() {
		return
	}
	if cell == propagators.WorldviewCell {
		r.wakeNogoods()
		return
	}
	if _, ok := v.(*lattice.Supported); !ok {
		return
	}
	con := r.Worldview().Consequence(v)
	if con.Contradicts() && len(con.Support) > 0 && !hasNogood(r.Nogoods(), con.Support) {
		r.wakeNogoods()
	}
}

func (r *Replica) recordNogoods() {
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.ngWake:
		}
		wv, missing := r.missingNogoods()
		var recorded [][]string
		for _, ng := range missing {
			ctx, cancel := context.WithTimeout(r.ctx, nogoodsTimeout)
			_, err := r.Refine(ctx, propagators.NogoodsCell, propagators.NogoodUpdate(ng))
			cancel()
			if err != nil {
				if r.ctx.Err() != nil {
					return
				}
				// Not retried until the next change wakes the recorder: a
				// replica that cannot write (trust policy, no stream) must
				// not loop.
				r.log.Warn("cannot record a nogood", "cell", propagators.NogoodsCell, "nogood", ng, "err", err)
				continue
			}
			recorded = append(recorded, ng)
			r.log.Info("nogood recorded", "nogood", ng)
		}
		if testHookNogoods != nil {
			testHookNogoods(wv.Withdrawn(), recorded)
		}
	}
}

// testHookNogoods, when set by a test, hears each look of the recorder:
// the premises withdrawn then, and the nogoods it recorded.
var testHookNogoods func(withdrawn []string, recorded [][]string)

// missingNogoods returns the supports of the held supported cells whose
// strongest consequence under the worldview is a contradiction and that
// are not recorded as nogoods yet, each once, sorted, with that worldview.
func (r *Replica) missingNogoods() (propagators.Worldview, [][]string) {
	wv, known := r.Worldview(), r.Nogoods()
	seen := map[string]bool{}
	var out [][]string
	r.mu.RLock()
	r.eachView(func(c fold.Cell) bool {
		if _, ok := c.Value.(*lattice.Supported); !ok {
			return true
		}
		con := wv.Consequence(c.Value)
		if !con.Contradicts() || len(con.Support) == 0 || hasNogood(known, con.Support) {
			return true
		}
		if k := lattice.PremiseSetKey(con.Support); !seen[k] {
			seen[k] = true
			out = append(out, con.Support)
		}
		return true
	})
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b []string) int { return slices.Compare(a, b) })
	return wv, out
}

// hasNogood reports whether nogoods holds the premise set ng.
func hasNogood(nogoods [][]string, ng []string) bool {
	k := lattice.PremiseSetKey(ng)
	return slices.ContainsFunc(nogoods, func(x []string) bool { return lattice.PremiseSetKey(x) == k })
}
