package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/dprop/dprop/replica/httpapi"
)

// Tokens of the principals of authSidecar.
const (
	tokReader = "dprop_reader-token-for-tests-only"
	tokWriter = "dprop_writer-token-for-tests-only"
	tokSensor = "dprop_sensor-token-for-tests-only"
	tokOps    = "dprop_ops-token-for-tests-only"
	tokAll    = "dprop_all-token-for-tests-only"
	tokNobody = "dprop_a-token-nobody-was-given"
)

// testPrincipals: a reader of weather, a writer of Boston's weather that
// reads all weather, a sensor that may refine weather and read nothing,
// an operator with the admin scope alone, and one that reads and refines
// every cell.
func testPrincipals() []httpapi.Principal {
	return []httpapi.Principal{
		{Name: "reader", TokenSHA256: httpapi.HashToken(tokReader), Read: []string{"weather.>"}},
		{Name: "app", TokenSHA256: httpapi.HashToken(tokWriter), Read: []string{"weather.>"}, Refine: []string{"weather.boston.>"}},
		{Name: "sensor", TokenSHA256: httpapi.HashToken(tokSensor), Refine: []string{"weather.>"}},
		{Name: "ops", TokenSHA256: httpapi.HashToken(tokOps), Admin: true},
		{Name: "all", TokenSHA256: httpapi.HashToken(tokAll), Read: []string{">"}, Refine: []string{">"}},
	}
}

