package replica

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
)

// ErrClosed is returned by a closed Watcher or Replica.
var ErrClosed = errors.New("closed")

// Event is a real change of a cell: its new value.
type Event struct {
	Cell  string
	Value lattice.Value
	Type  string
	Seq   uint64 // stream sequence of the change
	ETag  string
	// Forgotten: the cell was forgotten (a forget marker was folded at
	// Seq): its value is Nothing now, and what comes next starts it
	// afresh.
	Forgotten bool
	// AfterForget: the cell was forgotten since the watcher's previous
	// event of it, and this is its first value since (the two events were
	// coalesced): a value may be smaller than one seen before.
	AfterForget bool
	// Pending is the number of the replica's updates, not folded from
	// the log yet, that Value includes (see fold.Cell.Pending).
	Pending int
}

// Watcher receives the changes of the cells that match its pattern.
//
// Folding never waits for a watcher, nor works for it: a change reaches the
// watchers through a queue, shortly after it is folded (see watchers). A
// watcher that falls behind does not lose information: it holds at most
// one pending event per cell, and a newer change of a cell replaces the
// older pending one (its value includes the older value, since cells only
// grow — unless the cell was forgotten in between, which the newer event
// then says: Event.AfterForget). So a slow reader sees fewer, later
// states, never a stale final one. Coalesced counts how often that
// happened.
//
// Next may be called from one goroutine at a time; Close from any.
type Watcher struct {
	pattern string
	exact   bool
	// consequences: a change of the worldview re-announces the supported
	// cells watched (Replica.WatchConsequences).
	consequences bool
	// start is the number of changes queued for the watchers when this
	// one was registered (see watchers); set before it is indexed.
	start uint64

	mu        sync.Mutex
	pending   map[string]Event
	order     []string // cells with a pending event, oldest first
	head      int
	signal    chan struct{}
	closed    bool
	coalesced uint64
	detach    func()
}

func newWatcher(pattern string) *Watcher {
	return &Watcher{
		pattern: pattern,
		exact:   !cellname.IsPattern(pattern),
		pending: make(map[string]Event),
		signal:  make(chan struct{}, 1),
	}
}

// Pattern returns the cell name or pattern watched.
func (w *Watcher) Pattern() string { return w.pattern }

func (w *Watcher) matches(cell string) bool {
	if w.exact {
		return w.pattern == cell
	}
	return cellname.Match(w.pattern, cell)
}

// offer pushes the queued change q, unless w started after it (its
// current values include it). The dispatcher calls it.
func (w *Watcher) offer(q *queued) {
	if q.note <= w.start {
		return
	}
	ev, merged := q.ev, q.merged
	if ev.AfterForget && q.forgot <= w.start {
		ev.AfterForget = false // forgotten before w started: w's start says so
	}
	if q.first <= w.start {
		merged = 0 // some of what q replaced came before w: count none
	}
	w.pushMerged(ev, merged)
}

// push queues ev; it never blocks.
func (w *Watcher) push(ev Event) { w.pushMerged(ev, 0) }

