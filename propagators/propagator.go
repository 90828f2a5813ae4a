package propagators

import (
	"context"
	"slices"

	"github.com/dprop/dprop/lattice"
)

// Cells is how the runtime reads and refines cells; a replica implements it.
// Implementations must be safe for concurrent use.
//
// The implementation must call (*Runtime).Changed for every real change of a
// cell (a merge that added information, whether the update was local or came
// from another host), synchronously from its fold and before the Refine that
// caused it returns, so that a refine's consequences are queued before the
// refine counts as done. Changed never blocks.
type Cells interface {
	// Value returns the cell's current value (lattice.Nothing{} if it has none yet).
	Value(cell string) lattice.Value
	// Refine merges v into the cell durably and returns once it is acknowledged
	// and folded locally, with the merged value. propagator names the
	// propagator whose refinement v is (the runtime always gives it; ""
	// means none): a replica names it in the update it publishes, so that
	// the log says which cells a network derives.
	Refine(ctx context.Context, cell string, v lattice.Value, propagator string) (lattice.Value, error)
}

// A Propagator is a monotone computation from input cells to refinements of
// output cells. The runtime wakes it whenever one of its inputs changes, and
// once at start.
//
// Contract:
//
//   - Monotone: if every input gains information, every output refinement
//     must be at least as informative as before (lattice.Leq). This is what
//     lets replicas run propagators in any order, any number of times, and
//     still agree.
//   - Name, Inputs and Outputs return the same values on every call; the
//     runtime reads them once. The caller must not modify the returned
//     slices. A cell may be both an input and an output (the bidirectional
//     constraints list every cell as both).
//   - Propagate is never called concurrently with itself by one Runtime, but
//     different propagators run concurrently, and one Propagator value may be
//     shared by several Runtimes (replicas) in one process: keep no mutable
//     state in it, or guard it.
//   - Propagate refines only cells listed in Outputs; other refinements are
//     refused and reported.
//   - Propagate need not compare its result with the outputs' current values:
//     the runtime merges each refinement into the cell's value first and
//     publishes only those that add information.
//   - Propagate does not see contradictions in its changed inputs: the
//     runtime handles those itself (see Runtime). It should tolerate one in
//     an unchanged input (a contradiction that arrived since its last wake)
//     by skipping it.
//   - A panic or an error is isolated: it is reported, and the refinements
//     returned along with an error are still published (a partial result).
type Propagator interface {
	// Name identifies the propagator in logs, events and metrics; it is
	// unique within a Runtime.
	Name() string
	// Inputs lists the cells whose changes wake the propagator.
	Inputs() []string
	// Outputs lists the cells the propagator may refine.
	Outputs() []string
	// Propagate computes refinements of the outputs from the inputs. ctx is
	// cancelled when the runtime closes. The runtime owns the returned slice.
	Propagate(ctx context.Context, in *Inputs) ([]Refinement, error)
}

// A Refinement is a value to merge into a cell.
type Refinement struct {
	Cell  string
	Value lattice.Value
}

// Inputs is what a propagator sees during one run: the values of its input
// cells and which of them changed since its previous run.
//
// An Inputs is valid only during the Propagate call it is passed to. Reading
// one cell twice in a run gives the same value (reads are cached), so a
// propagator computes from one consistent snapshot of each cell.
type Inputs struct {
	cells   Cells
	all     []string
	changed []string
	first   bool
	cache   map[string]lattice.Value
	seqs    map[string]uint64 // the sequence of each value read, when cells is Versioned
}

// Value returns the current value of a cell (lattice.Nothing{} when it has
// none). Reading a cell that is not an input works, but its changes do not
// wake the propagator.
func (in *Inputs) Value(cell string) lattice.Value {
	if v, ok := in.cache[cell]; ok {
		return v
	}
	var v lattice.Value
	if vc, ok := in.cells.(Versioned); ok {
		var seq uint64
		v, seq = vc.ValueSeq(cell)
		if in.seqs == nil {
			in.seqs = make(map[string]uint64, len(in.all)+1)
		}
		in.seqs[cell] = seq
	} else {
		v = in.cells.Value(cell)
	}
	if v == nil {
		v = lattice.Nothing{}
	}
	if in.cache == nil {
		in.cache = make(map[string]lattice.Value, len(in.changed)+2)
	}
	in.cache[cell] = v
	return v
}

// Changed returns the inputs that changed since the propagator's previous
// successful run, in no particular order; on the first run, every input. The
// caller must not modify the slice.
//
// An aggregate over many inputs reads only these, so that one update of one
// of 10,000 inputs costs one read, not 10,000: because outputs are merged,
// not overwritten, the join of the changed inputs' contributions is a
// complete refinement (the earlier contributions are in the output already).
func (in *Inputs) Changed() []string { return in.changed }

// First reports whether this is the propagator's first run in this runtime
// (or a rerun of a failed first run), when Changed lists every input.
func (in *Inputs) First() bool { return in.first }

// All returns every input of the propagator (caller must not modify).
func (in *Inputs) All() []string { return in.all }

// Func is a Propagator made of a name, its cells and a function. It is the
// simplest way to write a custom propagator; the built-ins are Funcs too.
type Func struct {
	name    string
	inputs  []string
	outputs []string
	fn      func(ctx context.Context, in *Inputs) ([]Refinement, error)
}

var _ Propagator = (*Func)(nil)

// NewFunc returns a propagator that runs fn. fn must obey the Propagator
// contract (monotone, refines only outputs). The slices are copied.
func NewFunc(name string, inputs, outputs []string, fn func(ctx context.Context, in *Inputs) ([]Refinement, error)) *Func {
	return &Func{name: name, inputs: slices.Clone(inputs), outputs: slices.Clone(outputs), fn: fn}
}

// Name implements Propagator.
func (f *Func) Name() string { return f.name }

// Inputs implements Propagator.
func (f *Func) Inputs() []string { return f.inputs }

// Outputs implements Propagator.
func (f *Func) Outputs() []string { return f.outputs }

// Propagate implements Propagator.
func (f *Func) Propagate(ctx context.Context, in *Inputs) ([]Refinement, error) {
	return f.fn(ctx, in)
}

// Evaluate runs p once over fixed input values, as its first run in a
// runtime would, and returns its refinements. It is for testing propagators
// without a runtime; inputs missing from values are Nothing.
func Evaluate(ctx context.Context, p Propagator, values map[string]lattice.Value) ([]Refinement, error) {
	in := &Inputs{cells: mapCells(values), all: p.Inputs(), changed: p.Inputs(), first: true}
	return p.Propagate(ctx, in)
}

// mapCells is a read-only Cells over a map, for Evaluate.
type mapCells map[string]lattice.Value

func (m mapCells) Value(cell string) lattice.Value {
	if v, ok := m[cell]; ok && v != nil {
		return v
	}
	return lattice.Nothing{}
}

func (m mapCells) Refine(context.Context, string, lattice.Value, string) (lattice.Value, error) {
	return nil, ErrReadOnly
}
