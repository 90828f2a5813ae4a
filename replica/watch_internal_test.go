package replica

import (
	"testing"
	"time"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
)

// takeQueued takes what the fold has queued for the watchers, as the
// dispatcher does.
func takeQueued(ws *watchers) []queued { return ws.take(nil) }

// pendingOf returns w's pending events by cell.
func pendingOf(w *Watcher) map[string]Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]Event, len(w.pending))
	for k, v := range w.pending {
		out[k] = v
	}
	return out
}

func maxEvent(cell string, v float64) Event {
	return Event{Cell: cell, Value: lattice.Max{Value: v}}
}

// The fold's notify does no work per watcher: it queues the change once,
// and the watchers have it only once it is delivered.
func TestNotifyQueuesOnce(t *testing.T) {
	var ws watchers
	var all []*Watcher
	for _, p := range []string{"a.x", "a.x", "a.*", ">", "b.>"} {
		w := newWatcher(p)
		ws.add(w)
		all = append(all, w)
	}
	ws.notify(maxEvent("a.x", 1))
	for _, w := range all {
		if p := pendingOf(w); len(p) != 0 {
			t.Fatalf("%s has %v before the dispatcher ran", w.pattern, p)
		}
	}
	batch := takeQueued(&ws)
	if len(batch) != 1 {
		t.Fatalf("queued %d entries for one change, want 1", len(batch))
	}
	ws.deliver(batch)
	for i, w := range all {
		_, got := pendingOf(w)["a.x"]
		if want := i < 4; got != want {
			t.Errorf("%s has the change: %v, want %v", w.pattern, got, want)
		}
	}
}

// Without a watcher the fold queues nothing.
func TestNotifyWithoutWatchers(t *testing.T) {
	var ws watchers
	w := newWatcher(">")
	ws.add(w)
	w.Close()
	ws.notify(maxEvent("a", 1))
	if batch := takeQueued(&ws); len(batch) != 0 {
		t.Errorf("queued %v with no watcher", batch)
	}
}

// A watcher registered while changes are queued skips them (its current
// values include them), and gets what comes after; a watcher registered
// before gets the latest, with the count of the changes it replaced.
func TestQueuedChangesAndLateWatchers(t *testing.T) {
	var ws watchers
	early := newWatcher(">")
	ws.add(early)
	ws.notify(maxEvent("a", 1))
	ws.notify(maxEvent("b", 1))
	late := newWatcher(">")
	ws.add(late)
	ws.notify(maxEvent("a", 2))
	ws.deliver(takeQueued(&ws))
	if p := pendingOf(late); len(p) != 1 || p["a"].Value != (lattice.Max{Value: 2}) {
		t.Errorf("late watcher has %v, want a=2 only", p)
	}
	if p := pendingOf(early); len(p) != 2 || p["a"].Value != (lattice.Max{Value: 2}) {
		t.Errorf("early watcher has %v, want a=2 and b=1", p)
	}
	if early.Coalesced() != 1 || late.Coalesced() != 0 {
		t.Errorf("coalesced: early %d, late %d; want 1 and 0", early.Coalesced(), late.Coalesced())
	}
}

// A change for one watcher (a re-announcement) and the changes for all
// reach a watcher in the order queued: the last value queued is the one it
// keeps, even when an earlier change of the cell was replaced after it.
func TestQueueKeepsOrderPerCell(t *testing.T) {
	var ws watchers
	w := newWatcher("a")
	ws.add(w)
	ws.notify(maxEvent("a", 1))
	ws.notifyOne(w, maxEvent("a", 2))
	ws.notify(maxEvent("a", 3))
	ws.deliver(takeQueued(&ws))
	if got := pendingOf(w)["a"].Value; got != (lattice.Max{Value: 3}) {
		t.Errorf("watcher keeps %v, want 3", got)
	}
}

// A forget replaced on its way is still said to a watcher that saw the
// cell before it (AfterForget), and not to one registered after it.
func TestQueuedForget(t *testing.T) {
	var ws watchers
	before := newWatcher("a")
	ws.add(before)
	ws.notify(Event{Cell: "a", Value: lattice.Nothing{}, Forgotten: true})
	after := newWatcher("a")
	ws.add(after)
	ws.notify(maxEvent("a", 1))
	ws.deliver(takeQueued(&ws))
	if ev := pendingOf(before)["a"]; !ev.AfterForget || ev.Value != (lattice.Max{Value: 1}) {
		t.Errorf("watcher from before the forget has %+v, want a=1 after a forget", ev)
	}
	if ev := pendingOf(after)["a"]; ev.AfterForget || ev.Value != (lattice.Max{Value: 1}) {
		t.Errorf("watcher from after the forget has %+v, want a=1 alone", ev)
	}
}

// Registering a watcher (under the fold lock) does not wait for the
// dispatcher, which holds the index's lock while it pushes a change to its
// watchers: the watcher is indexed by the dispatcher before the next change
// it takes.
func TestAddDoesNotWaitForDispatch(t *testing.T) {
	var ws watchers
	ws.mu.Lock() // the dispatcher, busy pushing a change to many
	added := make(chan *Watcher)
	go func() {
		w := newWatcher("a.*")
		ws.add(w)
		ws.notify(maxEvent("a.b", 1))
		added <- w
	}()
	var w *Watcher
	select {
	case w = <-added:
	case <-time.After(brokertest.Timeout):
		t.Fatal("add waited for the index's lock")
	}
	ws.mu.Unlock()
	ws.deliver(takeQueued(&ws))
	if got := pendingOf(w)["a.b"].Value; got != (lattice.Max{Value: 1}) {
		t.Errorf("the joining watcher has %v, want 1", got)
	}
}
