// Package fold is the deterministic heart of a replica: it folds stream
// messages into cells and says what changed. It does no I/O, keeps no
// clock and starts no goroutines (a test checks it), so the same messages
// in the same order give the same cells on every replica, and it is tested
// without a server — as etcd's raft separates its state machine from the
// node that drives it.
//
// # Folding a message
//
// Core.Apply takes a message as the stream delivers it — subject, stream
// sequence, payload — and returns a Result:
//
//  1. A sequence at or below the last one applied is Stale and ignored, so
//     replaying an overlapping range is harmless.
//  2. The subject must name a cell under the prefix (dprop.cell.<name>);
//     with a trust policy (Limits.Trust) the update must be one the
//     policy lets count on that cell (see Signed updates); and the
//     payload must decode as a lattice value under the Core's limits.
//     Otherwise the update is refused.
//  3. The cell's type is its declared type (from a network file, or, with
//     Limits.Networks, from the networks kept in the log as folded so far:
//     the first by name whose declarations match, when the cell is not
//     typed yet), or else the type of its first valid update in stream
//     order. An update of another type is refused. Nothing and contradictions fit every cell
//     and decide no type.
//  4. The update is merged into the cell. Result.Changed says whether the
//     cell gained information; a merge that adds nothing is silent, which
//     is what lets watchers hear only of real changes and stops propagator
//     networks from looping.
//  5. A merge that changes the cell is encoded for its ETag; if the
//     encoding is longer than the cell's limit (Limits.MaxCellBytes), the
//     update is refused and the cell keeps its value. Limits bound each
//     update, and this bounds what updates build by merging: a cell never
//     outgrows the bytes one update (a compaction's join, a restore) can
//     carry. (Elements and nesting are bounded per update only.)
//
// Every refusal is a *RefusedError with one of the Reason constants, and
// is counted per cell and reason. The cell keeps its value: bad input loses
// nothing. Whether an update counts depends only on the message, the
// cell's state in stream order and the Limits, so every replica refuses the
// same updates — provided they all fold with the same Limits (the trust
// policy included).
//
// # Signed updates
//
// A writer may sign an update with an Ed25519 key, a NATS user NKey: the
// message then carries Dprop-Signer, the public key (U..., 56
// characters), and Dprop-Signature, the signature in unpadded base64url,
// over SignedBytes(subject, payload):
//
//	"dprop-update-v1" 0x00 subject 0x00 payload
//
// The tag makes it a signature of a dprop update and of nothing else an
// NKey signs; the subject (prefix included) binds it to one cell, so it
// cannot be moved to another; the payload is the bytes as published. No
// time or sequence is signed: the same signed message published again is
// a replay, and a replay is harmless, since merging is idempotent (it
// counts, and changes nothing).
//
// A Trust (Limits.Trust) says whose updates count: rules of cell patterns,
// tried in order, the first match deciding, each listing the keys it
// trusts and whether unsigned updates count there; a cell no rule matches
// takes none. An update the policy forbids is refused as unsigned,
// untrusted_signer or bad_signature (a trusted signer named, but the
// signature missing, malformed or not verifying). The policy is applied
// before decoding, from the message alone — subject, payload, the two
// headers — so every Core with the same policy decides alike; Trust.Hash
// tells policies apart. Without a policy no signature is looked at, and
// the fold pays one nil check; with one, a signature is verified only
// where a rule names its signer (about 50µs; see BenchmarkApplySigned).
//
// Signatures are verified here, with crypto/ed25519, rather than by a
// verifier the driver plugs in: what counts cannot then depend on which
// driver folds (replica, replay, history, compactor). Verifying is a pure
// function of its inputs, so the fold stays pure.
//
// # What a cell keeps
//
// Per cell a Core keeps its value, type, the sequence of its last change,
// the number of updates folded, an ETag (a hash of the canonical encoding),
// what compaction needs (the last message on the cell's subject and how
// many came after the last rollup), and the last propagator that refined
// it, if one did (Message.Propagator, which nothing else depends on). It
// is stored by value in one map, about 200 bytes a cell besides the value.
//
// # Who uses it
//
// Package replica drives a Core from a JetStream ordered consumer, under
// its fold lock, and announces the Results; replays, histories and the
// offline tools fold with a Core of their own. A Core is not safe for
// concurrent use: its driver serializes calls.
//
// The traces in testdata/ show the fold message by message: each holds
// messages in and the changes out, checked by TestTraces (regenerate the
// outputs with go test -run TestTraces -update).
package fold
