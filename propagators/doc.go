// Package propagators runs monotone computations over dprop's cells.
//
// A cell holds a lattice value that only gains information. A Propagator
// reads some cells (its inputs) and returns refinements of others (its
// outputs); because it is monotone — more information in never gives less
// out — and because refinements are merged rather than written, it can run
// on any replica, any number of times, in any order, and the replicas still
// agree. This package is the runtime that wakes propagators when their inputs
// change and the library of built-in ones; the subpackage network reads
// network files that declare cells and propagators.
//
// # The boundary
//
// The runtime does no I/O of its own. It reads and refines cells through the
// small Cells interface, which a replica implements over JetStream (and the
// tests over a map). In return the replica calls Runtime.Changed for every
// real change of a cell, local or remote, synchronously from its fold and
// before the Refine that caused it returns. Changed only marks and queues, so
// it is cheap and never blocks; and because the consequences of a refine are
// queued before the refine counts as done, "no propagator queued or running"
// is a meaningful state (quiescence, below).
//
// # Waking and running
//
// New queues every propagator once: its first run happens as soon as Start
// launches the workers, and a propagator that lacks inputs it needs (they
// are Nothing) simply returns nothing. After that a propagator runs only when
// an input changes. Per propagator the runtime keeps a few flags under one
// mutex:
//
//   - queued: in the FIFO, waiting for a worker. A propagator already queued
//     is not queued again, so a burst of changes costs one run (coalescing).
//   - running: a worker has it. A change arriving now marks it dirty, and it
//     is queued again when the run ends, so no change is missed and no
//     propagator ever runs concurrently with itself.
//   - pending: the inputs that changed since its last run. Inputs.Changed
//     hands them to the propagator, which is how an aggregate over 10,000
//     inputs reads only the one that changed rather than all 10,000: since
//     outputs are merged, not replaced, the join of the changed inputs'
//     contributions is a complete refinement.
//
// A small pool of workers (Config.Workers, default 4) takes propagators from
// the FIFO. Different propagators run in parallel; the same one never does.
//
// # Publishing
//
// Each refinement a propagator returns is first merged with the output
// cell's current value. If that adds nothing, it is not published (counted
// as suppressed in Stats); otherwise Cells.Refine publishes it. This is what
// makes cyclic networks terminate: a cycle keeps turning only while it adds
// information, and an interval of floats can only narrow so many times. (A
// cycle that invents information at every turn, such as a = b + 1 and b = a
// over intervals, still ends — in a contradiction — but may take as many
// turns as there are steps between its bounds.) It also keeps replicas that
// run the same propagator from echoing each other's results.
//
// # Contradictions
//
// When a changed input holds a contradiction, the runtime does not call the
// propagator. Instead it refines each of its outputs that is not already a
// contradiction with lattice.NewContradiction naming that input (and the
// cells that input's contradiction came from), so a contradiction travels
// through the network and says where it started. The propagator is then
// "poisoned" for the rest of the runtime's life: a contradiction is
// absorbing, so its outputs can only stay contradictions and Propagate need
// not run again. Outputs that are contradictions already are left alone, to
// avoid churning provenance around cycles.
//
// # Failures
//
// A propagator that panics or returns an error is isolated: the panic is
// recovered, the failure is logged (slog, with the propagator's name and its
// changed inputs and their values), counted in Stats, and sent to
// Config.OnEvent for the replica to forward; every other propagator keeps
// running. Refinements returned along with an error are still published (a
// filter over a set publishes the elements it could evaluate). A refinement
// that does not merge into its cell (wrong type), names a cell the
// propagator does not list as an output, or whose Refine fails is reported
// the same way. A failed run's changed inputs are kept for its next run, and
// that next run waits out a backoff (Config.Backoff, doubling to
// Config.MaxBackoff) so that a propagator that keeps failing cannot spin a
// CPU. A failed propagator is not retried by itself: it runs again when an
// input changes, since a deterministic function fails again on the same
// inputs.
//
// # Networks that change
//
// Add, Remove and AddInput change a running runtime: a template's instance
// is added when its cell appears, and its first run reads every input; a
// removed propagator is never queued again (a run under way finishes: its
// refinements are harmless); an aggregate over a pattern gains inputs as
// matching cells appear, and since it reads only Inputs.Changed, a growing
// fan-in costs nothing per input it already has.
//
// # Quiescence
//
// The runtime is quiescent when no propagator is queued, running (a run
// includes its refines in flight) or waiting out a backoff. Quiescent says
// whether it is now; WaitQuiescent blocks until it is. Tests and scripts
// refine a cell, then wait for quiescence, instead of sleeping.
//
// # The built-ins
//
// Arithmetic constraints over number and interval cells refine every one of
// their cells from the others: Sum (c = a + b), Product (c = a × b), Square
// (b = a²) and Linear (y = k·x + m; one way, x to y, over range cells). The
// interval arithmetic is sound: each bound is rounded outward by the least
// amount, using error-free transformations to tell exact results from
// inexact ones, so an exact result stays an exact point and a number cell is
// refined only with an exact number (2 + 3 = 5 refines a number cell;
// 0.1 + 0.2, which is not a float, does not, while an interval cell gets the
// two floats around it). Division by an interval containing zero is extended
// interval division: a half-line, or nothing learnt — never a wrong
// narrowing. Linear takes its parameters as fractions (Ratio), so that
// 5/9 and −160/9 are exact and 212 °F is exactly 100 °C.
//
// Aggregates join many inputs into one output incrementally: Hull (ranges),
// Max, Min, Union (sets) and CounterSum (counters: one writer per input cell
// holding that input's total). Threshold sets a flag once an input reaches a
// value; Copy copies; Filter and Map transform sets element by element with a
// small, bounded expr-lang expression; Heron is one step of Heron's square
// root iteration over a min cell.
//
// Union, Filter and Map also read orsets, and produce grow-only sets: an
// element removed from the orset stays in the output. The output is then a
// function of what the replica observed over time rather than of the
// orset's current value, but it still only grows, so replicas converge on
// the union of what any of them saw.
//
// Write your own with NewFunc (see its example), keeping to the rules written
// on Propagator.
package propagators
