package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/lattice/op"
	"github.com/dprop/dprop/replica/fold"
	"github.com/dprop/dprop/replica/outbox"
)

// This file keeps operations taken into the outbox exactly once when their
// key is stored meanwhile by another replica.
//
// A count is the writer's running total: an increment taken into the
// outbox as {me: N+1} is followed by the next as {me: N+2}, which includes
// the first. If the client, told nothing or told 202, retries the first
// at another sidecar, that one stores it under the same key; when this
// sidecar delivers its own first update, JetStream drops it as a duplicate
// (rightly), but the second update still counts it: one too many. So:
//
//   - Nothing after an update of operations with a key is published on
//     its cell before the log has answered for it (deliverPending).
//   - If the log answers that the key is stored and the update stored
//     under it is not this one, nothing of this update was stored (an
//     update with a key holds that operation alone: takeBatch). From then
//     on, in this delivery round, each later update of the cell whose
//     operations are all counts (inc, dec, also inside a map's update) is
//     computed again from its operations (Record.Ops) on the cell as the
//     log holds it, once this replica has folded all of it (barrier):
//     the writer's total then counts what the log holds and nothing else.
//     Other operations do not build on earlier ones: an add's dot is new
//     whether or not the dot before it was stored, a removal names the
//     dots it observed, a set or an enable is idempotent. They are
//     delivered as taken.
//   - The dropped update stays in the outbox (left out of the cell's
//     view) until the cell has no update left to deliver: a crash
//     meanwhile delivers it again first, the log says again that its key
//     is stored, and the later updates are computed again, on a log that
//     may now hold some of them (each under its own message id: stored
//     once).
//   - While a cell has updates in the outbox that the log has not
//     acknowledged, operations on it go to the outbox too, behind them
//     (outboxFirst): an update published at once would build on counts
//     that may yet be dropped.
//
// A keyed update that waited in the outbox longer than half the stream's
// duplicate window may be delivered after JetStream has forgotten a retry
// stored elsewhere within the window (a long partition): before it is
// published, the replica folds all of its cell (barrier) and looks its key
// up in its own index, which keeps keys as long as the outbox's oldest
// update is younger than a window (keysKeptSince); a key found there is
// the same answer as "duplicate" (keyFolded). The same holds for a key
// found there whatever the update's age.
//
// A recomputed update is published under the message id it was taken
// with. Redelivered after the stream's duplicate window (a crash, and a
// restart later than that), it would be stored again; so would the keyed
// operation itself, which is why keys are exactly once within the window.

// ErrOutboxAhead is returned by Apply with WithLogAck on a cell that has
// updates in the outbox not yet delivered: an operation published now
// would build on them. Retry once they are delivered.
var ErrOutboxAhead = errors.New("the cell has updates in the outbox not yet delivered")

// outboxFirst says whether an update of operations on cell must go to the
// outbox, behind the cell's updates there that the log has not
// acknowledged yet; with logAck such an update is refused instead.
func (r *Replica) outboxFirst(cell string, logAck bool) (bool, error) {
	r.mu.RLock()
	ahead := r.pend.undelivered(cell)
	r.mu.RUnlock()
	if ahead && logAck {
		return false, fmt.Errorf("apply %q: %w (it asks for the log's acknowledgement, and would build on them)", cell, ErrOutboxAhead)
	}
	return ahead, nil
}

// encodeOps is the JSON of ops for an outbox record (nil for none).
func encodeOps(ops []op.Op) (json.RawMessage, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("operations: %w", err)
	}
	return b, nil
}

// countsOnly reports whether every operation of ops is an increment or a
// decrement (inside a map's update or not): those whose delta is the
// writer's running total.
func countsOnly(ops []op.Op) bool {
	for _, o := range ops {
		if !isCount(o) {
			return false
		}
	}
	return len(ops) > 0
}

func isCount(o op.Op) bool {
	for o.Name == op.Update && o.With != nil {
		o = *o.With
	}
	return o.Name == op.Inc || o.Name == op.Dec
}

// rebaseRound is what a delivery round learnt of keys stored by others.
type rebaseRound struct {
	// cells whose later updates of counts are computed again.
	cells map[string]bool
	// held are the updates found stored under their key by another
	// (outbox id → cell), kept in the outbox until their cell has
	// nothing left to deliver.
	held map[uint64]string
	// caught are the cells this round has folded all of (keyFolded).
	caught map[string]bool
}

func newRebaseRound() rebaseRound {
	return rebaseRound{cells: map[string]bool{}, held: map[uint64]string{}, caught: map[string]bool{}}
}

// rebases says whether rec is computed again and delivered alone (see
// above).
func (rr *rebaseRound) rebases(rec outbox.Record) bool {
	return len(rec.Ops) > 0 && rr.cells[rec.Cell]
}

