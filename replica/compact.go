package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/fold"
)

// Errors of Compact.
var (
	// ErrNotReady is returned by Compact and Apply before the replica has
	// caught up.
	ErrNotReady = errors.New("replica not ready")
	// ErrIncomplete is returned by Compact, with its stats, when it left
	// cells it was asked to compact uncompacted for good reasons of their
	// own: a join too large to publish as one update, or a publish that
	// failed. A cell written meanwhile (a conflict) is not a failure.
	ErrIncomplete = errors.New("compaction incomplete")
)

// CompactMode chooses how Compact shortens the log.
type CompactMode string

const (
	// CompactAuto checkpoints when the replica holds every cell and the
	// whole stream is compacted, and rolls up otherwise.
	CompactAuto CompactMode = ""
	// CompactRollup publishes each cell's join, guarded by
	// Nats-Expected-Last-Subject-Sequence, and then purges the cell's
	// subject below it (or, on a stream that allows rollups, publishes it
	// with Nats-Rollup: sub, which does both at once). Safe for any subset
	// of cells, but the server scans the subject's part of the store for
	// every cell, which grows with the log's length. Purging needs the
	// admin role.
	CompactRollup CompactMode = "rollup"
	// CompactCheckpoint publishes every cell's join as a plain message
	// (header Dprop-Checkpoint) and then purges the stream below the
	// sequence the joins reflect. One cheap purge instead of a scan per
	// cell; only for a replica that holds every cell of the stream.
	CompactCheckpoint CompactMode = "checkpoint"
)

// CompactOptions qualify a compaction.
type CompactOptions struct {
	// Cells is the pattern of cells to compact ("" for all held cells).
	Cells string
	Mode  CompactMode
}

// CompactStats says what a compaction did: of the Cells it was asked to
// compact, how many it compacted (RolledUp) and why it left the others
// (Skipped, TooLarge, Conflicts, Failed).
type CompactStats struct {
	Mode CompactMode
	// Cells is the number of held cells matching the pattern.
	Cells int
	// RolledUp cells had their join published as a rollup or checkpoint.
	RolledUp int
	// Skipped cells had nothing to compact (one message, or only a rollup).
	Skipped int
	// TooLarge cells hold a join that replicas would refuse as one update
	// (past the decoding limits or the broker's payload limit): compacting
	// them would lose their history, so they are left as they are. A
	// checkpoint with such a cell falls back to rollups for the others.
	TooLarge int
	// Untrusted cells are those the trust policy would not let this
	// compactor's messages refine (unsigned, or signed with a key the
	// cell's rule does not trust): left as they are, as TooLarge ones are.
	Untrusted int
	// Conflicts are cells written (or rolled up by another compactor)
	// between the fold and the rollup: the server refused the rollup and
	// nothing was lost; a later compaction will take them.
	Conflicts int
	// Failed publishes (see the log). A checkpoint with failures does not
	// purge.
	Failed int
	// Purged is the sequence below which a checkpoint purged the stream.
	Purged uint64
	Took   time.Duration
}

// String summarizes the stats in one line, as `dprop compact` prints them.
func (st CompactStats) String() string {
	untrusted := ""
	if st.Untrusted > 0 {
		untrusted = fmt.Sprintf("%d the trust policy would refuse from this compactor, ", st.Untrusted)
	}
	return fmt.Sprintf("%s: %d cells, %d compacted; left as they were: %d with nothing to compact, %d too large to publish as one update, "+
		"%s%d written meanwhile (retry later), %d failed; in %v",
		st.Mode, st.Cells, st.RolledUp, st.Skipped, st.TooLarge, untrusted, st.Conflicts, st.Failed, st.Took.Round(time.Millisecond))
}

// incomplete reports the cells left for reasons a retry will not cure by
// itself, as an error wrapping ErrIncomplete, or nil.
func (st CompactStats) incomplete() error {
	if st.TooLarge == 0 && st.Untrusted == 0 && st.Failed == 0 {
		return nil
	}
	return fmt.Errorf("compact: %w: %d of %d cells too large to publish as one update, %d the trust policy would refuse from this compactor, %d failed (see the log)",
		ErrIncomplete, st.TooLarge, st.Cells, st.Untrusted, st.Failed)
}

