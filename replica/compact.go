package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/dprop/dprop/lattice"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotReady is returned by Compact before the replica has caught up.
var ErrNotReady = errors.New("replica not ready")

// CompactStats says what a compaction did.
type CompactStats struct {
	// Cells is the number of held cells matching the pattern.
	Cells int
	// RolledUp cells now have one message in the stream: their join.
	RolledUp int
	// Skipped cells had nothing to compact (one message, or only a rollup).
	Skipped int
	// Conflicts are cells written (or rolled up by another compactor)
	// between the fold and the rollup: the server refused the rollup and
	// nothing was lost; a later compaction will take them.
	Conflicts int
	// Failed rollups could not be published (see the log).
	Failed int
	Took   time.Duration
}

// Compact rolls up the log of every held cell matching pattern ("" for
// all): it publishes the cell's value — the join of every update this
// replica folded — with Nats-Rollup: sub, so the server drops the older
// messages of the subject, guarded by Nats-Expected-Last-Subject-Sequence
// set to the last message it folded on that subject. If anything arrived on
// the subject in between, the server refuses the rollup and nothing is lost.
// Several compactors may run at once: at most one rollup per subject and
// sequence wins.
func (r *Replica) Compact(ctx context.Context, pattern string) (CompactStats, error) {
	start := time.Now()
	var st CompactStats
	if !r.IsReady() {
		return st, fmt.Errorf("compact: %w: a compactor must have folded the whole log first", ErrNotReady)
	}
	if pattern == "" {
		pattern = ">"
	}
	if err := ValidatePattern(pattern); err != nil {
		return st, err
	}
	type job struct {
		cell  string
		last  uint64
		value lattice.Value
	}
	var jobs []job
	r.mu.RLock()
	r.core.Each(func(c Cell) bool {
		if !Match(pattern, c.Name) {
			return true
		}
		st.Cells++
		if c.LogLen() <= 1 {
			st.Skipped++
			return true
		}
		jobs = append(jobs, job{c.Name, c.Last, c.Value})
		return true
	})
	r.mu.RUnlock()
	const window = 512 // rollups in flight
	futures := make([]jetstream.PubAckFuture, 0, window)
	collect := func() {
		for _, f := range futures {
			select {
			case <-f.Ok():
				st.RolledUp++
			case err := <-f.Err():
				r.countRollupError(&st, f.Msg().Subject, err)
			case <-ctx.Done():
				st.Failed++
			}
		}
		futures = futures[:0]
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		msg := nats.NewMsg(r.subjects.Subject(j.cell))
		msg.Data = lattice.Encode(j.value)
		msg.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
		msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(j.last, 10))
		msg.Header.Set(HeaderOrigin, r.cfg.Origin+"/compactor")
		f, err := r.js.PublishMsgAsync(msg)
		if err != nil {
			r.countRollupError(&st, msg.Subject, err)
			continue
		}
		if futures = append(futures, f); len(futures) == window {
			collect()
		}
	}
	collect()
	st.Took = time.Since(start)
	r.log.Info("compaction done", "pattern", pattern, "cells", st.Cells, "rolled_up", st.RolledUp,
		"skipped", st.Skipped, "conflicts", st.Conflicts, "failed", st.Failed, "took", st.Took.Round(time.Millisecond))
	return st, ctx.Err()
}

// errWrongLastSequence is JetStream's refusal of a publish whose expected
// last subject sequence does not match.
const errWrongLastSequence = jetstream.ErrorCode(10071)

func (r *Replica) countRollupError(st *CompactStats, subject string, err error) {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == errWrongLastSequence {
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
	r.log.Log(context.Background(), level, "rollup failed", "subject", subject, "err", err)
}

// compactLoop compacts every CompactEvery, with jitter so that several
// compactors do not all start at once.
func (r *Replica) compactLoop() {
	select {
	case <-r.ready:
	case <-r.closed:
		return
	}
	for {
		every := r.cfg.CompactEvery
		wait := every/2 + rand.N(every)
		select {
		case <-r.closed:
			return
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		go func() {
			select {
			case <-r.closed:
				cancel()
			case <-ctx.Done():
			}
		}()
		if _, err := r.Compact(ctx, ""); err != nil && !errors.Is(err, context.Canceled) {
			r.log.Warn("periodic compaction", "err", err)
		}
		cancel()
	}
}
