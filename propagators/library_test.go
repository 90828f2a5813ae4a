package propagators_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
)

type vals = map[string]lattice.Value

// tb is what eval needs of a *testing.T or a *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
}

// eval runs p once over vals and returns each refined cell's refinements
// merged into Nothing.
func eval(t tb, p propagators.Propagator, in vals) (vals, error) {
	t.Helper()
	refs, err := propagators.Evaluate(context.Background(), p, in)
	out := vals{}
	for _, r := range refs {
		m, _, merr := lattice.Merge(out[r.Cell], r.Value)
		if merr != nil {
			t.Fatalf("%s: refinements of %s do not merge: %v", p.Name(), r.Cell, merr)
		}
		out[r.Cell] = m
	}
	return out, err
}

// expect checks the refinements of the listed cells (nil: none).
func expect(t tb, p propagators.Propagator, in vals, want vals) {
	t.Helper()
	got, err := eval(t, p, in)
	if err != nil {
		t.Fatalf("%s: %v", p.Name(), err)
	}
	for c, w := range want {
		g := got[c]
		if w == nil {
			if g != nil {
				t.Errorf("%s over %v: %s refined with %s, want nothing", p.Name(), encodeAll(in), c, lattice.Encode(g))
			}
			continue
		}
		if !lattice.Equal(g, w) {
			t.Errorf("%s over %v: %s = %s, want %s", p.Name(), encodeAll(in), c, lattice.Encode(g), lattice.Encode(w))
		}
	}
}

func encodeAll(vs vals) map[string]string {
	out := map[string]string{}
	for k, v := range vs {
		out[k] = string(lattice.Encode(v))
	}
	return out
}

func TestSum(t *testing.T) {
	nums := must(propagators.Sum("", cell("a", "number"), cell("b", "number"), cell("c", "number")))
	expect(t, nums, vals{"a": num(1), "b": num(2)}, vals{"c": num(3), "a": nil, "b": nil})
	expect(t, nums, vals{"c": num(10), "b": num(4)}, vals{"a": num(6), "b": nil, "c": nil})
	// 0.1 + 0.2 is not exactly a float: a number cell learns nothing.
	expect(t, nums, vals{"a": num(0.1), "b": num(0.2)}, vals{"c": nil})

	mixed := must(propagators.Sum("", cell("a", "interval"), cell("b", "number"), cell("c", "interval")))
	expect(t, mixed, vals{"a": iv(1, 2), "b": num(10)}, vals{"c": iv(11, 12)})
	expect(t, mixed, vals{"c": iv(0, 5), "b": num(1)}, vals{"a": iv(-1, 4)})
	// c = a + b, with c = [0, 5] and a = [3, 4] gives b in [-4, 2], which
	// is not a point: the number cell b stays as it is.
	expect(t, mixed, vals{"c": iv(0, 5), "a": iv(3, 4)}, vals{"b": nil})
	// 0.1 + 0.2 rounds up to 0.30000000000000004; the interval holds the
	// exact real sum between that float and the one below.
	x, y := 0.1, 0.2
	got, _ := eval(t, mixed, vals{"a": iv(x, x), "b": num(y)})
	c := got["c"].(lattice.Interval)
	if c.Hi != x+y || c.Lo != math.Nextafter(x+y, 0) {
		t.Errorf("c = %s", lattice.Encode(c))
	}
}

