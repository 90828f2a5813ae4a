package brokertest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"
)

// Context returns a context that ends after Timeout or when the test ends.
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	return ctx
}

// WaitFor polls cond until it holds, failing the test if it does not
// within Timeout. what names the condition in the failure.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for pause := time.Millisecond; !cond(); pause = min(2*pause, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", Timeout, what)
		}
		time.Sleep(pause)
	}
}

// Logger returns the logger for the code under test: silent, or every
// record at debug level on stderr when DPROP_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("DPROP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
