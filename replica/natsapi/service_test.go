package natsapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/httpapi"
	"github.com/dprop/dprop/replica/natsapi"
)

// sidecar starts a replica of cells on its own connection and serves its
// operations once it is ready.
func sidecar(t *testing.T, url, cells string) *replica.Replica {
	t.Helper()
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{url}})
	r, err := replica.Start(brokertest.Context(t), replica.Config{Conn: nc, Cells: cells, Logger: brokertest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	<-r.Ready()
	svc, err := natsapi.Serve(nc, r, natsapi.Options{Cells: cells, Version: "v1.2.3-devel", Logger: brokertest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	return r
}

func request(t *testing.T, nc *nats.Conn, subject, body string, hdr ...string) *nats.Msg {
	t.Helper()
	msg := nats.NewMsg(subject)
	msg.Data = []byte(body)
	for i := 0; i+1 < len(hdr); i += 2 {
		msg.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := nc.RequestMsg(msg, 10*time.Second)
	if err != nil {
		t.Fatalf("request %s %s: %v", subject, body, err)
	}
	return resp
}

// Operations over NATS: any sidecar of the queue group answers, with the
// cell and its headers; an Idempotency-Key applies once across sidecars;
// errors are micro errors with the HTTP status and reason; the service
// is discoverable.
func TestService(t *testing.T) {
	srv := brokertest.RunWithStream(t)
	a := sidecar(t, srv.ClientURL(), ">")
	b := sidecar(t, srv.ClientURL(), ">")
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}})

	for range 10 {
		resp := request(t, nc, "dprop.op.jobs.done", `{"op":"inc"}`)
		if code := resp.Header.Get(micro.ErrorCodeHeader); code != "" {
			t.Fatalf("inc: error %s %s", code, resp.Header.Get(micro.ErrorHeader))
		}
		if resp.Header.Get(httpapi.HeaderType) != "gcounter" || !strings.HasPrefix(string(resp.Data), `{"type":"gcounter"`) {
			t.Fatalf("inc answered %v %s", resp.Header, resp.Data)
		}
	}
	brokertest.WaitFor(t, "both sidecars count 10", func() bool {
		return total(t, a, "jobs.done") == 10 && total(t, b, "jobs.done") == 10
	})

	key := []string{httpapi.HeaderIdempotencyKey, "req-1"}
	first := request(t, nc, "dprop.op.jobs.done", `{"op":"inc","by":5}`, key...)
	for range 4 {
		again := request(t, nc, "dprop.op.jobs.done", `{"op":"inc","by":5}`, key...)
		if again.Header.Get(httpapi.HeaderDuplicate) != "true" {
			t.Fatalf("retry with the key: %v %s (first %s)", again.Header, again.Data, first.Data)
		}
	}
	brokertest.WaitFor(t, "both count 15", func() bool { return total(t, a, "jobs.done") == 15 && total(t, b, "jobs.done") == 15 })

	for _, c := range []struct {
		body, code, reason string
		hdr                []string
	}{
		{`{"op":"dec"}`, "409", httpapi.ReasonNotApplicable, nil},
		{`{"op":"inc","by":-1}`, "400", httpapi.ReasonBadOperation, nil},
		{`{"op":"inc","by":1}`, "422", httpapi.ReasonKeyReused, key},
	} {
		resp := request(t, nc, "dprop.op.jobs.done", c.body, c.hdr...)
		if resp.Header.Get(micro.ErrorCodeHeader) != c.code || !strings.HasPrefix(resp.Header.Get(micro.ErrorHeader), c.reason+": ") {
			t.Errorf("%s: error %q %q, want %s %s", c.body, resp.Header.Get(micro.ErrorCodeHeader), resp.Header.Get(micro.ErrorHeader), c.code, c.reason)
		}
		var body struct{ Reason, Cell string }
		if err := json.Unmarshal(resp.Data, &body); err != nil || body.Reason != c.reason || body.Cell != "jobs.done" {
			t.Errorf("%s: error body %s", c.body, resp.Data)
		}
	}

	statsMsg := request(t, nc, "$SRV.STATS."+natsapi.Name, "")
	var stats struct {
		Endpoints []struct{ Data natsapi.Stats } `json:"endpoints"`
	}
	if err := json.Unmarshal(statsMsg.Data, &stats); err != nil {
		t.Fatal(err)
	}
	var ops, errs uint64
	for _, e := range stats.Endpoints {
		ops, errs = ops+e.Data.Operations, errs+e.Data.Errors
	}
	if stats := len(stats.Endpoints); stats != 1 { // one of the two answered
		t.Fatalf("stats from %d endpoints", stats)
	}
	if ops == 0 || ops > 18 {
		t.Fatalf("stats of one sidecar: %d operations, %d errors (of 18 and 3)", ops, errs)
	}
	info := request(t, nc, "$SRV.INFO."+natsapi.Name, "")
	var si micro.Info
	if err := json.Unmarshal(info.Data, &si); err != nil {
		t.Fatal(err)
	}
	if si.Name != "dprop" || si.Version != "1.2.3-devel" || len(si.Endpoints) != 1 ||
		si.Endpoints[0].Subject != "dprop.op.>" || si.Endpoints[0].QueueGroup != natsapi.QueueGroup {
		t.Fatalf("service info: %+v", si)
	}
}

// A sidecar serves only the cells it holds.
func TestServiceCells(t *testing.T) {
	srv := brokertest.RunWithStream(t)
	sidecar(t, srv.ClientURL(), "weather.>")
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}})
	if resp := request(t, nc, "dprop.op.weather.hits", `{"op":"inc"}`); resp.Header.Get(micro.ErrorCodeHeader) != "" {
		t.Fatalf("held cell: %v", resp.Header)
	}
	if _, err := nc.Request("dprop.op.other", []byte(`{"op":"inc"}`), time.Second); err != nats.ErrNoResponders {
		t.Fatalf("a cell no sidecar holds: %v, want no responders", err)
	}
}

