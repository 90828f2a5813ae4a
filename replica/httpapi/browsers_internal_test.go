package httpapi

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The Host rule, on a connection to a loopback address and to a
// container's address: single-label names (compose service names) pass
// only on the latter; names that DNS could rebind never do.
func TestHostRule(t *testing.T) {
	g, errs := newGuard(nil, []string{"dprop.example.internal"})
	if errs != nil {
		t.Fatal(errs)
	}
	loopback := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 37767}
	container := &net.TCPAddr{IP: net.IPv4(172, 18, 0, 5), Port: 37767}
	for _, tc := range []struct {
		host                string
		onLoopback, onOther bool
	}{
		{"127.0.0.1:37767", true, true},
		{"172.18.0.5:37767", true, true},
		{"[::1]:37767", true, true},
		{"[fe80::1]", true, true},
		{"localhost", true, true},
		{"localhost.:37767", true, true},
		{"app.localhost", true, true},
		{"dprop.example.internal:80", true, true},
		{"", true, true},
		{"sidecar-1:37767", false, true},
		{"writer-sidecar", false, true},
		{"sidecar.", false, false},
		{"evil.example:37767", false, false},
		{"localhost.evil.example", false, false},
		{"127.0.0.1.nip.io", false, false},
	} {
		for _, c := range []struct {
			addr *net.TCPAddr
			want bool
		}{{loopback, tc.onLoopback}, {container, tc.onOther}} {
			r := httptest.NewRequest("GET", "/v1/cells", nil)
			r.Host = tc.host
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, c.addr))
			if got := g.hostAllowed(r); got != c.want {
				t.Errorf("Host %q on %v: allowed %v, want %v", tc.host, c.addr, got, c.want)
			}
		}
	}
}
