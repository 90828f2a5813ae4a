package replica

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/lattice/op"
	"github.com/dprop/dprop/replica/fold"
)

// This file turns operations (package op) into updates written under the
// replica's writer id, and makes them exactly once with idempotency keys.
//
// # One writer per cell at a time
//
// A count is the writer's new total and a dot the writer's next number, so
// an operation's delta is computed from the cell as the replica shows it,
// its own earlier updates included. Each cell therefore has one queue and
// at most one update of operations in flight: the next is computed once
// the previous is folded (or taken into the outbox, or held in the
// pending view once acknowledged, which the view includes). Operations that arrive meanwhile are applied together, as one
// update (a batch): a hot counter with 64 clients costs one publish per
// batch, not one per increment.
//
// # Exactly once
//
// An operation with an idempotency key is published alone in its update,
// under the Nats-Msg-Id of its key (the same as a refine's:
// idempotencyID). The Dprop-Op-Keys header names the key and a hash of
// the operation. So:
//   - a retry that reaches this replica after the update was folded finds
//     the key in the replica's index of keys (opKeys, built from the log's
//     headers as they are folded, for the stream's duplicate window) and
//     is answered as a duplicate without publishing;
//   - a retry that reaches another replica, or this one restarted, before
//     it has folded the first update, publishes its own delta under the
//     same Nats-Msg-Id: JetStream stores it not, and answers Duplicate;
//     the replica checks that the stored update carries the same key and
//     operation (or refuses the key as reused) and answers as a duplicate.
//   - an update whose publish ends without an answer (the outcome is not
//     known) is published again, the same bytes under the same id, until
//     the log acknowledges it, before anything else on the cell: the
//     caller is told to retry, and a retry then finds the key;
//   - an update taken into the outbox is delivered later; if its key was
//     stored meanwhile by another replica, the updates taken after it on
//     the cell, which built on it, are computed again (rebase.go). While
//     a cell has updates in the outbox, its operations go there too,
//     behind them (outboxFirst).
//
// Keys are remembered by JetStream for the stream's duplicate window (two
// minutes by default) and by the replica's index as long, kept in the
// local snapshot across restarts: a retry later than that applies the
// operation again.

// Errors of Apply besides Refine's.
var (
	// ErrUnconfirmed: the update of an operation was published but the log
	// did not answer in time. The replica keeps publishing it (the same
	// update, stored once) until the log does; retrying the operation
	// with the same idempotency key applies it once.
	ErrUnconfirmed = errors.New("the log did not confirm the operation in time")
)

// HeaderOpKeys, on an update made of operations, lists the idempotency
// keys of those that had one: "id:hash" pairs separated by commas, where
// id is the key's hashed message id (idempotencyID without its prefix)
// and hash a hash of the operation. Replicas keep an index of them (see
// above); they never need it to fold.
const HeaderOpKeys = "Dprop-Op-Keys"

const (
	// maxOpBatch bounds the operations applied in one update.
	maxOpBatch = 1024
	// maxInflight bounds the updates of operations without keys in flight
	// per cell: each builds on those before it, so they need not wait for
	// one another's acknowledgement. An update with a key, or a removal,
	// waits until none is in flight, and goes alone.
	maxInflight = 4
	// opRetryMax bounds the wait between two publishes of an update whose
	// outcome is not known.
	opRetryMax = 2 * time.Second
	// opFoldTimeout bounds the wait for an acknowledged update of
	// operations to be folded, past the publish's own timeout.
	opFoldTimeout = 30 * time.Second
	// defaultDupWindow is the duplicate window assumed until the stream's
	// is known.
	defaultDupWindow = 2 * time.Minute
)

// opCall is one Apply waiting for its answer.
type opCall struct {
	op     op.Op
	id     string // the key's message id without prefix; "" without a key
	hash   string // the operation's hash, with a key
	logAck bool
	// The answer goes to res (Apply) or done (ApplyFunc), once.
	answered atomic.Bool
	res      chan opResult // buffered
	done     func(fold.Cell, RefineReport, error)
}

type opResult struct {
	cell fold.Cell
	rep  RefineReport
	err  error
}

