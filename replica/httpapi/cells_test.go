package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
	"github.com/dprop/dprop/replica/httpapi"
)

const (
	day1 = `{"type":"range","min":34,"max":48}`
	day2 = `{"type":"range","min":36,"max":43}`
	week = `{"type":"range","min":31,"max":57}`
)

func errorOf(t *testing.T, a answer) (msg, cell, reason string) {
	t.Helper()
	var eb struct{ Error, Cell, Reason string }
	if err := json.Unmarshal([]byte(a.body), &eb); err != nil || eb.Error == "" {
		t.Fatalf("error body %q is not the API's JSON error: %v", a.body, err)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
	return eb.Error, eb.Cell, eb.Reason
}

// GET answers the value in wire form, byte for byte, with its ETag,
// sequence, type and update count; If-None-Match answers 304 as RFC 9110
// says; unknown cells are 404.
func TestGetAndConditional(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	const path = "/v1/cells/weather.boston.temp"

	a := sc.do(t, "GET", path, "").want(t, http.StatusNotFound)
	if _, cell, reason := errorOf(t, a); cell != "weather.boston.temp" || reason != httpapi.ReasonNotFound {
		t.Fatalf("404: cell %q reason %q", cell, reason)
	}

	post := sc.do(t, "POST", path, day1).want(t, http.StatusOK)
	get := sc.do(t, "GET", path, "").want(t, http.StatusOK)
	for _, a := range []answer{post, get} {
		if a.body != day1 {
			t.Fatalf("body %s, want exactly %s", a.body, day1)
		}
		h := a.header
		if h.Get("Content-Type") != "application/json" || h.Get(httpapi.HeaderSeq) != "1" ||
			h.Get(httpapi.HeaderType) != "range" || h.Get(httpapi.HeaderUpdates) != "1" {
			t.Fatalf("headers %v", h)
		}
	}
	etag := get.header.Get("ETag")
	if etag != fold.ETag(lattice.Range{Min: 34, Max: 48}) || post.header.Get("ETag") != etag {
		t.Fatalf("ETag %q (post %q)", etag, post.header.Get("ETag"))
	}

	for _, inm := range []string{etag, "W/" + etag, `"nope", ` + etag, `W/"a,b" ,` + etag, "*"} {
		a := sc.do(t, "GET", path, "", "If-None-Match", inm).want(t, http.StatusNotModified)
		if a.body != "" || a.header.Get("ETag") != etag || a.header.Get(httpapi.HeaderSeq) != "1" {
			t.Fatalf("304 for %q: body %q headers %v", inm, a.body, a.header)
		}
	}
	for _, inm := range []string{`"nope"`, "W/", strings.Trim(etag, `"`), `"` + strings.Trim(etag, `"`)} {
		sc.do(t, "GET", path, "", "If-None-Match", inm).want(t, http.StatusOK)
	}
	head := sc.do(t, "HEAD", path, "").want(t, http.StatusOK)
	if head.body != "" || head.header.Get("ETag") != etag {
		t.Fatalf("HEAD: %q %v", head.body, head.header)
	}

	sc.do(t, "POST", path, week).want(t, http.StatusOK)
	a = sc.do(t, "GET", path, "", "If-None-Match", etag).want(t, http.StatusOK)
	if a.body != week || a.header.Get("ETag") == etag || a.header.Get(httpapi.HeaderSeq) != "2" {
		t.Fatalf("after a change: %s %v", a.body, a.header)
	}
	if a.header.Get(httpapi.HeaderStale) != "" {
		t.Fatalf("a ready replica's answer is marked stale")
	}
}

// Every refusal gets its status and reason in the JSON error, names the
// cell, and publishes nothing.
func TestRefineRefusals(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{MaxBody: 1024}, func(c *replica.Config) {
		c.Cells = "weather.>"
		c.Limits = lattice.Limits{MaxBytes: 512, MaxDepth: 4}
	})
	js := brokertest.JetStream(t, connect(t, srv.ClientURL()))
	sc.do(t, "POST", "/v1/cells/weather.t", day1).want(t, http.StatusOK)

	deep := strings.Repeat(`{"type":"map","entries":{"k":`, 5) + `{"type":"max","value":1}` + strings.Repeat(`}}`, 5)
	cases := []struct {
		name, path, body string
		header           []string
		status           int
		reason           string
	}{
		{"malformed", "weather.t", `{"type":"range","min":1`, nil, 400, fold.ReasonMalformed},
		{"empty body", "weather.t", ``, nil, 400, fold.ReasonMalformed},
		{"unknown type", "weather.t", `{"type":"whatever"}`, nil, 400, fold.ReasonUnknownType},
		{"missing field", "weather.t", `{"type":"range","min":1}`, nil, 400, fold.ReasonBadField},
		{"not finite", "weather.t", `{"type":"range","min":1e999,"max":2}`, nil, 400, fold.ReasonNotFinite},
		{"invalid", "weather.t", `{"type":"range","min":3,"max":1}`, nil, 400, fold.ReasonInvalid},
		{"too deep", "weather.d", deep, nil, 400, fold.ReasonTooDeep},
		{"type mismatch", "weather.t", `{"type":"max","value":3}`, nil, 409, fold.ReasonTypeMismatch},
		{"bad name: space", "weather.a%20b", day1, nil, 400, fold.ReasonBadSubject},
		{"bad name: wildcard", "weather.*", day1, nil, 400, fold.ReasonBadSubject},
		{"bad name: empty token", "weather..t", day1, nil, 400, fold.ReasonBadSubject},
		{"body too large", "weather.t", day1 + strings.Repeat(" ", 2000), nil, 413, fold.ReasonTooLarge},
		{"value too large", "weather.t", day1 + strings.Repeat(" ", 600), nil, 413, fold.ReasonTooLarge},
		{"not held", "other.t", day1, nil, 421, httpapi.ReasonNotHeld},
		{"long idempotency key", "weather.t", day1, []string{"Idempotency-Key", strings.Repeat("k", 300)}, 400, httpapi.ReasonBadParameter},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := streamLastSeq(t, js)
			a := sc.do(t, "POST", "/v1/cells/"+tc.path, tc.body, tc.header...).want(t, tc.status)
			msg, cell, reason := errorOf(t, a)
			if reason != tc.reason {
				t.Errorf("reason %q, want %q (%s)", reason, tc.reason, msg)
			}
			if want, _ := url.PathUnescape(tc.path); cell != want {
				t.Errorf("cell %q, want %q", cell, want)
			}
			if a.header.Get("ETag") != "" || a.header.Get(httpapi.HeaderSeq) != "" {
				t.Errorf("an error carries cell headers: %v", a.header)
			}
			if after := streamLastSeq(t, js); after != before {
				t.Errorf("the stream went from %d to %d: a refused request published", before, after)
			}
		})
	}
	// Reads of a cell this replica does not hold are misdirected too.
	sc.do(t, "GET", "/v1/cells/other.t", "").want(t, http.StatusMisdirectedRequest)
	sc.do(t, "GET", "/v1/cells/other.t/events", "").want(t, http.StatusMisdirectedRequest)
	sc.do(t, "GET", "/v1/cells/weather.a%20b", "").want(t, http.StatusBadRequest)
	if got := sc.do(t, "GET", "/v1/cells/weather.t", "").want(t, 200).body; got != day1 {
		t.Fatalf("the cell changed to %s", got)
	}
}

