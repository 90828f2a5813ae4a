package propagators

import (
	"math"
	"math/big"
	"testing"

	"pgregory.net/rapid"
)

// anyFloat draws finite floats of every magnitude, subnormals included.
func anyFloat(t *rapid.T, label string) float64 {
	switch rapid.IntRange(0, 2).Draw(t, label+".kind") {
	case 0:
		return float64(rapid.IntRange(-1000, 1000).Draw(t, label+".int"))
	case 1:
		return rapid.Float64Range(-1e6, 1e6).Draw(t, label+".mid")
	}
	f := math.Float64frombits(rapid.Uint64().Draw(t, label+".bits"))
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 1
	}
	return f
}

func exact(f float64) *big.Rat { return new(big.Rat).SetFloat64(f) }

// within checks lo ≤ r ≤ hi exactly and that the bounds are at most two
// ulps apart (one when no underflow is involved).
func within(t *rapid.T, op string, lo, hi float64, r *big.Rat) {
	if math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return // overflow: checked by TestOverflowStaysSound
	}
	if exact(lo).Cmp(r) > 0 || r.Cmp(exact(hi)) > 0 {
		t.Fatalf("%s: [%v, %v] misses the exact result %s", op, lo, hi, r.FloatString(30))
	}
	if hi > up(up(lo)) {
		t.Fatalf("%s: [%v, %v] is not tight", op, lo, hi)
	}
}

func TestDirectedRounding(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := anyFloat(t, "a"), anyFloat(t, "b")
		lo, hi := addB(a, b)
		within(t, "add", lo, hi, new(big.Rat).Add(exact(a), exact(b)))
		lo, hi = mulB(a, b)
		within(t, "mul", lo, hi, new(big.Rat).Mul(exact(a), exact(b)))
		if b != 0 {
			lo, hi = divB(a, b)
			within(t, "div", lo, hi, new(big.Rat).Quo(exact(a), exact(b)))
		}
		x := math.Abs(a)
		lo, hi = sqrtB(x)
		if lo < 0 || hi > up(up(lo)) {
			t.Fatalf("sqrt(%v): [%v, %v]", x, lo, hi)
		}
		loSq, hiSq := new(big.Rat).Mul(exact(lo), exact(lo)), new(big.Rat).Mul(exact(hi), exact(hi))
		if loSq.Cmp(exact(x)) > 0 || exact(x).Cmp(hiSq) > 0 {
			t.Fatalf("sqrt(%v): [%v, %v] misses the root", x, lo, hi)
		}
	})
}

func TestExactResultsArePoints(t *testing.T) {
	for _, c := range []struct {
		op   func(a, b float64) (float64, float64)
		a, b float64
	}{{addB, 1, 2}, {mulB, 3, 4}, {divB, 12, 4}, {divB, 1, 8}, {addB, 0.5, 0.25}} {
		if lo, hi := c.op(c.a, c.b); lo != hi {
			t.Errorf("(%v, %v) gave [%v, %v], want a point", c.a, c.b, lo, hi)
		}
	}
	if lo, hi := sqrtB(2.25); lo != 1.5 || hi != 1.5 {
		t.Errorf("√2.25 = [%v, %v]", lo, hi)
	}
	if lo, hi := divB(1, 3); lo == hi {
		t.Errorf("1/3 = [%v, %v], want two floats", lo, hi)
	}
}

func TestOverflowStaysSound(t *testing.T) {
	if lo, hi := addB(math.MaxFloat64, math.MaxFloat64); lo != math.MaxFloat64 || !math.IsInf(hi, 1) {
		t.Errorf("max + max = [%v, %v]", lo, hi)
	}
	if lo, hi := mulB(-1e300, 1e300); !math.IsInf(lo, -1) || hi != -math.MaxFloat64 {
		t.Errorf("-1e300 × 1e300 = [%v, %v]", lo, hi)
	}
	if got := mul(ival{0, 1}, ival{2, inf}); got != (ival{0, inf}) {
		t.Errorf("[0,1] × [2,∞] = %v (0 × ∞ is 0 at a bound)", got)
	}
	if got := add(ival{-inf, 1}, ival{-1, inf}); !got.isWhole() {
		t.Errorf("[-∞,1] + [-1,∞] = %v", got)
	}
	if got := normalize(ival{inf, inf}); got.lo != math.MaxFloat64 {
		t.Errorf("normalize([∞,∞]) = %v", got)
	}
}

func TestDivisionByIntervalsContainingZero(t *testing.T) {
	for _, c := range []struct {
		x, y, want ival
	}{
		{ival{1, 2}, ival{0, 4}, ival{0.25, inf}},
		{ival{-2, -1}, ival{0, 4}, ival{-inf, -0.25}},
		{ival{1, 2}, ival{-4, 0}, ival{-inf, -0.25}},
		{ival{-2, -1}, ival{-4, 0}, ival{0.25, inf}},
		{ival{1, 2}, ival{-1, 1}, whole},
		{ival{-1, 2}, ival{0, 1}, whole},
		{ival{1, 2}, ival{0, 0}, ival{1, 0}}, // empty: no quotient
		{ival{-2, -1}, ival{0, 0}, ival{0, -1}},
		{ival{0, 0}, ival{0, 0}, whole},
	} {
		if got := div(c.x, c.y); got != c.want {
			t.Errorf("%v / %v = %v, want %v", c.x, c.y, got, c.want)
		}
	}
}
