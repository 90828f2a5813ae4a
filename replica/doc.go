// Package replica holds copies of cells and keeps them in step through a
// JetStream stream: it folds every update through the cell's merge,
// publishes refinements, and runs propagator networks.
//
// # The fold
//
// A fold.Core is the deterministic heart: it takes stream messages (subject,
// sequence, payload) and says what changed. It decodes the payload
// (lattice.Decode, under the replica's limits), decides the cell's type —
// declared by a network file, or else fixed by the first valid update in
// stream order — and merges, refusing a merge that would make the cell's
// encoding larger than Config.MaxCellBytes. The stream's order is the same
// for every replica, so every replica decides alike: the same updates are
// refused (bad JSON, a type other than the cell's, a cell grown too large,
// ...), the same cells result — provided they share the limits. A
// fold.Core does no I/O and has no clock; its tests need no server.
//
// Per cell it keeps the value, the type, the sequence of the last change,
// the number of updates folded, an fold.ETag (a hash of the canonical encoding),
// what compaction needs (the last message on the cell's subject and how
// many came after the last rollup), and the last propagator that refined
// it (header Dprop-Propagator; see LogPropagators). It is stored by value
// in one map, about 200 bytes a cell besides the value.
//
// # A replica's life
//
// Start: the replica loads its local snapshot, if it has one
// (Config.SnapshotPath), then finds the stream and notes the sequence of the
// last message among its cells (Config.Cells: all, or a subtree such as
// "weather.>"). That is the resync's target. It creates an ordered consumer
// from the beginning, or from just after the snapshot's sequence. If the
// broker cannot be reached or the stream does not exist yet, it logs why and
// keeps trying; meanwhile it serves what its snapshot holds, marked Stale.
//
// Resync: the consumer delivers the log in order and the replica folds it,
// reporting how far it has got (Progress, Config.Progress).
//
// Ready: once every message that was in the stream at start has been folded
// (the target reached, or the server says nothing is pending), Ready is
// closed. If a compaction removed messages meanwhile, the target moves to
// the log's new end first, where the compaction put what they said. Only
// then does a propagator network start, after its constants are published.
//
// Live: the same consumer goes on delivering new updates, from any writer —
// another replica, the nats CLI, an application with its own NATS client.
// Refine publishes with JetStream, waits for the acknowledgement and for
// its own fold of that message, and returns the cell as it then is
// (read-your-writes). Watchers hear of real changes only: a merge that adds
// nothing is silent, which is also what stops propagator networks from
// looping. A watcher that falls behind never stalls the fold; it keeps only
// the newest pending value per cell, which loses nothing because cells only
// grow. Nor does the audience cost the fold: it queues each change once,
// and a dispatcher hands it to the watchers of the cell, found by name or
// by a pattern index, outside the fold lock (watch.go). Await is a threshold read: it returns once the cell is at least as
// informative as a given value.
//
// Networks that change (Config.LiveNetworks, networks.go): named networks
// are set, replaced and removed while the replica runs (SetNetwork,
// RemoveNetwork), only what changed restarting. Their templates make a
// propagator for each cell that matches, from the fold, the first time the
// cell changes. Shared networks are split among the live replicas running
// them by rendezvous hashing over members heard on <prefix>.members
// (members.go); a dead member's share moves within MemberTimeout.
//
// Watched: the replica checks its stream every Config.StreamCheckEvery, and
// at once when its consumer reports trouble. A stream deleted under it
// makes it detach and serve what it knew, marked Stale, refusing refines
// (ErrStreamLost); a stream created anew under the same name makes it set
// its state aside (a snapshot file next to its local one, for dprop
// restore) and replay the new stream; a purge is reported. StreamStatus
// says where it stands (see link.go and docs/recovery.md).
//
// Cut off: while its connection is down (the client gives a connection up
// after two unanswered pings, within 6 s, a network cut or a paused broker
// included), the replica serves what it holds, marked Stale. When the
// connection is back it makes its consumer again at once, after the last
// sequence it folded, and stays Stale until it has read what it missed:
// its catch-up takes about as long as replaying that.
//
// Shutdown: Close stops the propagators, the consumer and the watchers, and
// writes the local snapshot, atomically.
//
// # The log
//
// History, Replay and Restore read and rebuild the log; Compact shortens it
// to about one message per cell, by guarded subject rollups or by a
// checkpoint and a purge, both safe with writers writing and with several
// compactors at once. See docs/recovery.md.
//
// # Signed updates
//
// With Config.Trust the fold applies a trust policy (fold.Trust): whose
// signed updates count on which cells, and where unsigned ones do. With
// Config.SignKey the replica signs what it publishes — refines without a
// signature of their own (WithSignature passes a caller's on, once it
// verifies), its propagators' refinements, its compactions — and Refine
// refuses before publishing what the policy would refuse. See sign.go,
// fold's package doc and docs/signing.md.
//
// The HTTP API of a sidecar replica is in package httpapi.
package replica
