package replica_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
)

// A replica cut off its broker (a partition: nothing closed, nothing
// answered) notices by its pings, and once the network is back it reads
// what was written meanwhile at once, rather than when the ordered
// consumer's reset backoff, grown through the outage, gets round to it
// (4 to 13 s in the docker fault tests before); it says it is stale until
// it has.
func TestCatchUpAfterCut(t *testing.T) {
	srv := runBroker(t)
	proxy := brokertest.NewProxy(t, srv.Config().Listen)
	rec, log := brokertest.NewRecorder()
	// The default pings (every 2 s, two unanswered): the consumer misses its
	// heartbeats (1 s) first, and starts resetting over the dead connection.
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{proxy.URL()}, ReconnectWait: 100 * time.Millisecond, Timeout: 300 * time.Millisecond})
	r, err := replica.Start(ctxT(t), replica.Config{Conn: nc, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	waitReady(t, r)
	w := startReplica(t, srv.ClientURL())
	refine := func(v int) {
		t.Helper()
		if _, err := w.Refine(ctxT(t), "cut.k", lattice.Max{Value: float64(v)}); err != nil {
			t.Fatal(err)
		}
	}
	refine(1)
	waitFor(t, "the first update", func() bool { return enc(r.Value("cut.k")) == `{"type":"max","value":1}` })

	proxy.Cut()
	waitFor(t, "the connection to be given up", func() bool { return !nc.IsConnected() })
	waitFor(t, "the replica to say it is stale", r.Stale)
	for v := 2; v <= 20; v++ {
		refine(v)
	}
	if enc(r.Value("cut.k")) != `{"type":"max","value":1}` {
		t.Fatal("the replica read updates through a cut network")
	}

	proxy.Heal()
	waitFor(t, "the connection back", nc.IsConnected)
	back := time.Now()
	waitFor(t, "the updates written during the cut", func() bool { return enc(r.Value("cut.k")) == `{"type":"max","value":20}` })
	took := time.Since(back)
	t.Logf("read what it missed %v after the connection was back", took)
	if took > time.Second {
		t.Errorf("the replica read what it missed %v after the connection was back, want at once", took)
	}
	waitFor(t, "the replica fresh again", func() bool { return !r.Stale() })
	if len(rec.Records("connection back; replica attached again")) != 1 {
		t.Errorf("the replica did not say it re-attached: %v", recordMessages(rec))
	}
	if _, err := r.Refine(ctxT(t), "cut.k", lattice.Max{Value: 21}); err != nil {
		t.Errorf("refine after the cut: %v", err)
	}
}

func recordMessages(rec *brokertest.Recorder) []string {
	var out []string
	for _, r := range rec.Records("") {
		out = append(out, fmt.Sprintf("%s %s", r.Level, r.Message))
	}
	return out
}
