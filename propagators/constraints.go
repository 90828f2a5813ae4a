package propagators

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/dprop/dprop/lattice"
)

// quantityTypes are the cell types the arithmetic constraints accept.
var quantityTypes = []string{lattice.TypeNumber, lattice.TypeInterval}

// quantity reads a number or interval cell as an interval. Nothing, or a
// contradiction that arrived since the last wake (the runtime handles it on
// the next one), is the whole line: no information.
func quantity(in *Inputs, cell string) (ival, error) {
	switch v := in.Value(cell).(type) {
	case lattice.Number:
		return point(v.Value), nil
	case lattice.Interval:
		return ival{v.Lo, v.Hi}, nil
	case lattice.Nothing, *lattice.Contradiction:
		return whole, nil
	default:
		return whole, inputTypeError(cell, v, quantityTypes...)
	}
}

// refineQuantity turns what a constraint derived about c into a refinement.
// The whole line says nothing. An empty interval is a contradiction whose
// evidence is its bounds. A number cell is refined only by an exact point
// (number op number stays a number exactly when the float result is exact);
// an interval cell by the bounds.
func refineQuantity(c Cell, r ival) (Refinement, bool) {
	r = normalize(r)
	switch {
	case r.isWhole():
		return Refinement{}, false
	case r.isEmpty():
		return Refinement{c.Name, lattice.NewContradiction(nil, lattice.Interval{Lo: r.lo, Hi: r.hi})}, true
	case c.Type == lattice.TypeNumber:
		if r.isPoint() && !math.IsInf(r.lo, 0) {
			return Refinement{c.Name, lattice.Number{Value: r.lo}}, true
		}
		return Refinement{}, false
	}
	return Refinement{c.Name, lattice.Interval{Lo: r.lo, Hi: r.hi}}, true
}

// solver derives, from what is known of every cell of a constraint (the
// whole line when nothing), what the others imply about each one, in the
// same order.
type solver func(v []ival) []ival

// newConstraint returns the propagator of a bidirectional constraint: every
// cell is an input and an output.
func newConstraint(name string, cells []Cell, solve solver) *Func {
	ns := names(cells)
	return NewFunc(name, ns, ns, func(_ context.Context, in *Inputs) ([]Refinement, error) {
		v := make([]ival, len(cells))
		for i, c := range cells {
			var err error
			if v[i], err = quantity(in, c.Name); err != nil {
				return nil, err
			}
		}
		var refs []Refinement
		for i, r := range solve(v) {
			if ref, ok := refineQuantity(cells[i], r); ok {
				refs = append(refs, ref)
			}
		}
		return refs, nil
	})
}

// checkQuantities validates the cells of an arithmetic constraint.
func checkQuantities(kind string, cells ...Cell) error {
	if err := checkCells(kind, cells...); err != nil {
		return err
	}
	return needTypes(kind, cells, quantityTypes...)
}

// Sum returns the constraint c = a + b over number and interval cells,
// refining each cell from the other two: c = a + b, a = c − b, b = c − a.
// An empty name gets a default ("sum(a,b->c)").
func Sum(name string, a, b, c Cell) (*Func, error) {
	if err := checkQuantities("sum", a, b, c); err != nil {
		return nil, err
	}
	name = defaultName(name, "sum", []Cell{a, b}, []Cell{c})
	return newConstraint(name, []Cell{a, b, c}, func(v []ival) []ival {
		return []ival{sub(v[2], v[1]), sub(v[2], v[0]), add(v[0], v[1])}
	}), nil
}

// Product returns the constraint c = a × b over number and interval cells:
// c = a × b, a = c ÷ b, b = c ÷ a. Division by an interval containing 0 is
// extended interval division (a half-line, or nothing learnt), never a wrong
// narrowing; a factor known to be exactly 0 makes c 0 by itself.
func Product(name string, a, b, c Cell) (*Func, error) {
	if err := checkQuantities("product", a, b, c); err != nil {
		return nil, err
	}
	name = defaultName(name, "product", []Cell{a, b}, []Cell{c})
	return newConstraint(name, []Cell{a, b, c}, func(v []ival) []ival {
		return []ival{div(v[2], v[1]), div(v[2], v[0]), mul(v[0], v[1])}
	}), nil
}

// Square returns the constraint b = a² over number and interval cells:
// b = a² (so b ≥ 0 even before a is known), and a = ±√b, the branch chosen
// by what is known of a's sign (a = √b when a is known non-negative).
func Square(name string, a, b Cell) (*Func, error) {
	if err := checkQuantities("square", a, b); err != nil {
		return nil, err
	}
	name = defaultName(name, "square", []Cell{a}, []Cell{b})
	return newConstraint(name, []Cell{a, b}, func(v []ival) []ival {
		return []ival{roots(v[1], v[0], !v[0].isWhole()), sqr(v[0])}
	}), nil
}

