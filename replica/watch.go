package replica

import (
	"context"
	"errors"
	"sync"

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
	// Pending is the number of updates taken into the replica's outbox,
	// not yet in the log, that Value includes (see fold.Cell.Pending).
	Pending int
}

// Watcher receives the changes of the cells that match its pattern.
//
// Folding never waits for a watcher. A watcher that falls behind does not
// lose information: it holds at most one pending event per cell, and a newer
// change of a cell replaces the older pending one (its value includes the
// older value, since cells only grow — unless the cell was forgotten in
// between, which the newer event then says: Event.AfterForget). So a slow reader sees fewer,
// later states, never a stale final one. Coalesced counts how often that
// happened.
//
// Next may be called from one goroutine at a time; Close from any.
type Watcher struct {
	pattern string
	exact   bool
	// consequences: a change of the worldview re-announces the supported
	// cells watched (Replica.WatchConsequences).
	consequences bool

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

// push queues ev; it never blocks.
func (w *Watcher) push(ev Event) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	if old, ok := w.pending[ev.Cell]; ok {
		w.coalesced++
		// A newer value includes the older, but not across a forget: the
		// reader must still learn that the cell was forgotten.
		if !ev.Forgotten && (old.Forgotten || old.AfterForget) {
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

// Coalesced returns how many pending events were replaced by newer ones.
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

// watchers is the set of live watchers, indexed by exact cell name.
type watchers struct {
	mu       sync.RWMutex
	exact    map[string][]*Watcher
	patterns []*Watcher
}

func (ws *watchers) add(w *Watcher) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if w.exact {
		if ws.exact == nil {
			ws.exact = make(map[string][]*Watcher)
		}
		ws.exact[w.pattern] = append(ws.exact[w.pattern], w)
	} else {
		ws.patterns = append(ws.patterns, w)
	}
	w.detach = func() { ws.remove(w) }
}

func (ws *watchers) remove(w *Watcher) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	del := func(list []*Watcher) []*Watcher {
		for i, x := range list {
			if x == w {
				return append(list[:i:i], list[i+1:]...)
			}
		}
		return list
	}
	if w.exact {
		if l := del(ws.exact[w.pattern]); len(l) == 0 {
			delete(ws.exact, w.pattern)
		} else {
			ws.exact[w.pattern] = l
		}
	} else {
		ws.patterns = del(ws.patterns)
	}
}

// notify tells every matching watcher of ev.
func (ws *watchers) notify(ev Event) {
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	for _, w := range ws.exact[ev.Cell] {
		w.push(ev)
	}
	for _, w := range ws.patterns {
		if w.matches(ev.Cell) {
			w.push(ev)
		}
	}
}

// closeAll closes every watcher (when the replica closes).
func (ws *watchers) closeAll() {
	ws.mu.RLock()
	var all []*Watcher
	for _, l := range ws.exact {
		all = append(all, l...)
	}
	all = append(all, ws.patterns...)
	ws.mu.RUnlock()
	for _, w := range all {
		w.Close()
	}
}

// followers returns the watchers that follow consequences: those of one
// cell, and those of patterns.
func (ws *watchers) followers() (exact, patterns []*Watcher) {
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	for _, l := range ws.exact {
		for _, w := range l {
			if w.consequences {
				exact = append(exact, w)
			}
		}
	}
	for _, w := range ws.patterns {
		if w.consequences {
			patterns = append(patterns, w)
		}
	}
	return exact, patterns
}
