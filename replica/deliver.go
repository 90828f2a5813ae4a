package replica

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/replica/fold"
	"github.com/dprop/dprop/replica/outbox"
)

// This file is the replica's side of its outbox (package outbox): a refine
// the log cannot acknowledge in time is kept there, durably, merged into
// what the replica shows (pending.go), answered as pending, and delivered
// by the drain below once the log is reachable again.

// DefaultOutboxAfter is how long a refine waits for the log's
// acknowledgement before it is taken into the outbox, and how long one
// acknowledged waits for the fold before it is answered from the pending
// view (Config.OutboxAfter).
const DefaultOutboxAfter = time.Second

// ErrOutboxFull: the log could not take a refine and the outbox is full
// (Config.OutboxMaxBytes). The refine is not taken.
var ErrOutboxFull = outbox.ErrFull

// drainWindow bounds the updates the drain has published and awaits the
// acknowledgement of.
const drainWindow = 4096

// drainRetry is how long the drain waits after a failed round.
const drainRetry = time.Second

// OutboxStatus says what the replica's outbox holds.
type OutboxStatus struct {
	Enabled bool
	// Pending updates, their bytes, and when the oldest was taken.
	Pending int
	Bytes   int64
	Oldest  time.Time
	// Taken counts the updates taken into the outbox since start,
	// Delivered those the log has acknowledged since.
	Taken, Delivered uint64
	// Torn is the size of the torn tail set aside at start (0: none),
	// TornFile where it was kept.
	Torn     int64
	TornFile string
	// Salvaged counts the records found whole after damage in the middle
	// of the file (outbox.Recovered.Salvaged): not a torn write.
	Salvaged int
	// LastError is why the last delivery round stopped ("" when it did
	// not fail).
	LastError string
}

// openOutbox opens the outbox and takes what it holds back into the
// pending view. Called by Start before anything runs.
func (r *Replica) openOutbox() error {
	ob, rec, err := outbox.Open(r.cfg.OutboxPath, r.cfg.OutboxMaxBytes)
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	r.ob = ob
	r.obWake = make(chan struct{}, 1)
	r.obTorn, r.obTornFile, r.obSalvaged = rec.Torn, rec.TornFile, rec.Salvaged
	switch {
	case rec.Salvaged > 0:
		r.log.Error("outbox: the file is damaged in the middle (not a torn write): the record at the damage is lost, and may have been acknowledged; "+
			"the whole records before and after it will be delivered. Compare the damaged part, set aside, with the cells (docs/recovery.md)",
			"path", r.cfg.OutboxPath, "damaged_bytes", rec.Torn, "records_after_damage", rec.Salvaged, "kept_as", rec.TornFile)
	case rec.Torn > 0:
		r.log.Error("outbox: a torn record at the end of the file was set aside; the intact records before it will be delivered",
			"path", r.cfg.OutboxPath, "torn_bytes", rec.Torn, "kept_as", rec.TornFile)
	}
	for _, p := range ob.Pending() {
		v, err := r.limits().Decode(p.Payload)
		if err != nil { // checked before it was taken: the file was altered
			r.log.Error("outbox: a pending update does not decode; it will be delivered, and the log will refuse it",
				"cell", p.Cell, "id", p.ID, "err", err)
			continue
		}
		r.pend.add(p.Cell, p.ID, p.MsgID, v)
	}
	if rec.Pending > 0 {
		r.log.Info("outbox: updates pending from before", "path", r.cfg.OutboxPath, "pending", rec.Pending)
	}
	return nil
}

// unavailable says whether a publish failed because the log could not be
// reached or could not answer in time (the stream without a leader, a
// partition, a hung server): what the outbox is for. Refusals, and the
// stream full or lost, are not.
func unavailable(err error) bool {
	return errors.Is(err, ErrNotConnected) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrReconnectBufExceeded) ||
		errors.Is(err, nats.ErrConnectionDraining)
}

