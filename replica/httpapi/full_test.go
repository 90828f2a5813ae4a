package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/httpapi"
)

// A stream at its byte limit refuses refines, and the sidecar says so:
// 503 stream_full with Retry-After, nothing stored, every earlier refine
// kept; /metrics shows the stream's size against its limit. Once room is
// made the same refine goes in.
func TestRefineStreamFull(t *testing.T) {
	const limit = 8 << 10
	srv := brokertest.RunServer(t)
	js := brokertest.JetStream(t, connect(t, srv.ClientURL()))
	if _, err := broker.EnsureStream(ctxT(t), js, broker.StreamConfig{MaxBytes: limit}); err != nil {
		t.Fatal(err)
	}
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{}, func(c *replica.Config) { c.StreamCheckEvery = 50 * time.Millisecond })

	var full answer
	last := 0
	for i := 1; i <= 1000; i++ {
		a := sc.do(t, "POST", "/v1/cells/full.k", fmt.Sprintf(`{"type":"max","value":%d}`, i))
		if a.status != http.StatusOK {
			full = a
			break
		}
		last = i
	}
	if full.status != http.StatusServiceUnavailable {
		t.Fatalf("past the limit: %d %s, want 503", full.status, full.body)
	}
	var eb struct{ Error, Reason, Cell string }
	if err := json.Unmarshal([]byte(full.body), &eb); err != nil {
		t.Fatal(err)
	}
	if eb.Reason != httpapi.ReasonStreamFull || eb.Cell != "full.k" || !strings.Contains(eb.Error, "maximum bytes exceeded") ||
		full.header.Get("Retry-After") == "" {
		t.Errorf("answer past the limit: %+v, Retry-After %q", eb, full.header.Get("Retry-After"))
	}
	t.Logf("after %d refines: %s", last, full.body)
	if got := sc.do(t, "GET", "/v1/cells/full.k", "").want(t, http.StatusOK).body; got != fmt.Sprintf(`{"type":"max","value":%d}`, last) {
		t.Errorf("the cell is %s, want the last acknowledged refine, %d", got, last)
	}
	var metrics string
	waitFor(t, "the stream's size in /metrics", func() bool {
		metrics = sc.do(t, "GET", "/metrics", "").want(t, http.StatusOK).body
		return strings.Contains(metrics, fmt.Sprintf("\ndprop_stream_max_bytes %d\n", limit)) && !strings.Contains(metrics, "\ndprop_stream_bytes 0\n")
	})

	stream, err := js.Stream(ctxT(t), cellname.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(ctxT(t), jetstream.WithPurgeKeep(1)); err != nil {
		t.Fatal(err)
	}
	sc.do(t, "POST", "/v1/cells/full.k", `{"type":"max","value":100000}`).want(t, http.StatusOK)
}