// keyStoredElsewhere handles the answer "duplicate" to rec, an update of
// a keyed operation delivered as taken: if the update stored under its id
// at seq is not rec, rec is dropped (dropStored) and dropped is true.
func (r *Replica) keyStoredElsewhere(rec outbox.Record, seq uint64, rr *rebaseRound) (dropped bool, err error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.PublishTimeout+opFoldTimeout)
	defer cancel()
	if r.storedIsOwn(ctx, rec, seq) {
		return false, nil
	}
	return true, r.dropStored(ctx, rec, seq, rr)
}

// dropStored forgets rec, of which nothing was stored: the log holds,
// under its id at seq, another replica's update of the same operation,
// or an earlier computation of this one. If rec is keyed, it is held
// in the outbox and its cell's later counts computed again (see above).
func (r *Replica) dropStored(ctx context.Context, rec outbox.Record, seq uint64, rr *rebaseRound) error {
	if err := r.waitFolded(ctx, seq); err != nil && !isRefusal(err) {
		return fmt.Errorf("update %d of cell %q: %w", rec.ID, rec.Cell, err)
	}
	r.mu.Lock()
	before, _ := r.viewLocked(rec.Cell)
	r.pend.drop(rec.ID)
	if after, _ := r.viewLocked(rec.Cell); after.ETag != before.ETag {
		r.announcePending(after)
	}
	r.mu.Unlock()
	if rec.Headers[HeaderOpKeys] == "" {
		r.obDelivered.Add(1)
		return r.ob.Done(rec.ID)
	}
	if !rr.cells[rec.Cell] {
		r.log.Info("outbox: an operation's key was stored meanwhile by another replica; the cell's later counts are computed again",
			"cell", rec.Cell, "stored_at", seq)
	}
	rr.cells[rec.Cell] = true
	rr.held[rec.ID] = rec.Cell
	return nil
}

// keysKeptSince is the time (Unix nanoseconds) from which the index of
// keys keeps keys whatever the duplicate window: the time the outbox's
// oldest update was taken (0 when none). A retry of it elsewhere came
// after that, and must still be found when it is delivered.
func (r *Replica) keysKeptSince() int64 {
	if r.ob == nil {
		return 0
	}
	// Called by the fold: OldestAdded, unlike Stats, does not wait for
	// the outbox's lock, held through a sync or a rewrite of its file.
	if oldest := r.ob.OldestAdded(); !oldest.IsZero() {
		return oldest.UnixNano()
	}
	return 0
}

// keyMayBeFolded says whether rec, an update of a keyed operation, is to
// be looked up in the index of keys before it is published (keyFolded):
// its key is there already, or it waited long enough for the stream to
// have forgotten a retry.
func (r *Replica) keyMayBeFolded(rec outbox.Record) bool {
	if time.Since(rec.Added) > r.dupWindow()/2 {
		return true
	}
	id, _, _ := strings.Cut(rec.Headers[HeaderOpKeys], ":")
	r.mu.RLock()
	_, ok := r.opKeys.get(id)
	r.mu.RUnlock()
	return ok
}

// keyFolded settles rec, an update of a keyed operation, without
// publishing it if its key is in the index of keys once the replica has
// folded all of its cell: as delivered if the update stored under it is
// rec, as dropped (dropStored) if not. settled is false when the key is
// not there: rec is to be published. Nothing else of rec's cell is in
// flight.
func (r *Replica) keyFolded(rec outbox.Record, rr *rebaseRound) (settled bool, err error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.PublishTimeout+opFoldTimeout)
	defer cancel()
	if !rr.caught[rec.Cell] {
		if err := r.barrier(ctx, rec.Cell); err != nil {
			return false, fmt.Errorf("update %d of cell %q: catching up with the log: %w", rec.ID, rec.Cell, err)
		}
		rr.caught[rec.Cell] = true
	}
	id, _, _ := strings.Cut(rec.Headers[HeaderOpKeys], ":")
	r.mu.RLock()
	k, ok := r.opKeys.get(id)
	r.mu.RUnlock()
	if !ok {
		return false, nil
	}
	if !r.storedIsOwn(ctx, rec, k.seq) {
		return true, r.dropStored(ctx, rec, k.seq, rr)
	}
	// Delivered: the log stored this very update (its first publish got
	// through though its answer was lost), as if acknowledged now.
	if testHookDelivered != nil {
		testHookDelivered(rec.Cell)
	}
	r.mu.Lock()
	r.pend.ack(rec.ID, k.seq)
	r.passPending(r.lastFolded)
	r.mu.Unlock()
	r.obDelivered.Add(1)
	return true, r.ob.Done(rec.ID)
}

