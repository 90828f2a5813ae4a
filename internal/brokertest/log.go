package brokertest

import (
	"bytes"
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
