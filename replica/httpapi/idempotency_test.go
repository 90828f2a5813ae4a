package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/httpapi"
)

// An Idempotency-Key names one update of one cell: the same key on another
// cell is another update, stored; a retry with the same value is stored
// once and answered as a duplicate; the same key with another value is
// refused with 422, never dropped in silence. This holds across sidecars,
// since the stream remembers the keys.
func TestIdempotencyKeyNamesOneUpdateOfOneCell(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	other := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	js := brokertest.JetStream(t, connect(t, srv.ClientURL()))
	key := []string{"Idempotency-Key", "order-42"}

	a := sc.do(t, "POST", "/v1/cells/cellA", `{"type":"max","value":5}`, key...).want(t, http.StatusOK)
	b := sc.do(t, "POST", "/v1/cells/cellB", `{"type":"set","elems":["z"]}`, key...).want(t, http.StatusOK)
	if b.body != `{"type":"set","elems":["z"]}` || b.header.Get(httpapi.HeaderSeq) == "0" || b.header.Get("ETag") == "" ||
		b.header.Get(httpapi.HeaderDuplicate) != "" {
		t.Fatalf("the same key on another cell: %v %s, want the update stored", b.header, b.body)
	}
	sc.do(t, "GET", "/v1/cells/cellB", "").want(t, http.StatusOK)

	// A retry, here through another sidecar, is stored once and says so.
	before := streamLastSeq(t, js)
	again := other.do(t, "POST", "/v1/cells/cellA", `{ "value": 5, "type": "max" }`, key...).want(t, http.StatusOK)
	if again.header.Get(httpapi.HeaderDuplicate) != "true" || again.header.Get(httpapi.HeaderSeq) != a.header.Get(httpapi.HeaderSeq) || again.body != a.body {
		t.Fatalf("retry answered %v %s, want the first answer marked %s", again.header, again.body, httpapi.HeaderDuplicate)
	}
	c, err := sc.c.Refine(ctxT(t), "cellA", []byte(`{"type":"max","value":5}`), httpapi.WithIdempotencyKey("order-42"))
	if err != nil || !c.Duplicate {
		t.Fatalf("client retry: %+v %v, want Duplicate", c, err)
	}

	// The same key with another value is refused, on either sidecar.
	for _, s := range []*sidecar{sc, other} {
		r := s.do(t, "POST", "/v1/cells/cellA", `{"type":"max","value":6}`, key...).want(t, http.StatusUnprocessableEntity)
		msg, cell, reason := errorOf(t, r)
		if reason != httpapi.ReasonKeyReused || cell != "cellA" || !strings.Contains(msg, "order-42") || !strings.Contains(msg, "use a new key") {
			t.Fatalf("reuse: reason %q cell %q: %s", reason, cell, msg)
		}
	}
	if after := streamLastSeq(t, js); after != before {
		t.Fatalf("the stream went from %d to %d: a retry or a reused key was stored", before, after)
	}
	if got := sc.do(t, "GET", "/v1/cells/cellA", "").want(t, http.StatusOK).body; got != `{"type":"max","value":5}` {
		t.Fatalf("cellA = %s", got)
	}
	// A new key is a new update.
	sc.do(t, "POST", "/v1/cells/cellA", `{"type":"max","value":6}`, "Idempotency-Key", "order-43").want(t, http.StatusOK)

	// Once compaction has removed the original from the stream, it cannot
	// be compared: a repeat of its key within the window is taken for the
	// duplicate it most likely is, and stores nothing.
	if _, err := sc.r.Compact(ctxT(t), replica.CompactOptions{Mode: replica.CompactCheckpoint}); err != nil {
		t.Fatal(err)
	}
	before = streamLastSeq(t, js)
	late := sc.do(t, "POST", "/v1/cells/cellA", `{"type":"max","value":7}`, key...).want(t, http.StatusOK)
	if late.header.Get(httpapi.HeaderDuplicate) != "true" || late.body != `{"type":"max","value":6}` || streamLastSeq(t, js) != before {
		t.Fatalf("after compaction: %v %s", late.header, late.body)
	}
}
