package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/replica/fold"
)

// This file is the replica's fold loop: folding what the ordered consumer
// delivers, telling when the resync is complete, and releasing the Refine
// calls that wait for their update to be folded. link.go finds the stream
// and keeps the consumer attached to it.

// lastSeq returns the sequence of the last message on filter, 0 if none.
// The empty filter is the whole stream.
func lastSeq(ctx context.Context, stream jetstream.Stream, filter string) (uint64, error) {
	if filter == "" {
		info, err := stream.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("stream info: %w", err)
		}
		return info.State.LastSeq, nil
	}
	m, err := stream.GetLastMsgForSubject(ctx, filter)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last message on %q: %w", filter, err)
	}
	return m.Sequence, nil
}

// handle folds one stream message of attachment a. The ordered consumer
// calls it from one goroutine, in stream order.
func (r *Replica) handle(a *attachment, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		r.log.Warn("replica: message without metadata", "subject", msg.Subject(), "err", err)
		return
	}
	seq := meta.Sequence.Stream
	m := messageOf(msg, meta)
	// Watchers and the propagator runtime learn of a change under the fold
	// lock (neither blocks), so a Watch registered with current values sees
	// each change exactly once, and a reader that sees the new value knows
	// the runtime has been told.
	r.mu.Lock()
	if a.gen != r.gen {
		// A late delivery of a consumer detached meanwhile (its stream
		// was deleted or replaced): not this replica's log any more.
		r.mu.Unlock()
		return
	}
	res := r.core.ApplyMessage(m)
	r.lastFolded = seq
	if h := msg.Headers(); h != nil && res.Err == nil {
		if keys := h.Get(HeaderOpKeys); keys != "" {
			r.opKeys.record(keys, seq, m.Time, r.dupWindow(), r.keysKeptSince())
		}
	}
	// The pending updates this fold passed leave the view first, so that
	// the change's event (or, for another cell, one of its own) no longer
	// counts them as pending.
	if res.Forgotten {
		r.pend.forget(res.Cell)
	}
	passed := r.pend.folded(seq)
	var ev Event
	switch {
	case res.Changed:
		ev = Event{Cell: res.Cell, Value: res.Value, Type: res.Type, Seq: seq, ETag: res.ETag}
		if c, ok := r.pend.view(res.Cell, fold.Cell{Name: res.Cell, Value: res.Value, Type: res.Type, Seq: seq, ETag: res.ETag}, true); ok && c.Pending > 0 {
			ev.Value, ev.ETag, ev.Pending = c.Value, c.ETag, c.Pending
		}
		r.changed(ev.Cell)
		r.watchers.notify(ev)
		if ev.Cell == propagators.WorldviewCell {
			r.reannounce(seq)
		}
	case res.Forgotten && res.Existed:
		ev = Event{Cell: res.Cell, Value: res.Value, Seq: seq, Forgotten: true}
		r.watchers.notify(ev)
		if ev.Cell == propagators.WorldviewCell {
			r.reannounce(seq)
		}
	}
	r.announceViews(passed, ev.Cell)
	r.mu.Unlock()
	if res.Forgotten && res.Existed {
		r.log.Info("cell forgotten", "cell", res.Cell, "seq", seq)
	}
	r.pending.Store(meta.NumPending)
	if m.Rollup {
		r.lastCompaction.Store(&Compaction{Seq: seq, Time: meta.Timestamp})
	}
	if res.Err != nil {
		r.logRefusal(res)
	}
	if res.Changed || ev.Forgotten {
		r.foldedForNogoods(ev.Cell, ev.Value)
	}
	if (res.Changed || ev.Forgotten) && r.cfg.OnChange != nil {
		r.cfg.OnChange(ev)
	}
	r.wake(seq, res.Err)
	if r.catchingUp.Load() && (seq >= r.target.Load() || meta.NumPending == 0) {
		r.confirmSoon(a)
	}
}

