package faults

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
)

// Update is one refinement of a cell.
type Update struct {
	Cell  string
	Value lattice.Value
}

// Ledger records the updates writers attempt and those acknowledged, as
// one join per cell for each, and how each acknowledged one was
// acknowledged. Values are immutable, so the maps it returns may be kept.
// It is safe for concurrent use.
type Ledger struct {
	mu        sync.Mutex
	attempted map[string]lattice.Value
	acked     map[string]lattice.Value
	by        map[Ack]int
}

// Ack is how an update was acknowledged.
type Ack int

const (
	// AckLog: the log acknowledged it (a sidecar's 200, JetStream's
	// PubAck).
	AckLog Ack = iota
	// AckOutbox: a sidecar kept it in its outbox, synced, and will
	// deliver it (202 Accepted).
	AckOutbox
)

func (a Ack) String() string {
	if a == AckOutbox {
		return "202"
	}
	return "200"
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{attempted: map[string]lattice.Value{}, acked: map[string]lattice.Value{}, by: map[Ack]int{}}
}

// Attempt records u as possibly stored. Call it before sending u, so that
// any state read afterwards is ⊑ Attempted.
func (l *Ledger) Attempt(u Update) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return joinInto(l.attempted, u)
}

// Ack records u as acknowledged, and how: every replica must come to
// hold it, whether the log or a sidecar's outbox acknowledged it.
func (l *Ledger) Ack(u Update, how Ack) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := joinInto(l.acked, u); err != nil {
		return err
	}
	l.by[how]++
	return nil
}

// AckedBy returns how many updates were acknowledged each way.
func (l *Ledger) AckedBy() map[Ack]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.by)
}

func joinInto(m map[string]lattice.Value, u Update) error {
	v, _, err := lattice.Merge(m[u.Cell], u.Value)
	if err != nil {
		return fmt.Errorf("cell %s: %w", u.Cell, err)
	}
	m[u.Cell] = v
	return nil
}

// Acked returns the join of the acknowledged updates of each cell.
func (l *Ledger) Acked() map[string]lattice.Value {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.acked)
}

// Attempted returns the join of the attempted updates of each cell.
func (l *Ledger) Attempted() map[string]lattice.Value {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.attempted)
}

// States maps a replica's name to its cells' values.
type States map[string]map[string]lattice.Value

// Holds maps a replica's name to the pattern of the cells it holds
// (cellname.Match); a replica it does not name holds every cell. Replicas
// are judged on the cells they hold: one must hold every acknowledged
// update of those, and two are compared on the cells both hold.
type Holds map[string]string

// holds reports whether replica holds cell.
func (h Holds) holds(replica, cell string) bool {
	p, ok := h[replica]
	return !ok || cellname.Match(p, cell)
}

// Verdict is what Judge found.
type Verdict struct {
	// Violations are states above the attempted join: information nobody
	// wrote. They never heal.
	Violations []string
	// Lagging lists what keeps the replicas from having converged: a
	// replica missing acknowledged information, or two replicas that
	// differ. It may heal with time.
	Lagging []string
}

// Converged reports whether the replicas all hold the same state, between
// the acknowledged and the attempted joins.
func (v Verdict) Converged() bool { return len(v.Violations) == 0 && len(v.Lagging) == 0 }

// Judge compares the replicas' states with the joins of the acknowledged
// and attempted updates, each replica on the cells it holds. attempted
// must have been read after states.
func Judge(states States, held Holds, acked, attempted map[string]lattice.Value) Verdict {
	var v Verdict
	names := slices.Sorted(maps.Keys(states))
	for _, name := range names {
		st := states[name]
		for _, cell := range slices.Sorted(maps.Keys(st)) {
			if !lattice.Leq(st[cell], attempted[cell]) {
				v.Violations = append(v.Violations, fmt.Sprintf("%s: cell %s holds %s, more than was ever written (%s)",
					name, cell, lattice.Encode(st[cell]), lattice.Encode(attempted[cell])))
			}
		}
		v.Lagging = append(v.Lagging, missing(name, held, st, acked)...)
	}
	for i, a := range names {
		for _, b := range names[i+1:] {
			both := func(cell string) bool { return held.holds(a, cell) && held.holds(b, cell) }
			v.Lagging = append(v.Lagging, differences(a, b, states[a], states[b], both)...)
		}
	}
	return v
}

// missing describes the cells of want held by the replica name that its
// state st does not hold all of.
func missing(name string, held Holds, st, want map[string]lattice.Value) []string {
	var out []string
	for _, cell := range slices.Sorted(maps.Keys(want)) {
		if held.holds(name, cell) && !lattice.Leq(want[cell], st[cell]) {
			out = append(out, fmt.Sprintf("%s: cell %s is %s, not yet ⊒ %s",
				name, cell, short(st[cell]), short(want[cell])))
		}
	}
	return out
}

// differences describes the cells, of those both hold, on which replicas a
// and b differ.
func differences(a, b string, sa, sb map[string]lattice.Value, both func(cell string) bool) []string {
	var out []string
	cells := slices.Sorted(maps.Keys(sa))
	for c := range maps.Keys(sb) {
		if _, ok := sa[c]; !ok {
			cells = append(cells, c)
		}
	}
	for _, c := range cells {
		if both(c) && !lattice.Equal(sa[c], sb[c]) {
			out = append(out, fmt.Sprintf("cell %s differs: %s has %s, %s has %s", c, a, short(sa[c]), b, short(sb[c])))
		}
	}
	return out
}

// Covers returns what keeps every replica from holding at least want, on
// the cells it holds.
func Covers(states States, held Holds, want map[string]lattice.Value) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(states)) {
		out = append(out, missing(name, held, states[name], want)...)
	}
	return out
}

// Lost counts the updates that state does not hold.
func Lost(state map[string]lattice.Value, updates []Update) int {
	n := 0
	for _, u := range updates {
		if !lattice.Leq(u.Value, state[u.Cell]) {
			n++
		}
	}
	return n
}

// short encodes v for a message, cut to a readable length.
func short(v lattice.Value) string {
	b := lattice.Encode(v)
	if len(b) > 160 {
		return fmt.Sprintf("%s… (%d bytes)", b[:160], len(b))
	}
	return string(b)
}
