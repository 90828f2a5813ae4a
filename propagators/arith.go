package propagators

import "math"

// This file holds sound interval arithmetic over float64.
//
// Every operation returns an interval that contains every exact real result
// for operands in the operand intervals. Each bound is rounded outward by the
// least amount: an error-free transformation (TwoSum for addition, FMA for
// the residual of a product, quotient or square root) tells whether the
// rounded result is exact, above or below the real one, and only an inexact
// bound moves one ulp (math.Nextafter). So exact results stay exact points —
// 1 + 2 is [3, 3], a number — and inexact ones are the tightest interval of
// floats around them.
//
// An infinite bound means unbounded; 0 × ∞ is 0 at a bound. An empty
// interval (lo > hi) means "no real number satisfies this"; its bounds are
// the evidence a contradiction reports.

var (
	inf   = math.Inf(1)
	whole = ival{-inf, inf}
)

// tiny bounds the magnitudes below which the error-free transformations may
// lose their residual to underflow; such results are widened by an ulp on
// both sides instead.
const tiny = 0x1p-960

// ival is the closed interval [lo, hi]; lo > hi is empty.
type ival struct{ lo, hi float64 }

func point(x float64) ival { return ival{x, x} }

func (a ival) isEmpty() bool { return a.lo > a.hi }
func (a ival) isWhole() bool { return a.lo == -inf && a.hi == inf }
func (a ival) isPoint() bool { return a.lo == a.hi }
func (a ival) hasZero() bool { return a.lo <= 0 && 0 <= a.hi }

func down(x float64) float64 { return math.Nextafter(x, -inf) }
func up(x float64) float64   { return math.Nextafter(x, inf) }

// around returns the bounds of the real r + e given the float r and the sign
// of the residual e = real − r.
func around(r, e float64) (float64, float64) {
	switch {
	case e > 0:
		return r, up(r)
	case e < 0:
		return down(r), r
	}
	return r, r
}

// overflowed returns the bounds of a finite real too large for a float.
func overflowed(r float64) (float64, float64) {
	if r > 0 {
		return math.MaxFloat64, inf
	}
	return -inf, -math.MaxFloat64
}

// signed returns the bounds of a non-zero real whose rounding r may have
// lost its residual to underflow: r widened by an ulp each way, but never
// across 0, since the real's sign is known (positive or not).
func signed(r float64, positive bool) (float64, float64) {
	if positive {
		return math.Max(down(r), 0), up(r)
	}
	return down(r), math.Min(up(r), 0)
}

// addB returns the bounds of the real a + b.
func addB(a, b float64) (float64, float64) {
	s := a + b
	switch {
	case math.IsNaN(s): // ∞ − ∞: unbounded bounds meet
		return -inf, inf
	case math.IsInf(a, 0) || math.IsInf(b, 0):
		return s, s
	case math.IsInf(s, 0):
		return overflowed(s)
	}
	bb := s - a
	return around(s, (a-(s-bb))+(b-bb))
}

// mulB returns the bounds of the real a × b.
func mulB(a, b float64) (float64, float64) {
	if a == 0 || b == 0 {
		return 0, 0
	}
	p := a * b
	switch {
	case math.IsInf(a, 0) || math.IsInf(b, 0):
		return p, p
	case math.IsInf(p, 0):
		return overflowed(p)
	case math.Abs(p) < tiny:
		return signed(p, (a > 0) == (b > 0))
	}
	return around(p, math.FMA(a, b, -p))
}

// divB returns the bounds of the real a / b, b ≠ 0. ∞/∞ gives NaN bounds.
func divB(a, b float64) (float64, float64) {
	q := a / b
	switch {
	case a == 0:
		return 0, 0
	case math.IsInf(a, 0) || math.IsInf(b, 0):
		return q, q
	case math.IsInf(q, 0):
		return overflowed(q)
	case math.Abs(q) < tiny || math.Abs(a) < tiny:
		return signed(q, (a > 0) == (b > 0))
	}
	r := math.FMA(q, b, -a) // q·b − a: q is above a/b when r and b agree in sign
	if r == 0 {
		return q, q
	}
	if (r > 0) == (b > 0) {
		return down(q), q
	}
	return q, up(q)
}

// sqrtB returns the bounds of the real √x, x ≥ 0.
func sqrtB(x float64) (float64, float64) {
	r := math.Sqrt(x)
	switch {
	case x == 0 || math.IsInf(x, 1):
		return r, r
	case x < tiny:
		return signed(r, true)
	}
	return around(r, -math.FMA(r, r, -x))
}