// answer answers the call, unless it was answered already (an update
// retried after an error).
func (c *opCall) answer(cell fold.Cell, rep RefineReport, err error) {
	if !c.answered.CompareAndSwap(false, true) {
		return
	}
	if c.done != nil {
		c.done(cell, rep, err)
		return
	}
	c.res <- opResult{cell, rep, err}
}

// opQueues are the cells' queues of operations.
type opQueues struct {
	mu    sync.Mutex
	cells map[string]*cellQueue // guarded by mu
	// cond is signalled (under mu) whenever an update in flight is done.
	cond *sync.Cond
}

// cellQueue is one cell's queue. All fields are guarded by opQueues.mu.
type cellQueue struct {
	calls   []*opCall
	running bool // a goroutine applies the queue
	// inflight are the deltas published and not yet folded (at most
	// maxInflight): the next delta builds on them.
	inflight []*lattice.Value
	// keyedInflight counts the updates with a key among them (published
	// again until confirmed): until they are, nothing builds on them,
	// since another sidecar may store the key's operation instead.
	keyedInflight int
}

// Apply applies operation o to cell: it computes the delta that has o's
// effect on the cell as this replica shows it, under the replica's writer
// id (WriterID), refines the cell with it, and returns the cell once the
// update is folded (read-your-writes), or, past Config.OutboxAfter, once
// acknowledged, from the pending view (RefineReport.Unfolded, see
// Refine). A cell without a type takes o's
// natural type (op.Op.NaturalType) unless it is declared.
//
// Options: WithIdempotencyKey makes o exactly once within the stream's
// duplicate window, across retries, replicas and restarts (see above);
// WithReport says what became of it (Duplicate, Pending); WithLogAck
// refuses the outbox. A malformed or inapplicable operation is refused
// with an error wrapping op.ErrBad or op.ErrNotApplicable and nothing is
// published. Before the replica is ready (it has not folded the log, so
// it does not know its own earlier counts and dots) it returns
// ErrNotReady: retry once it is.
//
// If ctx ends before the answer, the operation may still take effect.
func (r *Replica) Apply(ctx context.Context, cell string, o op.Op, opts ...RefineOption) (fold.Cell, error) {
	var ro refineOptions
	for _, opt := range opts {
		opt(&ro)
	}
	call := &opCall{res: make(chan opResult, 1)}
	if err := r.startOp(cell, o, ro, call, true); err != nil {
		return fold.Cell{}, err
	}
	select {
	case res := <-call.res:
		if ro.report != nil {
			*ro.report = res.rep
		}
		return res.cell, res.err
	case <-ctx.Done():
		return fold.Cell{}, fmt.Errorf("apply %q: %w (the operation may still take effect; retrying with the same idempotency key applies it once)", cell, ctx.Err())
	case <-r.ctx.Done():
		return fold.Cell{}, fmt.Errorf("apply %q: %w", cell, ErrClosed)
	}
}

// ApplyFunc is Apply without the wait: it calls done once with what Apply
// would return and the report (WithReport is not needed), from the
// goroutine of the replica's that answers the other operations of the
// same update too, one after another (or, refused at once, from the
// caller's). So done must be quick and must not block: the next
// operations of the cell wait for it. ApplyFunc returns at once, having
// queued the operation; it bounds no wait: the caller does, knowing that
// the operation may still take effect. A NATS service answering from
// done sends the answers of one update together (natsapi).
func (r *Replica) ApplyFunc(cell string, o op.Op, done func(fold.Cell, RefineReport, error), opts ...RefineOption) {
	var ro refineOptions
	for _, opt := range opts {
		opt(&ro)
	}
	if err := r.startOp(cell, o, ro, &opCall{done: done}, false); err != nil {
		done(fold.Cell{}, RefineReport{}, err)
	}
}