// A refine that leaves the cell in contradiction succeeds, and says so: the
// body is the contradiction, and a header gives its reason.
func TestRefineContradiction(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	sc.do(t, "POST", "/v1/cells/x", `{"type":"number","value":3}`).want(t, 200)
	a := sc.do(t, "POST", "/v1/cells/x", `{"type":"number","value":4}`).want(t, 200)
	v, err := lattice.Decode([]byte(a.body))
	if err != nil || !lattice.IsContradiction(v) {
		t.Fatalf("body %s (%v), want a contradiction", a.body, err)
	}
	reason := v.(*lattice.Contradiction).Reason()
	if h, _ := url.PathUnescape(a.header.Get(httpapi.HeaderContradiction)); h != reason {
		t.Fatalf("%s %q, want %q", httpapi.HeaderContradiction, h, reason)
	}
	c, err := sc.c.Get(ctxT(t), "x")
	if err != nil || c.Contradiction != "number: 3 ≠ 4" || string(c.Value) != a.body {
		t.Fatalf("client get: %+v %v", c, err)
	}
	// The answer can be published again as is.
	sc.do(t, "POST", "/v1/cells/x", a.body).want(t, 200)
}

// An Idempotency-Key makes a retried refine be stored once (the message id
// is derived from the cell and the key); Dprop-Origin is passed on as the
// message's origin.
func TestIdempotencyKeyAndOrigin(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	js := brokertest.JetStream(t, connect(t, srv.ClientURL()))
	before := streamLastSeq(t, js)
	first := sc.do(t, "POST", "/v1/cells/c", `{"type":"max","value":1}`, "Idempotency-Key", "k1", "Dprop-Origin", "app-7").want(t, 200)
	again := sc.do(t, "POST", "/v1/cells/c", `{"type":"max","value":1}`, "Idempotency-Key", "k1").want(t, 200)
	if first.header.Get(httpapi.HeaderSeq) != again.header.Get(httpapi.HeaderSeq) || first.body != again.body {
		t.Fatalf("retry answered differently: %v %s / %v %s", first.header, first.body, again.header, again.body)
	}
	if after := streamLastSeq(t, js); after != before+1 {
		t.Fatalf("stream went from %d to %d, want one message", before, after)
	}
	stream, err := js.Stream(ctxT(t), cellname.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetMsg(ctxT(t), before+1)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get(replica.HeaderOrigin) != "app-7" || !strings.HasPrefix(msg.Header.Get("Nats-Msg-Id"), "dprop-key-") {
		t.Fatalf("message headers %v", msg.Header)
	}
	sc.do(t, "POST", "/v1/cells/c", `{"type":"max","value":1}`, "Idempotency-Key", "k2").want(t, 200)
	if after := streamLastSeq(t, js); after != before+2 {
		t.Fatalf("another key was not stored: stream at %d", after)
	}
}

// With the broker gone, a refine answers 503 with Retry-After.
func TestRefineUnavailable(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{RefineTimeout: 300 * time.Millisecond})
	sc.do(t, "POST", "/v1/cells/c", `{"type":"max","value":1}`).want(t, 200)
	srv.Shutdown()
	a := sc.do(t, "POST", "/v1/cells/c", `{"type":"max","value":2}`).want(t, http.StatusServiceUnavailable)
	if _, _, reason := errorOf(t, a); reason != httpapi.ReasonUnavailable || a.header.Get("Retry-After") == "" {
		t.Fatalf("503: reason %q, Retry-After %q", reason, a.header.Get("Retry-After"))
	}
	// Reads go on from the replica's copy.
	if got := sc.do(t, "GET", "/v1/cells/c", "").want(t, 200).body; got != `{"type":"max","value":1}` {
		t.Fatalf("read %s", got)
	}
	if n := metric(t, sc.reg, "dprop_http_requests_total", "route", "POST /v1/cells/{cell}", "code", "503"); n != 1 {
		t.Fatalf("503s counted: %v", n)
	}
}

