package fold

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dprop/dprop/lattice"
)

func apply(c *Core, cell string, seq uint64, payload string) Result {
	return c.Apply("dprop.cell."+cell, seq, []byte(payload))
}

func TestCoreFold(t *testing.T) {
	c := NewCore("", nil, Limits{})
	r := apply(c, "t", 1, `{"type":"max","value":3}`)
	if !r.Changed || r.Err != nil || lattice.Encode(r.Value) == nil {
		t.Fatalf("first update: %+v", r)
	}
	if r := apply(c, "t", 2, `{"type":"max","value":2}`); r.Changed || r.Err != nil {
		t.Errorf("smaller max changed the cell: %+v", r)
	}
	if r := apply(c, "t", 3, `{"type":"max","value":3}`); r.Changed {
		t.Errorf("duplicate changed the cell: %+v", r)
	}
	if r := apply(c, "t", 3, `{"type":"max","value":30}`); !r.Stale || r.Changed {
		t.Errorf("replayed sequence not stale: %+v", r)
	}
	cell, _ := c.Get("t")
	if cell.Updates != 3 || cell.Seq != 1 || cell.Type != "max" || string(lattice.Encode(cell.Value)) != `{"type":"max","value":3}` {
		t.Errorf("cell = %+v", cell)
	}
	if cell.ETag != ETag(lattice.Max{Value: 3}) || len(cell.ETag) != 18 {
		t.Errorf("etag = %s", cell.ETag)
	}
}

func TestCoreRefusals(t *testing.T) {
	c := NewCore("", map[string]string{"decl": "interval"}, Limits{Update: lattice.Limits{MaxBytes: 200, MaxDepth: 4}})
	apply(c, "t", 1, `{"type":"range","min":1,"max":2}`)
	cases := []struct {
		cell, payload, reason string
	}{
		{"t", `{"type":"range","min":1,`, ReasonMalformed},
		{"t", `not json`, ReasonMalformed},
		{"t", `{"type":"bogus"}`, ReasonUnknownType},
		{"t", `{"type":"range","min":1}`, ReasonBadField},
		{"t", `{"type":"range","min":"1","max":2}`, ReasonBadField},
		{"t", `{"type":"range","min":1e999,"max":2}`, ReasonNotFinite},
		{"t", `{"type":"range","min":3,"max":2}`, ReasonInvalid},
		{"t", `{"type":"max","value":1}`, ReasonTypeMismatch},
		{"decl", `{"type":"max","value":1}`, ReasonTypeMismatch},
		{"decl", `{"type":"interval","lo":2,"hi":1}`, ReasonInvalid},
		{"t", `{"type":"set","elems":["` + string(make([]byte, 300)) + `"]}`, ReasonTooLarge},
		{"m", `{"type":"map","entries":{"a":{"type":"map","entries":{"b":{"type":"map","entries":{}}}}}}`, ReasonTooDeep},
	}
	seq := uint64(1)
	for _, tc := range cases {
		seq++
		r := apply(c, tc.cell, seq, tc.payload)
		var re *RefusedError
		if !errors.As(r.Err, &re) || re.Reason != tc.reason || re.Cell != tc.cell || re.Seq != seq {
			t.Errorf("%s %s: %v, want refusal %s", tc.cell, tc.payload, r.Err, tc.reason)
		}
	}
	if r := c.Apply("dprop.cell.a..b", 100, []byte(`{"type":"max","value":1}`)); r.Err == nil {
		t.Error("bad subject accepted")
	}
	cell, _ := c.Get("t")
	if got := string(lattice.Encode(cell.Value)); got != `{"type":"range","min":1,"max":2}` || cell.Updates != 1 {
		t.Errorf("refusals changed the cell: %s (%d updates)", got, cell.Updates)
	}
	if _, ok := c.Get("decl"); ok {
		t.Error("refused updates created a cell")
	}
	if n := c.Refused()["t"][ReasonTypeMismatch]; n != 1 {
		t.Errorf("refused count = %d", n)
	}
	if err := c.Check("decl", lattice.Max{Value: 1}); !errors.Is(err, ErrTypeMismatch) {
		t.Errorf("Check declared mismatch = %v", err)
	}
	if err := c.Check("decl", lattice.Interval{Lo: 1, Hi: 2}); err != nil {
		t.Errorf("Check declared match = %v", err)
	}
}