func add(a, b ival) ival {
	lo, _ := addB(a.lo, b.lo)
	_, hi := addB(a.hi, b.hi)
	return ival{lo, hi}
}

func neg(a ival) ival { return ival{-a.hi, -a.lo} }

func sub(a, b ival) ival { return add(a, neg(b)) }

// hull4 returns the interval around four results given as bound pairs.
func hull4(op func(a, b float64) (float64, float64), a, b ival) ival {
	r := ival{inf, -inf}
	for _, x := range [2]float64{a.lo, a.hi} {
		for _, y := range [2]float64{b.lo, b.hi} {
			lo, hi := op(x, y)
			if math.IsNaN(lo) || math.IsNaN(hi) {
				return whole
			}
			r.lo, r.hi = math.Min(r.lo, lo), math.Max(r.hi, hi)
		}
	}
	return r
}

func mul(a, b ival) ival { return hull4(mulB, a, b) }

// div returns x / y. When y contains 0 the quotient is a half-line or
// unbounded (extended interval division, keeping the hull), and when y is
// exactly 0 and x is not, no number is the quotient: the result is empty,
// with x's bound and 0 as evidence.
func div(x, y ival) ival {
	if !y.hasZero() {
		return hull4(divB, x, y)
	}
	if x.hasZero() {
		return whole
	}
	pos := x.lo > 0
	switch {
	case y.lo == 0 && y.hi == 0:
		if pos {
			return ival{x.lo, 0}
		}
		return ival{0, x.hi}
	case y.lo == 0 && pos:
		lo, _ := divB(x.lo, y.hi)
		return ival{lo, inf}
	case y.lo == 0:
		_, hi := divB(x.hi, y.hi)
		return ival{-inf, hi}
	case y.hi == 0 && pos:
		_, hi := divB(x.lo, y.lo)
		return ival{-inf, hi}
	case y.hi == 0:
		lo, _ := divB(x.hi, y.lo)
		return ival{lo, inf}
	}
	return whole
}

// sqr returns a².
func sqr(a ival) ival {
	loLo, loHi := mulB(a.lo, a.lo)
	hiLo, hiHi := mulB(a.hi, a.hi)
	switch { // a square is never negative, even when a bound underflows
	case a.lo >= 0:
		return ival{math.Max(loLo, 0), hiHi}
	case a.hi <= 0:
		return ival{math.Max(hiLo, 0), loHi}
	}
	return ival{0, math.Max(loHi, hiHi)}
}

// sqrtPos returns the non-negative square roots of b: √(b ∩ [0, ∞)). When b
// has no non-negative part it is empty, with evidence [0, b.hi].
func sqrtPos(b ival) ival {
	if b.hi < 0 {
		return ival{0, b.hi}
	}
	lo, _ := sqrtB(math.Max(b.lo, 0))
	_, hi := sqrtB(b.hi)
	return ival{lo, hi}
}

// roots returns the a with a² in b, given what is known of a (known is
// false when nothing is). a's sign picks one branch of ±√b when only one
// branch meets a; when neither does, no a fits: the result is empty, with
// a's meet with the positive branch as evidence.
func roots(b ival, a ival, known bool) ival {
	r := sqrtPos(b)
	if r.isEmpty() {
		return r
	}
	pos, negb := r, neg(r)
	if !known {
		return ival{negb.lo, pos.hi}
	}
	meetsPos := a.hi >= pos.lo && a.lo <= pos.hi
	meetsNeg := a.hi >= negb.lo && a.lo <= negb.hi
	switch {
	case meetsPos && meetsNeg:
		return ival{negb.lo, pos.hi}
	case meetsPos:
		return pos
	case meetsNeg:
		return negb
	}
	return ival{math.Max(a.lo, pos.lo), math.Min(a.hi, pos.hi)}
}

// normalize makes an interval encodable: NaN bounds become unbounded, and a
// bound infinite on the wrong side (possible only past the float range)
// becomes the largest float, which stays sound.
func normalize(a ival) ival {
	if math.IsNaN(a.lo) {
		a.lo = -inf
	}
	if math.IsNaN(a.hi) {
		a.hi = inf
	}
	if a.lo == inf {
		a.lo = math.MaxFloat64
	}
	if a.hi == -inf {
		a.hi = -math.MaxFloat64
	}
	return a
}
