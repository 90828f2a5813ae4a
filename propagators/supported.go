package propagators

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/dprop/dprop/lattice"
)

// OnSupported returns p run over supported cells, as in Radul's propagator
// networks with premises. supported names p's outputs (inputs may be
// named too) that hold lattice.Supported values: its refinements of those
// become claims. p itself is written for their inner type (the built-ins
// take it from the cells' declared inner types) and never sees a supported
// value.
//
// On each run:
//
//   - p reads each supported value as its strongest consequence under the
//     current worldview (the value of WorldviewCell), a value of the inner
//     type; other values as they are (so an input an aggregate gains with
//     Runtime.AddInput is read alike);
//   - each refinement p returns for a supported output is published as one
//     claim, supported by the union of the supports of the supported inputs
//     p read (what it computed is true whenever they are); a refinement of
//     a plain output is published only when that union is empty (a plain
//     cell cannot say what it rests on);
//   - an input whose consequence is a contradiction is read as Nothing, and
//     its support is recorded in NogoodsCell; so is the support of a
//     contradiction p returns for a supported output (its inputs cannot all
//     hold), which is not published as a claim.
//
// The worldview cell is an input of the returned propagator, so a change of
// the worldview runs it again, with every input counted as changed. What it
// published before stays: it is still true under its premises, and nothing
// is ever retracted from the log. NogoodsCell is one of its outputs.
func OnSupported(p Propagator, supported []string) Propagator {
	s := &supportedProp{p: p, supported: map[string]bool{}}
	for _, c := range supported {
		s.supported[c] = true
	}
	s.inputs = append(slices.Clone(p.Inputs()), WorldviewCell)
	s.outputs = append(slices.Clone(p.Outputs()), NogoodsCell)
	return s
}

type supportedProp struct {
	p               Propagator
	supported       map[string]bool
	inputs, outputs []string
}

var _ Propagator = (*supportedProp)(nil)

// Name implements Propagator: the wrapped propagator's name.
func (s *supportedProp) Name() string { return s.p.Name() }

// Inputs implements Propagator: p's inputs and WorldviewCell.
func (s *supportedProp) Inputs() []string { return s.inputs }

// Outputs implements Propagator: p's outputs and NogoodsCell.
func (s *supportedProp) Outputs() []string { return s.outputs }

// Propagate implements Propagator.
func (s *supportedProp) Propagate(ctx context.Context, in *Inputs) ([]Refinement, error) {
	view := &consequences{in: in, wv: WorldviewOf(in.Value(WorldviewCell))}
	// The inputs are the runtime's (AddInput may have added some to an
	// aggregate's), without the worldview cell.
	notWorldview := func(c string) bool { return c == WorldviewCell }
	all := slices.DeleteFunc(slices.Clone(in.all), notWorldview)
	changed := in.changed
	if slices.Contains(changed, WorldviewCell) {
		changed = all // every consequence may differ
	} else {
		changed = slices.DeleteFunc(slices.Clone(changed), notWorldview)
	}
	inner := &Inputs{cells: view, all: all, changed: changed, first: in.first}
	refs, err := s.p.Propagate(ctx, inner)
	support := view.support()
	nogoods := view.nogoods
	out := make([]Refinement, 0, len(refs)+len(nogoods))
	for _, r := range refs {
		switch {
		case !s.supported[r.Cell] && len(support) > 0:
			// A plain cell cannot say what it rests on: what was derived
			// from premises would become unconditional there, and a
			// withdrawal could never take it back.
		case !s.supported[r.Cell]:
			out = append(out, r)
		case lattice.IsContradiction(r.Value):
			nogoods = append(nogoods, support)
		case lattice.IsNothing(r.Value):
		default:
			v, serr := lattice.Support(r.Value, support...)
			if serr != nil { // a claim past the bounds (MaxPremises)
				err = errors.Join(err, fmt.Errorf("%s: %w", r.Cell, serr))
				continue
			}
			out = append(out, Refinement{Cell: r.Cell, Value: v})
		}
	}
	for _, ng := range nogoods {
		out = append(out, Refinement{Cell: NogoodsCell, Value: NogoodUpdate(ng)})
	}
	return out, err
}

// consequences is the Cells a wrapped propagator reads: a supported value
// as its strongest consequence under wv, any other as it is (Nothing yet,
// a plain cell, a contradiction the runtime handles). It records the
// supports of what was read, and the nogoods met.
type consequences struct {
	in       *Inputs
	wv       Worldview
	supports map[string][]string // cell → the support of its consequence, once read
	nogoods  [][]string
}

func (c *consequences) Value(cell string) lattice.Value {
	v := c.in.Value(cell)
	if _, ok := v.(*lattice.Supported); !ok {
		return v
	}
	con := c.wv.Consequence(v)
	if c.supports == nil {
		c.supports = map[string][]string{}
	}
	if _, seen := c.supports[cell]; !seen && con.Contradicts() {
		c.nogoods = append(c.nogoods, con.Support)
	}
	if con.Contradicts() {
		c.supports[cell] = nil
		return lattice.Nothing{}
	}
	c.supports[cell] = con.Support
	return con.Value
}

// support is the union of the supports read, sorted.
func (c *consequences) support() []string {
	var out []string
	for _, cell := range slices.Sorted(maps.Keys(c.supports)) {
		out = append(out, c.supports[cell]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (c *consequences) Refine(context.Context, string, lattice.Value, string) (lattice.Value, error) {
	return nil, ErrReadOnly
}