// Compact shortens the log of the held cells matching the pattern, so that
// the stream keeps about one message per cell and a new replica's resync
// grows with the number of cells, not with the length of history.
//
// A rollup (CompactRollup) publishes each cell's value — the join of every
// update this replica folded — with Nats-Rollup: sub, so the server drops
// the older messages of the subject, guarded by
// Nats-Expected-Last-Subject-Sequence set to the last message folded on that
// subject. If anything arrived on the subject in between, the server refuses
// the rollup and nothing is lost.
//
// A checkpoint (CompactCheckpoint) publishes every cell's join as of the
// last folded sequence L, waits for every acknowledgement, then purges the
// stream below L+1. Everything purged was folded into a join published
// after L, and everything written after L stays, so nothing is lost either.
//
// Several compactors may run at once in either mode. The compactor must
// fold as the other replicas do: give it the same network file (declared
// types) and limits, or it could drop updates they accept.
//
// Compact returns ErrNotReady before the replica has resynced, and an
// error wrapping ErrIncomplete, with the stats, when it had to leave cells
// as they were (too large, or a publish failed).
func (r *Replica) Compact(ctx context.Context, o CompactOptions) (CompactStats, error) {
	start := time.Now()
	st := CompactStats{Mode: o.Mode}
	if !r.IsReady() {
		return st, fmt.Errorf("compact: %w: a compactor must have folded the whole log first", ErrNotReady)
	}
	if o.Cells == "" {
		o.Cells = ">"
	}
	if err := cellname.ValidatePattern(o.Cells); err != nil {
		return st, err
	}
	whole := o.Cells == ">" && r.cfg.Cells == ">"
	switch {
	case st.Mode == CompactAuto && whole:
		st.Mode = CompactCheckpoint
	case st.Mode == CompactAuto:
		st.Mode = CompactRollup
	case st.Mode == CompactCheckpoint && !whole:
		return st, fmt.Errorf("compact: a checkpoint purges the whole stream, so it needs a replica of every cell and --cells '>' (this replica holds %q; compacting %q)", r.cfg.Cells, o.Cells)
	case st.Mode != CompactRollup && st.Mode != CompactCheckpoint:
		return st, fmt.Errorf("compact: unknown mode %q (use rollup or checkpoint)", st.Mode)
	}
	var err error
	if st.Mode == CompactCheckpoint {
		err = r.checkpoint(ctx, &st)
		if errors.Is(err, errOversize) {
			r.log.Warn("checkpoint impossible: some cells are too large to publish as one update, or the trust policy would refuse them from this compactor; rolling up the others",
				"too_large", st.TooLarge, "untrusted", st.Untrusted)
			st = CompactStats{Mode: CompactRollup}
			err = r.rollups(ctx, o.Cells, &st)
		}
	} else {
		err = r.rollups(ctx, o.Cells, &st)
	}
	st.Took = time.Since(start)
	level := slog.LevelInfo
	if st.TooLarge > 0 || st.Untrusted > 0 || st.Failed > 0 {
		level = slog.LevelWarn
	}
	r.log.Log(r.ctx, level, "compaction done", "mode", st.Mode, "cells", st.Cells, "rolled_up", st.RolledUp,
		"nothing_to_compact", st.Skipped, "too_large", st.TooLarge, "untrusted", st.Untrusted, "conflicts", st.Conflicts, "failed", st.Failed,
		"purged_below", st.Purged, "took", st.Took.Round(time.Millisecond))
	if err == nil {
		err = st.incomplete()
	}
	return st, err
}

// compactJob is one cell's join to publish.
type compactJob struct {
	cell  string
	last  uint64
	value lattice.Value
	by    string // the propagator that refined the cell, if one did
}

// errOversize stops a checkpoint that cannot include every cell.
var errOversize = errors.New("a join is too large to publish")

