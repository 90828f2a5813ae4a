package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/httpapi"
)

func readiness(t *testing.T, a answer) httpapi.Readiness {
	t.Helper()
	var rd httpapi.Readiness
	if err := json.Unmarshal([]byte(a.body), &rd); err != nil {
		t.Fatalf("readyz body %q: %v", a.body, err)
	}
	return rd
}

// /readyz answers 503 with the resync's progress until the replica has
// folded what was in the stream when it started, then 200. Meanwhile every
// answer is marked stale.
func TestReadyz(t *testing.T) {
	srv := runBroker(t)
	js := brokertest.JetStream(t, connect(t, srv.ClientURL()))
	for i := range 3 {
		if _, err := js.Publish(ctxT(t), fmt.Sprintf("dprop.cell.c%d", i), lattice.Encode(lattice.Max{Value: 1})); err != nil {
			t.Fatal(err)
		}
	}
	// The replica's first change blocks until release: its resync stops
	// after folding sequence 1 of 3, deterministically.
	release := make(chan struct{})
	var blockOnce, releaseOnce sync.Once
	releaseFn := func() { releaseOnce.Do(func() { close(release) }) }
	quiet := atomic.Bool{}
	stale := atomic.Bool{}
	var broken atomic.Pointer[error]
	sc := newSidecarNoWait(t, srv.ClientURL(), httpapi.Options{
		Quiescent: quiet.Load,
		Stale:     stale.Load,
		Checks: map[string]func(context.Context) error{
			"probe": func(context.Context) error {
				if p := broken.Load(); p != nil {
					return *p
				}
				return nil
			},
		},
	}, func(c *replica.Config) {
		c.OnChange = func(replica.Event) { blockOnce.Do(func() { <-release }) }
	})
	t.Cleanup(releaseFn)
	waitFor(t, "the first fold", func() bool { return sc.r.Progress().Applied == 1 })

	a := sc.do(t, "GET", "/readyz", "").want(t, 503)
	rd := readiness(t, a)
	if rd.Ready || rd.Resynced || rd.Applied != 1 || rd.Target != 3 || rd.Fraction >= 1 ||
		rd.Quiescent == nil || *rd.Quiescent || rd.Stale == nil || *rd.Stale || rd.Checks["probe"] != "ok" {
		t.Fatalf("while resyncing: %s", a.body)
	}
	if a := sc.do(t, "GET", "/v1/cells/c0", "").want(t, 200); a.header.Get(httpapi.HeaderStale) != "true" {
		t.Fatalf("an answer during the resync is not marked stale: %v", a.header)
	}
	if metric(t, sc.reg, "dprop_ready") != 0 || metric(t, sc.reg, "dprop_resync_fraction") >= 1 {
		t.Fatal("metrics say ready")
	}
	sc.do(t, "GET", "/healthz", "").want(t, 200)

	releaseFn()
	<-sc.r.Ready()
	quiet.Store(true)
	a = sc.do(t, "GET", "/readyz", "").want(t, 200)
	if rd := readiness(t, a); !rd.Ready || rd.Applied != 3 || rd.Fraction != 1 || rd.Cells != 3 || !*rd.Quiescent {
		t.Fatalf("ready: %s", a.body)
	}
	if a.header.Get(httpapi.HeaderStale) != "" {
		t.Fatal("a ready answer is marked stale")
	}

	stale.Store(true)
	a = sc.do(t, "GET", "/readyz", "").want(t, 503)
	if rd := readiness(t, a); rd.Ready || !*rd.Stale || a.header.Get(httpapi.HeaderStale) != "true" {
		t.Fatalf("stale: %s", a.body)
	}
	if sc.do(t, "GET", "/v1/cells/c0", "").header.Get(httpapi.HeaderStale) != "true" {
		t.Fatal("answers of a stale replica are not marked")
	}
	stale.Store(false)
	err := errors.New("disk full")
	broken.Store(&err)
	a = sc.do(t, "GET", "/readyz", "").want(t, 503)
	if rd := readiness(t, a); rd.Checks["probe"] != "disk full" {
		t.Fatalf("failing check: %s", a.body)
	}
	rd, cerr := sc.c.Ready(ctxT(t))
	if cerr != nil || rd.Ready || !rd.Resynced {
		t.Fatalf("client: %+v %v", rd, cerr)
	}
	broken.Store(nil)
	if rd, err := sc.c.Ready(ctxT(t)); err != nil || !rd.Ready {
		t.Fatalf("client: %+v %v", rd, err)
	}

	sc.r.Close()
	sc.do(t, "GET", "/healthz", "").want(t, 503)
	if rd := readiness(t, sc.do(t, "GET", "/readyz", "").want(t, 503)); !rd.Closed || rd.Ready {
		t.Fatalf("closed: %+v", rd)
	}
}

