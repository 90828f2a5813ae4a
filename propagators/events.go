package propagators

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrClosed is returned by WaitQuiescent when the runtime is closed.
	ErrClosed = errors.New("propagator runtime closed")
	// ErrDuplicateName is wrapped by New when two propagators share a name.
	ErrDuplicateName = errors.New("duplicate propagator name")
	// ErrNotOutput is wrapped when a propagator refines a cell it does not
	// list among its outputs.
	ErrNotOutput = errors.New("refinement of a cell that is not an output")
	// ErrReadOnly is returned by the Cells that Evaluate uses, if refined.
	ErrReadOnly = errors.New("read-only cells")
	// ErrInputType is wrapped when an input cell holds a value of a type the
	// propagator cannot use.
	ErrInputType = errors.New("input of an unexpected type")
)

// EventKind says what went wrong in a propagator run.
type EventKind string

// Kinds of Event.
const (
	// EventPanic: Propagate panicked; Err is a *PanicError.
	EventPanic EventKind = "panic"
	// EventError: Propagate returned an error, or a refinement it returned
	// could not be merged into its cell (wrong type, not an output).
	EventError EventKind = "error"
	// EventRefine: Cells.Refine failed.
	EventRefine EventKind = "refine"
)

// Event reports a propagator failure, for a replica to forward (to a
// metrics counter, an events subject, a log). Events are delivered
// synchronously from the worker that ran the propagator, through
// Config.OnEvent.
type Event struct {
	Kind       EventKind
	Propagator string
	// Changed lists the inputs that had changed for the failed run (at most
	// maxLoggedInputs of them, then "…").
	Changed []string
	// Cell is the refined cell, for EventRefine and refinement errors.
	Cell string
	// Err is the failure, an *Error.
	Err error
}

// Error is a propagator failure: which propagator, what it was doing, and
// the cause (a *PanicError, the error Propagate returned, or the error
// Cells.Refine or lattice.Merge returned).
type Error struct {
	Propagator string
	// Op is "propagate" or "refine".
	Op string
	// Cell is the cell being refined, for Op "refine".
	Cell string
	Err  error
}

func (e *Error) Error() string {
	if e.Cell != "" {
		return fmt.Sprintf("propagator %q: %s %q: %v", e.Propagator, e.Op, e.Cell, e.Err)
	}
	return fmt.Sprintf("propagator %q: %s: %v", e.Propagator, e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// PanicError is a recovered panic of a propagator.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Stats counts what the runtime did since it was created. Counters only
// grow; Queued, Running and Deferred are current gauges.
type Stats struct {
	// Fires counts propagator runs.
	Fires uint64
	// Published counts refinements published (Cells.Refine calls that
	// succeeded).
	Published uint64
	// Suppressed counts refinements that added nothing to their cell and so
	// were not published.
	Suppressed uint64
	// Contradictions counts the contradiction refinements the runtime
	// published on behalf of propagators whose inputs were contradicted.
	Contradictions uint64
	// Failures counts failed runs and refinements (errors and panics).
	Failures uint64
	// Panics counts recovered panics (also counted in Failures).
	Panics uint64
	// Backoffs counts runs delayed because the propagator had just failed.
	Backoffs uint64
	// Queued, Running and Deferred are propagators waiting for a worker,
	// running, and waiting out a failure backoff.
	Queued, Running, Deferred int
}

// NodeStats counts what one propagator did since the runtime was created.
type NodeStats struct {
	Name string
	// Runs counts its runs, Failures its failed runs and refinements
	// (errors and panics), Published the refinements it published.
	Runs, Failures, Published uint64
	// Failing is true while its last run failed (it runs again after a
	// backoff, or when an input changes).
	Failing bool
	// Poisoned is true once an input was a contradiction: its outputs were
	// made contradictions and it does not run again.
	Poisoned bool
}
