package replica_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
)

// A refine made while the connection is down fails at once, saying so,
// rather than wait in the reconnect buffer until its deadline.
func TestRefineWithoutConnection(t *testing.T) {
	srv := runBroker(t)
	nc := connect(t, srv.ClientURL())
	r, err := replica.Start(ctxT(t), replica.Config{Conn: nc, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	waitReady(t, r)
	srv.Shutdown()
	waitFor(t, "the connection to notice", func() bool { return !nc.IsConnected() })
	if _, err := r.Refine(ctxT(t), "a", lattice.Max{Value: 1}); !errors.Is(err, replica.ErrNotConnected) {
		t.Fatalf("refine while disconnected: %v, want ErrNotConnected", err)
	}
}

// A stream without a quorum never acknowledges: the refine gives up after
// PublishTimeout and says so, instead of holding its caller.
func TestRefineNotAcknowledgedInTime(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	c := brokertest.RunCluster(t, 3)
	urls := c.URLs()
	if _, err := broker.EnsureStream(ctxT(t), brokertest.JetStream(t, connect(t, urls[0])), broker.StreamConfig{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	r := startReplica(t, urls[0], func(cfg *replica.Config) { cfg.PublishTimeout = 300 * time.Millisecond })
	if _, err := r.Refine(ctxT(t), "a", lattice.Max{Value: 1}); err != nil {
		t.Fatal(err)
	}
	c.Stop(1)
	c.Stop(2)
	_, err := r.Refine(ctxT(t), "a", lattice.Max{Value: 2})
	if err == nil || !strings.Contains(err.Error(), "not acknowledged by the stream within 300ms") {
		t.Fatalf("refine without a quorum: %v, want a timeout after PublishTimeout", err)
	}
}