func TestProduct(t *testing.T) {
	p := must(propagators.Product("", cell("a", "interval"), cell("b", "interval"), cell("c", "interval")))
	expect(t, p, vals{"a": iv(2, 3), "b": iv(-1, 4)}, vals{"c": iv(-3, 12)})
	expect(t, p, vals{"c": iv(6, 12), "b": iv(2, 3)}, vals{"a": iv(2, 6)})
	// Dividing by an interval containing 0: a half-line, or nothing.
	expect(t, p, vals{"c": iv(1, 2), "b": iv(0, 4)}, vals{"a": iv(0.25, math.Inf(1))})
	expect(t, p, vals{"c": iv(1, 2), "b": iv(-4, 0)}, vals{"a": iv(math.Inf(-1), -0.25)})
	expect(t, p, vals{"c": iv(1, 2), "b": iv(-1, 1)}, vals{"a": nil})
	expect(t, p, vals{"c": iv(-1, 2), "b": iv(0, 1)}, vals{"a": nil})
	// b exactly 0 and c not 0: no a exists.
	got, _ := eval(t, p, vals{"c": iv(1, 2), "b": iv(0, 0)})
	if !lattice.IsContradiction(got["a"]) {
		t.Errorf("a = %s, want a contradiction", lattice.Encode(got["a"]))
	}
	// A factor known to be 0 makes c 0 on its own.
	expect(t, p, vals{"a": iv(0, 0)}, vals{"c": iv(0, 0)})

	nums := must(propagators.Product("", cell("a", "number"), cell("b", "number"), cell("c", "number")))
	expect(t, nums, vals{"a": num(3), "b": num(4)}, vals{"c": num(12)})
	expect(t, nums, vals{"c": num(12), "b": num(4)}, vals{"a": num(3)})
	expect(t, nums, vals{"c": num(1), "b": num(3)}, vals{"a": nil}) // 1/3 is inexact
}

func TestSquare(t *testing.T) {
	p := must(propagators.Square("", cell("a", "interval"), cell("b", "interval")))
	expect(t, p, vals{"b": iv(4, 9)}, vals{"a": iv(-3, 3)})
	expect(t, p, vals{"b": iv(4, 9), "a": iv(0, 10)}, vals{"a": iv(2, 3)})
	expect(t, p, vals{"b": iv(4, 9), "a": iv(-10, -1)}, vals{"a": iv(-3, -2)})
	expect(t, p, vals{"b": iv(4, 9), "a": iv(-2.5, 10)}, vals{"a": iv(-3, 3)})
	expect(t, p, vals{"a": iv(-2, 3)}, vals{"b": iv(0, 9)})
	expect(t, p, vals{}, vals{"b": iv(0, math.Inf(1)), "a": nil}) // b = a² ≥ 0
	got, _ := eval(t, p, vals{"b": iv(-4, -1)})
	if !lattice.IsContradiction(got["a"]) {
		t.Errorf("a = %s, want a contradiction: no real root of a negative", lattice.Encode(got["a"]))
	}

	nums := must(propagators.Square("", cell("a", "number"), cell("b", "number")))
	expect(t, nums, vals{"a": num(-3)}, vals{"b": num(9)})
	expect(t, nums, vals{"b": num(2)}, vals{"a": nil}) // ±√2: neither exact nor one point
}

func TestLinear(t *testing.T) {
	fToC := func(x, y string, typ string) propagators.Propagator {
		return must(propagators.Linear("", cell(x, typ), cell(y, typ), propagators.Ratio{Num: 5, Den: 9}, propagators.Ratio{Num: -160, Den: 9}))
	}
	nums := fToC("f", "c", "number")
	expect(t, nums, vals{"f": num(212)}, vals{"c": num(100)})
	expect(t, nums, vals{"c": num(100)}, vals{"f": num(212)})
	expect(t, nums, vals{"f": num(-40)}, vals{"c": num(-40)})
	expect(t, nums, vals{"f": num(33)}, vals{"c": nil}) // 5/9 °C is not a float

	ivs := fToC("f", "c", "interval")
	expect(t, ivs, vals{"f": iv(32, 212)}, vals{"c": iv(0, 100)})

	// Ranges map one way, the hull to the hull, rounded outward.
	rngs := fToC("f", "c", "range")
	if got := rngs.Inputs(); len(got) != 1 || got[0] != "f" {
		t.Fatalf("range linear reads %v", got)
	}
	got, _ := eval(t, rngs, vals{"f": rng(31, 57)})
	r := got["c"].(lattice.Range)
	if !(r.Min <= -5.0/9 && -5.0/9-r.Min < 1e-15 && r.Max >= 125.0/9 && r.Max-125.0/9 < 1e-14) {
		t.Errorf("c = %s, want about [-0.5556, 13.8889]", lattice.Encode(r))
	}

	if _, err := propagators.Linear("", cell("x", "number"), cell("y", "number"), propagators.Ratio{}, propagators.Ratio{}); err == nil {
		t.Error("k = 0 accepted")
	}
	_, err := propagators.Linear("", cell("x", "range"), cell("y", "interval"), propagators.Ratio{Num: 1}, propagators.Ratio{})
	var te *propagators.TypeError
	if !errors.As(err, &te) || te.Cell != "y" {
		t.Errorf("range to interval: %v", err)
	}
}

