package httpapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/httpapi"
)

// Without its broker, a sidecar with an outbox answers a refine 202 with
// the merged value and Dprop-Pending, marks reads and events pending,
// lists the update on GET /v1/outbox and exports it in /metrics; a client
// that asks for the log's acknowledgement gets 503.
func TestRefineIntoOutbox(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{}, func(c *replica.Config) {
		c.OutboxPath = filepath.Join(t.TempDir(), "outbox")
		c.OutboxAfter = 200 * time.Millisecond
	})
	sc.do(t, "POST", "/v1/cells/ob.k", `{"type":"max","value":1}`).want(t, http.StatusOK)
	if a := sc.do(t, "GET", "/v1/outbox", ""); a.status != http.StatusOK || !strings.Contains(a.body, `"pending":0`) {
		t.Fatalf("GET /v1/outbox with nothing pending: %d %s", a.status, a.body)
	}
	srv.Shutdown()

	a := sc.do(t, "POST", "/v1/cells/ob.k", `{"type":"max","value":7}`).want(t, http.StatusAccepted)
	if a.body != `{"type":"max","value":7}` || a.header.Get(httpapi.HeaderPending) != "1" || a.header.Get(httpapi.HeaderOutbox) != "1" {
		t.Fatalf("202: %s, headers %v", a.body, a.header)
	}
	a = sc.do(t, "GET", "/v1/cells/ob.k", "").want(t, http.StatusOK)
	if a.body != `{"type":"max","value":7}` || a.header.Get(httpapi.HeaderPending) != "1" {
		t.Fatalf("read: %s, headers %v", a.body, a.header)
	}
	for _, ask := range [][]string{{"Prefer", "ack=log"}, {"Prefer", "respond-async, ACK=log"}} {
		a = sc.do(t, "POST", "/v1/cells/ob.k", `{"type":"max","value":9}`, ask...).want(t, http.StatusServiceUnavailable)
		if a.header.Get("Preference-Applied") != "ack=log" {
			t.Fatalf("Prefer %q: no Preference-Applied", ask[1])
		}
	}
	sc.do(t, "POST", "/v1/cells/ob.k?ack=log", `{"type":"max","value":9}`).want(t, http.StatusServiceUnavailable)

	var ob httpapi.Outbox
	a = sc.do(t, "GET", "/v1/outbox", "").want(t, http.StatusOK)
	if err := json.Unmarshal([]byte(a.body), &ob); err != nil || ob.Pending != 1 || len(ob.Updates) != 1 ||
		ob.Updates[0].Cell != "ob.k" || string(ob.Updates[0].Value) != `{"type":"max","value":7}` || ob.OldestAge <= 0 {
		t.Fatalf("GET /v1/outbox: %s", a.body)
	}
	got, err := sc.c.Outbox(ctxT(t), 10)
	if err != nil || got.Pending != 1 {
		t.Fatalf("client Outbox: %+v %v", got, err)
	}
	m := sc.do(t, "GET", "/metrics", "").body
	for _, line := range []string{"dprop_outbox_pending 1", "dprop_outbox_taken_total 1", "dprop_outbox_delivered_total 0"} {
		if !strings.Contains(m, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	var rd httpapi.Readiness
	if err := json.Unmarshal([]byte(sc.do(t, "GET", "/readyz", "").body), &rd); err != nil || rd.Outbox == nil || rd.Outbox.Pending != 1 {
		t.Fatalf("/readyz outbox: %+v %v", rd.Outbox, err)
	}
	// The client reports the 202.
	c, err := sc.c.Refine(ctxT(t), "ob.k", []byte(`{"type":"max","value":8}`))
	if err != nil || !c.Accepted || c.Pending != 2 || string(c.Value) != `{"type":"max","value":8}` {
		t.Fatalf("client refine: %+v %v", c, err)
	}
	// An event stream starts with the pending value, marked.
	errStop := errors.New("stop")
	var ev httpapi.Event
	err = sc.c.Watch(ctxT(t), "ob.k", func(e httpapi.Event) error { ev = e; return errStop })
	if !errors.Is(err, errStop) || ev.Pending != 2 || string(ev.Value) != `{"type":"max","value":8}` {
		t.Fatalf("event: %+v %v", ev, err)
	}
}

// A sidecar without an outbox answers 404 on GET /v1/outbox, and has no
// outbox section in /readyz.
func TestNoOutbox(t *testing.T) {
	sc := newSidecar(t, runBroker(t).ClientURL(), httpapi.Options{})
	sc.do(t, "GET", "/v1/outbox", "").want(t, http.StatusNotFound)
	if b := sc.do(t, "GET", "/readyz", "").body; strings.Contains(b, "outbox") {
		t.Fatalf("/readyz: %s", b)
	}
}

// A refine the log acknowledged that the sidecar cannot fold in time (its
// fold is held here) is answered 200 with Dprop-Folded: false and the
// value marked pending, with or without an outbox; reads show it, and the
// mark goes once the fold passes it.
func TestRefineAcknowledgedNotFolded(t *testing.T) {
	srv := runBroker(t)
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	defer open()
	other := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{}, func(c *replica.Config) {
		c.OutboxAfter = 200 * time.Millisecond
		c.OnChange = func(ev replica.Event) {
			if ev.Cell == "blocker" {
				<-gate
			}
		}
	})
	other.do(t, "POST", "/v1/cells/blocker", `{"type":"max","value":1}`).want(t, http.StatusOK)
	for {
		if _, ok := sc.r.Get("blocker"); ok {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	a := sc.do(t, "POST", "/v1/cells/nf.k", `{"type":"max","value":7}`).want(t, http.StatusOK)
	if a.body != `{"type":"max","value":7}` || a.header.Get(httpapi.HeaderFolded) != "false" || a.header.Get(httpapi.HeaderPending) != "1" {
		t.Fatalf("refine with the fold held: %s, headers %v", a.body, a.header)
	}
	a = sc.do(t, "GET", "/v1/cells/nf.k", "").want(t, http.StatusOK)
	if a.body != `{"type":"max","value":7}` || a.header.Get(httpapi.HeaderPending) != "1" || a.header.Get(httpapi.HeaderFolded) != "" {
		t.Fatalf("read with the fold held: %s, headers %v", a.body, a.header)
	}
	c, err := sc.c.Refine(ctxT(t), "nf.k", []byte(`{"type":"max","value":8}`))
	if err != nil || !c.Unfolded || c.Accepted || c.Pending != 2 || string(c.Value) != `{"type":"max","value":8}` {
		t.Fatalf("client refine: %+v %v", c, err)
	}
	open()
	deadline := time.Now().Add(testTimeout)
	for {
		a = sc.do(t, "GET", "/v1/cells/nf.k", "").want(t, http.StatusOK)
		if a.header.Get(httpapi.HeaderPending) == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still pending after the fold was let go: %v", a.header)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if a.body != `{"type":"max","value":8}` {
		t.Fatalf("read after the fold: %s", a.body)
	}
}