// jobs lists the held cells matching pattern as they are now, and the
// sequence they reflect. Cells whose join would be refused as an update are
// counted in st.TooLarge and left out.
func (r *Replica) jobs(pattern string, all bool, st *CompactStats) ([]compactJob, uint64) {
	var jobs []compactJob
	r.mu.RLock()
	r.core.Each(func(c fold.Cell) bool {
		if !cellname.Match(pattern, c.Name) {
			return true
		}
		st.Cells++
		if !all && c.LogLen() <= 1 {
			st.Skipped++
			return true
		}
		jobs = append(jobs, compactJob{c.Name, c.Last, c.Value, c.Propagator})
		return true
	})
	last := r.core.LastSeq()
	r.mu.RUnlock()
	// A join may outgrow the limits that bound each update (a union of two
	// large sets): published as a rollup it would be refused by every
	// replica after the server had dropped the updates it replaces.
	maxPayload := int(r.cfg.Conn.MaxPayload())
	kept := jobs[:0]
	for _, j := range jobs {
		if err := r.publishable(j.value, maxPayload); err != nil {
			st.TooLarge++
			r.log.Warn("cell not compacted: its join is too large to publish as one update", "cell", j.cell, "err", err)
			continue
		}
		// A rollup the replicas refused would still drop the history.
		if err := r.CheckSigner(j.cell, r.signPub); err != nil {
			st.Untrusted++
			r.log.Warn("cell not compacted: the trust policy would refuse this compactor's messages", "cell", j.cell, "err", err)
			continue
		}
		kept = append(kept, j)
	}
	return kept, last
}

// publishable checks that v, published as an update, would be folded by a
// replica with this one's limits and accepted by the broker.
func (r *Replica) publishable(v lattice.Value, maxPayload int) error {
	data := lattice.Encode(v)
	if maxPayload > 0 && len(data)+headerRoom > maxPayload {
		return fmt.Errorf("%d bytes plus headers, the broker takes at most %d", len(data), maxPayload)
	}
	_, err := r.cfg.Limits.Decode(data)
	return err
}

// publishAll publishes msgs with a bounded number in flight and counts the
// outcomes; acked, if set, hears the sequence of each one stored.
func (r *Replica) publishAll(ctx context.Context, st *CompactStats, n int, msg func(i int) (*nats.Msg, error), acked func(i int, seq uint64)) {
	const window = 512
	type pending struct {
		i int
		f jetstream.PubAckFuture
	}
	inflight := make([]pending, 0, window)
	collect := func() {
		for _, p := range inflight {
			select {
			case ack := <-p.f.Ok():
				st.RolledUp++
				if acked != nil {
					acked(p.i, ack.Sequence)
				}
			case err := <-p.f.Err():
				r.countRollupError(st, p.f.Msg().Subject, err)
			case <-ctx.Done():
				st.Failed++
			}
		}
		inflight = inflight[:0]
	}
	for i := range n {
		if ctx.Err() != nil {
			st.Failed += n - i
			break
		}
		m, err := msg(i)
		var f jetstream.PubAckFuture
		if err == nil {
			f, err = r.js.PublishMsgAsync(m)
		}
		if err != nil {
			r.countRollupError(st, m.Subject, err)
			continue
		}
		if inflight = append(inflight, pending{i, f}); len(inflight) == window {
			collect()
		}
	}
	collect()
}

// ErrPurgeFailed is returned by a compaction whose purges failed or were
// refused: purging needs the admin role (see broker.RolePermissions).
var ErrPurgeFailed = errors.New("purging below the joins failed (compaction needs the admin role)")

// purgeBatch bounds the joins a rollup compaction publishes before purging
// below them: if the purges are refused, the log has grown by at most
// this many messages.
const purgeBatch = 256

func (r *Replica) rollups(ctx context.Context, pattern string, st *CompactStats) error {
	jobs, _ := r.jobs(pattern, false, st)
	stream, err := r.js.Stream(ctx, r.cfg.Stream)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	native := stream.CachedInfo().Config.AllowRollup
	for start := 0; start < len(jobs); start += purgeBatch {
		batch := jobs[start:min(start+purgeBatch, len(jobs))]
		joined := make([]uint64, len(batch)) // the join's sequence, 0 if not stored
		r.publishAll(ctx, st, len(batch), func(i int) (*nats.Msg, error) {
			j := batch[i]
			msg := nats.NewMsg(r.subjects.Subject(j.cell))
			msg.Data = lattice.Encode(j.value)
			if native {
				msg.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
			} else {
				msg.Header.Set(HeaderCheckpoint, strconv.FormatUint(j.last, 10))
			}
			msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(j.last, 10))
			return msg, r.setCompactHeaders(msg, j.by)
		}, func(i int, seq uint64) { joined[i] = seq })
		if native {
			continue
		}
		if err := r.purgeBelow(ctx, stream, batch, joined, st); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// purgeBelow purges each cell's subject below its join, a few at a time.
// Whatever was below was folded into the join (it was published guarded
// by the subject's last sequence), so nothing is lost. A refused purge
// ends the compaction: the next ones would be refused too.
func (r *Replica) purgeBelow(ctx context.Context, stream jetstream.Stream, jobs []compactJob, joined []uint64, st *CompactStats) error {
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.cell
	}
	var refused error
	r.purgeEach(ctx, stream, names, joined, 8, func(i int, subject string, err error) bool {
		if err == nil {
			return true
		}
		st.RolledUp--
		st.Failed++
		if refused == nil {
			refused = fmt.Errorf("compact: purge of %s below %d: %w (%w)", subject, joined[i], ErrPurgeFailed, err)
		}
		return false
	})
	return refused
}