// startOp checks o and queues call for it on cell's queue. If nothing
// applied the queue, the caller applies it until call is answered
// (applyQueue) with inline (an increment alone on its cell costs no
// hand-over), a goroutine of the replica's without.
func (r *Replica) startOp(cell string, o op.Op, ro refineOptions, call *opCall, inline bool) error {
	if err := cellname.Validate(cell); err != nil {
		return &fold.RefusedError{Cell: cell, Reason: fold.ReasonBadSubject, Err: err}
	}
	if err := r.checkHeld(cell); err != nil {
		return err
	}
	if !r.isReady.Load() {
		return fmt.Errorf("apply %q: %w", cell, ErrNotReady)
	}
	call.op, call.logAck = o, ro.logAck
	if ro.key != "" {
		b, err := o.MarshalJSON()
		if err != nil {
			return fmt.Errorf("apply %q: %w: %w", cell, op.ErrBad, err)
		}
		sum := sha256.Sum256(b)
		call.id = strings.TrimPrefix(idempotencyID(cell, ro.key), keyIDPrefix)
		call.hash = hex.EncodeToString(sum[:8])
	}
	if cq := r.enqueueOp(cell, call); cq != nil {
		if inline {
			r.applyQueue(cell, cq, call)
		} else {
			r.spawn(func() { r.applyQueue(cell, cq, nil) })
		}
	}
	return nil
}

// ApplyJSON parses an operation (op.Parse, under the replica's limits)
// and applies it (Apply).
func (r *Replica) ApplyJSON(ctx context.Context, cell string, data []byte, opts ...RefineOption) (fold.Cell, error) {
	o, err := r.parseOp(cell, data)
	if err != nil {
		return fold.Cell{}, err
	}
	return r.Apply(ctx, cell, o, opts...)
}

// ApplyJSONFunc parses an operation (op.Parse, under the replica's
// limits) and applies it (ApplyFunc).
func (r *Replica) ApplyJSONFunc(cell string, data []byte, done func(fold.Cell, RefineReport, error), opts ...RefineOption) {
	o, err := r.parseOp(cell, data)
	if err != nil {
		done(fold.Cell{}, RefineReport{}, err)
		return
	}
	r.ApplyFunc(cell, o, done, opts...)
}

func (r *Replica) parseOp(cell string, data []byte) (op.Op, error) {
	o, err := op.Parse(data, r.limits())
	if err != nil {
		return op.Op{}, fmt.Errorf("cell %q: %w", cell, err)
	}
	return o, nil
}

// enqueueOp queues call on cell's queue. If nothing applies the queue, it
// returns it, marked as applied: the caller must apply it (applyQueue).
func (r *Replica) enqueueOp(cell string, call *opCall) *cellQueue {
	q := &r.ops
	q.mu.Lock()
	if q.cells == nil {
		q.cells = map[string]*cellQueue{}
		q.cond = sync.NewCond(&q.mu)
	}
	cq := q.cells[cell]
	if cq == nil {
		cq = &cellQueue{}
		q.cells[cell] = cq
	}
	cq.calls = append(cq.calls, call)
	start := !cq.running
	cq.running = true
	q.mu.Unlock()
	if start {
		return cq
	}
	return nil
}

// applyQueue applies cell's queue, a batch at a time, until it is empty;
// with own set, only until own is answered, and then it hands the rest of
// the queue to a goroutine of the replica's.
func (r *Replica) applyQueue(cell string, cq *cellQueue, own *opCall) {
	q := &r.ops
	for {
		if own != nil && own.answered.Load() {
			r.spawn(func() { r.applyQueue(cell, cq, nil) })
			return
		}
		q.mu.Lock()
		batch, rest := takeBatch(cq.calls)
		cq.calls = rest
		if len(batch) == 0 {
			cq.running = false
			if len(cq.inflight) == 0 {
				delete(q.cells, cell)
			}
			q.mu.Unlock()
			return
		}
		// A batch with a key or a removal goes alone (see maxInflight).
		limit := maxInflight
		if hasKey(batch) || needsBarrier(batch) || cq.keyedInflight > 0 {
			limit = 1
		}
		for len(cq.inflight) >= limit {
			q.cond.Wait()
		}
		var extra lattice.Value = lattice.Nothing{}
		for _, d := range cq.inflight {
			extra, _, _ = lattice.Merge(extra, *d)
		}
		// Alone on the cell, the update is published here: a hand-over
		// to another goroutine costs a lone client's latency.
		async := len(cq.calls) > 0 || len(cq.inflight) > 0
		q.mu.Unlock()
		if r.ctx.Err() != nil {
			for _, c := range batch {
				c.answer(fold.Cell{}, RefineReport{}, fmt.Errorf("apply %q: %w", cell, ErrClosed))
			}
			continue
		}
		r.applyBatch(cell, cq, batch, extra, async)
	}
}

// hasKey reports whether a batch holds an operation with a key.
func hasKey(batch []*opCall) bool {
	for _, c := range batch {
		if c.id != "" {
			return true
		}
	}
	return false
}