// takePending keeps msg, an update of cell with value v that the log did
// not acknowledge, in the outbox: synced to disk, merged into the pending
// view and announced, before it returns the cell as the replica now shows
// it. An update carrying a message id already pending is not taken twice.
func (r *Replica) takePending(cell string, v lattice.Value, msg *nats.Msg, o *refineOptions) (fold.Cell, error) {
	id := msg.Header.Get(jetstream.MsgIDHeader)
	if id == "" {
		// A retried delivery must be stored once: the first attempt
		// may have reached the stream and only its answer been lost.
		id = "dprop-outbox-" + uuid.NewString()
		msg.Header.Set(jetstream.MsgIDHeader, id)
	}
	r.mu.RLock()
	dup := r.pend.hasMsgID(id)
	seq, stored := r.pend.ackedSeq(id)
	r.mu.RUnlock()
	if stored {
		// A retry of an update the log has acknowledged, which the fold
		// has not passed yet: it is in the log, not in the outbox.
		c, _ := r.Get(cell)
		if o.report != nil {
			*o.report = RefineReport{Seq: seq, Duplicate: true, Unfolded: true}
		}
		return c, nil
	}
	if !dup {
		hdr := make(map[string]string, len(msg.Header))
		for k := range maps.Keys(msg.Header) {
			if k != jetstream.MsgIDHeader {
				hdr[k] = msg.Header.Get(k)
			}
		}
		ops, err := encodeOps(o.ops)
		if err != nil {
			return fold.Cell{}, fmt.Errorf("refine %q: %w", cell, err)
		}
		oid, _, err := r.ob.Append(outbox.Record{Cell: cell, Subject: msg.Subject, Payload: msg.Data, MsgID: id, Headers: hdr, Ops: ops})
		if err != nil {
			if errors.Is(err, outbox.ErrFull) {
				return fold.Cell{}, fmt.Errorf("refine %q: the log is unreachable and %w", cell, err)
			}
			return fold.Cell{}, fmt.Errorf("refine %q: the log is unreachable and the outbox failed: %w", cell, err)
		}
		r.obTaken.Add(1)
		if testHookTaken != nil {
			testHookTaken(cell)
		}
		r.mu.Lock()
		before, _ := r.viewLocked(cell)
		r.pend.add(cell, oid, id, v)
		after, _ := r.viewLocked(cell)
		if after.ETag != before.ETag {
			r.announcePending(after)
		}
		r.mu.Unlock()
		select {
		case r.obWake <- struct{}{}:
		default:
		}
	}
	c, _ := r.Get(cell)
	if o.report != nil {
		*o.report = RefineReport{Pending: true, PendingUpdates: r.ob.Len()}
	}
	return c, nil
}

// testHookTaken, when set by a test, runs once an update is synced in the
// outbox and before it is answered.
var testHookTaken func(cell string)

// testHookDelivered, when set by a test, runs once the log acknowledged a
// pending update and before the outbox forgets it.
var testHookDelivered func(cell string)

// drain delivers the outbox's updates whenever the log is reachable: in
// the order taken, each with its message id (a retry is stored once), each
// removed from the outbox only once acknowledged.
func (r *Replica) drain() {
	// Every acknowledgement is awaited at most PublishTimeout: one that
	// never comes (the publish reached a leader cut off just then, and
	// its answer was lost) would otherwise hold the drain for ever. The
	// update stays pending and is published again, stored once by its
	// message id.
	js, err := jetstream.New(r.cfg.Conn, jetstream.WithPublishAsyncMaxPending(drainWindow),
		jetstream.WithPublishAsyncTimeout(r.cfg.PublishTimeout))
	if err != nil {
		r.log.Error("outbox: no JetStream context; pending updates stay pending", "err", err)
		return
	}
	tick := time.NewTicker(drainRetry)
	defer tick.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.obWake:
		case <-tick.C:
		}
		if r.ob.Len() == 0 || !r.connUp() || r.lost.Load() {
			continue
		}
		if err := r.deliverPending(js); err != nil {
			r.obLastErr.Store(err.Error())
			r.log.Warn("outbox: delivery stopped; retrying", "pending", r.ob.Len(), "err", err)
			continue
		}
		r.obLastErr.Store("")
	}
}

