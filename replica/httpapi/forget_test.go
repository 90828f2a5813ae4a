package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dprop/dprop/replica/httpapi"
)

// DELETE forgets a cell, or the cells of a pattern: a threshold read
// waiting on one ends with 410, an event stream says "forgotten", the cell
// is gone (404), and written again it starts afresh.
func TestForgetHTTP(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	for _, c := range []string{"t.a", "t.b", "u.c"} {
		sc.do(t, "POST", "/v1/cells/"+c, `{"type":"max","value":1}`).want(t, http.StatusOK)
	}
	_, next := rawStream(t, sc, "/v1/events?match=t.>")
	await := make(chan answer, 1)
	go func() {
		q := url.Values{"await": {`{"type":"max","value":5}`}}
		await <- sc.do(t, "GET", "/v1/cells/t.a?"+q.Encode(), "")
	}()
	waitFor(t, "the threshold read to wait", func() bool { return metric(t, sc.reg, "dprop_http_pending_awaits") == 1 })
	a := sc.do(t, "DELETE", "/v1/cells?match=t.>&reason=test", "").want(t, http.StatusOK)
	var f httpapi.Forgotten
	if err := json.Unmarshal([]byte(a.body), &f); err != nil || f.Cells != 2 || f.Markers != 2 || f.Purged != 2 {
		t.Fatalf("DELETE: %s", a.body)
	}
	if got := (<-await); got.status != http.StatusGone || !strings.Contains(got.body, `"reason":"forgotten"`) {
		t.Errorf("the threshold read: %d %s", got.status, got.body)
	}
	forgotten := 0
	for forgotten < 2 {
		if line := next(); line == "event: forgotten" {
			forgotten++
		}
	}
	sc.do(t, "GET", "/v1/cells/t.a", "").want(t, http.StatusNotFound)
	sc.do(t, "GET", "/v1/cells/u.c", "").want(t, http.StatusOK)
	sc.do(t, "DELETE", "/v1/cells/u.c", "").want(t, http.StatusOK)
	sc.do(t, "GET", "/v1/cells/u.c", "").want(t, http.StatusNotFound)
	sc.do(t, "DELETE", "/v1/cells", "").want(t, http.StatusBadRequest) // a pattern is required
	sc.do(t, "POST", "/v1/cells/t.a", `{"type":"flag","value":true}`).want(t, http.StatusOK)
}
