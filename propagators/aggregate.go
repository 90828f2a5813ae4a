package propagators

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/dprop/dprop/lattice"
)

// An aggregate joins many inputs into one output. It is incremental: each
// run reads only the inputs that changed (Inputs.Changed) and refines the
// output with the join of their contributions. Because the output is merged,
// not replaced, it already holds every earlier contribution, so a fan-in of
// 10,000 inputs costs one read per update, not 10,000.

// accumulator joins the contributions of the changed inputs of one run.
type accumulator interface {
	// add folds in one input's value (never Nothing or a contradiction).
	add(cell string, v lattice.Value) error
	// result returns the refinement of the output, nil when there is none.
	result() lattice.Value
}

func newAggregate(name string, inputs []Cell, out Cell, acc func() accumulator) *Func {
	return NewFunc(name, names(inputs), []string{out.Name}, func(ctx context.Context, in *Inputs) ([]Refinement, error) {
		a := acc()
		var errs []error
		for _, c := range in.Changed() {
			v := in.Value(c)
			if lattice.IsNothing(v) || lattice.IsContradiction(v) {
				continue
			}
			if err := a.add(c, v); err != nil {
				errs = append(errs, err)
			}
		}
		var refs []Refinement
		if r := a.result(); r != nil {
			refs = []Refinement{{out.Name, r}}
		}
		return refs, errors.Join(errs...)
	})
}

// checkAggregate validates an aggregate's cells.
func checkAggregate(kind string, inputs []Cell, out Cell, outType string, inTypes ...string) error {
	if len(inputs) == 0 {
		return fmt.Errorf("%s: no inputs", kind)
	}
	if err := checkCells(kind, append([]Cell{out}, inputs...)...); err != nil {
		return err
	}
	return errors.Join(needTypes(kind, inputs, inTypes...), needType(kind, out, outType))
}

// Hull returns the aggregate whose output range is the hull of its inputs:
// range cells, and number cells (a number is one observation).
func Hull(name string, inputs []Cell, out Cell) (*Func, error) {
	if err := checkAggregate("hull", inputs, out, lattice.TypeRange, lattice.TypeRange, lattice.TypeNumber); err != nil {
		return nil, err
	}
	return newAggregate(defaultName(name, "hull", inputs, []Cell{out}), inputs, out, func() accumulator {
		return &extremes{kind: "hull", lo: inf, hi: -inf}
	}), nil
}

// Max returns the aggregate whose output max cell holds the largest of its
// inputs: number, max and range cells (a range's maximum).
func Max(name string, inputs []Cell, out Cell) (*Func, error) {
	if err := checkAggregate("max", inputs, out, lattice.TypeMax, lattice.TypeNumber, lattice.TypeMax, lattice.TypeRange); err != nil {
		return nil, err
	}
	return newAggregate(defaultName(name, "max", inputs, []Cell{out}), inputs, out, func() accumulator {
		return &extremes{kind: "max", lo: inf, hi: -inf}
	}), nil
}

// Min returns the aggregate whose output min cell holds the smallest of its
// inputs: number, min and range cells (a range's minimum).
func Min(name string, inputs []Cell, out Cell) (*Func, error) {
	if err := checkAggregate("min", inputs, out, lattice.TypeMin, lattice.TypeNumber, lattice.TypeMin, lattice.TypeRange); err != nil {
		return nil, err
	}
	return newAggregate(defaultName(name, "min", inputs, []Cell{out}), inputs, out, func() accumulator {
		return &extremes{kind: "min", lo: inf, hi: -inf}
	}), nil
}

// extremes accumulates the least and greatest numbers seen.
type extremes struct {
	kind   string // "hull", "max" or "min"
	lo, hi float64
}

func (e *extremes) add(cell string, v lattice.Value) error {
	switch x := v.(type) {
	case lattice.Number:
		e.lo, e.hi = math.Min(e.lo, x.Value), math.Max(e.hi, x.Value)
	case lattice.Range:
		e.lo, e.hi = math.Min(e.lo, x.Min), math.Max(e.hi, x.Max)
	case lattice.Max:
		e.hi = math.Max(e.hi, x.Value)
	case lattice.Min:
		e.lo = math.Min(e.lo, x.Value)
	default:
		return inputTypeError(cell, v, lattice.TypeNumber, lattice.TypeRange, e.kind)
	}
	return nil
}

