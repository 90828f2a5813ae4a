package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/httpapi"
)

// GET /v1/status: the replica's side (what it holds, how far it got, its
// server) and the stream's (messages, sequences, limits), and after a
// compaction the compaction it saw.
func TestStatus(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{}, func(c *replica.Config) { c.Origin = "side-1" })
	for _, body := range []string{`{"type":"max","value":1}`, `{"type":"max","value":2}`} {
		sc.do(t, "POST", "/v1/cells/s.a", body).want(t, http.StatusOK)
	}
	st, err := sc.c.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	r := st.Replica
	if r.Origin != "side-1" || r.Held != 1 || r.Applied != 2 || !r.Ready || r.Stale || !r.Attached || !r.Connected ||
		r.ServerName == "" || r.Server == "" || r.LastCompaction != nil {
		t.Errorf("replica status: %+v", r)
	}
	s := st.Stream
	if s == nil || s.Name != "DPROP" || s.Messages != 2 || s.FirstSeq != 1 || s.LastSeq != 2 || s.Cluster != nil || s.Discard == "" {
		t.Fatalf("stream status: %+v (%s)", s, st.StreamError)
	}
	if _, err := sc.r.Compact(ctxT(t), replica.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the compaction seen", func() bool {
		st, _ := sc.c.Status(ctxT(t))
		return st.Replica.LastCompaction != nil && st.Replica.LastCompaction.Seq == 3 && !st.Replica.LastCompaction.Time.IsZero()
	})
}

// On a cluster the stream's status names its leader and its followers,
// current and how far behind.
func TestStatusCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	c := brokertest.RunCluster(t, 3)
	urls := c.URLs()
	if _, err := broker.EnsureStream(ctxT(t), brokertest.JetStream(t, connect(t, urls[0])), broker.StreamConfig{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	sc := newSidecar(t, urls[1], httpapi.Options{})
	sc.do(t, "POST", "/v1/cells/c.a", `{"type":"max","value":1}`).want(t, http.StatusOK)
	waitFor(t, "a leader and two current followers", func() bool {
		st, err := sc.c.Status(ctxT(t))
		if err != nil || st.Stream == nil || st.Stream.Cluster == nil {
			return false
		}
		cl := st.Stream.Cluster
		current := 0
		for _, p := range cl.Replicas {
			if p.Current {
				current++
			}
		}
		return cl.Leader != "" && len(cl.Replicas) == 2 && current == 2 && st.Stream.Replicas == 3
	})
}
