package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/replica/fold"
)

// This file is the replica's driver loop: finding the stream, starting the
// ordered consumer, folding what it delivers, and releasing the Refine
// calls that wait for their update to be folded.

// connect starts consuming, retrying until it succeeds or the replica
// closes.
func (r *Replica) connect() {
	wait := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := r.consume(r.ctx)
		if err == nil || r.ctx.Err() != nil {
			return
		}
		level := slog.LevelDebug
		if attempt == 1 || attempt%20 == 0 {
			level = slog.LevelWarn
		}
		r.log.Log(r.ctx, level, "replica cannot start consuming yet; retrying", "err", err, "attempt", attempt, "retry_in", wait)
		if !r.sleep(wait) {
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// consume looks up the stream, settles where to start, and starts the
// ordered consumer.
func (r *Replica) consume(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stream, err := r.js.Stream(ctx, r.cfg.Stream)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("%w: %q (start a broker with `dprop broker`, or provision it)", ErrNoStream, r.cfg.Stream)
		}
		return fmt.Errorf("stream %q: %w", r.cfg.Stream, err)
	}
	info := stream.CachedInfo()
	r.checkSnapshotStream(info)
	r.stream, r.shape = stream, shapeOf(info)
	target, err := lastSeq(ctx, stream, r.filter)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.streamCreated = info.Created
	startAt := r.startAt
	r.target.Store(target)
	r.mu.Unlock()
	occ := jetstream.OrderedConsumerConfig{FilterSubjects: []string{r.filter}}
	if startAt > 0 {
		occ.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		occ.OptStartSeq = startAt + 1
	}
	cons, err := stream.OrderedConsumer(ctx, occ)
	if err != nil {
		return fmt.Errorf("ordered consumer on %q: %w", r.filter, err)
	}
	r.log.Info("replica starting", "stream", r.cfg.Stream, "cells", r.cfg.Cells, "after_seq", startAt, "target_seq", target)
	if target <= startAt {
		r.markReady()
	}
	cc, err := cons.Consume(r.handle, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if !errors.Is(err, jetstream.ErrNoHeartbeat) {
			r.log.Warn("replica consumer", "err", err)
		}
	}))
	if err != nil {
		return fmt.Errorf("consume %q: %w", r.filter, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil { // closed meanwhile
		cc.Stop()
		return nil
	}
	r.cons = cc
	return nil
}

// lastSeq returns the sequence of the last message on filter, 0 if none.
func lastSeq(ctx context.Context, stream jetstream.Stream, filter string) (uint64, error) {
	m, err := stream.GetLastMsgForSubject(ctx, filter)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last message on %q: %w", filter, err)
	}
	return m.Sequence, nil
}

// handle folds one stream message. The ordered consumer calls it from one
// goroutine, in stream order.
func (r *Replica) handle(msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		r.log.Warn("replica: message without metadata", "subject", msg.Subject(), "err", err)
		return
	}
	seq := meta.Sequence.Stream
	m := fold.Message{Subject: msg.Subject(), Seq: seq, Data: msg.Data()}
	m.Rollup = isRollup(msg)
	// Watchers and the propagator runtime learn of a change under the fold
	// lock (neither blocks), so a Watch registered with current values sees
	// each change exactly once, and a reader that sees the new value knows
	// the runtime has been told.
	r.mu.Lock()
	res := r.core.ApplyMessage(m)
	var ev Event
	if res.Changed {
		ev = Event{Cell: res.Cell, Value: res.Value, Type: res.Type, Seq: seq, ETag: res.ETag}
		if r.rt != nil {
			r.rt.Changed(ev.Cell)
		}
		r.watchers.notify(ev)
	}
	r.mu.Unlock()
	r.pending.Store(meta.NumPending)
	if res.Err != nil {
		r.logRefusal(res)
	}
	if res.Changed && r.cfg.OnChange != nil {
		r.cfg.OnChange(ev)
	}
	r.wake(seq, res.Err)
	if !r.isReady.Load() && (seq >= r.target.Load() || meta.NumPending == 0) && r.caughtUp(seq) {
		r.markReady()
	}
}

// caughtUp confirms the end of the resync at seq: if a compaction removed
// messages meanwhile, what they said is in the compaction's messages after
// the target, so the target moves to the log's new end. Called from the
// fold, once or a few times per resync.
func (r *Replica) caughtUp(seq uint64) bool {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	info, err := r.stream.Info(ctx)
	if err != nil {
		r.log.Warn("cannot confirm the end of the resync; assuming it", "err", err)
		return true
	}
	if now := shapeOf(info); now != r.shape {
		r.shape = now
		last, err := lastSeq(ctx, r.stream, r.filter)
		if err == nil && last > seq {
			r.log.Info("the log was compacted during the resync; reading on to its new end", "from_seq", seq, "to_seq", last)
			r.target.Store(last)
			return false
		}
	}
	return true
}

func (r *Replica) logRefusal(res fold.Result) {
	var re *fold.RefusedError
	errors.As(res.Err, &re)
	r.mu.RLock()
	n := r.core.RefusalCount(re.Cell, re.Reason)
	r.mu.RUnlock()
	// The first refusal of a kind per cell is a warning, within a rate
	// limit (see refusalLog); repeats are counted (see Stats) and logged
	// at debug level only.
	r.refusals.refused(r.ctx, re, n == 1)
}

func (r *Replica) markReady() {
	if r.isReady.CompareAndSwap(false, true) {
		r.stale.Store(false)
		close(r.ready)
		p := r.Progress()
		r.log.Info("replica ready", "cells", p.Cells, "applied_seq", p.Applied, "elapsed", p.Elapsed.Round(time.Millisecond))
	}
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
