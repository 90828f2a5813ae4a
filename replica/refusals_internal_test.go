package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/replica/fold"
)

// notWarned returns the by-reason counts of a summary record.
func notWarned(t *testing.T, r slog.Record) map[string]uint64 {
	t.Helper()
	v, ok := brokertest.AttrValue(r, "by_reason")
	if !ok {
		t.Fatalf("summary without by_reason: %v", r)
	}
	out := map[string]uint64{}
	for _, a := range v.Group() {
		out[a.Key] = a.Value.Uint64()
	}
	return out
}

// Within a window at most burst refusals are warnings; the others are
// counted by reason and summarized in one warning when a later window
// starts; repeats (not first of their kind) are never warnings.
func TestRefusalLogWindows(t *testing.T) {
	rec := new(brokertest.Recorder)
	l := newRefusalLog(slog.New(rec), time.Minute, 2)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	ctx := context.Background()
	refuse := func(i int, reason string, first bool) {
		l.refused(ctx, &fold.RefusedError{Cell: fmt.Sprintf("c%d", i), Seq: uint64(i), Reason: reason, Err: errors.New("bad")}, first)
	}
	for i := range 5 {
		refuse(i, fold.ReasonMalformed, true)
	}
	refuse(5, fold.ReasonTypeMismatch, true)
	refuse(6, fold.ReasonTypeMismatch, false) // a repeat: debug, not counted
	if n := len(rec.Matching(slog.LevelWarn, msgRefused)); n != 2 {
		t.Fatalf("%d warnings in the first window, want 2", n)
	}
	if n := len(rec.Matching(slog.LevelDebug, msgRefused)); n != 5 {
		t.Fatalf("%d debug lines, want 5", n)
	}
	if n := len(rec.Matching(slog.LevelWarn, msgRefusedUnwarn)); n != 0 {
		t.Fatalf("a summary before the window ended")
	}
	now = now.Add(time.Minute)
	refuse(7, fold.ReasonMalformed, true)
	sums := rec.Matching(slog.LevelWarn, msgRefusedUnwarn)
	if len(sums) != 1 {
		t.Fatalf("%d summaries after the first window, want 1", len(sums))
	}
	got := notWarned(t, sums[0])
	if got[fold.ReasonMalformed] != 3 || got[fold.ReasonTypeMismatch] != 1 || len(got) != 2 {
		t.Fatalf("summary %v, want 3 malformed_json and 1 type_mismatch", got)
	}
	if v, _ := brokertest.AttrValue(sums[0], "not_warned"); v.Uint64() != 4 {
		t.Fatalf("not_warned %v, want 4", v)
	}
	if n := len(rec.Matching(slog.LevelWarn, msgRefused)); n != 3 {
		t.Fatalf("%d warnings, want 3: the new window warns again", n)
	}
	l.flush() // nothing withheld in this window: no summary
	if n := len(rec.Matching(slog.LevelWarn, msgRefusedUnwarn)); n != 1 {
		t.Fatalf("%d summaries, want still 1", n)
	}
}

// The summary of a window comes when the window ends, even if no refusal
// follows.
func TestRefusalLogSummaryWhenTheWindowEnds(t *testing.T) {
	rec := new(brokertest.Recorder)
	l := newRefusalLog(slog.New(rec), 20*time.Millisecond, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.run(ctx) }()
	defer func() { cancel(); <-done }()
	for i := range 3 {
		l.refused(ctx, &fold.RefusedError{Cell: fmt.Sprintf("c%d", i), Reason: fold.ReasonMalformed, Err: errors.New("bad")}, true)
	}
	brokertest.WaitFor(t, "the summary", func() bool { return len(rec.Matching(slog.LevelWarn, msgRefusedUnwarn)) == 1 })
	if got := notWarned(t, rec.Matching(slog.LevelWarn, msgRefusedUnwarn)[0]); got[fold.ReasonMalformed] != 2 {
		t.Fatalf("summary %v, want 2 malformed_json", got)
	}
}
