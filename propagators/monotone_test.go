package propagators_test

import (
	"fmt"
	"math"
	"math/big"
	"testing"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"pgregory.net/rapid"
)

// Property tests of the built-ins.
//
// Monotonicity: for random inputs x and x' = x ⊔ y (more informative), the
// refinements for x', merged per cell into Nothing, are at least as
// informative as those for x. Inputs are never contradictions here: the
// runtime handles those itself, before a propagator sees them.
//
// Soundness of the arithmetic: for random exact points inside the input
// intervals that satisfy the constraint, every refined cell still holds its
// point (compared exactly, with big.Rat).

// genFloat draws a float from a mix of small integers, halves and doubles of
// various magnitudes, so that both exact and inexact arithmetic happen.
func genFloat(t *rapid.T, label string) float64 {
	switch rapid.IntRange(0, 3).Draw(t, label+".kind") {
	case 0:
		return float64(rapid.IntRange(-20, 20).Draw(t, label+".int"))
	case 1:
		return float64(rapid.IntRange(-40, 40).Draw(t, label+".half")) / 2
	case 2:
		return rapid.Float64Range(-1e3, 1e3).Draw(t, label+".f")
	}
	return rapid.Float64Range(-1e-3, 1e-3).Draw(t, label+".tiny")
}

// genValue draws a value of a cell type (never a contradiction).
func genValue(t *rapid.T, typ, label string) lattice.Value {
	switch typ {
	case lattice.TypeNumber:
		return num(genFloat(t, label))
	case lattice.TypeInterval:
		lo, hi := genFloat(t, label+".lo"), genFloat(t, label+".hi")
		switch rapid.IntRange(0, 5).Draw(t, label+".open") {
		case 0:
			lo = math.Inf(-1)
		case 1:
			hi = math.Inf(1)
		}
		return iv(min(lo, hi), max(lo, hi))
	case lattice.TypeRange:
		a, b := genFloat(t, label+".a"), genFloat(t, label+".b")
		return rng(min(a, b), max(a, b))
	case lattice.TypeMax:
		return maxv(genFloat(t, label))
	case lattice.TypeMin:
		return lattice.Min{Value: genFloat(t, label)}
	case lattice.TypeFlag:
		return lattice.Flag{Value: rapid.Bool().Draw(t, label)}
	case lattice.TypeSet:
		return genSet(t, label)
	case lattice.TypeGCounter:
		return lattice.NewGCounter(genCounts(t, label))
	case lattice.TypePNCounter:
		return lattice.NewPNCounter(genCounts(t, label+".inc"), genCounts(t, label+".dec"))
	}
	panic("no generator for " + typ)
}

func genSet(t *rapid.T, label string) lattice.Value {
	var es []lattice.Elem
	for _, s := range rapid.SliceOfN(rapid.SampledFrom([]string{"a", "bb", "ccc", "Dd", "e"}), 0, 4).Draw(t, label+".strs") {
		es = append(es, lattice.Str(s))
	}
	for _, n := range rapid.SliceOfN(rapid.IntRange(-5, 5), 0, 4).Draw(t, label+".nums") {
		es = append(es, lattice.Num(float64(n)))
	}
	return lattice.NewSet(es...)
}

func genCounts(t *rapid.T, label string) map[string]int64 {
	return rapid.MapOfN(rapid.SampledFrom([]string{"w1", "w2", "w3"}), rapid.Int64Range(0, 100), 0, 3).Draw(t, label)
}

// genInput draws what a cell may hold: Nothing, or a value.
func genInput(t *rapid.T, c propagators.Cell) lattice.Value {
	if rapid.IntRange(0, 4).Draw(t, c.Name+".nothing") == 0 {
		return lattice.Nothing{}
	}
	return genValue(t, c.Type, c.Name)
}