// deliverAlone publishes rec, computed again if it is made of counts,
// waits for the answer and settles it. Nothing else of its cell is in
// flight.
func (r *Replica) deliverAlone(js jetstream.JetStream, rec outbox.Record, rr *rebaseRound) error {
	if rec.Headers[HeaderOpKeys] != "" {
		if settled, err := r.keyFolded(rec, rr); settled || err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.PublishTimeout+opFoldTimeout)
	defer cancel()
	payload, rebased := rec.Payload, false
	if rr.cells[rec.Cell] {
		p, ok, err := r.recompute(ctx, rec)
		if err != nil {
			return fmt.Errorf("update %d of cell %q: computing it again: %w", rec.ID, rec.Cell, err)
		}
		payload, rebased = p, ok
	}
	msg := nats.NewMsg(rec.Subject)
	msg.Data = payload
	for k, v := range rec.Headers {
		msg.Header.Set(k, v)
	}
	if rebased {
		if err := r.sign(msg); err != nil {
			return fmt.Errorf("update %d of cell %q: %w", rec.ID, rec.Cell, err)
		}
	}
	pctx, pcancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
	ack, err := js.PublishMsg(pctx, msg, jetstream.WithMsgID(rec.MsgID))
	pcancel()
	if err != nil {
		return fmt.Errorf("update %d of cell %q: %w", rec.ID, rec.Cell, err)
	}
	if testHookDelivered != nil {
		testHookDelivered(rec.Cell)
	}
	if ack.Duplicate && (rebased || !r.storedIsOwn(ctx, rec, ack.Sequence)) {
		return r.dropStored(ctx, rec, ack.Sequence, rr)
	}
	r.mu.Lock()
	if rebased {
		if v, err := r.limits().Decode(payload); err == nil {
			r.pend.replace(rec.ID, v)
		}
	}
	r.pend.ack(rec.ID, ack.Sequence)
	r.passPending(r.lastFolded)
	r.mu.Unlock()
	r.obDelivered.Add(1)
	return r.ob.Done(rec.ID)
}

func isRefusal(err error) bool {
	var re *fold.RefusedError
	return errors.As(err, &re)
}

// storedIsOwn reports whether the update the log stored under rec's
// message id, at seq, is rec itself (an earlier delivery whose answer was
// lost). Anything else, or an update the log no longer holds (compacted),
// is taken for another's: computing the later updates again is then
// merely unneeded.
func (r *Replica) storedIsOwn(ctx context.Context, rec outbox.Record, seq uint64) bool {
	orig, err := r.jsLeader.GetMsg(r.cfg.Stream, seq, nats.Context(ctx))
	if err != nil {
		return false
	}
	if orig.Subject != rec.Subject || !bytes.Equal(orig.Data, rec.Payload) {
		if keys := rec.Headers[HeaderOpKeys]; orig.Header != nil && !strings.Contains(orig.Header.Get(HeaderOpKeys), keys) {
			r.log.Error("outbox: an operation's idempotency key names another operation in the log; this one is not applied (a key names one operation)",
				"cell", rec.Cell, "stored_at", seq)
		}
		return false
	}
	return true
}

// recompute computes rec's update again from its operations, on the cell
// as the log holds it once this replica has folded all of it. ok is false
// when rec is not made of counts alone (or has no operations recorded):
// it is delivered as taken.
func (r *Replica) recompute(ctx context.Context, rec outbox.Record) (payload []byte, ok bool, err error) {
	var ops []op.Op
	if len(rec.Ops) > 0 {
		var raws []json.RawMessage
		if err := json.Unmarshal(rec.Ops, &raws); err != nil {
			return nil, false, fmt.Errorf("operations: %w", err)
		}
		for _, raw := range raws {
			o, err := op.Parse(raw, r.limits())
			if err != nil {
				return nil, false, fmt.Errorf("operations: %w", err)
			}
			ops = append(ops, o)
		}
	}
	if !countsOnly(ops) {
		return rec.Payload, false, nil
	}
	if err := r.barrier(ctx, rec.Cell); err != nil {
		return nil, false, err
	}
	r.mu.RLock()
	c, _ := r.core.Get(rec.Cell)
	typ := r.core.Type(rec.Cell)
	r.mu.RUnlock()
	var base lattice.Value = lattice.Nothing{}
	if c.Value != nil {
		base = c.Value
	}
	var delta lattice.Value = lattice.Nothing{}
	now, lim := time.Now().UnixMilli(), r.limits()
	for _, o := range ops {
		d, err := o.Delta(typ, base, r.cfg.WriterID, now, lim)
		if err != nil {
			return nil, false, err
		}
		if typ == "" {
			typ = d.Type()
		}
		base, _, _ = lattice.Merge(base, d)
		delta, _, _ = lattice.Merge(delta, d)
	}
	return lattice.Encode(delta), true, nil
}

// releaseHeld removes from the outbox the updates held for cells that have
// nothing left to deliver and no operation being applied: nothing is left
// that built on them.
func (r *Replica) releaseHeld(rr *rebaseRound) error {
	var done []uint64
	for id, cell := range rr.held {
		r.ops.mu.Lock()
		busy := r.ops.cells[cell] != nil
		r.ops.mu.Unlock()
		r.mu.RLock()
		busy = busy || r.pend.undelivered(cell)
		r.mu.RUnlock()
		if !busy {
			done = append(done, id)
		}
	}
	if len(done) == 0 {
		return nil
	}
	r.obDelivered.Add(uint64(len(done)))
	return r.ob.Done(done...)
}
