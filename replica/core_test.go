package replica

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/dprop/dprop/lattice"
)

func apply(c *Core, cell string, seq uint64, payload string) Result {
	return c.Apply("dprop.cell."+cell, seq, []byte(payload))
}

func TestCoreFold(t *testing.T) {
	c := NewCore("", nil, lattice.Limits{})
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
	c := NewCore("", map[string]string{"decl": "interval"}, lattice.Limits{MaxBytes: 200, MaxDepth: 4})
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
	c := NewCore("", nil, lattice.Limits{})
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

// Folding the same messages in the same order gives the same cells; a
// different interleaving of distinct cells' updates gives the same values.
func TestCoreDeterministic(t *testing.T) {
	msgs := []struct{ cell, payload string }{}
	for i := range 200 {
		cell := []string{"a", "b", "c"}[i%3]
		msgs = append(msgs, struct{ cell, payload string }{cell, string(lattice.Encode(lattice.Max{Value: float64(rand.IntN(50))}))})
	}
	run := func(order []int) map[string]string {
		c := NewCore("", nil, lattice.Limits{})
		for i, j := range order {
			m := msgs[j]
			apply(c, m.cell, uint64(i+1), m.payload)
		}
		out := map[string]string{}
		c.Each(func(cell Cell) bool { out[cell.Name] = string(lattice.Encode(cell.Value)) + cell.ETag; return true })
		return out
	}
	order := make([]int, len(msgs))
	for i := range order {
		order[i] = i
	}
	want := run(order)
	for range 5 {
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		got := run(order)
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("cell %s: %s, want %s", k, got[k], v)
			}
		}
	}
}