// refine returns v ⊔ something of its type. Intervals narrow to a
// sub-interval (an empty meet would be a contradiction); a number, which
// cannot gain information without contradicting, stays.
func refine(t *rapid.T, c propagators.Cell, v lattice.Value) lattice.Value {
	if lattice.IsNothing(v) {
		return genInput(t, c)
	}
	switch x := v.(type) {
	case lattice.Number:
		return x
	case lattice.Interval:
		lo, hi := x.Lo, x.Hi
		if math.IsInf(lo, -1) && rapid.Bool().Draw(t, c.Name+".closelo") {
			lo = min(hi, genFloat(t, c.Name+".newlo"))
		}
		if math.IsInf(hi, 1) && rapid.Bool().Draw(t, c.Name+".closehi") {
			hi = max(lo, genFloat(t, c.Name+".newhi"))
		}
		if !math.IsInf(lo, 0) && !math.IsInf(hi, 0) {
			// Points in [lo, hi] (clamped: the arithmetic may round past hi).
			a := min(hi, lo+(hi-lo)*rapid.Float64Range(0, 1).Draw(t, c.Name+".a"))
			b := min(hi, lo+(hi-lo)*rapid.Float64Range(0, 1).Draw(t, c.Name+".b"))
			lo, hi = min(a, b), max(a, b)
		}
		return iv(lo, hi)
	}
	m, _, err := lattice.Merge(v, genValue(t, c.Type, c.Name+".more"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// builtin is a built-in under test: a propagator over typed cells.
type builtin struct {
	name  string
	cells []propagators.Cell
	p     propagators.Propagator
}

func builtins(t *rapid.T) []builtin {
	q := func(name string) propagators.Cell {
		return cell(name, rapid.SampledFrom([]string{"number", "interval"}).Draw(t, name+".type"))
	}
	a, b, c := q("a"), q("b"), q("c")
	k := propagators.Ratio{Num: float64(rapid.SampledFrom([]int{-3, -1, 1, 2, 5}).Draw(t, "kn")), Den: float64(rapid.IntRange(1, 9).Draw(t, "kd"))}
	m := propagators.Ratio{Num: float64(rapid.IntRange(-200, 200).Draw(t, "mn")), Den: float64(rapid.IntRange(1, 9).Draw(t, "md"))}
	rs := []propagators.Cell{cell("r1", "range"), cell("r2", "range"), cell("n", "number")}
	ms := []propagators.Cell{cell("m1", "max"), cell("m2", "max"), cell("n", "number")}
	ss := []propagators.Cell{cell("s1", "set"), cell("s2", "set")}
	gs := []propagators.Cell{cell("g1", "gcounter"), cell("g2", "pncounter")}
	return []builtin{
		{"sum", []propagators.Cell{a, b, c}, must(propagators.Sum("", a, b, c))},
		{"product", []propagators.Cell{a, b, c}, must(propagators.Product("", a, b, c))},
		{"square", []propagators.Cell{a, b}, must(propagators.Square("", a, b))},
		{"linear", []propagators.Cell{a, b}, must(propagators.Linear("", a, b, k, m))},
		{"linear-range", rs[:2], must(propagators.Linear("", rs[0], rs[1], k, m))},
		{"hull", rs, must(propagators.Hull("", rs, cell("o", "range")))},
		{"max", ms, must(propagators.Max("", ms, cell("o", "max")))},
		{"min", rs, must(propagators.Min("", rs, cell("o", "min")))},
		{"union", ss, must(propagators.Union("", ss, cell("o", "set")))},
		{"sum-counters", gs, must(propagators.CounterSum("", gs, cell("o", "pncounter")))},
		{"threshold", rs[:1], must(propagators.Threshold("", rs[0], rng(-3, 3), cell("o", "flag")))},
		{"copy", ss[:1], must(propagators.Copy("", ss[0], cell("o", "set")))},
		{"filter", ss[:1], must(propagators.Filter("", ss[0], cell("o", "set"), `type(elem) == "string" ? len(elem) > 1 : elem > 0`))},
		{"map", ss[:1], must(propagators.Map("", ss[0], cell("o", "set"), `type(elem) == "string" ? lower(elem) : abs(elem)`))},
	}
}

func TestBuiltinsAreMonotone(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		for _, bi := range builtins(t) {
			x, x2 := vals{}, vals{}
			for _, c := range bi.cells {
				x[c.Name] = genInput(t, c)
				x2[c.Name] = refine(t, c, x[c.Name])
			}
			out, err := eval(t, bi.p, x)
			out2, err2 := eval(t, bi.p, x2)
			if err != nil || err2 != nil {
				t.Fatalf("%s: %v, %v", bi.name, err, err2)
			}
			for cellName, v := range out {
				if !atLeast(out2[cellName], v) {
					t.Fatalf("%s is not monotone on %s:\n x  = %v → %s\n x' = %v → %s",
						bi.name, cellName, encodeAll(x), lattice.Encode(v), encodeAll(x2), lattice.Encode(out2[cellName]))
				}
			}
		}
	})
}

// atLeast reports whether w ⊒ v. A contradiction counts as above every
// value: merging v into it would only add v to its evidence (what
// disagreed), which is provenance, not information about the cell.
func atLeast(w, v lattice.Value) bool {
	return lattice.IsContradiction(w) || lattice.Leq(v, w)
}

// TestHeronIsMonotone checks Heron's step up to float rounding: the step is
// monotone as a real function, but (g + x/g)/2 rounded to a float may order
// two nearby guesses' results the wrong way by an ulp.
func TestHeronIsMonotone(t *testing.T) {
	p := must(propagators.Heron("", cell("x", "number"), cell("g", "min")))
	rapid.Check(t, func(t *rapid.T) {
		x := rapid.Float64Range(0, 100).Draw(t, "x")
		g := rapid.Float64Range(1e-3, 1e3).Draw(t, "g")
		g2 := g * rapid.Float64Range(0, 1).Draw(t, "shrink") // a smaller guess is more informative
		if g2 <= 0 {
			return
		}
		out, _ := eval(t, p, vals{"x": num(x), "g": lattice.Min{Value: g}})
		out2, _ := eval(t, p, vals{"x": num(x), "g": lattice.Min{Value: g2}})
		a, b := out["g"].(lattice.Min).Value, out2["g"].(lattice.Min).Value
		if b > a+4*ulp(a) {
			t.Fatalf("heron(x=%v): g=%v → %v but g'=%v → %v", x, g, a, g2, b)
		}
	})
}

func ulp(x float64) float64 { return math.Nextafter(math.Abs(x), math.Inf(1)) - math.Abs(x) }

// solution is a point satisfying a constraint: one exact rational per cell.
type constraintCase struct {
	name  string
	cells []string
	ctor  func(cells []propagators.Cell) propagators.Propagator
	// point draws a solution from floats for the free coordinates.
	point func(t *rapid.T) []*big.Rat
}

func rat(f float64) *big.Rat { return new(big.Rat).SetFloat64(f) }

func constraintCases() []constraintCase {
	free := func(t *rapid.T, label string) float64 { return genFloat(t, label) }
	return []constraintCase{
		{"sum", []string{"a", "b", "c"},
			func(c []propagators.Cell) propagators.Propagator { return must(propagators.Sum("", c[0], c[1], c[2])) },
			func(t *rapid.T) []*big.Rat {
				a, b := rat(free(t, "a")), rat(free(t, "b"))
				return []*big.Rat{a, b, new(big.Rat).Add(a, b)}
			}},
		{"product", []string{"a", "b", "c"},
			func(c []propagators.Cell) propagators.Propagator {
				return must(propagators.Product("", c[0], c[1], c[2]))
			},
			func(t *rapid.T) []*big.Rat {
				a, b := rat(free(t, "a")), rat(free(t, "b"))
				return []*big.Rat{a, b, new(big.Rat).Mul(a, b)}
			}},
		{"square", []string{"a", "b"},
			func(c []propagators.Cell) propagators.Propagator { return must(propagators.Square("", c[0], c[1])) },
			func(t *rapid.T) []*big.Rat {
				a := rat(free(t, "a"))
				return []*big.Rat{a, new(big.Rat).Mul(a, a)}
			}},
		{"linear", []string{"x", "y"},
			func(c []propagators.Cell) propagators.Propagator {
				return must(propagators.Linear("", c[0], c[1], propagators.Ratio{Num: 5, Den: 9}, propagators.Ratio{Num: -160, Den: 9}))
			},
			func(t *rapid.T) []*big.Rat {
				x := rat(free(t, "x"))
				y := new(big.Rat).Mul(x, big.NewRat(5, 9))
				return []*big.Rat{x, y.Add(y, big.NewRat(-160, 9))}
			}},
	}
}

// around draws what a cell holding point p may know: Nothing, the number p
// (when p is a float), or an interval around p.
func around(t *rapid.T, label string, p *big.Rat) (propagators.Cell, lattice.Value) {
	f, _ := p.Float64()
	exact := rat(f).Cmp(p) == 0 // Float64 calls an underflow to 0 exact
	if exact && rapid.IntRange(0, 3).Draw(t, label+".isnum") == 0 {
		return cell(label, "number"), num(f)
	}
	c := cell(label, "interval")
	if rapid.IntRange(0, 4).Draw(t, label+".nothing") == 0 {
		return c, lattice.Nothing{}
	}
	lo := math.Nextafter(f, math.Inf(-1)) - rapid.Float64Range(0, 10).Draw(t, label+".below")
	hi := math.Nextafter(f, math.Inf(1)) + rapid.Float64Range(0, 10).Draw(t, label+".above")
	if rapid.IntRange(0, 5).Draw(t, label+".open") == 0 {
		lo = math.Inf(-1)
	}
	return c, iv(math.Nextafter(lo, math.Inf(-1)), math.Nextafter(hi, math.Inf(1)))
}

// holds reports whether v admits the exact point p.
func holds(v lattice.Value, p *big.Rat) bool {
	switch x := v.(type) {
	case lattice.Nothing:
		return true
	case lattice.Number:
		return rat(x.Value).Cmp(p) == 0
	case lattice.Interval:
		return (math.IsInf(x.Lo, -1) || rat(x.Lo).Cmp(p) <= 0) && (math.IsInf(x.Hi, 1) || p.Cmp(rat(x.Hi)) <= 0)
	}
	return false
}

func TestArithmeticIsSound(t *testing.T) {
	for _, cc := range constraintCases() {
		t.Run(cc.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				pt := cc.point(t)
				var cells []propagators.Cell
				in := vals{}
				for i, name := range cc.cells {
					c, v := around(t, name, pt[i])
					cells, in[name] = append(cells, c), v
				}
				out, err := eval(t, cc.ctor(cells), in)
				if err != nil {
					t.Fatal(err)
				}
				for i, name := range cc.cells {
					merged, _, err := lattice.Merge(in[name], out[name])
					if err != nil || !holds(merged, pt[i]) {
						t.Fatalf("%s lost the solution %s: %v → %s = %s", cc.name, ratsString(pt), encodeAll(in), name, lattice.Encode(merged))
					}
				}
			})
		})
	}
}

func ratsString(ps []*big.Rat) string {
	s := "("
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		f, _ := p.Float64()
		s += fmt.Sprint(f)
	}
	return s + ")"
}