// publishAsync publishes the delta of applied, which has no key, in a
// goroutine of its own, counted in flight on cq until it is done.
func (r *Replica) publishAsync(cell string, cq *cellQueue, delta lattice.Value, applied []*opCall, opts []RefineOption, keyed bool) {
	q := &r.ops
	d := &delta
	q.mu.Lock()
	cq.inflight = append(cq.inflight, d)
	if keyed {
		cq.keyedInflight++
	}
	q.mu.Unlock()
	r.spawn(func() {
		got, rep, err := r.publishOps(r.ctx, cell, delta, applied, opts, true)
		for _, c := range applied {
			c.answer(got, rep, err)
		}
		q.mu.Lock()
		if keyed {
			cq.keyedInflight--
		}
		for i, x := range cq.inflight {
			if x == d {
				cq.inflight = append(cq.inflight[:i], cq.inflight[i+1:]...)
				break
			}
		}
		if !cq.running && len(cq.calls) == 0 && len(cq.inflight) == 0 && q.cells[cell] == cq {
			delete(q.cells, cell)
		}
		q.cond.Broadcast()
		q.mu.Unlock()
	})
}

// takeBatch splits the calls that go in one update from the others: those
// without a key, or one with a key alone (an update another replica
// stored instead under the key then names no other operation, see
// rebase.go), all asking for the log's acknowledgement or none, all
// counts or none (so that an update of counts can be computed again on
// delivery, rebase.go), in order.
func takeBatch(calls []*opCall) (batch, rest []*opCall) {
	if len(calls) == 0 {
		return nil, nil
	}
	logAck, counts, keyed := calls[0].logAck, isCount(calls[0].op), false
	for _, c := range calls {
		if len(batch) == maxOpBatch || c.logAck != logAck || isCount(c.op) != counts || keyed || (c.id != "" && len(batch) > 0) {
			rest = append(rest, c)
			continue
		}
		keyed = c.id != ""
		batch = append(batch, c)
	}
	return batch, rest
}

// applyBatch applies one batch: the duplicates are answered from the
// index of keys, the others' deltas are joined into one update and
// published.
//
// extra is the join of the updates in flight (see maxInflight), which the
// deltas build on. With async, an update without a key is published in
// the background (publishAsync).
func (r *Replica) applyBatch(cell string, cq *cellQueue, batch []*opCall, extra lattice.Value, async bool) {
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	if needsBarrier(batch) {
		// A removal names the dots it observed: it must observe every
		// add acknowledged before it, through any replica.
		if err := r.barrier(ctx, cell); err != nil {
			for _, c := range batch {
				c.answer(fold.Cell{}, RefineReport{}, fmt.Errorf("apply %q: catching up with the log before a removal: %w", cell, err))
			}
			return
		}
	}
	live := batch[:0:0]
	for _, c := range batch {
		if c.id == "" {
			live = append(live, c)
			continue
		}
		r.mu.RLock()
		k, ok := r.opKeys.get(c.id)
		if !ok { // acknowledged, answered, not folded yet (holdAcked)
			k, ok = r.pend.heldKey(c.id)
		}
		r.mu.RUnlock()
		switch {
		case !ok:
			live = append(live, c)
		case k.hash != c.hash:
			c.answer(fold.Cell{}, RefineReport{}, keyReused(cell, k.seq))
		default:
			got, _ := r.Get(cell)
			c.answer(got, RefineReport{Seq: k.seq, Duplicate: true}, nil)
		}
	}
	delta, applied, keyed := r.deltaOf(cell, live, extra)
	if len(applied) == 0 {
		return
	}
	r.mu.RLock()
	view, _ := r.viewLocked(cell)
	r.mu.RUnlock()
	if keyed == nil && lattice.Leq(delta, view.Value) {
		// Nothing to add (inc by 0, a removal of an absent element).
		for _, c := range applied {
			c.answer(view, RefineReport{Seq: view.Seq}, nil)
		}
		return
	}
	opts := []RefineOption{withOps(keyed, applied)}
	if applied[0].logAck {
		opts = append(opts, WithLogAck())
	}
	if first, err := r.outboxFirst(cell, applied[0].logAck); err != nil {
		for _, c := range applied {
			c.answer(fold.Cell{}, RefineReport{}, err)
		}
		return
	} else if first {
		opts = append(opts, func(o *refineOptions) { o.viaOutbox = true })
	}
	if keyed == nil && async {
		r.publishAsync(cell, cq, delta, applied, opts, false)
		return
	}
	got, rep, err := r.publishOps(ctx, cell, delta, applied, opts, false)
	if err != nil && unconfirmed(err) {
		// Not known to be stored: the callers are told so, and the same
		// update is published again in the background until the log
		// confirms it; what comes next on the cell waits or builds on it.
		for _, c := range applied {
			c.answer(fold.Cell{}, RefineReport{}, fmt.Errorf("apply %q: %w (this sidecar keeps publishing it, stored once; "+
				"retry with the same idempotency key to learn the result): %w", cell, ErrUnconfirmed, err))
		}
		r.log.Warn("operations: the log did not confirm an update; publishing it again", "cell", cell, "operations", len(applied), "err", err)
		r.publishAsync(cell, cq, delta, applied, opts, keyed != nil)
		return
	}
	// A duplicate of a key stored nothing (another replica, or an
	// earlier life of this one, stored the keyed operation, alone in its
	// update): the answer is the same.
	for _, c := range applied {
		c.answer(got, rep, err)
	}
}