func total(t *testing.T, r *replica.Replica, cell string) int64 {
	t.Helper()
	c, ok := r.Get(cell)
	if !ok {
		return 0
	}
	g, ok := c.Value.(interface{ Total() (int64, error) })
	if !ok {
		return -1
	}
	n, _ := g.Total()
	return n
}

// With fewer workers than concurrent requests, every request waits for a
// free worker and is answered once, and the statistics count each.
func TestServiceMaxInFlight(t *testing.T) {
	srv := brokertest.RunWithStream(t)
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}})
	r, err := replica.Start(brokertest.Context(t), replica.Config{Conn: nc, Logger: brokertest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	<-r.Ready()
	svc, err := natsapi.Serve(nc, r, natsapi.Options{MaxInFlight: 2, Logger: brokertest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })

	client := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}})
	const clients, each = 8, 10
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for range each {
				resp, err := client.Request(fmt.Sprintf("dprop.op.many.c%d", i%3), []byte(`{"op":"inc"}`), 10*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				if code := resp.Header.Get(micro.ErrorCodeHeader); code != "" {
					t.Errorf("inc: error %s %s", code, resp.Header.Get(micro.ErrorHeader))
				}
			}
		})
	}
	wg.Wait()
	if n := total(t, r, "many.c0") + total(t, r, "many.c1") + total(t, r, "many.c2"); n != clients*each {
		t.Fatalf("%d increments counted, want %d", n, clients*each)
	}
	// The statistics are counted once the answer is sent.
	brokertest.WaitFor(t, "the statistics count every operation, none in flight", func() bool {
		statsMsg := request(t, client, "$SRV.STATS."+natsapi.Name, "")
		var stats struct {
			Endpoints []struct{ Data natsapi.Stats } `json:"endpoints"`
		}
		if err := json.Unmarshal(statsMsg.Data, &stats); err != nil || len(stats.Endpoints) != 1 {
			t.Fatalf("stats %s: %v", statsMsg.Data, err)
		}
		st := stats.Endpoints[0].Data
		return st.Operations == clients*each && st.Errors == 0 && st.InFlight == 0
	})
}

// An operation the replica does not answer within Timeout (here its fold
// is held, so the update is never seen folded) is answered 503 at the
// timeout, and the service goes on answering once the fold does.
func TestServiceTimeout(t *testing.T) {
	srv := brokertest.RunWithStream(t)
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}})
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseFn := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseFn)
	var hold atomic.Bool
	r, err := replica.Start(brokertest.Context(t), replica.Config{Conn: nc, Logger: brokertest.Logger(),
		OnChange: func(replica.Event) {
			if hold.Load() {
				<-release
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	<-r.Ready()
	svc, err := natsapi.Serve(nc, r, natsapi.Options{Timeout: 300 * time.Millisecond, Logger: brokertest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	client := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}})

	hold.Store(true)
	start := time.Now()
	resp := request(t, client, "dprop.op.slow", `{"op":"inc"}`)
	if code := resp.Header.Get(micro.ErrorCodeHeader); code != "503" || !strings.Contains(resp.Header.Get(micro.ErrorHeader), "deadline exceeded") {
		t.Fatalf("held fold: answer %q %q %s, want 503 at the timeout", code, resp.Header.Get(micro.ErrorHeader), resp.Data)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
		t.Fatalf("the timeout answer came after %v, want about 300ms", took)
	}
	hold.Store(false)
	releaseFn()
	resp = request(t, client, "dprop.op.slow", `{"op":"inc"}`)
	if code := resp.Header.Get(micro.ErrorCodeHeader); code != "" {
		t.Fatalf("after the fold is released: error %s %s", code, resp.Header.Get(micro.ErrorHeader))
	}
	brokertest.WaitFor(t, "both increments counted", func() bool { return total(t, r, "slow") == 2 })
}