// GET /v1/cells lists cells sorted by name, filtered by a pattern.
func TestListCells(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	for _, c := range []string{"weather.nyc.temp", "weather.boston.temp", "other.x"} {
		sc.do(t, "POST", "/v1/cells/"+c, day1).want(t, 200)
	}
	sc.do(t, "POST", "/v1/cells/n", `{"type":"number","value":1}`).want(t, 200)
	sc.do(t, "POST", "/v1/cells/n", `{"type":"number","value":2}`).want(t, 200)
	list := func(query string) []httpapi.Cell {
		t.Helper()
		var out struct{ Cells []httpapi.Cell }
		a := sc.do(t, "GET", "/v1/cells"+query, "").want(t, 200)
		if err := json.Unmarshal([]byte(a.body), &out); err != nil {
			t.Fatal(err)
		}
		return out.Cells
	}
	all := list("")
	var names []string
	for _, c := range all {
		names = append(names, c.Name)
	}
	if strings.Join(names, " ") != "n other.x weather.boston.temp weather.nyc.temp" {
		t.Fatalf("names %v", names)
	}
	if all[0].Contradiction == "" || all[0].Value != nil || all[0].Updates != 2 {
		t.Fatalf("n: %+v", all[0])
	}
	got := list("?match=weather.*.temp&values=true")
	if len(got) != 2 || string(got[0].Value) != day1 || got[0].Type != "range" || got[0].ETag == "" || got[0].Seq == 0 {
		t.Fatalf("weather.*.temp: %+v", got)
	}
	viaClient, err := sc.c.Cells(ctxT(t), "weather.>")
	if err != nil || len(viaClient) != 2 || viaClient[1].Name != "weather.nyc.temp" {
		t.Fatalf("client cells: %+v %v", viaClient, err)
	}
	for _, q := range []string{"?match=weather.>.x", "?match=a%20b", "?values=maybe"} {
		sc.do(t, "GET", "/v1/cells"+q, "").want(t, 400)
	}
	if got := list("?match=nothing.here"); len(got) != 0 {
		t.Fatalf("no match: %+v", got)
	}
}