// needsBarrier reports whether a batch holds a removal.
func needsBarrier(batch []*opCall) bool {
	for _, c := range batch {
		o := c.op
		for o.Name == op.Update && o.With != nil {
			o = *o.With
		}
		if o.Name == op.Remove || o.Name == op.Clear {
			return true
		}
	}
	return false
}

// deltaOf computes the deltas of calls in turn, each on the cell as the
// previous ones leave it (starting from the cell as the replica shows it,
// joined with extra, the updates in flight), and joins them. Calls refused
// are answered; the others are returned, with the one that has a key (nil
// if none).
func (r *Replica) deltaOf(cell string, calls []*opCall, extra lattice.Value) (delta lattice.Value, applied []*opCall, keyed *opCall) {
	r.mu.RLock()
	view, _ := r.viewLocked(cell)
	typ := r.core.Type(cell)
	r.mu.RUnlock()
	base, _, err := lattice.Merge(view.Value, extra)
	if err != nil { // the type changed under updates in flight: they will be refused
		base = view.Value
	}
	if typ == "" && !lattice.IsNothing(base) && !lattice.IsContradiction(base) {
		typ = base.Type() // known from pending updates or updates in flight only
	}
	delta = lattice.Nothing{}
	now, lim := time.Now().UnixMilli(), r.limits()
	for _, c := range calls {
		d, err := c.op.Delta(typ, base, r.cfg.WriterID, now, lim)
		if err != nil {
			c.answer(fold.Cell{}, RefineReport{}, fmt.Errorf("cell %q: %w", cell, err))
			continue
		}
		if typ == "" {
			typ = d.Type()
		}
		base, _, _ = lattice.Merge(base, d)
		delta, _, _ = lattice.Merge(delta, d)
		applied = append(applied, c)
		if c.id != "" {
			keyed = c
		}
	}
	return delta, applied, keyed
}

// publishOps refines cell with the delta of the calls. An update whose
// outcome is not known is published again, the same bytes under the same
// message id, until the log answers: the calls are told ErrUnconfirmed
// at once, the cell's queue waits.
//
// Without retry it returns after the first attempt.
func (r *Replica) publishOps(ctx context.Context, cell string, delta lattice.Value, calls []*opCall, opts []RefineOption, retry bool) (fold.Cell, RefineReport, error) {
	var rep RefineReport
	opts = append(opts, WithReport(&rep))
	wait := 50 * time.Millisecond
	deadline := time.Now().Add(r.dupWindow())
	for {
		actx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout+opFoldTimeout)
		got, err := r.Refine(actx, cell, delta, opts...)
		cancel()
		if err == nil || !unconfirmed(err) || !retry {
			if rep.own {
				rep.Duplicate = false // an earlier attempt of this very update
			}
			return got, rep, err
		}
		if time.Now().After(deadline) {
			r.log.Error("operations: the log never confirmed an update within the duplicate window; giving up on it (it may or may not be stored)",
				"cell", cell, "operations", len(calls), "err", err)
			return fold.Cell{}, rep, fmt.Errorf("apply %q: %w: %w", cell, ErrUnconfirmed, err)
		}
		for _, c := range calls {
			c.answer(fold.Cell{}, RefineReport{}, fmt.Errorf("apply %q: %w (this sidecar keeps publishing it, stored once; "+
				"retry with the same idempotency key to learn the result): %w", cell, ErrUnconfirmed, err))
		}
		r.log.Warn("operations: the log did not confirm an update; publishing it again", "cell", cell, "operations", len(calls), "err", err)
		if !r.sleep(wait) {
			return fold.Cell{}, rep, ErrClosed
		}
		wait = min(2*wait, opRetryMax)
	}
}