// The type of an undeclared cell is decided by the first valid update in
// stream order, so every replica decides alike; nothing and contradictions
// fit every cell and do not decide it.
func TestCoreTypeDecision(t *testing.T) {
	c := NewCore("", nil, Limits{})
	apply(c, "x", 1, `{"type":"nothing"}`)
	apply(c, "x", 2, `{"type":"bogus"}`)
	apply(c, "x", 3, `{"type":"contradiction","values":[{"type":"number","value":1},{"type":"number","value":2}]}`)
	if typ := c.Type("x"); typ != "" {
		t.Fatalf("type decided by nothing/contradiction: %q", typ)
	}
	apply(c, "y", 4, `{"type":"flag","value":false}`)
	if r := apply(c, "y", 5, `{"type":"max","value":1}`); r.Err == nil {
		t.Error("second type accepted")
	}
	if typ := c.Type("y"); typ != "flag" {
		t.Errorf("type = %q", typ)
	}
}

// seed, when set (go test -run TestCoreDeterministic -args -seed=N),
// reproduces a run of TestCoreDeterministic; every run logs the seed it used.
var seed = flag.Uint64("seed", 0, "seed of TestCoreDeterministic's generator (0: a fresh one)")

// kinds is the number of kinds of update genPayload draws: the twelve
// lattice types, nothing, and three kinds of bad input.
const kinds = 16

// genPayload draws one wire update: of kind home (0 to 11: one per lattice
// type) three times out of four, else of any kind — another type than the
// cell's, nothing, or input that every replica must refuse — so that the
// fold's type decisions and refusals are exercised too.
func genPayload(rng *rand.Rand, home int) string {
	n := func() int { return rng.IntN(20) - 5 }
	w := func() string { return []string{"w1", "w2", "w3"}[rng.IntN(3)] }
	kind := home
	if rng.IntN(4) == 0 {
		kind = rng.IntN(kinds)
	}
	switch kind {
	case 0:
		return fmt.Sprintf(`{"type":"number","value":%d}`, rng.IntN(3))
	case 1:
		return fmt.Sprintf(`{"type":"max","value":%d}`, n())
	case 2:
		return fmt.Sprintf(`{"type":"min","value":%d}`, n())
	case 3:
		lo := n()
		return fmt.Sprintf(`{"type":"interval","lo":%d,"hi":%d}`, lo, lo+rng.IntN(30))
	case 4:
		lo := n()
		return fmt.Sprintf(`{"type":"range","min":%d,"max":%d}`, lo, lo+rng.IntN(30))
	case 5:
		return fmt.Sprintf(`{"type":"flag","value":%t}`, rng.IntN(2) == 0)
	case 6:
		return fmt.Sprintf(`{"type":"set","elems":["e%d",%d]}`, rng.IntN(10), rng.IntN(10))
	case 7:
		return fmt.Sprintf(`{"type":"gcounter","counts":{"%s":%d}}`, w(), rng.IntN(100))
	case 8:
		return fmt.Sprintf(`{"type":"pncounter","inc":{"%s":%d},"dec":{"%s":%d}}`, w(), rng.IntN(100), w(), rng.IntN(100))
	case 9:
		return fmt.Sprintf(`{"type":"lww","value":%d,"ts":%d,"writer":"%s"}`, rng.IntN(100), rng.IntN(1000), w())
	case 10:
		writer, c := w(), 1+rng.IntN(5)
		return fmt.Sprintf(`{"type":"orset","elems":[{"elem":"e%d","dots":[["%s",%d]]}],"context":{"%s":%d}}`, rng.IntN(5), writer, c, writer, c)
	case 11:
		return fmt.Sprintf(`{"type":"map","entries":{"k%d":{"type":"max","value":%d}}}`, rng.IntN(4), n())
	case 12:
		return `{"type":"nothing"}`
	case 13:
		return `{"type":"interval","lo":5,"hi":1}` // refused: lo > hi
	case 14:
		return `{"type":"max","value":` // refused: malformed
	default:
		return fmt.Sprintf(`{"type":"bogus%d"}`, rng.IntN(2)) // refused: unknown type
	}
}

