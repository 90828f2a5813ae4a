package propagators

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dprop/dprop/lattice"
)

// A Derivation says where a propagator's refinement came from: the
// propagator and the inputs it read, each with the stream sequence of the
// value it read (0 when the cells do not say). A replica writes it in the
// headers of what it publishes, so that the log can answer why a cell holds
// what it holds (see replica.Why).
type Derivation struct {
	Propagator string
	Inputs     []InputRef // sorted by cell
}

// InputRef is one input a propagator read: cell@seq.
type InputRef struct {
	Cell string `json:"cell"`
	Seq  uint64 `json:"seq"`
}

func (r InputRef) String() string { return r.Cell + "@" + strconv.FormatUint(r.Seq, 10) }

// FormatInputs writes inputs as the Dprop-Inputs header holds them:
// "a@12,b@15".
func FormatInputs(inputs []InputRef) string {
	parts := make([]string, len(inputs))
	for i, in := range inputs {
		parts[i] = in.String()
	}
	return strings.Join(parts, ",")
}

// ErrBadInputs is wrapped by ParseInputs' errors.
var ErrBadInputs = errors.New("bad list of inputs")

// ParseInputs reads what FormatInputs writes. An empty string is no
// inputs.
func ParseInputs(s string) ([]InputRef, error) {
	if s == "" {
		return nil, nil
	}
	var out []InputRef
	for _, part := range strings.Split(s, ",") {
		at := strings.LastIndexByte(part, '@')
		if at <= 0 {
			return nil, fmt.Errorf("%w: %q is not cell@seq", ErrBadInputs, part)
		}
		seq, err := strconv.ParseUint(part[at+1:], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: the sequence is not a number", ErrBadInputs, part)
		}
		out = append(out, InputRef{Cell: part[:at], Seq: seq})
	}
	return out, nil
}

// Versioned is implemented by Cells that know the stream sequence of the
// value they return (a replica): the runtime then records, for each input a
// propagator reads, the sequence of the value it read.
type Versioned interface {
	// ValueSeq returns the cell's value and the stream sequence of its
	// last change (0 for Nothing).
	ValueSeq(cell string) (lattice.Value, uint64)
}

// Deriver is implemented by Cells that record where refinements came from:
// the runtime publishes a propagator's refinements through RefineDerived
// instead of Refine. It must otherwise behave as Refine.
type Deriver interface {
	RefineDerived(ctx context.Context, cell string, v lattice.Value, d Derivation) (lattice.Value, error)
}

// derivation is what a run of propagator name read.
func (in *Inputs) derivation(name string) Derivation {
	d := Derivation{Propagator: name}
	for cell, seq := range in.seqs {
		d.Inputs = append(d.Inputs, InputRef{Cell: cell, Seq: seq})
	}
	slices.SortFunc(d.Inputs, func(a, b InputRef) int { return strings.Compare(a.Cell, b.Cell) })
	return d
}
