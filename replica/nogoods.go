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
// set yet. It looks at a supported cell when it folds (live, not during a
// resync) a change of it, at every one when it folds a change of the
// worldview and at the end of each resync (what was missed while away).
// One background goroutine does it, woken through a channel of one slot
// with the cells to look at kept aside, so wake-ups coalesce and the fold
// computes nothing (no consequence) and never waits. Several replicas may record
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

// wakeNogoods asks the recorder to look at every supported cell (all) or
// at cell; it never blocks.
func (r *Replica) wakeNogoods(all bool, cell string) {
	if r.ngWake == nil {
		return
	}
	r.ngMu.Lock()
	switch {
	case all:
		r.ngAll = true
	case !r.ngAll:
		if r.ngDirty == nil {
			r.ngDirty = map[string]bool{}
		}
		r.ngDirty[cell] = true
	}
	r.ngMu.Unlock()
	select {
	case r.ngWake <- struct{}{}:
	default: // a look is pending already
	}
}

// foldedForNogoods is told of each real change folded live (the caller
// holds no lock): a change of the worldview or of a supported cell asks
// the recorder to look. The fold itself computes nothing more.
func (r *Replica) foldedForNogoods(cell string, v lattice.Value) {
	if r.ngWake == nil || r.catchingUp.Load() {
		return
	}
	if cell == propagators.WorldviewCell {
		r.wakeNogoods(true, "")
		return
	}
	if _, ok := v.(*lattice.Supported); ok {
		r.wakeNogoods(false, cell)
	}
}

func (r *Replica) recordNogoods() {
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.ngWake:
		}
		r.ngMu.Lock()
		all, dirty := r.ngAll, r.ngDirty
		r.ngAll, r.ngDirty = false, nil
		r.ngMu.Unlock()
		wv, missing := r.missingNogoods(all, dirty)
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

// missingNogoods returns the supports of the held supported cells (all,
// or those named in cells) whose strongest consequence under the
// worldview is a contradiction and that are not recorded as nogoods yet,
// each once, sorted, with that worldview.
func (r *Replica) missingNogoods(all bool, cells map[string]bool) (propagators.Worldview, [][]string) {
	wv, known := r.Worldview(), r.Nogoods()
	seen := map[string]bool{}
	var out [][]string
	look := func(c fold.Cell) bool {
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
	}
	r.mu.RLock()
	if all {
		r.eachView(look)
	} else {
		for cell := range cells {
			if c, ok := r.viewLocked(cell); ok {
				look(c)
			}
		}
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b []string) int { return slices.Compare(a, b) })
	return wv, out
}

// hasNogood reports whether nogoods holds the premise set ng.
func hasNogood(nogoods [][]string, ng []string) bool {
	k := lattice.PremiseSetKey(ng)
	return slices.ContainsFunc(nogoods, func(x []string) bool { return lattice.PremiseSetKey(x) == k })
}
