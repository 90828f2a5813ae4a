package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"
)

// timeout bounds every wait in these tests.
const timeout = 30 * time.Second

// testContext returns a context that ends after timeout or with the test.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitUntil(t, what, func() error {
		if cond() {
			return nil
		}
		return errors.New("condition not met")
	})
}

// waitUntil calls try until it succeeds, failing the test with try's last
// error after timeout.
func waitUntil(t *testing.T, what string, try func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := try()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s: %v", timeout, what, err)
		}
		<-tick.C
	}
}