// confirmSoon starts the confirmation of the end of a resync in the
// background, unless one is under way: it asks the stream (caughtUp), and
// the fold must never wait for a JetStream request — with the broker slow
// or away, one waits up to 10 s, and every delivery behind it.
//
// The goroutine is not one Close waits for (a late delivery may come
// while Close waits); it ends soon after the replica closes, as
// caughtUp's requests are bounded by the replica's life.
func (r *Replica) confirmSoon(a *attachment) {
	if r.ctx.Err() != nil || !r.confirming.CompareAndSwap(false, true) {
		return
	}
	go r.confirm(a)
}

// confirm confirms the end of the resync of attachment a at the last
// sequence folded, and marks the replica caught up if it is. If the log
// was compacted meanwhile, the target moves; if the fold has reached the
// new target while confirm looked (the deliveries that would have asked
// again came while it was busy), it confirms again.
func (r *Replica) confirm(a *attachment) {
	for {
		r.mu.RLock()
		seq, current := r.lastFolded, a.gen == r.gen
		r.mu.RUnlock()
		done := current && r.caughtUp(a, seq)
		if done {
			r.markCaughtUp()
		}
		r.confirming.Store(false)
		if done || !current || !r.catchingUp.Load() {
			return
		}
		r.mu.RLock()
		folded := r.lastFolded
		r.mu.RUnlock()
		if folded < r.target.Load() || r.ctx.Err() != nil || !r.confirming.CompareAndSwap(false, true) {
			return // the fold asks again when it reaches the target
		}
	}
}

// caughtUp confirms the end of a resync at seq: if a compaction removed
// messages meanwhile, what they said is in the compaction's messages after
// the target, so the target moves to the log's new end. Called by
// confirm, once or a few times per resync.
func (r *Replica) caughtUp(a *attachment, seq uint64) bool {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	info, err := a.stream.Info(ctx)
	if err != nil {
		r.log.Warn("cannot confirm the end of the resync; assuming it", "err", err)
		return true
	}
	if now := shapeOf(info); now != a.shape {
		a.shape = now
		last, err := lastSeq(ctx, a.stream, r.filter)
		if err == nil && last > seq {
			r.log.Info("the log was compacted during the resync; reading on to its new end", "from_seq", seq, "to_seq", last)
			r.target.Store(last)
			return false
		}
	}
	return true
}

// logRefusal logs a refused update. Live, the first refusal of a kind per
// cell is a warning; repeats are counted (see Stats) and logged at debug
// level only. During the resync every refusal is at debug level: those are
// the log's past, each warned about when it arrived, and a replica that
// starts (or an offline tool that reads the log, such as dprop compact)
// sums them up in one line once ready instead of repeating the warnings.
func (r *Replica) logRefusal(res fold.Result) {
	var re *fold.RefusedError
	errors.As(res.Err, &re)
	r.mu.RLock()
	n := r.core.RefusalCount(re.Cell, re.Reason)
	first := r.isReady.Load() && n == r.resyncRefused[re.Cell][re.Reason]+1
	r.mu.RUnlock()
	// Warnings are rate-limited (see refusalLog).
	r.refusals.refused(r.ctx, re, first)
}

// logRefusalSummary says in one line how many updates of the log already
// read were refused, and why, if any were.
func logRefusalSummary(ctx context.Context, log *slog.Logger, refused map[string]map[string]uint64) {
	var total uint64
	byReason := map[string]uint64{}
	for _, reasons := range refused {
		for reason, n := range reasons {
			total += n
			byReason[reason] += n
		}
	}
	if total == 0 {
		return
	}
	reasons := make([]string, 0, len(byReason))
	for _, reason := range slices.Sorted(maps.Keys(byReason)) {
		reasons = append(reasons, fmt.Sprintf("%s=%d", reason, byReason[reason]))
	}
	log.InfoContext(ctx, "the log holds refused updates, left out of the cells (see dprop history CELL; --log-level debug lists them)",
		"refused", total, "cells", len(refused), "reasons", strings.Join(reasons, " "))
}