func (e *extremes) result() lattice.Value {
	switch {
	case e.kind == "max" && e.hi > -inf:
		return lattice.Max{Value: e.hi}
	case e.kind == "min" && e.lo < inf:
		return lattice.Min{Value: e.lo}
	case e.kind == "hull" && e.lo <= e.hi:
		return lattice.Range{Min: e.lo, Max: e.hi}
	}
	return nil
}

// Union returns the aggregate whose output set is the union of its inputs:
// set cells, and orset cells. An orset contributes the elements present when
// it is read, and the output is grow-only: an element removed from an orset
// stays in the union (removals are not propagated). The union is therefore
// monotone in time rather than in the orset's order; see the package
// documentation.
func Union(name string, inputs []Cell, out Cell) (*Func, error) {
	if err := checkAggregate("union", inputs, out, lattice.TypeSet, lattice.TypeSet, lattice.TypeORSet); err != nil {
		return nil, err
	}
	return newAggregate(defaultName(name, "union", inputs, []Cell{out}), inputs, out, func() accumulator {
		return &union{}
	}), nil
}

type union struct{ elems []lattice.Elem }

func (u *union) add(cell string, v lattice.Value) error {
	es, err := setElems(cell, v)
	u.elems = append(u.elems, es...)
	return err
}

func (u *union) result() lattice.Value {
	if len(u.elems) == 0 {
		return nil
	}
	return lattice.NewSet(u.elems...)
}

// setElems returns the elements of a set or an orset.
func setElems(cell string, v lattice.Value) ([]lattice.Elem, error) {
	switch s := v.(type) {
	case *lattice.Set:
		return s.Elems(), nil
	case *lattice.ORSet:
		return s.Elems(), nil
	}
	return nil, inputTypeError(cell, v, lattice.TypeSet, lattice.TypeORSet)
}

// CounterSum returns the aggregate whose output counter's total is the sum
// of its input counters' totals. The output has one writer per input cell,
// named after the cell, holding that input's total: as an input counts up,
// its writer's count grows, so the output is a counter like any other, and
// it must have no other writers under those names.
//
// Into a gcounter: gcounter inputs. Into a pncounter: gcounter and pncounter
// inputs (a pncounter's increments and decrements are summed separately).
func CounterSum(name string, inputs []Cell, out Cell) (*Func, error) {
	inTypes := []string{lattice.TypeGCounter}
	if out.Type == lattice.TypePNCounter {
		inTypes = append(inTypes, lattice.TypePNCounter)
	}
	if err := needType("sum", out, lattice.TypeGCounter, lattice.TypePNCounter); err != nil {
		return nil, err
	}
	if err := checkAggregate("sum", inputs, out, out.Type, inTypes...); err != nil {
		return nil, err
	}
	return newAggregate(defaultName(name, "sum", inputs, []Cell{out}), inputs, out, func() accumulator {
		return &counters{pn: out.Type == lattice.TypePNCounter, inc: map[string]int64{}, dec: map[string]int64{}}
	}), nil
}

type counters struct {
	pn       bool
	inc, dec map[string]int64
}

func (c *counters) add(cell string, v lattice.Value) error {
	var inc, dec int64
	var err error
	switch x := v.(type) {
	case *lattice.GCounter:
		inc, err = sumCounts(x.Counts())
	case *lattice.PNCounter:
		if !c.pn {
			return inputTypeError(cell, v, lattice.TypeGCounter)
		}
		inc, err = sumCounts(x.Inc())
		if err == nil {
			dec, err = sumCounts(x.Dec())
		}
	default:
		return inputTypeError(cell, v, lattice.TypeGCounter, lattice.TypePNCounter)
	}
	if err != nil {
		return fmt.Errorf("cell %q: %w", cell, err)
	}
	c.inc[cell], c.dec[cell] = inc, dec
	return nil
}

// sumCounts returns the total of some counts, or lattice.ErrOverflow.
func sumCounts(cs []lattice.Count) (int64, error) {
	var t int64
	for _, c := range cs {
		if t > math.MaxInt64-c.N {
			return 0, lattice.ErrOverflow
		}
		t += c.N
	}
	return t, nil
}

func (c *counters) result() lattice.Value {
	if len(c.inc) == 0 {
		return nil
	}
	if c.pn {
		return lattice.NewPNCounter(c.inc, c.dec)
	}
	return lattice.NewGCounter(c.inc)
}
