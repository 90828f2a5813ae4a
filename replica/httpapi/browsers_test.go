package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dprop/dprop/replica/httpapi"
)

// A web page of another origin cannot write (or read) through the
// sidecar, even with a CORS-safelisted Content-Type; allowed origins get
// CORS headers and preflights; programs, which send no Origin, and the
// API's own origin pass.
func TestForeignOriginsRefused(t *testing.T) {
	srv := runBroker(t)
	const app = "http://localhost:3000"
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{AllowOrigins: []string{"HTTP://LocalHost:3000/"}})
	const path = "/v1/cells/a.x"
	forbidden := func(a answer) {
		t.Helper()
		a.want(t, http.StatusForbidden)
		if _, _, reason := errorOf(t, a); reason != httpapi.ReasonForbiddenOrigin {
			t.Fatalf("reason %q", reason)
		}
	}

	forbidden(sc.do(t, "POST", path, `{"type":"max","value":1}`, "Origin", "http://evil.example", "Content-Type", "text/plain"))
	forbidden(sc.do(t, "POST", path, `{"type":"max","value":1}`, "Origin", "null"))
	forbidden(sc.do(t, "GET", "/v1/cells", "", "Origin", "http://localhost:3001"))
	forbidden(sc.do(t, "GET", "/v1/events", "", "Origin", "http://evil.example"))
	forbidden(sc.do(t, "OPTIONS", path, "", "Origin", "http://evil.example", "Access-Control-Request-Method", "POST"))
	// An <img> or <script> of another site names no origin, but the
	// browser says where it comes from.
	forbidden(sc.do(t, "GET", path+"?await="+`%7B%22type%22%3A%22max%22%2C%22value%22%3A9%7D`, "", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors"))
	sc.do(t, "GET", path, "").want(t, http.StatusNotFound) // nothing was written

	// Programs, a link followed in a browser, and the API's own pages.
	sc.do(t, "POST", path, `{"type":"max","value":1}`).want(t, http.StatusOK)
	sc.do(t, "GET", path, "", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate").want(t, http.StatusOK)
	self := "http://" + strings.TrimPrefix(sc.ts.URL, "http://")
	if a := sc.do(t, "POST", path, `{"type":"max","value":2}`, "Origin", self).want(t, http.StatusOK); a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("same origin got CORS headers: %v", a.header)
	}

	// An allowed origin: its pages read answers and send JSON.
	pre := sc.do(t, "OPTIONS", path, "", "Origin", app, "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "content-type, idempotency-key").want(t, http.StatusNoContent)
	h := pre.header
	if h.Get("Access-Control-Allow-Origin") != app || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Idempotency-Key") {
		t.Fatalf("preflight: %v", h)
	}
	a := sc.do(t, "POST", path, `{"type":"max","value":3}`, "Origin", app, "Content-Type", "application/json").want(t, http.StatusOK)
	if a.header.Get("Access-Control-Allow-Origin") != app || !strings.Contains(a.header.Get("Access-Control-Expose-Headers"), "ETag") ||
		a.header.Get("Vary") != "Origin" {
		t.Fatalf("allowed origin: %v", a.header)
	}
	if got := metric(t, sc.reg, "dprop_http_requests_total", "code", "403"); got != 6 {
		t.Errorf("%v refusals counted, want 6", got)
	}
}

// DNS rebinding: a page of evil.example whose name now resolves to the
// sidecar is same-origin with it, but its Host gives it away. IP
// addresses, localhost and allowed names pass; probes answer any Host.
func TestHostChecked(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{AllowHosts: []string{"dprop.example.internal"}})
	const path = "/v1/cells/a.x"
	sc.do(t, "POST", path, `{"type":"max","value":1}`).want(t, http.StatusOK)

	for _, host := range []string{"evil.example:37767", "evil.example", "sidecar-1:37767", "localhost.evil.example"} {
		a := sc.do(t, "POST", path, `{"type":"max","value":2}`, "Host", host, "Origin", "http://"+host).want(t, http.StatusMisdirectedRequest)
		msg, _, reason := errorOf(t, a)
		if reason != httpapi.ReasonBadHost || !strings.Contains(msg, "--http-allow-host "+strings.Split(host, ":")[0]) {
			t.Fatalf("host %s: reason %q, message %q", host, reason, msg)
		}
	}
	sc.do(t, "GET", "/metrics", "", "Host", "evil.example").want(t, http.StatusMisdirectedRequest)
	if a := sc.do(t, "GET", path, ""); a.body != `{"type":"max","value":1}` {
		t.Fatalf("the cell changed: %s", a.body)
	}

	for _, host := range []string{"127.0.0.1:37767", "[::1]:37767", "10.1.2.3", "localhost:37767", "LOCALHOST", "app.localhost:8080",
		"dprop.example.internal:37767", "DProp.Example.Internal"} {
		sc.do(t, "GET", path, "", "Host", host).want(t, http.StatusOK)
	}
	sc.do(t, "GET", "/healthz", "", "Host", "evil.example").want(t, http.StatusOK)
	sc.do(t, "GET", "/readyz", "", "Host", "evil.example").want(t, http.StatusOK)
}

// Allow-list entries that can never match are reported.
func TestAllowListsChecked(t *testing.T) {
	good := httpapi.Options{AllowOrigins: []string{"http://localhost:3000", "https://app.example.com"}, AllowHosts: []string{"dprop.example.internal"}}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []httpapi.Options{
		{AllowOrigins: []string{"localhost:3000"}},
		{AllowOrigins: []string{"http://localhost:3000/app"}},
		{AllowOrigins: []string{"ftp://x"}},
		{AllowHosts: []string{"dprop.example.internal:37767"}},
		{AllowHosts: []string{""}},
	} {
		if err := bad.Check(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
