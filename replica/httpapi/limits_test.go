package httpapi_test

import (
	"net/http"
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
