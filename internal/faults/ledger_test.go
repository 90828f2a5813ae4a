package faults

import (
	"strings"
	"testing"

	"github.com/dprop/dprop/lattice"
)

func val(t testing.TB, s string) lattice.Value {
	t.Helper()
	v, err := lattice.Decode([]byte(s))
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

// ledger records three updates of a max cell, of which the second's
// acknowledgement was lost.
func ledger(t *testing.T) *Ledger {
	t.Helper()
	l := NewLedger()
	for i, s := range []string{`{"type":"max","value":1}`, `{"type":"max","value":3}`, `{"type":"max","value":2}`} {
		u := Update{Cell: "m", Value: val(t, s)}
		if err := l.Attempt(u); err != nil {
			t.Fatal(err)
		}
		if i != 1 {
			if err := l.Ack(u, Ack(i/2)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return l
}

func TestJudge(t *testing.T) {
	l := ledger(t)
	if by := l.AckedBy(); by[AckLog] != 1 || by[AckOutbox] != 1 || AckOutbox.String() != "202" {
		t.Errorf("acknowledged by %v, want one by the log (200) and one by an outbox (202)", by)
	}
	acked, attempted := l.Acked(), l.Attempted()
	one := func(s string) map[string]lattice.Value { return map[string]lattice.Value{"m": val(t, s)} }
	cases := []struct {
		name      string
		states    States
		converged bool
		violation string
		lagging   string
	}{
		{"the lost ack was not stored", States{"a": one(`{"type":"max","value":2}`), "b": one(`{"type":"max","value":2}`)}, true, "", ""},
		{"the lost ack was stored", States{"a": one(`{"type":"max","value":3}`), "b": one(`{"type":"max","value":3}`)}, true, "", ""},
		{"a replica behind", States{"a": one(`{"type":"max","value":1}`), "b": one(`{"type":"max","value":2}`)}, false, "", "a: cell m"},
		{"replicas differ", States{"a": one(`{"type":"max","value":2}`), "b": one(`{"type":"max","value":3}`)}, false, "", "cell m differs"},
		{"a value never written", States{"a": one(`{"type":"max","value":4}`)}, false, "more than was ever written", ""},
		{"a cell never written", States{"a": {"m": val(t, `{"type":"max","value":2}`), "x": val(t, `{"type":"max","value":0}`)}}, false, "cell x holds", ""},
		{"a cell missing", States{"a": {}}, false, "", "a: cell m is {\"type\":\"nothing\"}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := Judge(c.states, nil, acked, attempted)
			if v.Converged() != c.converged {
				t.Fatalf("converged = %v, want %v: %+v", v.Converged(), c.converged, v)
			}
			if c.violation != "" && !strings.Contains(strings.Join(v.Violations, "\n"), c.violation) {
				t.Errorf("violations %q lack %q", v.Violations, c.violation)
			}
			if c.lagging != "" && !strings.Contains(strings.Join(v.Lagging, "\n"), c.lagging) {
				t.Errorf("lagging %q lacks %q", v.Lagging, c.lagging)
			}
		})
	}
}

// Replicas of a subtree are judged on their subtree: they need not hold
// the other cells, and are compared with the others on theirs alone.
func TestJudgeHeld(t *testing.T) {
	l := NewLedger()
	for _, u := range []Update{{"w.a", val(t, `{"type":"max","value":1}`)}, {"w.b.c", val(t, `{"type":"max","value":2}`)}} {
		if err := l.Attempt(u); err != nil {
			t.Fatal(err)
		}
		if err := l.Ack(u, AckLog); err != nil {
			t.Fatal(err)
		}
	}
	acked, attempted := l.Acked(), l.Attempted()
	all := map[string]lattice.Value{"w.a": val(t, `{"type":"max","value":1}`), "w.b.c": val(t, `{"type":"max","value":2}`)}
	held := Holds{"sub": "w.b.>"}
	v := Judge(States{"all": all, "sub": {"w.b.c": val(t, `{"type":"max","value":2}`)}, "other": all}, held, acked, attempted)
	if !v.Converged() {
		t.Errorf("a subtree replica holding its subtree: %+v", v)
	}
	v = Judge(States{"all": all, "sub": {"w.b.c": val(t, `{"type":"max","value":1}`)}}, held, acked, attempted)
	if v.Converged() || len(v.Lagging) != 2 || !strings.Contains(v.Lagging[0], "sub: cell w.b.c") || !strings.Contains(v.Lagging[1], "cell w.b.c differs") {
		t.Errorf("a subtree replica behind on its subtree: %+v", v)
	}
	if got := Covers(States{"sub": {}}, held, map[string]lattice.Value{"w.a": val(t, `{"type":"max","value":1}`)}); len(got) != 0 {
		t.Errorf("Covers asks a subtree replica for a cell outside it: %q", got)
	}
}

func TestLostAndCovers(t *testing.T) {
	updates := []Update{
		{"s", val(t, `{"type":"set","elems":["a"]}`)},
		{"s", val(t, `{"type":"set","elems":["b"]}`)},
		{"c", val(t, `{"type":"gcounter","counts":{"w1":2}}`)},
	}
	state := map[string]lattice.Value{
		"s": val(t, `{"type":"set","elems":["a","z"]}`),
		"c": val(t, `{"type":"gcounter","counts":{"w1":3,"w2":1}}`),
	}
	if n := Lost(state, updates); n != 1 {
		t.Errorf("Lost = %d, want 1 (set element b)", n)
	}
	want := map[string]lattice.Value{"c": val(t, `{"type":"gcounter","counts":{"w1":3}}`)}
	if got := Covers(States{"r": state}, nil, want); len(got) != 0 {
		t.Errorf("Covers = %q, want nothing", got)
	}
	want["c"] = val(t, `{"type":"gcounter","counts":{"w1":4}}`)
	if got := Covers(States{"r": state}, nil, want); len(got) != 1 {
		t.Errorf("Covers = %q, want one cell behind", got)
	}
}

func TestLedgerRefusesTypeMismatch(t *testing.T) {
	l := NewLedger()
	if err := l.Attempt(Update{"m", val(t, `{"type":"max","value":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := l.Attempt(Update{"m", val(t, `{"type":"min","value":1}`)}); err == nil {
		t.Fatal("a min into a max cell was accepted")
	}
}