// deliverPending publishes what the outbox holds, in the order taken,
// keeping up to drainWindow acknowledgements outstanding, and removes what
// is acknowledged in batches. Nothing on a cell follows an update of a
// keyed operation before its answer, and the updates computed again after
// one stored elsewhere go alone (rebase.go). It stops at the first
// failure.
func (r *Replica) deliverPending(js jetstream.JetStream) error {
	type inFlight struct {
		rec outbox.Record
		f   jetstream.PubAckFuture
	}
	start, n := time.Now(), 0
	var (
		flight []inFlight
		queue  []outbox.Record // taken from the outbox, not published yet
		last   uint64          // the id of the last record published
		ids    []uint64
		seqs   []uint64
		failed error
	)
	settle := func() error {
		if len(ids) == 0 {
			return nil
		}
		r.mu.Lock()
		for i, id := range ids {
			r.pend.ack(id, seqs[i])
		}
		r.passPending(r.lastFolded)
		r.mu.Unlock()
		// Counted before the outbox forgets them: whoever sees the
		// outbox empty sees them delivered.
		r.obDelivered.Add(uint64(len(ids)))
		err := r.ob.Done(ids...)
		n += len(ids)
		ids, seqs = ids[:0], seqs[:0]
		return err
	}
	rr := newRebaseRound()
	// blocked are the cells with an update of a keyed operation in
	// flight: nothing after it on the cell is published before its
	// answer (rebase.go).
	blocked := map[string]bool{}
	for {
		alone := false
		if failed == nil && len(flight) < drainWindow/2 {
			if len(queue) == 0 {
				queue = r.ob.After(last, drainWindow-len(flight))
			}
			for len(queue) > 0 && len(flight) < drainWindow {
				rec := queue[0]
				if blocked[rec.Cell] {
					break // once the key is answered
				}
				if rr.rebases(rec) {
					if failed = r.deliverAlone(js, rec, &rr); failed != nil {
						break
					}
					queue, last, alone = queue[1:], rec.ID, true
					n++
					continue
				}
				if rec.Headers[HeaderOpKeys] != "" && r.keyMayBeFolded(rec) {
					if len(flight) > 0 {
						break // once nothing of its cell is in flight
					}
					settled, err := r.keyFolded(rec, &rr)
					if err != nil {
						failed = err
						break
					}
					if settled {
						queue, last, alone = queue[1:], rec.ID, true
						n++
						continue
					}
				}
				msg := nats.NewMsg(rec.Subject)
				msg.Data = rec.Payload
				for k, v := range rec.Headers {
					msg.Header.Set(k, v)
				}
				f, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(rec.MsgID))
				if err != nil {
					failed = err
					break
				}
				queue, flight, last = queue[1:], append(flight, inFlight{rec, f}), rec.ID
				if rec.Headers[HeaderOpKeys] != "" {
					blocked[rec.Cell] = true
				}
			}
		}
		if len(flight) == 0 {
			if alone && failed == nil {
				continue // more may follow
			}
			break
		}
		head := flight[0]
		flight = flight[1:]
		select {
		case ack := <-head.f.Ok():
			if testHookDelivered != nil {
				testHookDelivered(head.rec.Cell)
			}
			if head.rec.Headers[HeaderOpKeys] != "" {
				delete(blocked, head.rec.Cell)
				if ack.Duplicate {
					if dropped, err := r.keyStoredElsewhere(head.rec, ack.Sequence, &rr); dropped || err != nil {
						if err != nil && failed == nil {
							failed = err
						}
						break
					}
				}
			}
			ids, seqs = append(ids, head.rec.ID), append(seqs, ack.Sequence)
		case err := <-head.f.Err():
			if failed == nil {
				failed = fmt.Errorf("update %d of cell %q: %w", head.rec.ID, head.rec.Cell, err)
			}
		case <-r.ctx.Done():
			return r.ctx.Err()
		}
		if len(ids) >= drainWindow/4 || len(flight) == 0 {
			if err := settle(); err != nil {
				return err
			}
		}
	}
	if err := settle(); err != nil {
		return err
	}
	if err := r.releaseHeld(&rr); err != nil {
		return err
	}
	if n > 0 {
		r.log.Info("outbox: delivered", "updates", n, "took", time.Since(start).Round(time.Millisecond))
	}
	return failed
}

// viewLocked is the cell as the replica shows it: the log's state merged
// with the pending updates. The caller holds r.mu.
func (r *Replica) viewLocked(cell string) (fold.Cell, bool) {
	c, ok := r.core.Get(cell)
	return r.pend.view(cell, c, ok)
}

// eachView calls fn with every cell as the replica shows it (the log's
// cells merged with the pending updates, then the cells only pending
// updates made yet), until fn returns false. The caller holds r.mu.
func (r *Replica) eachView(fn func(fold.Cell) bool) {
	more := true
	r.core.Each(func(c fold.Cell) bool {
		c, _ = r.pend.view(c.Name, c, true)
		more = fn(c)
		return more
	})
	if !more {
		return
	}
	for _, name := range r.pend.only(r.core, "", "") {
		if c, ok := r.pend.view(name, fold.Cell{}, false); ok && !fn(c) {
			return
		}
	}
}

// announcePending tells the propagators and the watchers of a change of
// the pending view of c. The caller holds r.mu.
// passPending drops the pending updates the fold has passed (done is the
// last sequence folded) and tells the watchers of the cells whose view
// lost them: without it a watcher's last event of such a cell would still
// say pending. r.mu is held.
func (r *Replica) passPending(done uint64) {
	r.announceViews(r.pend.folded(done), "")
}

// announceViews tells the watchers of cells, but skip, what the replica
// now shows of each. r.mu is held.
func (r *Replica) announceViews(cells []string, skip string) {
	for _, cell := range cells {
		if cell == skip {
			continue
		}
		if c, ok := r.viewLocked(cell); ok {
			r.announcePending(c)
		}
	}
}

func (r *Replica) announcePending(c fold.Cell) {
	r.changed(c.Name)
	r.watchers.notify(Event{Cell: c.Name, Value: c.Value, Type: c.Type, Seq: c.Seq, ETag: c.ETag, Pending: c.Pending})
	if c.Name == propagators.WorldviewCell {
		r.reannounce(c.Seq)
	}
}

// Outbox returns what the outbox holds (Enabled false without one).
func (r *Replica) Outbox() OutboxStatus {
	if r.ob == nil {
		return OutboxStatus{}
	}
	n, b, oldest := r.ob.Stats()
	s := OutboxStatus{Enabled: true, Pending: n, Bytes: b, Oldest: oldest,
		Taken: r.obTaken.Load(), Delivered: r.obDelivered.Load(), Torn: r.obTorn, TornFile: r.obTornFile, Salvaged: r.obSalvaged}
	if e, _ := r.obLastErr.Load().(string); e != "" {
		s.LastError = e
	}
	return s
}

// OutboxUpdates returns the pending updates, oldest first (nil without an
// outbox).
func (r *Replica) OutboxUpdates() []outbox.Record {
	if r.ob == nil {
		return nil
	}
	return r.ob.Pending()
}