// Folding the same messages in the same order gives the same cells on
// every replica, whatever the types involved; and since a cell's fate
// depends only on its own messages, interleaving different cells' messages
// otherwise changes nothing either (values, types, refusals, ETags).
func TestCoreDeterministic(t *testing.T) {
	s := *seed
	if s == 0 {
		s = rand.Uint64()
	}
	t.Logf("seed %d (rerun with -args -seed=%d)", s, s)
	rng := rand.New(rand.NewPCG(s, s))
	type msg struct{ cell, payload string }
	// Two cells per lattice type, each mostly written with its type.
	var cells []string
	for i := range 24 {
		cells = append(cells, fmt.Sprintf("c%d", i))
	}
	perCell := map[string][]msg{}
	for range 2000 {
		i := rng.IntN(len(cells))
		m := msg{cells[i], genPayload(rng, i%12)}
		perCell[m.cell] = append(perCell[m.cell], m)
	}
	// fold folds the cells' messages, interleaved at random by r but each
	// cell's own in their order, and describes every cell and refusal.
	fold := func(r *rand.Rand) map[string]string {
		queues := map[string][]msg{}
		for c, ms := range perCell {
			queues[c] = ms
		}
		c := NewCore("", nil, Limits{})
		for seq := uint64(1); len(queues) > 0; seq++ {
			names := slices.Sorted(maps.Keys(queues))
			name := names[r.IntN(len(names))]
			m := queues[name][0]
			if queues[name] = queues[name][1:]; len(queues[name]) == 0 {
				delete(queues, name)
			}
			apply(c, m.cell, seq, m.payload)
		}
		out := map[string]string{}
		c.Each(func(cell Cell) bool {
			out[cell.Name] = fmt.Sprintf("%s %s %s updates=%d", cell.Type, lattice.Encode(cell.Value), cell.ETag, cell.Updates)
			return true
		})
		for cell, reasons := range c.Refused() {
			out[cell] += fmt.Sprint(" refused=", reasons)
		}
		return out
	}
	want := fold(rand.New(rand.NewPCG(s, 1)))
	if len(want) != len(cells) {
		t.Fatalf("only %d cells folded: %v", len(want), want)
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		t.Logf("%s: %.200s", name, want[name])
	}
	for i := range 5 {
		got := fold(rand.New(rand.NewPCG(s, uint64(i+2))))
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("interleaving %d: cell %s: %s, want %s", i, k, got[k], v)
			}
		}
	}
	// The same order folded again gives exactly the same cells.
	if again := fold(rand.New(rand.NewPCG(s, 1))); !maps.Equal(again, want) {
		t.Fatalf("the same messages in the same order gave %v, then %v", want, again)
	}
}

// LogMessages follows what the stream holds for the cells: every message,
// refused or not, on a cell that exists; a rollup replaces the cell's
// history; a snapshot's cells count theirs.
func TestCoreLogMessages(t *testing.T) {
	c := NewCore("", nil, Limits{})
	apply(c, "a", 1, `{"type":"max","value":1}`)
	apply(c, "a", 2, `{"type":"max","value":1}`)
	apply(c, "a", 3, `{"type":"flag","value":true}`) // refused, still in the stream
	apply(c, "b", 4, `{"type":"set","elems":[1]}`)
	if got := c.LogMessages(); got != 4 {
		t.Fatalf("LogMessages = %d, want 4", got)
	}
	c.ApplyMessage(Message{Subject: "dprop.cell.a", Seq: 5, Data: []byte(`{"type":"max","value":1}`), Rollup: true})
	if got := c.LogMessages(); got != 2 {
		t.Fatalf("after a rollup of a: LogMessages = %d, want 2", got)
	}
	b, _ := c.Get("b")
	d := NewCore("", nil, Limits{})
	d.Restore(5, b, b)
	if got := d.LogMessages(); got != 1 {
		t.Fatalf("restored: LogMessages = %d, want 1", got)
	}
	// A later batch of a restore: a new cell and one again.
	a, _ := c.Get("a")
	d.Restore(5, a, b)
	if got := d.LogMessages(); got != 2 {
		t.Fatalf("restored in two batches: LogMessages = %d, want 2", got)
	}
}

// A supported cell holds at most lattice.MaxClaims claims: the update that
// would take it past is refused like one that would outgrow the cell's
// size, and the cell keeps its claims.
func TestCoreSupportedClaimsBound(t *testing.T) {
	c := NewCore("", nil, Limits{})
	claim := func(i int) string {
		return fmt.Sprintf(`{"type":"supported","values":[{"premises":["p%d"],"value":{"type":"max","value":1}}]}`, i)
	}
	for i := range lattice.MaxClaims {
		if r := apply(c, "s", uint64(i+1), claim(i)); r.Err != nil || !r.Changed {
			t.Fatalf("claim %d: %+v", i, r)
		}
	}
	r := apply(c, "s", lattice.MaxClaims+1, claim(lattice.MaxClaims))
	var re *RefusedError
	if !errors.As(r.Err, &re) || re.Reason != ReasonCellTooLarge || !errors.Is(r.Err, ErrCellTooLarge) {
		t.Fatalf("claim past the bound: %v", r.Err)
	}
	if err := c.Check("s", mustDecode(t, claim(99))); !errors.Is(err, ErrCellTooLarge) {
		t.Fatalf("Check past the bound: %v", err)
	}
	// A claim that subsumes others makes room.
	if r := apply(c, "s", lattice.MaxClaims+2, `{"type":"supported","values":[{"premises":[],"value":{"type":"max","value":2}}]}`); r.Err != nil || !r.Changed {
		t.Fatalf("subsuming claim: %+v", r)
	}
	cell, _ := c.Get("s")
	if n := cell.Value.(*lattice.Supported).Len(); n != 1 {
		t.Fatalf("%d claims after the subsuming one", n)
	}
}

func mustDecode(t *testing.T, s string) lattice.Value {
	t.Helper()
	v, err := lattice.Decode([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
