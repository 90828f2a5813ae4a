package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dprop/dprop/replica/httpapi"
)

// A single-valued query parameter given twice is refused with 400
// bad_parameter naming it, on every endpoint, rather than read as its first
// value.
func TestRepeatedQueryParameters(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	sc.do(t, "POST", "/v1/cells/weather.t", day1).want(t, http.StatusOK)
	low, high := url.QueryEscape(`{"type":"range","min":35,"max":40}`), url.QueryEscape(`{"type":"range","min":0,"max":99}`)
	cases := []struct{ path, param string }{
		{"/v1/cells/weather.t?await=" + low + "&await=" + high, "await"},
		{"/v1/cells/weather.t?await=" + low + "&timeout=1s&timeout=2m", "timeout"},
		{"/v1/cells?match=weather.>&match=other.>", "match"},
		{"/v1/cells?values=true&values=false", "values"},
		{"/v1/events?match=weather.>&match=other.>", "match"},
		{"/v1/cells/weather.t/history?limit=1&limit=5", "limit"},
		{"/v1/cells/weather.t/history?since=2026-01-01T00:00:00Z&since=2027-01-01T00:00:00Z", "since"},
	}
	for _, tc := range cases {
		a := sc.do(t, "GET", tc.path, "").want(t, http.StatusBadRequest)
		msg, _, reason := errorOf(t, a)
		if reason != httpapi.ReasonBadParameter || !strings.Contains(msg, `"`+tc.param+`" given 2 times`) {
			t.Errorf("%s: reason %q, %s", tc.path, reason, msg)
		}
	}
	// Given once, each is fine.
	sc.do(t, "GET", "/v1/cells/weather.t?await="+low+"&timeout=1s", "").want(t, http.StatusOK)
	sc.do(t, "GET", "/v1/cells?match=weather.>&values=true", "").want(t, http.StatusOK)
	sc.do(t, "GET", "/v1/cells/weather.t/history?limit=1", "").want(t, http.StatusOK)
}