func testAccess(t testing.TB, ps []httpapi.Principal) *httpapi.Access {
	t.Helper()
	a, err := httpapi.NewAccess(ps)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// authSidecar is a sidecar with testPrincipals, holding weather.boston.temp,
// weather.nyc.temp and traffic.i90 (written before the tokens were set).
func authSidecar(t *testing.T) *sidecar {
	t.Helper()
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	for _, c := range []string{"weather.boston.temp", "weather.nyc.temp", "traffic.i90"} {
		sc.do(t, "POST", "/v1/cells/"+c, day1).want(t, http.StatusOK)
	}
	sc.api.SetAccess(testAccess(t, testPrincipals()))
	return sc
}

func bearer(token string) []string {
	if token == "" {
		return nil
	}
	return []string{"Authorization", "Bearer " + token}
}

// Every endpoint answers 401 without a token or with a wrong one, 403
// outside the token's scopes with a message naming what it may do, and
// serves it within them; the probes stay open.
func TestAuthEndpointsAndScopes(t *testing.T) {
	sc := authSidecar(t)
	await := "?await=" + url.QueryEscape(day1) + "&timeout=5s"
	for _, tt := range []struct {
		method, path, body string
		token              string
		status             int
		msg                string // in the error's message, for 401 and 403
	}{
		// Reads of one cell need read on it.
		{"GET", "/v1/cells/weather.boston.temp", "", "", 401, "asks for a bearer token"},
		{"GET", "/v1/cells/weather.boston.temp", "", tokNobody, 401, "not one this sidecar accepts"},
		{"GET", "/v1/cells/weather.boston.temp", "", tokReader, 200, ""},
		{"HEAD", "/v1/cells/weather.boston.temp", "", tokReader, 200, ""},
		{"GET", "/v1/cells/traffic.i90", "", tokReader, 403, `token "reader" may not read cell "traffic.i90" (it may read weather.>)`},
		{"GET", "/v1/cells/weather.boston.temp", "", tokSensor, 403, `token "sensor" may not read cell "weather.boston.temp" (it may read no cell)`},
		{"GET", "/v1/cells/weather.boston.temp", "", tokOps, 403, `token "ops" may not read`},
		{"GET", "/v1/cells/weather..bad", "", tokReader, 400, ""}, // a bad name is the handler's 400, not a 403
		// Threshold reads too.
		{"GET", "/v1/cells/weather.boston.temp" + await, "", "", 401, ""},
		{"GET", "/v1/cells/weather.boston.temp" + await, "", tokReader, 200, ""},
		{"GET", "/v1/cells/traffic.i90" + await, "", tokReader, 403, `may not read cell "traffic.i90"`},
		// Refines need refine on the cell.
		{"POST", "/v1/cells/weather.boston.temp", week, "", 401, ""},
		{"POST", "/v1/cells/weather.boston.temp", week, tokNobody, 401, ""},
		{"POST", "/v1/cells/weather.boston.temp", week, tokReader, 403, `token "reader" may not refine cell "weather.boston.temp" (it may refine no cell)`},
		{"POST", "/v1/cells/traffic.i90", week, tokWriter, 403, `token "app" may not refine cell "traffic.i90" (it may refine weather.boston.>)`},
		{"POST", "/v1/cells/weather.boston.temp", day2, tokWriter, 200, ""},
		{"POST", "/v1/cells/weather.nyc.temp", day2, tokSensor, 204, ""}, // refined; the value is not the sensor's to read
		// Event streams of one cell need read on it (patterns: below).
		{"GET", "/v1/cells/weather.boston.temp/events", "", "", 401, ""},
		{"GET", "/v1/cells/traffic.i90/events", "", tokReader, 403, `may not read cell "traffic.i90"`},
		{"GET", "/v1/events?match=weather.>", "", "", 401, ""},
		// History needs read on the cell, and no more.
		{"GET", "/v1/cells/weather.boston.temp/history", "", "", 401, ""},
		{"GET", "/v1/cells/weather.boston.temp/history", "", tokReader, 200, ""},
		{"GET", "/v1/cells/traffic.i90/history", "", tokReader, 403, `may not read cell "traffic.i90"`},
		{"GET", "/v1/cells/weather.boston.temp/history", "", tokOps, 403, ""},
		// Listings need a principal; what they show is filtered (below).
		{"GET", "/v1/cells", "", "", 401, ""},
		{"GET", "/v1/cells", "", tokNobody, 401, ""},
		{"GET", "/v1/cells", "", tokOps, 200, ""},
		// Metrics need admin.
		{"GET", "/metrics", "", "", 401, ""},
		{"GET", "/metrics", "", tokReader, 403, `token "reader" may not use GET /metrics: that needs the admin scope`},
		{"GET", "/metrics", "", tokOps, 200, ""},
		// Probes are open, whatever comes with them.
		{"GET", "/healthz", "", "", 200, ""},
		{"GET", "/readyz", "", "", 200, ""},
		{"GET", "/readyz", "", tokNobody, 200, ""},
		{"POST", "/healthz", "", "", 405, ""},
		// Other paths say nothing to strangers.
		{"GET", "/v1/nothing-here", "", "", 401, ""},
		{"GET", "/v1/nothing-here", "", tokReader, 404, ""},
		{"PUT", "/v1/cells/weather.boston.temp", "", "", 401, ""},
		{"PUT", "/v1/cells/weather.boston.temp", "", tokReader, 405, ""},
	} {
		a := sc.do(t, tt.method, tt.path, tt.body, bearer(tt.token)...)
		name := tt.method + " " + tt.path + " with " + tt.token
		if a.status != tt.status {
			t.Errorf("%s: %d, want %d; body %s", name, a.status, tt.status, a.body)
			continue
		}
		switch tt.status {
		case 401:
			msg, _, reason := errorOf(t, a)
			want := `Bearer realm="dprop"`
			if tt.token != "" {
				want += `, error="invalid_token"`
			}
			if got := a.header.Get("WWW-Authenticate"); got != want || reason != httpapi.ReasonUnauthorized || !strings.Contains(msg, tt.msg) {
				t.Errorf("%s: WWW-Authenticate %q (want %q), reason %q, message %q (want %q in it)", name, got, want, reason, msg, tt.msg)
			}
		case 403:
			msg, _, reason := errorOf(t, a)
			if reason != httpapi.ReasonForbidden || !strings.Contains(msg, tt.msg) {
				t.Errorf("%s: reason %q, message %q; want %q and %q in it", name, reason, msg, httpapi.ReasonForbidden, tt.msg)
			}
		case 204:
			if a.body != "" || a.header.Get("ETag") != "" || a.header.Get(httpapi.HeaderType) != "" {
				t.Errorf("%s: 204 with the cell: body %q, headers %v", name, a.body, a.header)
			}
		}
	}
	// The sensor's refine was stored, although it could not read it.
	if a := sc.do(t, "GET", "/v1/cells/weather.nyc.temp", "", bearer(tokReader)...).want(t, 200); a.body != day1 {
		t.Errorf("weather.nyc.temp = %s after the sensor's refine, want %s", a.body, day1)
	}
}

// Refusals are counted by reason, and no series names a token or a
// principal.
func TestAuthRefusalMetrics(t *testing.T) {
	sc := authSidecar(t)
	sc.do(t, "GET", "/v1/cells/weather.boston.temp", "").want(t, 401)
	sc.do(t, "GET", "/v1/cells/weather.boston.temp", "", bearer(tokNobody)...).want(t, 401)
	sc.do(t, "GET", "/v1/cells/weather.boston.temp", "", "Authorization", "Basic dXNlcjpwdw==").want(t, 401)
	sc.do(t, "GET", "/v1/cells/traffic.i90", "", bearer(tokReader)...).want(t, 403)
	for reason, want := range map[string]float64{"no_credentials": 1, "invalid_token": 2, "unknown_certificate": 0, "forbidden": 1} {
		if got := metric(t, sc.reg, "dprop_http_auth_refused_total", "reason", reason); got != want {
			t.Errorf("dprop_http_auth_refused_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	mfs, err := sc.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v := lp.GetValue(); strings.Contains(v, "dprop_") || slices.Contains([]string{"reader", "app", "sensor", "ops", "all"}, v) {
					t.Errorf("%s has label %s=%q: a token or a principal's name", mf.GetName(), lp.GetName(), v)
				}
			}
		}
	}
}