// markCaughtUp ends a resync: the first one makes the replica ready; a
// later one (after the consumer was re-attached) ends its staleness.
func (r *Replica) markCaughtUp() {
	if !r.catchingUp.CompareAndSwap(true, false) {
		return
	}
	if !r.lost.Load() {
		r.stale.Store(false)
	}
	p := r.Progress()
	r.mu.Lock()
	r.resyncRefused = r.core.Refused()
	r.mu.Unlock()
	logRefusalSummary(r.ctx, r.log, r.resyncRefused)
	r.wakeNogoods(true, "") // what was missed while away
	if r.isReady.CompareAndSwap(false, true) {
		close(r.ready)
		r.log.Info("replica ready", "cells", p.Cells, "applied_seq", p.Applied, "elapsed", p.Elapsed.Round(time.Millisecond))
		return
	}
	r.log.Info("replica caught up with the stream again", "cells", p.Cells, "applied_seq", p.Applied)
}

func (r *Replica) reportProgress() {
	t := time.NewTicker(r.cfg.ProgressEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.cfg.Progress(r.Progress())
		case <-r.ready:
			r.cfg.Progress(r.Progress())
			return
		case <-r.ctx.Done():
			return
		}
	}
}

// recentRefusals bounds how many refusals wake remembers for Refine calls
// that come to wait after the fact.
const recentRefusals = 4096

// wake marks seq as done (folded and announced) and releases the Refine
// calls waiting for sequences up to it; the one waiting for exactly seq
// learns whether its update was refused.
func (r *Replica) wake(seq uint64, err error) {
	r.waitMu.Lock()
	defer r.waitMu.Unlock()
	r.done = max(r.done, seq)
	if err != nil {
		if r.refusedAt == nil {
			r.refusedAt = make(map[uint64]error)
		}
		r.refusedAt[seq] = err
		r.refusedOrder = append(r.refusedOrder, seq)
		if len(r.refusedOrder) > recentRefusals {
			delete(r.refusedAt, r.refusedOrder[0])
			r.refusedOrder = r.refusedOrder[1:]
		}
	}
	if len(r.waiters) == 0 {
		return
	}
	keep := r.waiters[:0]
	for _, w := range r.waiters {
		switch {
		case w.seq == seq:
			w.done <- err
		case w.seq < seq:
			w.done <- nil
		default:
			keep = append(keep, w)
		}
	}
	clear(r.waiters[len(keep):])
	r.waiters = keep
}

// failWaiters ends every Refine waiting for its update to be folded with
// err, and forgets what was folded: the replica starts over on a new
// stream.
func (r *Replica) failWaiters(err error) {
	r.waitMu.Lock()
	defer r.waitMu.Unlock()
	for _, w := range r.waiters {
		w.done <- err
	}
	clear(r.waiters)
	r.waiters = r.waiters[:0]
	r.done = 0
	clear(r.refusedAt)
	r.refusedOrder = r.refusedOrder[:0]
}

// waitFolded waits until the stream sequence seq has been folded and its
// change announced, and returns its refusal, if it was refused.
func (r *Replica) waitFolded(ctx context.Context, seq uint64) error {
	r.waitMu.Lock()
	if r.done >= seq {
		err := r.refusedAt[seq]
		r.waitMu.Unlock()
		return err
	}
	w := &waiter{seq: seq, done: make(chan error, 1)}
	r.waiters = append(r.waiters, w)
	r.waitMu.Unlock()
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		r.waitMu.Lock()
		r.waiters = slices.DeleteFunc(r.waiters, func(x *waiter) bool { return x == w })
		r.waitMu.Unlock()
		return fmt.Errorf("waiting for stream sequence %d to be folded: %w", seq, ctx.Err())
	case <-r.ctx.Done():
		return ErrClosed
	}
}

// sleep waits for d, and reports false if the replica closed meanwhile.
func (r *Replica) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.ctx.Done():
		return false
	}
}
