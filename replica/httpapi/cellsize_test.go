package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
	"github.com/dprop/dprop/replica/httpapi"
)

// A refine that would make the cell larger than its limit is refused with
// 413 cell_too_large before anything is published, and the cell keeps its
// value; the same update arriving on NATS is refused by the fold and
// counted in dprop_updates_refused_total, exported at 0 beforehand.
func TestRefineCellTooLarge(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{}, func(c *replica.Config) { c.MaxCellBytes = 40 })
	js := brokertest.JetStream(t, connect(t, srv.ClientURL()))
	if n := metric(t, sc.reg, "dprop_updates_refused_total", "reason", fold.ReasonCellTooLarge); n != 0 {
		t.Fatalf("cell_too_large counted %v before any refusal", n)
	}
	const first = `{"type":"set","elems":["a","b","c","d"]}` // 40 bytes
	sc.do(t, "POST", "/v1/cells/s", first).want(t, http.StatusOK)
	before := streamLastSeq(t, js)
	a := sc.do(t, "POST", "/v1/cells/s", `{"type":"set","elems":["e"]}`).want(t, http.StatusRequestEntityTooLarge)
	if msg, cell, reason := errorOf(t, a); reason != fold.ReasonCellTooLarge || cell != "s" {
		t.Fatalf("reason %q, cell %q (%s), want cell_too_large for s", reason, cell, msg)
	}
	if after := streamLastSeq(t, js); after != before {
		t.Fatalf("the stream went from %d to %d: a refused refine was published", before, after)
	}
	// An update that adds nothing is not refused.
	sc.do(t, "POST", "/v1/cells/s", `{"type":"set","elems":["a"]}`).want(t, http.StatusOK)
	if _, err := js.Publish(ctxT(t), "dprop.cell.s", []byte(`{"type":"set","elems":["e"]}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refusal counted", func() bool {
		return metric(t, sc.reg, "dprop_updates_refused_total", "reason", fold.ReasonCellTooLarge) == 1
	})
	if got := sc.do(t, "GET", "/v1/cells/s", "").want(t, http.StatusOK).body; got != first {
		t.Fatalf("the cell changed to %s", got)
	}
}

// A value that passes the body limit, the decoder and the cell's limit but,
// with the message's headers, is more than the broker takes is refused with
// 413 too_large before publishing: no retry could cure it, so it is not a
// 503 with Retry-After.
func TestRefineTooLargeForTheBroker(t *testing.T) {
	conf := brokertest.WriteFile(t, "small.conf", "max_payload: 65536\n")
	srv := brokertest.RunWithStream(t, brokertest.WithConfigFile(conf))
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	js := brokertest.JetStream(t, connect(t, srv.ClientURL()))
	prefix, suffix := `{"type":"set","elems":["`, `"]}`
	body := prefix + strings.Repeat("x", 65536-8-len(prefix)-len(suffix)) + suffix
	before := streamLastSeq(t, js)
	a := sc.do(t, "POST", "/v1/cells/big", body, "Dprop-Origin", "app-7").want(t, http.StatusRequestEntityTooLarge)
	msg, _, reason := errorOf(t, a)
	if reason != fold.ReasonTooLarge || !strings.Contains(msg, "the broker takes at most 65536") || a.header.Get("Retry-After") != "" {
		t.Fatalf("reason %q, Retry-After %q: %s", reason, a.header.Get("Retry-After"), msg)
	}
	if after := streamLastSeq(t, js); after != before {
		t.Fatalf("the stream went from %d to %d: a refused refine was published", before, after)
	}
}