// A listing shows only the cells the token may read, page after page,
// whatever its pattern; a token that reads nothing lists nothing.
func TestAuthListingFiltered(t *testing.T) {
	sc := authSidecar(t)
	list := func(token, match string) []string {
		t.Helper()
		c := httpapi.NewClient(sc.ts.URL, sc.ts.Client(), httpapi.WithToken(token))
		var names []string
		for cell, err := range c.AllCells(ctxT(t), httpapi.ListOptions{Match: match, Limit: 1}) {
			if err != nil {
				t.Fatalf("listing %q with %s: %v", match, token, err)
			}
			names = append(names, cell.Name)
		}
		return names
	}
	weather := []string{"weather.boston.temp", "weather.nyc.temp"}
	for _, tt := range []struct {
		token, match string
		want         []string
	}{
		{tokReader, ">", weather},
		{tokReader, "", weather},
		{tokReader, "*.*.temp", weather},
		{tokReader, "weather.nyc.temp", []string{"weather.nyc.temp"}},
		{tokReader, "traffic.>", nil},
		{tokSensor, ">", nil},
		{tokOps, ">", nil},
		{tokAll, ">", []string{"traffic.i90", "weather.boston.temp", "weather.nyc.temp"}},
	} {
		if got := list(tt.token, tt.match); !slices.Equal(got, tt.want) {
			t.Errorf("listing %q with %s: %v, want %v", tt.match, tt.token, got, tt.want)
		}
	}
}

// An event stream of a pattern carries only the cells the token may read.
func TestAuthPatternStreamFiltered(t *testing.T) {
	sc := authSidecar(t)
	c := httpapi.NewClient(sc.ts.URL, sc.ts.Client(), httpapi.WithToken(tokReader))
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	events := make(chan httpapi.Event, 16)
	opened := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- c.Watch(ctx, ">", func(ev httpapi.Event) error { events <- ev; return nil }, httpapi.OnOpen(func() { close(opened) }))
	}()
	<-opened
	// traffic.i90 changes first, then weather.nyc.temp: the stream, in
	// stream order, must say only the latter.
	sc.do(t, "POST", "/v1/cells/traffic.i90", week, bearer(tokAll)...).want(t, 200)
	sc.do(t, "POST", "/v1/cells/weather.nyc.temp", week, bearer(tokSensor)...).want(t, 204)
	var seen []string
	for {
		select {
		case ev := <-events:
			seen = append(seen, ev.Cell)
			if ev.Cell == "traffic.i90" {
				t.Fatalf("the stream of a reader of weather.> carried traffic.i90: %v", seen)
			}
			if ev.Cell == "weather.nyc.temp" && string(ev.Value) == week {
				cancel()
				<-done
				return
			}
		case err := <-done:
			t.Fatalf("watch ended: %v (events %v)", err, seen)
		case <-ctx.Done():
			t.Fatalf("no change of weather.nyc.temp; events %v", seen)
		}
	}
}

// Replacing the tokens ends the event streams of a principal that is gone
// or has other scopes, and leaves the others alone.
func TestAuthStreamsEndWhenAccessChanges(t *testing.T) {
	sc := authSidecar(t)
	watch := func(token string) (<-chan httpapi.Event, <-chan error) {
		c := httpapi.NewClient(sc.ts.URL, sc.ts.Client(), httpapi.WithToken(token))
		events, done, opened := make(chan httpapi.Event, 16), make(chan error, 1), make(chan struct{})
		go func() {
			done <- c.Watch(ctxT(t), "weather.>", func(ev httpapi.Event) error { events <- ev; return nil }, httpapi.OnOpen(func() { close(opened) }))
		}()
		select {
		case <-opened:
		case err := <-done:
			t.Fatalf("watch with %s: %v", token, err)
		}
		return events, done
	}
	readerEvents, readerDone := watch(tokReader)
	_, appDone := watch(tokWriter)

	// The same tokens again: nothing ends.
	sc.api.SetAccess(testAccess(t, testPrincipals()))
	// The app gets fewer scopes, the reader keeps its own.
	ps := testPrincipals()
	ps[1].Refine = nil
	sc.api.SetAccess(testAccess(t, ps))
	if err := <-appDone; !errors.Is(err, httpapi.ErrStreamEnded) {
		t.Fatalf("the app's stream: %v, want it ended", err)
	}
	sc.do(t, "POST", "/v1/cells/weather.nyc.temp", week, bearer(tokSensor)...).want(t, 204)
	for ev := range readerEvents {
		if ev.Cell == "weather.nyc.temp" && string(ev.Value) == week {
			break
		}
	}
	// The reader is revoked: its stream ends, and it is refused after.
	sc.api.SetAccess(testAccess(t, ps[1:]))
	if err := <-readerDone; !errors.Is(err, httpapi.ErrStreamEnded) {
		t.Fatalf("the reader's stream: %v, want it ended", err)
	}
	sc.do(t, "GET", "/v1/events?match=weather.>", "", bearer(tokReader)...).want(t, 401)
}

