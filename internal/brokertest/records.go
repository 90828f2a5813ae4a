package brokertest

import (
	"context"
	"log/slog"
	"sync"
)

// Records is a slog.Handler that keeps every record, at every level, for
// tests that count or read log lines. Attributes added with WithAttrs and
// groups opened with WithGroup are not kept. It is safe for concurrent use.
type Records struct {
	mu   *sync.Mutex
	recs *[]slog.Record
}

var _ slog.Handler = Records{}

// NewRecords returns an empty record keeper; slog.New(r) logs into it.
func NewRecords() Records { return Records{mu: new(sync.Mutex), recs: new([]slog.Record)} }

// Enabled implements slog.Handler: every level is kept.
func (Records) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler.
func (h Records) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, r.Clone())
	return nil
}

// WithAttrs implements slog.Handler; the attributes are dropped.
func (h Records) WithAttrs([]slog.Attr) slog.Handler { return h }

// WithGroup implements slog.Handler; the group is dropped.
func (h Records) WithGroup(string) slog.Handler { return h }

// Matching returns the records at level with message msg, oldest first.
func (h Records) Matching(level slog.Level, msg string) []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []slog.Record
	for _, r := range *h.recs {
		if r.Level == level && r.Message == msg {
			out = append(out, r)
		}
	}
	return out
}

// Attr returns the value of the record's attribute key, and whether it has
// one.
func Attr(r slog.Record, key string) (slog.Value, bool) {
	var v slog.Value
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, found = a.Value, true
			return false
		}
		return true
	})
	return v, found
}
