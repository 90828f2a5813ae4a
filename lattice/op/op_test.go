package op_test

import (
	"errors"
	"testing"

	"github.com/dprop/dprop/internal/purity"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/lattice/op"
)

func TestPurity(t *testing.T) {
	purity.Check(t, ".", "package op is pure like lattice (plus encoding/json for the operation's own JSON)",
		3, append([]string{"encoding/json", "fmt", "github.com/dprop/dprop/lattice"}, purity.DataPackages...)...)
}

func mustParse(t *testing.T, s string) op.Op {
	t.Helper()
	o, err := op.Parse([]byte(s), lattice.Limits{})
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return o
}

func mustDecode(t *testing.T, s string) lattice.Value {
	t.Helper()
	v, err := lattice.Decode([]byte(s))
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

// apply computes the delta of o on cur and merges it in.
func apply(t *testing.T, typ string, cur lattice.Value, o string, writer string, now int64) (delta, after lattice.Value) {
	t.Helper()
	d, err := mustParse(t, o).Delta(typ, cur, writer, now, lattice.Limits{})
	if err != nil {
		t.Fatalf("%s on %s: %v", o, lattice.Encode(cur), err)
	}
	after, _, err = lattice.Merge(cur, d)
	if err != nil {
		t.Fatalf("merging the delta %s: %v", lattice.Encode(d), err)
	}
	return d, after
}

func TestDeltas(t *testing.T) {
	cases := []struct {
		name, typ, cur, op string
		writer             string
		now                int64
		delta, after       string
	}{
		{"inc from nothing", "", `{"type":"nothing"}`, `{"op":"inc"}`, "w", 0,
			`{"type":"gcounter","counts":{"w":1}}`, `{"type":"gcounter","counts":{"w":1}}`},
		{"inc builds on the writer's own count", "gcounter", `{"type":"gcounter","counts":{"w":2,"x":5}}`, `{"op":"inc","by":3}`, "w", 0,
			`{"type":"gcounter","counts":{"w":5}}`, `{"type":"gcounter","counts":{"w":5,"x":5}}`},
		{"inc by 0 changes nothing", "gcounter", `{"type":"gcounter","counts":{"w":2}}`, `{"op":"inc","by":0}`, "w", 0,
			`{"type":"gcounter","counts":{"w":2}}`, `{"type":"gcounter","counts":{"w":2}}`},
		{"dec on a pncounter", "pncounter", `{"type":"pncounter","inc":{"w":4},"dec":{"w":1}}`, `{"op":"dec","by":2}`, "w", 0,
			`{"type":"pncounter","inc":{},"dec":{"w":3}}`, `{"type":"pncounter","inc":{"w":4},"dec":{"w":3}}`},
		{"dec on an untyped cell makes a pncounter", "", `{"type":"nothing"}`, `{"op":"dec"}`, "w", 0,
			`{"type":"pncounter","inc":{},"dec":{"w":1}}`, `{"type":"pncounter","inc":{},"dec":{"w":1}}`},
		{"set on max", "max", `{"type":"max","value":3}`, `{"op":"set","value":7}`, "w", 0,
			`{"type":"max","value":7}`, `{"type":"max","value":7}`},
		{"set on min keeps the least", "min", `{"type":"min","value":3}`, `{"op":"set","value":7}`, "w", 0,
			`{"type":"min","value":7}`, `{"type":"min","value":3}`},
		{"add to a set", "set", `{"type":"nothing"}`, `{"op":"add","elems":["b","a",1]}`, "w", 0,
			`{"type":"set","elems":[1,"a","b"]}`, `{"type":"set","elems":[1,"a","b"]}`},
		{"enable a flag", "", `{"type":"nothing"}`, `{"op":"enable"}`, "w", 0,
			`{"type":"flag","value":true}`, `{"type":"flag","value":true}`},
		{"refine an interval", "interval", `{"type":"interval","lo":0,"hi":10}`, `{"op":"refine","value":{"type":"interval","lo":2,"hi":20}}`, "w", 0,
			`{"type":"interval","lo":2,"hi":20}`, `{"type":"interval","lo":2,"hi":10}`},
		{"set a number", "number", `{"type":"nothing"}`, `{"op":"set","value":2.5}`, "w", 0,
			`{"type":"number","value":2.5}`, `{"type":"number","value":2.5}`},
		{"lww set takes the clock", "", `{"type":"nothing"}`, `{"op":"set","value":{"b":1,"a":[2]}}`, "w", 1000,
			`{"type":"lww","value":{"a":[2],"b":1},"ts":1000,"writer":"w"}`, `{"type":"lww","value":{"a":[2],"b":1},"ts":1000,"writer":"w"}`},
		{"lww set wins over a register from the future (clock stepped back)", "lww", `{"type":"lww","value":"old","ts":5000,"writer":"w"}`,
			`{"op":"set","value":"new"}`, "w", 1000,
			`{"type":"lww","value":"new","ts":5001,"writer":"w"}`, `{"type":"lww","value":"new","ts":5001,"writer":"w"}`},
		{"map update with a nested inc", "map", `{"type":"map","entries":{"k":{"type":"gcounter","counts":{"w":1}}}}`,
			`{"op":"update","key":"k","with":{"op":"inc","by":2}}`, "w", 0,
			`{"type":"map","entries":{"k":{"type":"gcounter","counts":{"w":3}}}}`, `{"type":"map","entries":{"k":{"type":"gcounter","counts":{"w":3}}}}`},
		{"map remove of an orset key clears it", "map",
			`{"type":"map","entries":{"k":{"type":"orset","elems":[{"elem":"a","dots":[["x",1]]}]}}}`,
			`{"op":"remove","key":"k"}`, "w", 0,
			`{"type":"map","entries":{"k":{"type":"orset","elems":[],"context":{"x":1},"cloud":[]}}}`, `{"type":"map","entries":{"k":{"type":"orset","elems":[],"context":{"x":1},"cloud":[]}}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, after := apply(t, c.typ, mustDecode(t, c.cur), c.op, c.writer, c.now)
			if got := string(lattice.Encode(d)); got != string(lattice.Encode(mustDecode(t, c.delta))) {
				t.Errorf("delta %s, want %s", got, c.delta)
			}
			if got := string(lattice.Encode(after)); got != string(lattice.Encode(mustDecode(t, c.after))) {
				t.Errorf("after %s, want %s", got, c.after)
			}
		})
	}
}

func TestORSetOperations(t *testing.T) {
	var s lattice.Value = lattice.Nothing{}
	d, s := apply(t, "", s, `{"op":"add","elems":["a","b"]}`, "w", 0)
	ds := d.(*lattice.ORSet)
	if !ds.Has(lattice.Str("a")) || !ds.Has(lattice.Str("b")) {
		t.Fatalf("add delta %s lacks an element", lattice.Encode(d))
	}
	// Another writer adds a concurrently, unseen by w's remove.
	other, _ := apply(t, "orset", lattice.Nothing{}, `{"op":"add","elem":"a"}`, "x", 0)
	rm, _ := apply(t, "orset", s, `{"op":"remove","elems":["a"]}`, "w", 0)
	if r := rm.(*lattice.ORSet); len(r.Elems()) != 0 {
		t.Fatalf("a remove delta names no elements, got %s", lattice.Encode(rm))
	}
	end, _, _ := lattice.Merge(s, rm)
	if end.(*lattice.ORSet).Has(lattice.Str("a")) {
		t.Fatalf("a observed and removed is still present: %s", lattice.Encode(end))
	}
	end, _, _ = lattice.Merge(end, other)
	if !end.(*lattice.ORSet).Has(lattice.Str("a")) {
		t.Fatalf("a concurrent add did not survive a remove that did not observe it: %s", lattice.Encode(end))
	}
	// A second add by w takes a new dot: a remove of the first does not undo it.
	_, s2 := apply(t, "orset", s, `{"op":"add","elem":"a"}`, "w", 0)
	end, _, _ = lattice.Merge(s2, rm)
	if !end.(*lattice.ORSet).Has(lattice.Str("a")) {
		t.Fatalf("a later add was undone by a remove that did not observe it: %s", lattice.Encode(end))
	}
	_, cleared := apply(t, "orset", end, `{"op":"clear"}`, "w", 0)
	if n := len(cleared.(*lattice.ORSet).Elems()); n != 0 {
		t.Fatalf("clear left %d elements: %s", n, lattice.Encode(cleared))
	}
	rmAbsent, _ := apply(t, "orset", cleared, `{"op":"remove","elem":"zzz"}`, "w", 0)
	if lattice.Leq(rmAbsent, cleared) == false {
		t.Fatalf("removing an absent element should add nothing, delta %s", lattice.Encode(rmAbsent))
	}
}

func TestRefusals(t *testing.T) {
	bad := []string{
		``, `[]`, `{"op":"inc","by":-1}`, `{"op":"inc","by":1.5}`, `{"op":"inc","by":1e30}`, `{"op":"frob"}`, `{}`,
		`{"op":"add"}`, `{"op":"add","elems":[]}`, `{"op":"add","elems":[{"x":1}]}`, `{"op":"add","elem":"a","elems":["b"]}`,
		`{"op":"inc","elems":["a"]}`, `{"op":"set"}`, `{"op":"update","key":"k"}`, `{"op":"inc","extra":1}`,
		`{"op":"update","key":"k","with":{"op":"nope"}}`, `{"op":"inc"} {"op":"inc"}`,
	}
	for _, s := range bad {
		if _, err := op.Parse([]byte(s), lattice.Limits{}); !errors.Is(err, op.ErrBad) {
			t.Errorf("Parse(%s) = %v, want ErrBad", s, err)
		}
	}
	if _, err := op.Parse([]byte(`{"op":"add","elems":[1,2,3]}`), lattice.Limits{MaxElems: 2}); !errors.Is(err, op.ErrBad) {
		t.Errorf("more elements than the limit: %v, want ErrBad", err)
	}
	notApplicable := []struct{ typ, cur, op string }{
		{"gcounter", `{"type":"gcounter","counts":{"w":1}}`, `{"op":"dec"}`},
		{"max", `{"type":"max","value":1}`, `{"op":"inc"}`},
		{"max", `{"type":"max","value":1}`, `{"op":"add","elem":"a"}`},
		{"set", `{"type":"set","elems":["a"]}`, `{"op":"remove","elem":"a"}`},
		{"gcounter", `{"type":"gcounter","counts":{"w":1}}`, `{"op":"enable"}`},
		{"map", `{"type":"map","entries":{"k":{"type":"max","value":1}}}`, `{"op":"remove","key":"k"}`},
		{"gcounter", `{"type":"gcounter","counts":{"w":9223372036854775807}}`, `{"op":"inc"}`},
		{"max", `{"type":"nothing"}`, `{"op":"refine","value":{"type":"min","value":1}}`},
		{"gcounter", `{"type":"nothing"}`, `{"op":"set","value":3}`},
	}
	for _, c := range notApplicable {
		cur := mustDecode(t, c.cur)
		if _, err := mustParse(t, c.op).Delta(c.typ, cur, "w", 0, lattice.Limits{}); !errors.Is(err, op.ErrNotApplicable) {
			t.Errorf("%s on %s %s: %v, want ErrNotApplicable", c.op, c.typ, c.cur, err)
		}
	}
	contradiction, _, _ := lattice.Merge(lattice.Number{Value: 1}, lattice.Number{Value: 2})
	if _, err := mustParse(t, `{"op":"inc"}`).Delta("number", contradiction, "w", 0, lattice.Limits{}); !errors.Is(err, op.ErrNotApplicable) {
		t.Errorf("inc on a contradiction: %v, want ErrNotApplicable", err)
	}
	if _, err := mustParse(t, `{"op":"set","value":"x"}`).Delta("interval", lattice.Nothing{}, "w", 0, lattice.Limits{}); !errors.Is(err, op.ErrBad) {
		t.Errorf("set of a plain string on an interval: %v, want ErrBad", err)
	}
}

func TestNaturalType(t *testing.T) {
	for s, want := range map[string]string{
		`{"op":"inc"}`: "gcounter", `{"op":"dec"}`: "pncounter", `{"op":"add","elem":1}`: "orset",
		`{"op":"remove","elem":1}`: "orset", `{"op":"clear"}`: "orset", `{"op":"enable"}`: "flag",
		`{"op":"update","key":"k","with":{"op":"inc"}}`: "map", `{"op":"remove","key":"k"}`: "map",
		`{"op":"set","value":3}`: "lww", `{"op":"set","value":{"type":"max","value":3}}`: "max",
		`{"op":"refine","value":{"type":"range","min":1,"max":2}}`: "range",
	} {
		if got := mustParse(t, s).NaturalType(); got != want {
			t.Errorf("NaturalType(%s) = %q, want %q", s, got, want)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, s := range []string{
		`{"op":"inc","by":3}`, `{"op":"dec","by":1}`, `{"op":"add","elems":[1,"a"]}`, `{"op":"remove","key":"k"}`,
		`{"op":"set","value":{"a":1}}`, `{"op":"update","key":"k","with":{"op":"add","elems":["x"]}}`, `{"op":"clear"}`,
	} {
		o := mustParse(t, s)
		b, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != s {
			t.Errorf("MarshalJSON(Parse(%s)) = %s", s, b)
		}
	}
	a, _ := mustParse(t, `{ "by": 1, "op": "inc" }`).MarshalJSON()
	b, _ := mustParse(t, `{"op":"inc"}`).MarshalJSON()
	if string(a) != string(b) {
		t.Errorf("the same operation encodes differently: %s and %s", a, b)
	}
}
