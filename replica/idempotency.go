package replica

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
)

// This file gives a refine an idempotency key: a retried refine is stored
// once, and a key reused for another update is refused rather than
// silently dropped.
//
// The stream itself is the memory of keys: the key, scoped to its cell,
// becomes the message's Nats-Msg-Id, and JetStream acknowledges a publish
// that repeats an id within its duplicate window with Duplicate and the
// sequence of the message first stored under it. Comparing that message
// with the new one tells a retry from a reuse. Unlike a table of keys kept
// by one process, this holds across sidecars and restarts.

// ErrKeyReused is returned by Refine when its idempotency key
// (WithIdempotencyKey) already named another update of the cell within the
// stream's duplicate window: the new update was not stored.
var ErrKeyReused = errors.New("idempotency key already used for another update")

// WithIdempotencyKey makes a refine idempotent: the update is stored once
// however often it is refined with the same key on the same cell, within
// the stream's duplicate window (two minutes by default). A repeat is
// answered with the cell, and WithReport says it was a duplicate. Reusing
// the key for another value of the cell in the window is refused with
// ErrKeyReused. The same key on two cells names two updates.
func WithIdempotencyKey(key string) RefineOption {
	return func(o *refineOptions) { o.key = key }
}

// RefineReport says what became of a refine's update.
type RefineReport struct {
	// Seq is the stream sequence of the update; for a duplicate, the
	// sequence of the update first stored under its idempotency key.
	Seq uint64
	// Duplicate reports that the stream already held this update under
	// the same idempotency key, so nothing new was stored.
	Duplicate bool
	// Pending reports that the log could not acknowledge the update in
	// time and the replica took it into its outbox (Config.OutboxPath):
	// it is synced to disk, merged into what the replica shows, and will
	// be delivered once the log is reachable. Seq is 0 then, and
	// PendingUpdates is the number of updates the outbox holds.
	Pending        bool
	PendingUpdates int
	// Unfolded reports that the log acknowledged the update (Seq) but
	// this replica had not folded it within Config.OutboxAfter (its fold
	// lags, or the broker went away right after acknowledging): the cell
	// returned is the replica's view with the update merged in, marked
	// pending until the fold passes Seq. A refusal in stream order
	// (another replica typed the cell first) is then not known yet.
	Unfolded bool

	// own: the duplicate is an earlier attempt of this very update (the
	// same payload under the same id), not another writer's (Apply).
	own bool
}

// WithLogAck makes Refine wait for the log's acknowledgement, as without
// an outbox: a refine the log cannot take in time fails rather than be
// taken into the outbox.
func WithLogAck() RefineOption { return func(o *refineOptions) { o.logAck = true } }

// WithReport makes Refine fill *rep once the broker has acknowledged the
// update.
func WithReport(rep *RefineReport) RefineOption {
	return func(o *refineOptions) { o.report = rep }
}

// idempotencyID is the Nats-Msg-Id of an update of cell under key: the key
// scoped to the cell (JetStream's duplicate detection spans the whole
// stream), hashed to a fixed length since the server keeps every id of the
// window in memory. A cell name holds no NUL, so cell and key cannot run
// into each other.
func idempotencyID(cell, key string) string {
	sum := sha256.Sum256([]byte(cell + "\x00" + key))
	return "dprop-key-" + hex.EncodeToString(sum[:16])
}

// sameUpdate checks that the message stored at seq, the first one published
// under msg's Nats-Msg-Id, is msg's update: the same subject and payload
// (payloads are canonical encodings, so equal values are equal bytes). If
// not, the key was reused for another update: ErrKeyReused. An original the
// stream no longer holds, compacted into a rollup or purged by a
// checkpoint, is taken for the duplicate it is: it cannot be compared, and
// the key did name it.
func (r *Replica) sameUpdate(ctx context.Context, cell, key string, seq uint64, msg *nats.Msg) error {
	// Asked of the stream's leader, not read directly: a follower that
	// lags could answer that the message does not exist.
	orig, err := r.jsLeader.GetMsg(r.cfg.Stream, seq, nats.Context(ctx))
	if errors.Is(err, nats.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("refine %q: reading the update stored under the same idempotency key (stream sequence %d): %w", cell, seq, err)
	}
	if orig.Subject == msg.Subject && bytes.Equal(orig.Data, msg.Data) {
		return nil
	}
	return fmt.Errorf("cell %q: %w: key %q already names the update stored at stream sequence %d, which is another value; "+
		"nothing was stored (a key names one update: use a new key for a new value)", cell, ErrKeyReused, key, seq)
}