// /metrics exposes the replica's counters and the HTTP instruments, with
// route patterns as labels.
func TestMetrics(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	for i := range 3 {
		sc.do(t, "POST", "/v1/cells/m.x", fmt.Sprintf(`{"type":"max","value":%d}`, i)).want(t, 200)
	}
	sc.do(t, "GET", "/v1/cells/m.x", "").want(t, 200)
	sc.do(t, "GET", "/v1/cells/m.y", "").want(t, 404)
	sc.do(t, "POST", "/v1/cells/m.x", `{"type":"max"`).want(t, 400)
	nc := connect(t, srv.ClientURL())
	for _, bad := range []string{`{"type":"max"`, `{"type":"range","min":1,"max":2}`} { // malformed, type mismatch
		if err := nc.Publish("dprop.cell.m.x", []byte(bad)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "refusals folded", func() bool { return sc.r.Progress().Applied == 5 })

	body := sc.do(t, "GET", "/metrics", "").want(t, 200).body
	for _, name := range []string{
		"dprop_updates_folded_total 3", `dprop_updates_refused_total{reason="malformed_json"} 1`,
		`dprop_updates_refused_total{reason="type_mismatch"} 1`, `dprop_updates_refused_total{reason="too_deep"} 0`,
		"dprop_cells 1", "dprop_resync_fraction 1", "dprop_resync_pending 0", "dprop_ready 1", "dprop_stale 0", "dprop_applied_sequence 5",
		`dprop_http_requests_total{code="200",method="POST",route="POST /v1/cells/{cell}"} 3`,
		`dprop_http_requests_total{code="404",method="GET",route="GET /v1/cells/{cell}"} 1`,
		`dprop_http_requests_total{code="400",method="POST",route="POST /v1/cells/{cell}"} 1`,
		`dprop_http_request_duration_seconds_count{method="GET",route="GET /v1/cells/{cell}"} 2`,
		"dprop_http_event_streams 0",
	} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics lacks %q", name)
		}
	}
	if strings.Contains(body, "m.x") || strings.Contains(body, "/v1/cells/m") {
		t.Error("a cell name or raw path leaked into the labels")
	}
}

// Without a registry, the server makes its own, with the Go and process
// collectors.
func TestMetricsDefaultRegistry(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	api := httpapi.New(sc.r, httpapi.Options{Logger: testLogger()})
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1:37767/metrics", nil))
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, "\ngo_goroutines ") || !strings.Contains(body, "\ndprop_ready 1") {
		t.Fatalf("default registry: %d\n%s", rec.Code, body)
	}
}

// A stream deleted under a sidecar: /readyz turns 503 and says why, reads
// go on (marked stale), refines answer 503 without publishing, /metrics
// shows the incident; when the stream is provisioned again the sidecar is
// ready again by itself.
func TestReadyzStreamDeleted(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{}, func(c *replica.Config) { c.StreamCheckEvery = 50 * time.Millisecond })
	sc.do(t, "POST", "/v1/cells/k", `{"type":"max","value":4}`).want(t, http.StatusOK)
	js := brokertest.JetStream(t, connect(t, srv.ClientURL()))
	if err := js.DeleteStream(ctxT(t), cellname.DefaultStream); err != nil {
		t.Fatal(err)
	}
	var rd httpapi.Readiness
	waitFor(t, "/readyz to report the deleted stream", func() bool {
		a := sc.do(t, "GET", "/readyz", "")
		rd = httpapi.Readiness{}
		_ = json.Unmarshal([]byte(a.body), &rd)
		return a.status == http.StatusServiceUnavailable && strings.Contains(rd.Stream, "deleted")
	})
	if rd.Ready || rd.StreamSince == "" || !strings.Contains(rd.LastIncident, "deleted") {
		t.Errorf("readiness during the outage: %+v", rd)
	}
	get := sc.do(t, "GET", "/v1/cells/k", "").want(t, http.StatusOK)
	if get.header.Get(httpapi.HeaderStale) != "true" || get.body != `{"type":"max","value":4}` {
		t.Errorf("read during the outage: stale=%q body %s", get.header.Get(httpapi.HeaderStale), get.body)
	}
	post := sc.do(t, "POST", "/v1/cells/k", `{"type":"max","value":5}`).want(t, http.StatusServiceUnavailable)
	if !strings.Contains(post.body, "stream is missing") || post.header.Get("Retry-After") == "" {
		t.Errorf("refine during the outage: %s", post.body)
	}
	if got := metric(t, sc.reg, "dprop_stream_attached"); got != 0 {
		t.Errorf("dprop_stream_attached = %v during the outage", got)
	}
	if got := metric(t, sc.reg, "dprop_stale"); got != 1 {
		t.Errorf("dprop_stale = %v during the outage", got)
	}
	if got := metric(t, sc.reg, "dprop_stream_incidents_total", "kind", "deleted"); got != 1 {
		t.Errorf("deleted incidents = %v", got)
	}
	if _, err := broker.EnsureStream(ctxT(t), js, broker.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sidecar to be ready again", func() bool { return sc.do(t, "GET", "/readyz", "").status == http.StatusOK })
	if got := metric(t, sc.reg, "dprop_stream_attached"); got != 1 {
		t.Errorf("dprop_stream_attached = %v after the stream came back", got)
	}
	if got := metric(t, sc.reg, "dprop_stale"); got != 0 {
		t.Errorf("dprop_stale = %v after the stream came back", got)
	}
	sc.do(t, "POST", "/v1/cells/k", `{"type":"max","value":5}`).want(t, http.StatusOK)
}