// unconfirmed reports whether a refine's error leaves its outcome unknown:
// the update may be stored. Refusals, a lost or full stream, and no
// connection (nothing was sent) store nothing.
func unconfirmed(err error) bool {
	var re *fold.RefusedError
	switch {
	case errors.As(err, &re), errors.Is(err, ErrKeyReused), errors.Is(err, ErrNotHeld), errors.Is(err, ErrStreamLost),
		errors.Is(err, ErrOutboxFull), errors.Is(err, ErrClosed), errors.Is(err, ErrNotConnected), IsStreamFull(err):
		return false
	}
	return true
}

// withOps sets the headers of an update of operations: Dprop-Op-Keys for
// the keyed call, and the Nats-Msg-Id of its key, or a fresh one (so that
// the update, published again or delivered from the outbox, is stored
// once).
//
// The operations of calls go along for the outbox (Record.Ops).
func withOps(keyed *opCall, calls []*opCall) RefineOption {
	id, keys := opMsgIDPrefix+uuid.NewString(), ""
	if keyed != nil {
		id, keys = keyIDPrefix+keyed.id, keyed.id+":"+keyed.hash
	}
	ops := make([]op.Op, len(calls))
	for i, c := range calls {
		ops[i] = c.op
	}
	return func(o *refineOptions) { o.msgID, o.opKeys, o.ops = id, keys, ops }
}

const (
	keyIDPrefix   = "dprop-key-"
	opMsgIDPrefix = "dprop-op-"
)

// barrier waits until the replica has folded every update of cell the
// stream held when it was called.
func (r *Replica) barrier(ctx context.Context, cell string) error {
	stream, err := r.js.Stream(ctx, r.cfg.Stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", r.cfg.Stream, err)
	}
	seq, err := lastSeq(ctx, stream, r.subjects.Subject(cell))
	if err != nil {
		return err
	}
	if err := r.waitFolded(ctx, seq); err != nil {
		var re *fold.RefusedError
		if !errors.As(err, &re) { // a refused update is folded all the same
			return err
		}
	}
	return nil
}

// sameOps checks, for an update of operations acknowledged as a duplicate,
// that the update stored under its message id carries the same key and
// operation: otherwise the key named another update, ErrKeyReused.
//
// own reports that the stored update is this one (the same payload): an
// earlier attempt of it was stored. Without keys (an update of operations
// without one, under a fresh id) only that can be.
func (r *Replica) sameOps(ctx context.Context, cell, keys string, seq uint64, payload []byte) (own bool, err error) {
	orig, err := r.jsLeader.GetMsg(r.cfg.Stream, seq, nats.Context(ctx))
	if errors.Is(err, nats.ErrMsgNotFound) {
		return keys == "", nil // compacted or purged: the id did name it
	}
	if err != nil {
		return false, fmt.Errorf("apply %q: reading the update stored under the same idempotency key (stream sequence %d): %w", cell, seq, err)
	}
	own = orig.Subject == r.subjects.Subject(cell) && bytes.Equal(orig.Data, payload)
	if keys == "" {
		return true, nil
	}
	if orig.Header != nil && orig.Subject == r.subjects.Subject(cell) {
		for _, k := range strings.Split(orig.Header.Get(HeaderOpKeys), ",") {
			if k == keys {
				return own, nil
			}
		}
	}
	return false, keyReused(cell, seq)
}

func keyReused(cell string, seq uint64) error {
	return fmt.Errorf("cell %q: %w: the key already names the update stored at stream sequence %d, which is another operation; "+
		"nothing was applied (a key names one operation: use a new key for a new operation)", cell, ErrKeyReused, seq)
}
