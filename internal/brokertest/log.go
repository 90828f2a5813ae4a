package brokertest

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// maxLogLines is how many of the latest log lines a failed test shows.
const maxLogLines = 300

// failureLog keeps the servers' latest log lines and shows them if the test
// fails, so that a failure comes with what the servers saw.
type failureLog struct {
	mu    sync.Mutex
	lines []string
}

// newFailureLog returns a logger at Info level whose output t shows at
// its end if it failed.
func newFailureLog(t testing.TB) *slog.Logger {
	l := &failureLog{}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		t.Logf("brokertest: last %d lines of server logs:\n%s", len(l.lines), strings.Join(l.lines, "\n"))
	})
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func (l *failureLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for line := range bytes.Lines(p) {
		l.lines = append(l.lines, strings.TrimRight(string(line), "\n"))
	}
	if over := len(l.lines) - maxLogLines; over > 0 {
		l.lines = append(l.lines[:0], l.lines[over:]...)
	}
	return len(p), nil
}

// Recorder is a slog.Handler that keeps every record, for tests that check
// what the code under test logs and at which level. It is safe for
// concurrent use.
type Recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

// NewRecorder returns a Recorder and a logger that writes to it (every
// level, debug included).
func NewRecorder() (*Recorder, *slog.Logger) {
	r := &Recorder{}
	return r, slog.New(r)
}

func (r *Recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *Recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}

// WithAttrs and WithGroup drop the attributes and groups: tests look at
// levels, messages and the record's own attributes.
func (r *Recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *Recorder) WithGroup(string) slog.Handler      { return r }

// Records returns the records whose message contains text ("" for all),
// at any level, in the order they were logged.
func (r *Recorder) Records(text string) []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []slog.Record
	for _, rec := range r.records {
		if strings.Contains(rec.Message, text) {
			out = append(out, rec)
		}
	}
	return out
}

// Attr returns the value of rec's attribute key, as a string ("" if none).
func Attr(rec slog.Record, key string) string {
	var v string
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// Matching returns the records at level whose message is msg, oldest
// first.
func (r *Recorder) Matching(level slog.Level, msg string) []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []slog.Record
	for _, rec := range r.records {
		if rec.Level == level && rec.Message == msg {
			out = append(out, rec)
		}
	}
	return out
}

// AttrValue returns the value of rec's attribute key, and whether it has
// one.
func AttrValue(rec slog.Record, key string) (slog.Value, bool) {
	var v slog.Value
	found := false
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, found = a.Value, true
			return false
		}
		return true
	})
	return v, found
}