func (r *Replica) checkpoint(ctx context.Context, st *CompactStats) error {
	jobs, upTo := r.jobs(">", true, st)
	if st.TooLarge > 0 || st.Untrusted > 0 {
		return errOversize
	}
	mark := strconv.FormatUint(upTo, 10)
	r.publishAll(ctx, st, len(jobs), func(i int) (*nats.Msg, error) {
		msg := nats.NewMsg(r.subjects.Subject(jobs[i].cell))
		msg.Data = lattice.Encode(jobs[i].value)
		msg.Header.Set(HeaderCheckpoint, mark)
		return msg, r.setCompactHeaders(msg, jobs[i].by)
	}, nil)
	if st.Failed > 0 || ctx.Err() != nil {
		return fmt.Errorf("compact: checkpoint incomplete (%d of %d published), nothing purged: %w", st.RolledUp, len(jobs), errors.Join(ErrIncomplete, ctx.Err()))
	}
	stream, err := r.js.Stream(ctx, r.cfg.Stream)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	if err := stream.Purge(ctx, jetstream.WithPurgeSequence(upTo+1)); err != nil {
		return fmt.Errorf("compact: purge below %d: %w", upTo+1, err)
	}
	st.Purged = upTo + 1
	return nil
}

// setCompactHeaders names the compactor, and the propagator that refined
// the cell if one did: the join replaces that propagator's refinements, and
// a replica that reads the compacted log must still see that the cell is
// derived. With a key (Config.SignKey) it signs the message: a message
// that could not be signed is not published (a rollup that the replicas
// refused would still drop the cell's history).
func (r *Replica) setCompactHeaders(msg *nats.Msg, propagator string) error {
	msg.Header.Set(HeaderOrigin, r.cfg.Origin+"/compactor")
	if propagator != "" {
		msg.Header.Set(HeaderPropagator, propagator)
	}
	return r.sign(msg)
}

// wrongLastSequence reports JetStream's refusal of a publish whose expected
// last subject sequence does not match: code 10071 from a stream of one
// replica, 10164 from a replicated one.
func wrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

func (r *Replica) countRollupError(st *CompactStats, subject string, err error) {
	if wrongLastSequence(err) {
		st.Conflicts++
		r.log.Debug("rollup skipped: the cell was written meanwhile", "subject", subject)
		return
	}
	st.Failed++
	// The first failures are warnings; a flood of them is not repeated.
	level := slog.LevelDebug
	if st.Failed <= 3 {
		level = slog.LevelWarn
	}
	r.log.Log(r.ctx, level, "rollup failed", "subject", subject, "err", err)
}

// compactLoop compacts every CompactEvery, with jitter so that several
// compactors do not all start at once. A compaction the server does not
// permit (the replica's credential is not an admin's) stops the loop: each
// attempt would only add joins to the log.
func (r *Replica) compactLoop() {
	select {
	case <-r.ready:
	case <-r.ctx.Done():
		return
	}
	for {
		every := r.cfg.CompactEvery
		if !r.sleep(every/2 + rand.N(every)) {
			return
		}
		ctx, cancel := context.WithTimeout(r.ctx, every)
		_, err := r.Compact(ctx, CompactOptions{})
		cancel()
		switch {
		case err == nil || r.ctx.Err() != nil:
		case errors.Is(err, nats.ErrPermissionViolation):
			r.log.Error("periodic compaction stopped: this replica's credential may not purge the stream; give compaction to an admin (dprop compact with an admin's credential)", "err", err)
			return
		default:
			r.log.Warn("periodic compaction", "err", err)
		}
	}
}