// pushMerged queues ev, which replaced merged earlier changes on its way.
func (w *Watcher) pushMerged(ev Event, merged uint64) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.coalesced += merged
	if old, ok := w.pending[ev.Cell]; ok {
		w.coalesced++
		if afterForget(old, ev) {
			ev.AfterForget = true
		}
	} else {
		w.order = append(w.order, ev.Cell)
	}
	w.pending[ev.Cell] = ev
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// Next returns the next change, waiting for one until ctx ends or the
// watcher is closed (ErrClosed).
func (w *Watcher) Next(ctx context.Context) (Event, error) {
	for {
		w.mu.Lock()
		if w.head < len(w.order) {
			cell := w.order[w.head]
			w.order[w.head] = ""
			w.head++
			if w.head == len(w.order) {
				w.order, w.head = w.order[:0], 0
			}
			ev := w.pending[cell]
			delete(w.pending, cell)
			w.mu.Unlock()
			return ev, nil
		}
		closed := w.closed
		w.mu.Unlock()
		if closed {
			return Event{}, ErrClosed
		}
		select {
		case <-w.signal:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Coalesced returns how many events were replaced by newer ones, in the
// watcher or on their way to it (not counting those replaced on their way
// together with changes from before the watcher started).
func (w *Watcher) Coalesced() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.coalesced
}

// Close stops the watcher; a blocked Next returns ErrClosed.
func (w *Watcher) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	detach := w.detach
	w.mu.Unlock()
	if detach != nil {
		detach()
	}
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// watchers is the set of live watchers and the queue of changes on their
// way to them.
//
// The fold does no work per watcher: under its lock it only queues a change
// (notify), in a queue that holds at most one change per cell, the latest,
// as a Watcher does. One goroutine, the dispatcher (run), takes what is
// queued and pushes each change to the watchers of its cell — those of the
// name by a map, those of patterns by a cellname.Index — with the fold
// lock not held. So the fold's rate does not depend on how many watch, nor
// on how slowly they read. Nor does registering a watcher wait for the
// dispatcher: add only puts it in line (joining), and the dispatcher
// indexes it before it delivers anything queued after it.
//
// Every change queued gets a note, the number of changes queued before it
// plus one, in fold order. A watcher registered (under the fold lock) when
// n notes were given out has start n: it takes its current values then
// (Replica.Watch), so the dispatcher skips, for it, the changes noted up to
// start, and never shows it an older value after the newer one it started
// with. A change that replaces a queued one of its cell takes the end of
// the queue, so the dispatcher hands out changes in the order of their
// notes: a watcher sees the changes of a cell, from the log or the pending
// view (pending.go), in the order folded.
type watchers struct {
	// mu guards the dispatcher's index of the watchers: exact, patterns
	// and indexed. Only the dispatcher and a closing Watcher take it, with
	// no other lock held; a Watcher's lock is taken under it.
	mu       sync.RWMutex
	exact    map[string][]*Watcher
	patterns cellname.Index[*Watcher]
	indexed  map[*Watcher]struct{}

	// live counts the watchers registered and not closed; the fold
	// queues nothing without one.
	live atomic.Int64

	qmu     sync.Mutex // guards what follows; a leaf
	notes   uint64     // notes given out
	queue   []queued   // in the order of their notes
	where   map[queueKey]int
	joining []*Watcher            // registered, not yet indexed
	follow  map[*Watcher]struct{} // the watchers of consequences
	wake    chan struct{}
}

// queued is a change on its way to the watchers.
type queued struct {
	ev Event
	to *Watcher // nil: every watcher of ev.Cell; else that one alone
	// note orders the change; first is the note of the oldest change it
	// replaced (note when none), forgot that of the latest forget it
	// replaced or is (see Event.AfterForget), merged how many it replaced.
	note, first, forgot uint64
	merged              uint64
	gone                bool // replaced by a later entry
}

type queueKey struct {
	cell string
	to   *Watcher
}

// add registers w. The caller holds the fold lock, so w's start is exact.
func (ws *watchers) add(w *Watcher) {
	w.detach = func() { ws.remove(w) }
	ws.live.Add(1)
	ws.qmu.Lock()
	defer ws.qmu.Unlock()
	w.start = ws.notes
	ws.joining = append(ws.joining, w)
	if w.consequences {
		if ws.follow == nil {
			ws.follow = make(map[*Watcher]struct{})
		}
		ws.follow[w] = struct{}{}
	}
}

// remove forgets w, which is closed (Watcher.Close calls it once).
func (ws *watchers) remove(w *Watcher) {
	ws.live.Add(-1)
	ws.qmu.Lock()
	delete(ws.follow, w)
	ws.qmu.Unlock()
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if _, ok := ws.indexed[w]; !ok {
		return // still joining: the dispatcher will see it closed
	}
	delete(ws.indexed, w)
	if !w.exact {
		ws.patterns.Remove(w.pattern, w)
		return
	}
	l := ws.exact[w.pattern]
	for i, x := range l {
		if x == w {
			l = append(l[:i:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(ws.exact, w.pattern)
	} else {
		ws.exact[w.pattern] = l
	}
}

// index puts the joining watchers that are not closed yet in the index.
func (ws *watchers) index(joining []*Watcher) {
	if len(joining) == 0 {
		return
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, w := range joining {
		w.mu.Lock()
		closed := w.closed
		w.mu.Unlock()
		if closed {
			continue // its remove came first, or comes and finds nothing
		}
		if ws.indexed == nil {
			ws.indexed = make(map[*Watcher]struct{})
			ws.exact = make(map[string][]*Watcher)
		}
		ws.indexed[w] = struct{}{}
		if w.exact {
			ws.exact[w.pattern] = append(ws.exact[w.pattern], w)
		} else {
			ws.patterns.Add(w.pattern, w)
		}
	}
}

// notify queues ev for every watcher of its cell. The caller holds the
// fold lock; the cost does not depend on the watchers.
func (ws *watchers) notify(ev Event) {
	if ws.live.Load() > 0 {
		ws.enqueue(queued{ev: ev})
	}
}

// notifyOne queues ev for w alone, in order with the other changes. The
// caller holds the fold lock.
func (ws *watchers) notifyOne(w *Watcher, ev Event) {
	ws.enqueue(queued{ev: ev, to: w})
}

func (ws *watchers) enqueue(q queued) {
	ws.qmu.Lock()
	ws.notes++
	q.note, q.first = ws.notes, ws.notes
	if q.ev.Forgotten {
		q.forgot = q.note
	}
	k := queueKey{q.ev.Cell, q.to}
	if i, ok := ws.where[k]; ok {
		old := &ws.queue[i]
		q.first, q.merged = old.first, old.merged+1
		if afterForget(old.ev, q.ev) {
			q.ev.AfterForget, q.forgot = true, old.forgot
		}
		*old = queued{gone: true}
	}
	if ws.where == nil {
		ws.where = make(map[queueKey]int)
	}
	ws.where[k] = len(ws.queue)
	ws.queue = append(ws.queue, q)
	wake := ws.signal()
	ws.qmu.Unlock()
	select {
	case wake <- struct{}{}:
	default:
	}
}

// signal returns the channel that wakes the dispatcher. The caller holds
// qmu.
func (ws *watchers) signal() chan struct{} {
	if ws.wake == nil {
		ws.wake = make(chan struct{}, 1)
	}
	return ws.wake
}

// afterForget says whether ev, replacing old (an earlier pending event of
// the same cell), must say that the cell was forgotten in between: a newer
// value includes the older, but not across a forget, and the reader must
// still learn that the cell was forgotten.
func afterForget(old, ev Event) bool {
	return !ev.Forgotten && (old.Forgotten || old.AfterForget)
}

// run is the dispatcher: it pushes what is queued to the watchers until
// ctx ends.
func (ws *watchers) run(ctx context.Context) {
	ws.qmu.Lock()
	wake := ws.signal()
	ws.qmu.Unlock()
	var buf []queued
	for {
		select {
		case <-wake:
		case <-ctx.Done():
			return
		}
		for {
			batch := ws.take(buf)
			if len(batch) == 0 {
				buf = batch
				break
			}
			ws.deliver(batch)
			clear(batch) // the values, for the collector
			buf = batch
		}
	}
}

// take returns what is queued, leaving buf (emptied) as the queue, once
// it has indexed the watchers registered before the last change taken.
func (ws *watchers) take(buf []queued) []queued {
	ws.qmu.Lock()
	batch, joining := ws.queue, ws.joining
	ws.queue, ws.joining = buf[:0], nil
	clear(ws.where)
	ws.qmu.Unlock()
	ws.index(joining)
	return batch
}

// deliver pushes each change of batch to its watchers. The index's lock is
// taken per change, so a closing watcher waits at most for one change's
// pushes.
func (ws *watchers) deliver(batch []queued) {
	for i := range batch {
		q := &batch[i]
		switch {
		case q.gone:
		case q.to != nil:
			q.to.offer(q)
		default:
			ws.mu.RLock()
			for _, w := range ws.exact[q.ev.Cell] {
				w.offer(q)
			}
			ws.patterns.Match(q.ev.Cell, func(w *Watcher) { w.offer(q) })
			ws.mu.RUnlock()
		}
	}
}

// closeAll closes every watcher (when the replica closes, or starts over
// on a new stream).
func (ws *watchers) closeAll() {
	ws.qmu.Lock()
	all := slices.Clone(ws.joining)
	ws.qmu.Unlock()
	ws.mu.RLock()
	for w := range ws.indexed {
		all = append(all, w)
	}
	ws.mu.RUnlock()
	for _, w := range all {
		w.Close()
	}
}

// followers returns the watchers that follow consequences: those of one
// cell, and those of patterns. The caller holds the fold lock.
func (ws *watchers) followers() (exact, patterns []*Watcher) {
	ws.qmu.Lock()
	defer ws.qmu.Unlock()
	for w := range ws.follow {
		if w.exact {
			exact = append(exact, w)
		} else {
			patterns = append(patterns, w)
		}
	}
	return exact, patterns
}
