package replica

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/dprop/dprop/replica/fold"
)

// Messages of the refusal log.
const (
	msgRefused       = "update refused"
	msgRefusedUnwarn = "more updates refused than warned of (rate limit); each one is counted in dprop_updates_refused_total and logged at debug level"
)

// Limits of the refusal warnings (tests change them; see export_test.go).
var (
	refusalWarnEvery = time.Minute
	refusalWarnBurst = 10
)

// refusalLog rate-limits the warnings about refused updates. The first
// refusal of a kind per cell deserves a warning, but thousands of bad
// messages to distinct cells would make thousands of lines: so at most
// burst warnings are written per window of every; past them refusals are
// logged at debug level only, and when the window ends one warning says
// how many were not, by reason. The counts themselves stay exact in
// Stats and in dprop_updates_refused_total, which read the fold's
// counters, not the log. It is safe for concurrent use.
type refusalLog struct {
	log   *slog.Logger
	every time.Duration
	burst int
	now   func() time.Time

	pending chan struct{} // wakes run when a window first withholds a warning

	mu         sync.Mutex // guards the fields below
	start      time.Time  // of the current window; zero before the first warning
	warned     int        // warnings written in the window
	suppressed map[string]uint64
}

func newRefusalLog(log *slog.Logger, every time.Duration, burst int) *refusalLog {
	return &refusalLog{log: log, every: every, burst: burst, now: time.Now, pending: make(chan struct{}, 1)}
}

// refused logs a refusal: a warning if first (the first of its kind for
// its cell) and the window has room, else at debug level.
func (l *refusalLog) refused(ctx context.Context, re *fold.RefusedError, first bool) {
	level := slog.LevelDebug
	if first && l.admit(re.Reason) {
		level = slog.LevelWarn
	}
	l.log.Log(ctx, level, msgRefused, "cell", re.Cell, "seq", re.Seq, "reason", re.Reason, "err", re.Err)
}

// admit reports whether a warning fits the current window, and otherwise
// counts it as withheld.
func (l *refusalLog) admit(reason string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := l.now(); l.start.IsZero() || now.Sub(l.start) >= l.every {
		l.flushLocked()
		l.start, l.warned = now, 0
	}
	if l.warned < l.burst {
		l.warned++
		return true
	}
	if l.suppressed == nil {
		l.suppressed = make(map[string]uint64)
		select {
		case l.pending <- struct{}{}:
		default:
		}
	}
	l.suppressed[reason]++
	return false
}

// run writes the summary of each window that withheld warnings once the
// window ends, until ctx ends.
func (l *refusalLog) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.pending:
		}
		for {
			l.mu.Lock()
			if l.suppressed == nil { // summarized already, by admit
				l.mu.Unlock()
				break
			}
			wait := l.start.Add(l.every).Sub(l.now())
			if wait <= 0 {
				l.flushLocked()
				l.mu.Unlock()
				break
			}
			l.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// flush writes the summary of the warnings withheld so far, if any.
func (l *refusalLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *refusalLog) flushLocked() {
	if l.suppressed == nil {
		return
	}
	var total uint64
	byReason := make([]any, 0, 2*len(l.suppressed))
	for _, reason := range slices.Sorted(maps.Keys(l.suppressed)) {
		total += l.suppressed[reason]
		byReason = append(byReason, reason, l.suppressed[reason])
	}
	l.log.Warn(msgRefusedUnwarn, "not_warned", total, slog.Group("by_reason", byReason...), "since", l.start, "max_warnings", l.burst, "per", l.every)
	l.suppressed = nil
}
