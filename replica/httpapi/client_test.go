package httpapi_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
	"github.com/dprop/dprop/replica/httpapi"
)

// The client against a real server: every call, and errors as *APIError
// with the status and reason the CLI turns into messages and exit codes.
func TestClient(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{}, func(c *replica.Config) { c.Cells = "weather.>" })
	c := httpapi.NewClient(sc.ts.URL+"/", nil) // a trailing slash is fine
	ctx := ctxT(t)
	const cell = "weather.boston.temp"

	_, err := c.Get(ctx, cell)
	if ae := apiError(t, err); ae.Status != 404 || ae.Cell != cell || ae.Reason != httpapi.ReasonNotFound || !strings.Contains(ae.Error(), "404 Not Found") {
		t.Fatalf("get unknown: %+v (%v)", ae, ae)
	}
	w := watch(t, c, cell)

	got, err := c.Refine(ctx, cell, []byte(day1), httpapi.WithIdempotencyKey("key-1"))
	if err != nil || string(got.Value) != day1 || got.Type != "range" || got.Seq != 1 || got.Updates != 1 || got.ETag == "" || got.Name != cell {
		t.Fatalf("refine: %+v %v", got, err)
	}
	again, err := c.Refine(ctx, cell, []byte(day1), httpapi.WithIdempotencyKey("key-1"))
	if err != nil || again.Seq != got.Seq || again.Updates != 1 {
		t.Fatalf("retried refine: %+v %v", again, err)
	}
	if ev := w.next(t); ev.Cell != cell || string(ev.Value) != day1 || ev.ETag != got.ETag || ev.Seq != 1 {
		t.Fatalf("event %+v", ev)
	}
	for _, day := range []string{day2, `{"type":"range","min":33,"max":36}`, `{"type":"range","min":31,"max":42}`, `{"type":"range","min":31,"max":57}`} {
		if _, err := c.Refine(ctx, cell, []byte(day)); err != nil {
			t.Fatal(err)
		}
	}
	got, err = c.Get(ctx, cell)
	if err != nil || string(got.Value) != week || got.Updates != 5 || got.Stale {
		t.Fatalf("get: %+v %v", got, err)
	}
	if got, err := c.Await(ctx, cell, []byte(day1), 0); err != nil || string(got.Value) != week {
		t.Fatalf("await: %+v %v", got, err)
	}
	cells, err := c.Cells(ctx, "")
	if err != nil || len(cells) != 1 || cells[0].Name != cell || cells[0].ETag != got.ETag {
		t.Fatalf("cells: %+v %v", cells, err)
	}

	refusals := []struct {
		cell, body string
		status     int
		reason     string
	}{
		{cell, `{"type":"max","value":1}`, http.StatusConflict, fold.ReasonTypeMismatch},
		{cell, `{"type":`, http.StatusBadRequest, fold.ReasonMalformed},
		{"weather.*", day1, http.StatusBadRequest, fold.ReasonBadSubject},
		{"elsewhere.x", day1, http.StatusMisdirectedRequest, httpapi.ReasonNotHeld},
	}
	for _, r := range refusals {
		_, err := c.Refine(ctx, r.cell, []byte(r.body))
		if ae := apiError(t, err); ae.Status != r.status || ae.Reason != r.reason || ae.Cell != r.cell || ae.Message == "" {
			t.Errorf("refine %s %s: %+v", r.cell, r.body, ae)
		}
	}
	if _, err := c.Cells(ctx, "a b"); apiError(t, err).Status != 400 {
		t.Fatalf("cells with a bad pattern: %v", err)
	}

	// A server that is not there: a transport error, not an APIError.
	gone := httpapi.NewClient("http://127.0.0.1:1", &http.Client{Timeout: 5 * time.Second})
	var ae *httpapi.APIError
	if _, err := gone.Get(ctx, cell); err == nil || errors.As(err, &ae) {
		t.Fatalf("unreachable server: %v", err)
	}
	// A non-JSON error (say, from a proxy in between) keeps its text.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream unreachable", http.StatusBadGateway)
	}))
	defer proxy.Close()
	_, err = httpapi.NewClient(proxy.URL, nil).Get(ctx, cell)
	if ae := apiError(t, err); ae.Status != 502 || ae.Message != "upstream unreachable" || ae.Reason != "" {
		t.Fatalf("proxy: %+v", ae)
	}
}