// Ratio is an exact parameter given as a fraction Num/Den, so that 5/9 and
// −160/9 stay exact: the linear map is computed as (A·x + B)/D with
// integers A, B, D where the parameters allow, and so maps 212 °F to exactly
// 100 °C. Den 0 means 1 (the zero Ratio is 0).
type Ratio struct{ Num, Den float64 }

// ParseRatio parses "5/9", "-160/9", "1.8" or "2".
func ParseRatio(s string) (Ratio, error) {
	num, den, frac := strings.Cut(s, "/")
	r := Ratio{Den: 1}
	var err error
	if r.Num, err = parseFinite(num); err != nil {
		return Ratio{}, fmt.Errorf("ratio %q: %w", s, err)
	}
	if frac {
		if r.Den, err = parseFinite(den); err != nil {
			return Ratio{}, fmt.Errorf("ratio %q: %w", s, err)
		}
		if r.Den == 0 {
			return Ratio{}, fmt.Errorf("ratio %q: division by zero", s)
		}
	}
	return r, nil
}

func parseFinite(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%q is not a finite number", strings.TrimSpace(s))
	}
	return f, nil
}

func (r Ratio) den() float64 {
	if r.Den == 0 {
		return 1
	}
	return r.Den
}

// Float returns the ratio's value, rounded to a float64.
func (r Ratio) Float() float64 { return r.Num / r.den() }

func (r Ratio) String() string {
	if r.den() == 1 {
		return strconv.FormatFloat(r.Num, 'g', -1, 64)
	}
	return strconv.FormatFloat(r.Num, 'g', -1, 64) + "/" + strconv.FormatFloat(r.den(), 'g', -1, 64)
}

// affine is y = (A·x + B)/D, from k = kn/kd and m = mn/md:
// A = kn·md, B = mn·kd, D = kd·md. The coefficients are intervals so that
// they are sound even if a product of parameters is not exact.
type affine struct{ a, b, d ival }

func newAffine(k, m Ratio) affine {
	kn, kd, mn, md := point(k.Num), point(k.den()), point(m.Num), point(m.den())
	return affine{a: mul(kn, md), b: mul(mn, kd), d: mul(kd, md)}
}

func (f affine) forward(x ival) ival { return div(add(mul(f.a, x), f.b), f.d) }
func (f affine) inverse(y ival) ival { return div(sub(mul(f.d, y), f.b), f.a) }

// Linear returns y = k·x + m (k ≠ 0). Over number and interval cells it
// refines both ways (x = (y − m)/k). Over two range cells it maps x's hull
// to y's hull only, x to y: a range records observations, and mapping y's
// back would let rounding widen both a little on every round trip.
// Give k = Ratio{5, 9}, m = Ratio{-160, 9} for Fahrenheit → Celsius.
func Linear(name string, x, y Cell, k, m Ratio) (*Func, error) {
	if err := checkCells("linear", x, y); err != nil {
		return nil, err
	}
	if k.Num == 0 || math.IsNaN(k.Float()) || math.IsNaN(m.Float()) {
		return nil, fmt.Errorf("linear: k must be a non-zero number, got %s", k)
	}
	name = defaultName(name, "linear", []Cell{x}, []Cell{y})
	f := newAffine(k, m)
	if x.Type == lattice.TypeRange || y.Type == lattice.TypeRange {
		return linearRange(name, x, y, f)
	}
	if err := needTypes("linear", []Cell{x, y}, lattice.TypeNumber, lattice.TypeInterval, lattice.TypeRange); err != nil {
		return nil, err
	}
	return newConstraint(name, []Cell{x, y}, func(v []ival) []ival {
		return []ival{f.inverse(v[1]), f.forward(v[0])}
	}), nil
}

func linearRange(name string, x, y Cell, f affine) (*Func, error) {
	var errs []error
	for _, c := range []Cell{x, y} {
		if c.Type != lattice.TypeRange {
			errs = append(errs, &TypeError{Kind: "linear", Cell: c.Name, Type: c.Type, Want: []string{lattice.TypeRange},
				Why: "a range maps only to a range"})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return NewFunc(name, []string{x.Name}, []string{y.Name}, func(_ context.Context, in *Inputs) ([]Refinement, error) {
		switch v := in.Value(x.Name).(type) {
		case lattice.Range:
			img := f.forward(ival{v.Min, v.Max})
			if math.IsInf(img.lo, 0) || math.IsInf(img.hi, 0) {
				return nil, fmt.Errorf("linear: the image of %s overflows a float64", lattice.Encode(v))
			}
			return []Refinement{{y.Name, lattice.Range{Min: img.lo, Max: img.hi}}}, nil
		case lattice.Nothing, *lattice.Contradiction:
			return nil, nil
		default:
			return nil, inputTypeError(x.Name, v, lattice.TypeRange)
		}
	}), nil
}