func TestParseRatio(t *testing.T) {
	for s, want := range map[string]float64{"5/9": 5.0 / 9, "-160/9": -160.0 / 9, "1.8": 1.8, "2": 2, " 3 / 4 ": 0.75} {
		r, err := propagators.ParseRatio(s)
		if err != nil || r.Float() != want {
			t.Errorf("ParseRatio(%q) = %v, %v", s, r, err)
		}
	}
	for _, s := range []string{"", "a", "1/0", "1/x", "inf", "NaN", "1/2/3"} {
		if _, err := propagators.ParseRatio(s); err == nil {
			t.Errorf("ParseRatio(%q) accepted", s)
		}
	}
}

func TestAggregates(t *testing.T) {
	in3 := func(typ string) []propagators.Cell {
		return []propagators.Cell{cell("i1", typ), cell("i2", typ), cell("i3", "number")}
	}
	expect(t, must(propagators.Hull("", in3("range"), cell("o", "range"))),
		vals{"i1": rng(1, 2), "i2": rng(5, 6), "i3": num(-1)}, vals{"o": rng(-1, 6)})
	expect(t, must(propagators.Max("", in3("max"), cell("o", "max"))),
		vals{"i1": maxv(1), "i2": maxv(5), "i3": num(3)}, vals{"o": maxv(5)})
	expect(t, must(propagators.Min("", in3("range"), cell("o", "min"))),
		vals{"i1": rng(1, 2), "i2": rng(5, 6)}, vals{"o": lattice.Min{Value: 1}})
	expect(t, must(propagators.Max("", in3("max"), cell("o", "max"))), vals{}, vals{"o": nil})

	u := must(propagators.Union("", []propagators.Cell{cell("s", "set"), cell("r", "orset")}, cell("o", "set")))
	or := (&lattice.ORSet{}).AddDelta("w", lattice.Str("b"))
	expect(t, u, vals{"s": set(lattice.Num(1)), "r": or}, vals{"o": set(lattice.Num(1), lattice.Str("b"))})

	g := must(propagators.CounterSum("", []propagators.Cell{cell("c1", "gcounter"), cell("c2", "gcounter")}, cell("o", "gcounter")))
	expect(t, g, vals{"c1": lattice.NewGCounter(map[string]int64{"x": 2, "y": 3}), "c2": lattice.NewGCounter(map[string]int64{"x": 4})},
		vals{"o": lattice.NewGCounter(map[string]int64{"c1": 5, "c2": 4})})
	pn := must(propagators.CounterSum("", []propagators.Cell{cell("c1", "gcounter"), cell("c2", "pncounter")}, cell("o", "pncounter")))
	expect(t, pn, vals{"c1": lattice.NewGCounter(map[string]int64{"x": 2}), "c2": lattice.NewPNCounter(map[string]int64{"x": 5}, map[string]int64{"y": 7})},
		vals{"o": lattice.NewPNCounter(map[string]int64{"c1": 2, "c2": 5}, map[string]int64{"c2": 7})})
	if _, err := propagators.CounterSum("", []propagators.Cell{cell("c", "pncounter")}, cell("o", "gcounter")); err == nil {
		t.Error("a pncounter summed into a gcounter")
	}
}

