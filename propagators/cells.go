package propagators

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dprop/dprop/lattice"
)

// Cell names a cell and its declared lattice type. The built-in propagators
// need both: the type says what they may refine the cell with (a number cell
// only with an exact number, an interval cell with bounds, ...).
type Cell struct {
	Name string
	Type string
}

func (c Cell) String() string { return c.Name + " (" + c.Type + ")" }

// TypeError says that a cell's type does not suit a built-in propagator.
// Constructors return one per unsuitable cell, joined with errors.Join.
type TypeError struct {
	Kind string   // the built-in, e.g. "linear"
	Cell string   // the cell
	Type string   // its declared type
	Want []string // the types that would do
	// Why explains a rule beyond the list, e.g. "must match the input's type".
	Why string
}

func (e *TypeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: cell %q is %s", e.Kind, e.Cell, article(e.Type))
	if len(e.Want) > 0 {
		fmt.Fprintf(&b, ", want %s", orList(e.Want))
	}
	if e.Why != "" {
		b.WriteString(" (" + e.Why + ")")
	}
	return b.String()
}

func article(t string) string {
	if t == "" {
		return "of no declared type"
	}
	switch t[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an " + t
	}
	return "a " + t
}

func orList(ts []string) string {
	switch len(ts) {
	case 1:
		return ts[0]
	case 2:
		return ts[0] + " or " + ts[1]
	}
	return strings.Join(ts[:len(ts)-1], ", ") + " or " + ts[len(ts)-1]
}

// needType returns a *TypeError unless c's type is one of want.
func needType(kind string, c Cell, want ...string) error {
	if slices.Contains(want, c.Type) {
		return nil
	}
	return &TypeError{Kind: kind, Cell: c.Name, Type: c.Type, Want: want}
}

// needTypes checks every cell, joining the errors.
func needTypes(kind string, cells []Cell, want ...string) error {
	var errs []error
	for _, c := range cells {
		errs = append(errs, needType(kind, c, want...))
	}
	return errors.Join(errs...)
}

// checkCells refuses a cell without a name.
func checkCells(kind string, cells ...Cell) error {
	for _, c := range cells {
		if c.Name == "" {
			return fmt.Errorf("%s: a cell has no name", kind)
		}
	}
	return nil
}

// names returns the cells' names.
func names(cells []Cell) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = c.Name
	}
	return out
}

// defaultName names a built-in after its kind and cells when the caller gave
// no name: "linear(f->c)".
func defaultName(name, kind string, inputs, outputs []Cell) string {
	if name != "" {
		return name
	}
	return kind + "(" + strings.Join(names(inputs), ",") + "->" + strings.Join(names(outputs), ",") + ")"
}

// inputTypeError says that a cell holds a value the propagator cannot use.
func inputTypeError(cell string, v lattice.Value, want ...string) error {
	return fmt.Errorf("%w: cell %q holds %s, want %s", ErrInputType, cell, article(v.Type()), orList(want))
}