// The Go client sends its token, and passes the server's refusal on.
func TestClientToken(t *testing.T) {
	sc := authSidecar(t)
	c := httpapi.NewClient(sc.ts.URL, sc.ts.Client(), httpapi.WithToken(tokWriter))
	if _, err := c.Refine(ctxT(t), "weather.boston.temp", []byte(week)); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctxT(t), "weather.boston.temp"); err != nil || string(got.Value) != week {
		t.Fatalf("Get: %s, %v", got.Value, err)
	}
	_, err := c.Refine(ctxT(t), "traffic.i90", []byte(week))
	var apiErr *httpapi.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 403 || apiErr.Reason != httpapi.ReasonForbidden ||
		!strings.Contains(apiErr.Message, `may not refine cell "traffic.i90" (it may refine weather.boston.>)`) {
		t.Fatalf("refine outside the scope: %v", err)
	}
	sensor := httpapi.NewClient(sc.ts.URL, sc.ts.Client(), httpapi.WithToken(tokSensor))
	if got, err := sensor.Refine(ctxT(t), "weather.nyc.temp", []byte(week)); err != nil || got.Value != nil || got.Name != "weather.nyc.temp" {
		t.Fatalf("a refine the token may not read: %+v, %v; want the cell without its value", got, err)
	}
	anon := httpapi.NewClient(sc.ts.URL, sc.ts.Client())
	if _, err := anon.Get(ctxT(t), "weather.boston.temp"); !errors.As(err, &apiErr) || apiErr.Status != 401 {
		t.Fatalf("no token: %v", err)
	}
	if rd, err := anon.Ready(ctxT(t)); err != nil || !rd.Ready {
		t.Fatalf("Ready without a token: %+v, %v", rd, err)
	}
}

// NewAccess refuses what would make principals ambiguous or useless, and
// says which one.
func TestNewAccessRefuses(t *testing.T) {
	h := httpapi.HashToken
	for _, tt := range []struct {
		name  string
		ps    []httpapi.Principal
		index int
		field string
		other int
	}{
		{"no name", []httpapi.Principal{{TokenSHA256: h("a"), Admin: true}}, 0, "name", -1},
		{"a name with a space", []httpapi.Principal{{Name: "a b", TokenSHA256: h("a"), Admin: true}}, 0, "name", -1},
		{"neither token nor cert", []httpapi.Principal{{Name: "a", Admin: true}}, 0, "", -1},
		{"both", []httpapi.Principal{{Name: "a", TokenSHA256: h("a"), Cert: "a", Admin: true}}, 0, "", -1},
		{"a short hash", []httpapi.Principal{{Name: "a", TokenSHA256: h("a")[:16], Admin: true}}, 0, "hash", -1},
		{"a bad pattern", []httpapi.Principal{{Name: "a", TokenSHA256: h("a"), Read: []string{"weather.>.x"}}}, 0, "read", -1},
		{"no scope", []httpapi.Principal{{Name: "a", TokenSHA256: h("a")}}, 0, "", -1},
		{"a name twice", []httpapi.Principal{{Name: "a", TokenSHA256: h("a"), Admin: true}, {Name: "a", TokenSHA256: h("b"), Admin: true}}, 1, "name", 0},
		{"a token twice", []httpapi.Principal{{Name: "a", TokenSHA256: h("a"), Admin: true}, {Name: "b", TokenSHA256: h("a"), Admin: true}}, 1, "hash", 0},
		{"a cert twice", []httpapi.Principal{{Name: "a", Cert: "x", Admin: true}, {Name: "b", Cert: "x", Admin: true}}, 1, "cert", 0},
	} {
		_, err := httpapi.NewAccess(tt.ps)
		var ee *httpapi.EntryError
		if !errors.As(err, &ee) || ee.Index != tt.index || ee.Field != tt.field || ee.Other != tt.other {
			t.Errorf("%s: %v (%+v), want entry %d, field %q, other %d", tt.name, err, ee, tt.index, tt.field, tt.other)
		}
	}
	if a, err := httpapi.NewAccess(nil); err != nil || a.Len() != 0 {
		t.Errorf("no principals: %v", err)
	}
}