// A threshold read answers as soon as the cell is ⊒ the threshold, or 504
// when it times out; bad parameters are 400 and an incompatible threshold
// 409.
func TestAwait(t *testing.T) {
	srv := runBroker(t)
	logs, logger := brokertest.NewRecorder()
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{Logger: logger})
	const path = "/v1/cells/weather.boston.temp"
	sc.do(t, "POST", path, day1).want(t, 200)
	q := func(threshold, timeout string) string {
		v := url.Values{"await": {threshold}}
		if timeout != "" {
			v.Set("timeout", timeout)
		}
		return path + "?" + v.Encode()
	}
	if a := sc.do(t, "GET", q(day2, ""), "").want(t, 200); a.body != day1 {
		t.Fatalf("already there: %s", a.body)
	}

	type result struct {
		a       answer
		elapsed time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		a := sc.do(t, "GET", q(week, "1m"), "")
		done <- result{a, time.Since(start)}
	}()
	sc.do(t, "POST", path, `{"type":"range","min":31,"max":42}`).want(t, 200)
	sc.do(t, "POST", path, `{"type":"range","min":31,"max":57}`).want(t, 200)
	res := <-done
	if res.a.want(t, 200).body != week || res.elapsed > 30*time.Second {
		t.Fatalf("await: %s after %v", res.a.body, res.elapsed)
	}

	start := time.Now()
	a := sc.do(t, "GET", q(`{"type":"range","min":0,"max":100}`, "50ms"), "").want(t, http.StatusGatewayTimeout)
	msg, cell, reason := errorOf(t, a)
	if reason != httpapi.ReasonTimeout || cell != "weather.boston.temp" || !strings.Contains(msg, "timed out after 50ms") {
		t.Fatalf("504: %s %s %s", msg, cell, reason)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatalf("504 before the timeout")
	}
	// A timeout is an ordinary answer, not a server error: debug level.
	for _, rec := range logs.Records("http request failed") {
		if brokertest.Attr(rec, "status") == "504" && rec.Level != slog.LevelDebug {
			t.Errorf("a threshold read's timeout is logged at %v, want debug", rec.Level)
		}
	}
	if len(logs.Records("http request failed")) == 0 {
		t.Error("the timeout is not logged at all")
	}
	// A cell that does not exist yet is awaited like any other.
	sc.do(t, "GET", "/v1/cells/later?"+url.Values{"await": {`{"type":"max","value":1}`}, "timeout": {"10ms"}}.Encode(), "").want(t, 504)

	for _, bad := range []string{q(`{"type":"range"`, ""), q(day1, "abc"), q(day1, "0s"), q(day1, "-1s"), q(day1, "6m"), q("", ""), path + "?timeout=1s"} {
		a := sc.do(t, "GET", bad, "").want(t, 400)
		if _, _, reason := errorOf(t, a); reason != httpapi.ReasonBadParameter {
			t.Fatalf("%s: reason %q", bad, reason)
		}
	}
	a = sc.do(t, "GET", q(`{"type":"max","value":1}`, ""), "").want(t, 409)
	if _, _, reason := errorOf(t, a); reason != fold.ReasonTypeMismatch {
		t.Fatalf("409 reason %q", reason)
	}

	// Through the client.
	c, err := sc.c.Await(ctxT(t), "weather.boston.temp", []byte(day2), time.Second)
	if err != nil || string(c.Value) != week {
		t.Fatalf("client await: %+v %v", c, err)
	}
	_, err = sc.c.Await(ctxT(t), "weather.boston.temp", []byte(`{"type":"range","min":0,"max":100}`), 10*time.Millisecond)
	if ae := apiError(t, err); ae.Status != 504 || ae.Reason != httpapi.ReasonTimeout {
		t.Fatalf("client await timeout: %+v", ae)
	}

	// Close (as on shutdown) ends waiting reads with 503.
	waiting := make(chan answer, 1)
	go func() { waiting <- sc.do(t, "GET", q(`{"type":"range","min":0,"max":100}`, "1m"), "") }()
	sc.api.Close()
	if a := (<-waiting).want(t, http.StatusServiceUnavailable); a.header.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After: %v", a.header)
	}
}

// Unknown routes and methods get JSON errors too.
func TestRoutes(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	a := sc.do(t, "GET", "/v2/nothing", "").want(t, 404)
	if _, _, reason := errorOf(t, a); reason != httpapi.ReasonNotFound {
		t.Fatalf("reason %q", reason)
	}
	a = sc.do(t, "PUT", "/v1/cells/x", "").want(t, 405)
	if _, _, reason := errorOf(t, a); reason != httpapi.ReasonMethod || a.header.Get("Allow") != "DELETE, GET, HEAD, POST" {
		t.Fatalf("405: %q Allow %q", reason, a.header.Get("Allow"))
	}
	sc.do(t, "POST", "/v1/cells", "").want(t, 405)
	if n := metric(t, sc.reg, "dprop_http_requests_total", "route", "/", "code", "404"); n != 1 {
		t.Fatalf("unknown route counted %v times under /", n)
	}
}

// The routes recover a panic as a 500 and go on serving.
func TestPanicRecovered(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{Checks: map[string]func(context.Context) error{
		"boom": func(context.Context) error { panic("boom") },
	}})
	a := sc.do(t, "GET", "/readyz", "").want(t, 500)
	if _, _, reason := errorOf(t, a); reason != httpapi.ReasonInternal {
		t.Fatalf("reason %q", reason)
	}
	sc.do(t, "GET", "/healthz", "").want(t, 200)
}

func apiError(t *testing.T, err error) *httpapi.APIError {
	t.Helper()
	var ae *httpapi.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T), want *httpapi.APIError", err, err)
	}
	return ae
}
