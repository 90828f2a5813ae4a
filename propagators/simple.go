package propagators

import (
	"context"
	"errors"
	"fmt"

	"github.com/dprop/dprop/lattice"
)

// Copy returns the propagator that refines every output with the input's
// value. Outputs must have the input's type (any type).
func Copy(name string, in Cell, outs ...Cell) (*Func, error) {
	if len(outs) == 0 {
		return nil, errors.New("copy: no outputs")
	}
	if err := checkCells("copy", append([]Cell{in}, outs...)...); err != nil {
		return nil, err
	}
	var errs []error
	for _, o := range outs {
		if o.Type != in.Type {
			errs = append(errs, &TypeError{Kind: "copy", Cell: o.Name, Type: o.Type, Want: []string{in.Type},
				Why: "an output must have the input's type"})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	outNames := names(outs)
	return NewFunc(defaultName(name, "copy", []Cell{in}, outs), []string{in.Name}, outNames, func(_ context.Context, ins *Inputs) ([]Refinement, error) {
		v := ins.Value(in.Name)
		if lattice.IsNothing(v) || lattice.IsContradiction(v) {
			return nil, nil
		}
		refs := make([]Refinement, len(outNames))
		for i, o := range outNames {
			refs[i] = Refinement{o, v}
		}
		return refs, nil
	}), nil
}

// Threshold returns the propagator that sets the flag cell true once the
// input is at least as informative as at (lattice.Leq(at, input)): a
// threshold read as a cell. at must have the input's type.
func Threshold(name string, in Cell, at lattice.Value, flag Cell) (*Func, error) {
	if err := checkCells("threshold", in, flag); err != nil {
		return nil, err
	}
	if at == nil || lattice.IsNothing(at) || lattice.IsContradiction(at) {
		return nil, errors.New("threshold: the threshold value must be a value of the input's type")
	}
	var errs []error
	if at.Type() != in.Type {
		errs = append(errs, &TypeError{Kind: "threshold", Cell: in.Name, Type: in.Type, Want: []string{at.Type()},
			Why: "the threshold value is " + article(at.Type())})
	}
	errs = append(errs, needType("threshold", flag, lattice.TypeFlag))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	name = defaultName(name, "threshold", []Cell{in}, []Cell{flag})
	return NewFunc(name, []string{in.Name}, []string{flag.Name}, func(_ context.Context, ins *Inputs) ([]Refinement, error) {
		v := ins.Value(in.Name)
		if !lattice.IsNothing(v) && lattice.Leq(at, v) {
			return []Refinement{{flag.Name, lattice.Flag{Value: true}}}, nil
		}
		return nil, nil
	}), nil
}

// Heron returns one step of Heron's square root iteration as a propagator:
// the guess cell (a min cell holding an upper bound of √x, seeded by the
// network) is refined with g' = (g + x/g)/2, where x is an exact number
// cell. Each step is an input change, so the runtime iterates until the
// float step adds nothing: the guess converges to √x within an ulp or two.
//
// It refines the guess with min(g, g'), which is monotone in g (a smaller
// guess never yields a larger one), so it obeys the propagator contract; the
// min cell's merge keeps the smallest guess seen.
func Heron(name string, x, guess Cell) (*Func, error) {
	if err := checkCells("heron", x, guess); err != nil {
		return nil, err
	}
	if err := errors.Join(needType("heron", x, lattice.TypeNumber), needType("heron", guess, lattice.TypeMin)); err != nil {
		return nil, err
	}
	name = defaultName(name, "heron", []Cell{x}, []Cell{guess})
	return NewFunc(name, []string{x.Name, guess.Name}, []string{guess.Name}, func(_ context.Context, in *Inputs) ([]Refinement, error) {
		xv, ok := in.Value(x.Name).(lattice.Number)
		g, ok2 := in.Value(guess.Name).(lattice.Min)
		if !ok || !ok2 {
			return nil, nil // not known yet (or contradicted)
		}
		next, err := heronStep(xv.Value, g.Value)
		if err != nil {
			return nil, fmt.Errorf("heron: %w", err)
		}
		return []Refinement{{guess.Name, lattice.Min{Value: min(g.Value, next)}}}, nil
	}), nil
}

// heronStep returns (g + x/g)/2 for x ≥ 0, g > 0 (√0 = 0 at once).
func heronStep(x, g float64) (float64, error) {
	switch {
	case x < 0:
		return 0, fmt.Errorf("%v has no real square root", x)
	case x == 0:
		return 0, nil
	case g <= 0:
		return 0, fmt.Errorf("the guess %v is not positive", g)
	}
	return (g + x/g) / 2, nil
}