func TestThresholdAndCopy(t *testing.T) {
	th := must(propagators.Threshold("", cell("t", "range"), rng(0, 50), cell("hot", "flag")))
	expect(t, th, vals{"t": rng(10, 40)}, vals{"hot": nil})
	expect(t, th, vals{"t": rng(-1, 50)}, vals{"hot": lattice.Flag{Value: true}})
	if _, err := propagators.Threshold("", cell("t", "range"), maxv(1), cell("hot", "flag")); err == nil {
		t.Error("a max threshold over a range accepted")
	}
	cp := must(propagators.Copy("", cell("a", "interval"), cell("b", "interval"), cell("c", "interval")))
	expect(t, cp, vals{"a": iv(1, 2)}, vals{"b": iv(1, 2), "c": iv(1, 2)})
	if _, err := propagators.Copy("", cell("a", "interval"), cell("b", "range")); err == nil {
		t.Error("copy across types accepted")
	}
}

func TestFilterAndMap(t *testing.T) {
	words := set(lattice.Str("apple"), lattice.Str("fig"), lattice.Str("kiwi"), lattice.Num(7))
	f := must(propagators.Filter("", cell("s", "set"), cell("o", "set"), `type(elem) == "string" && len(elem) > 3`))
	expect(t, f, vals{"s": words}, vals{"o": set(lattice.Str("apple"), lattice.Str("kiwi"))})
	m := must(propagators.Map("", cell("s", "set"), cell("o", "set"), `type(elem) == "string" ? upper(elem) : elem * 2`))
	expect(t, m, vals{"s": words}, vals{"o": set(lattice.Str("APPLE"), lattice.Str("FIG"), lattice.Str("KIWI"), lattice.Num(14))})

	// An element the expression fails on is left out and reported.
	half := must(propagators.Map("", cell("s", "set"), cell("o", "set"), `elem / 2`))
	got, err := eval(t, half, vals{"s": words})
	if err == nil || !strings.Contains(err.Error(), "2 more") || !lattice.Equal(got["o"], set(lattice.Num(3.5))) {
		t.Errorf("map over mixed elements: %s, %v", lattice.Encode(got["o"]), err)
	}
	// Work is bounded: a large range exceeds the memory budget.
	big := must(propagators.Filter("", cell("s", "set"), cell("o", "set"), `len(1..1000000) > 0`))
	if _, err := eval(t, big, vals{"s": words}); err == nil || !strings.Contains(err.Error(), "memory budget") {
		t.Errorf("a huge range: %v", err)
	}
	for _, src := range []string{`now() != nil`, `repeat(elem, 1000) != ""`, `let x = elem; x == "a"`, `env`, strings.Repeat("1 + ", 300) + "1 > 0", ""} {
		if _, err := propagators.Filter("", cell("s", "set"), cell("o", "set"), src); err == nil {
			t.Errorf("expression %.40q accepted", src)
		}
	}
	if _, err := propagators.Map("", cell("s", "set"), cell("o", "orset"), `elem`); err == nil {
		t.Error("map into an orset accepted")
	}
}

func TestHeronConverges(t *testing.T) {
	cells := newMemCells()
	cells.set(t, "x", num(2))
	cells.set(t, "g", lattice.Min{Value: 2})
	rt := start(t, cells, propagators.Config{}, must(propagators.Heron("", cell("x", "number"), cell("g", "min"))))
	settle(t, rt)
	g := cells.Value("g").(lattice.Min).Value
	if math.Abs(g-math.Sqrt2) > 1e-9 {
		t.Fatalf("g = %v, want √2 = %v", g, math.Sqrt2)
	}
	if s := rt.Stats(); s.Fires > 20 {
		t.Errorf("%d steps", s.Fires)
	}
}
