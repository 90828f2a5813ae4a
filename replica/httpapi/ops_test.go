package httpapi_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/httpapi"
)

// POST /v1/cells/{cell}/ops applies an operation and answers the merged
// value; a retry with its Idempotency-Key, through another sidecar, is a
// duplicate; a malformed or inapplicable operation is refused with
// 400/409 and nothing is published.
func TestOperations(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	other := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	js := brokertest.JetStream(t, connect(t, srv.ClientURL()))
	w := sc.r.WriterID()

	a := sc.do(t, "POST", "/v1/cells/jobs.done/ops", `{"op":"inc"}`).want(t, http.StatusOK)
	if a.body != `{"type":"gcounter","counts":{"`+w+`":1}}` || a.header.Get(httpapi.HeaderType) != "gcounter" {
		t.Fatalf("inc: %s %v", a.body, a.header)
	}
	key := []string{"Idempotency-Key", "job-7"}
	b := sc.do(t, "POST", "/v1/cells/jobs.done/ops", `{"op":"inc","by":2}`, key...).want(t, http.StatusOK)
	before := streamLastSeq(t, js)
	again := other.do(t, "POST", "/v1/cells/jobs.done/ops", `{"op":"inc","by":2}`, key...).want(t, http.StatusOK)
	if again.header.Get(httpapi.HeaderDuplicate) != "true" || again.body != b.body || streamLastSeq(t, js) != before {
		t.Fatalf("retry at another sidecar: %v %s (first %s), stream %d→%d", again.header, again.body, b.body, before, streamLastSeq(t, js))
	}
	r := other.do(t, "POST", "/v1/cells/jobs.done/ops", `{"op":"inc","by":3}`, key...).want(t, http.StatusUnprocessableEntity)
	if _, _, reason := errorOf(t, r); reason != httpapi.ReasonKeyReused {
		t.Fatalf("key reused: reason %q", reason)
	}
	for _, c := range []struct {
		body   string
		status int
		reason string
	}{
		{`{"op":"dec"}`, http.StatusConflict, httpapi.ReasonNotApplicable},
		{`{"op":"inc","by":-1}`, http.StatusBadRequest, httpapi.ReasonBadOperation},
		{`{"op":"add","elems":["x"]}`, http.StatusConflict, httpapi.ReasonNotApplicable},
		{`{"op":"inc"`, http.StatusBadRequest, httpapi.ReasonBadOperation},
	} {
		r := sc.do(t, "POST", "/v1/cells/jobs.done/ops", c.body).want(t, c.status)
		if msg, cell, reason := errorOf(t, r); reason != c.reason || cell != "jobs.done" {
			t.Errorf("%s: reason %q cell %q (%s), want %q", c.body, reason, cell, msg, c.reason)
		}
	}
	if streamLastSeq(t, js) != before {
		t.Fatal("a refused operation was published")
	}

	// Sets, registers and maps, through the client.
	ctx := ctxT(t)
	if c, err := sc.c.Apply(ctx, "tags", []byte(`{"op":"add","elems":["a","b"]}`)); err != nil || c.Type != "orset" {
		t.Fatalf("add: %+v %v", c, err)
	}
	c, err := other.c.Apply(ctx, "tags", []byte(`{"op":"remove","elems":["a"]}`))
	if err != nil || string(c.Value) != `{"type":"orset","elems":[{"elem":"b","dots":[["`+w+`",2]]}],"context":{"`+w+`":2},"cloud":[]}` {
		t.Fatalf("remove through the other sidecar: %s %v", c.Value, err)
	}
	if c, err := sc.c.Apply(ctx, "motd", []byte(`{"op":"set","value":"hello"}`)); err != nil || c.Type != "lww" {
		t.Fatalf("set: %+v %v", c, err)
	}
	c, err = sc.c.Apply(ctx, "stock", []byte(`{"op":"update","key":"apples","with":{"op":"inc","by":4}}`), httpapi.WithIdempotencyKey("s1"))
	if err != nil || string(c.Value) != `{"type":"map","entries":{"apples":{"type":"gcounter","counts":{"`+w+`":4}}}}` {
		t.Fatalf("map update: %s %v", c.Value, err)
	}
	_, err = sc.c.Apply(ctx, "stock", []byte(`{"op":"remove","key":"apples"}`))
	var apiErr *httpapi.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict || apiErr.Reason != httpapi.ReasonNotApplicable {
		t.Fatalf("remove of a counter's key: %v, want 409 not_applicable", err)
	}
	if rd := sc.do(t, "GET", "/readyz", "").want(t, http.StatusOK); !strings.Contains(rd.body, `"writer":"`+w+`"`) {
		t.Fatalf("readyz does not report the writer: %s", rd.body)
	}
}

// A sidecar that has not folded the log refuses operations with 503.
func TestOperationsBeforeReady(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecarNoWait(t, srv.ClientURL(), httpapi.Options{}, func(c *replica.Config) { c.Stream = "NOSUCH" })
	r := sc.do(t, "POST", "/v1/cells/x/ops", `{"op":"inc"}`).want(t, http.StatusServiceUnavailable)
	if _, _, reason := errorOf(t, r); reason != httpapi.ReasonNotReady {
		t.Fatalf("reason %q, want %q", reason, httpapi.ReasonNotReady)
	}
}
