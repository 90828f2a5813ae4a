package replica_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
)

// testTimeout bounds every wait in these tests.
const testTimeout = brokertest.Timeout

var (
	ctxT       = brokertest.Context
	waitFor    = brokertest.WaitFor
	testLogger = brokertest.Logger
)

// runBroker starts an embedded server with the DPROP stream provisioned.
func runBroker(t testing.TB) *broker.Server {
	t.Helper()
	return brokertest.RunWithStream(t)
}

func provision(t testing.TB, url string, replicas int) {
	t.Helper()
	nc := connect(t, url)
	if _, err := broker.EnsureStream(ctxT(t), brokertest.JetStream(t, nc), broker.StreamConfig{Replicas: replicas}); err != nil {
		t.Fatalf("ensure stream: %v", err)
	}
}

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	return brokertest.Connect(t, broker.ConnConfig{URLs: []string{url}})
}

// startReplica starts a replica on its own connection and waits for it to
// be ready.
func startReplica(t testing.TB, url string, mod ...func(*replica.Config)) *replica.Replica {
	t.Helper()
	r := startReplicaNoWait(t, url, mod...)
	waitReady(t, r)
	return r
}

func startReplicaNoWait(t testing.TB, url string, mod ...func(*replica.Config)) *replica.Replica {
	t.Helper()
	cfg := replica.Config{Conn: connect(t, url), Logger: testLogger()}
	for _, m := range mod {
		m(&cfg)
	}
	r, err := replica.Start(ctxT(t), cfg)
	if err != nil {
		t.Fatalf("start replica: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func waitReady(t testing.TB, r *replica.Replica) {
	t.Helper()
	select {
	case <-r.Ready():
	case <-time.After(testTimeout):
		t.Fatalf("replica not ready after %v: %+v", testTimeout, r.Progress())
	}
}

func mustDecode(t testing.TB, s string) lattice.Value {
	t.Helper()
	v, err := lattice.Decode([]byte(s))
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func enc(v lattice.Value) string { return string(lattice.Encode(v)) }

// brokertestStream returns the DPROP stream's last sequence.
func brokertestStream(t testing.TB, nc *nats.Conn) (uint64, error) {
	t.Helper()
	js := brokertest.JetStream(t, nc)
	s, err := js.Stream(ctxT(t), "DPROP")
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctxT(t))
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}
