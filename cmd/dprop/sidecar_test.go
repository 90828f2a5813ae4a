package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
)

// The sidecar of dprop up refuses foreign web pages and rebindable Hosts,
// honours --http-allow-origin and --http-allow-host, and refuses
// allow-list entries that could never match.
func TestSidecarBrowserFlags(t *testing.T) {
	if code, errOut := exitCode(t, "up", "--http-allow-origin", "localhost:3000"); code != exitUsage || !strings.Contains(errOut, "--http-allow-origin") {
		t.Errorf("bad origin: exit %d: %s", code, errOut)
	}
	if code, errOut := exitCode(t, "replica", "--http-max-awaits", "0"); code != exitUsage || !strings.Contains(errOut, "--http-max-awaits") {
		t.Errorf("bad bound: exit %d: %s", code, errOut)
	}

	natsAddr, httpAddr := freePort(t), freePort(t)
	api := "http://" + httpAddr
	startDprop(t, "up", "--data", t.TempDir(), "--nats", natsAddr, "--http", httpAddr,
		"--http-allow-origin", "http://localhost:3000", "--http-allow-host", "dprop.test")
	brokertest.WaitFor(t, "dprop up to be ready", func() bool {
		code, _, _ := httpGet(t, api+"/readyz")
		return code == http.StatusOK
	})
	post := func(header ...string) int {
		t.Helper()
		req, err := http.NewRequest("POST", api+"/v1/cells/demo.x", strings.NewReader(`{"type":"max","value":1}`))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			if header[i] == "Host" {
				req.Host = header[i+1]
			} else {
				req.Header.Set(header[i], header[i+1])
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		header []string
		want   int
	}{
		{[]string{"Origin", "http://evil.example", "Content-Type", "text/plain"}, http.StatusForbidden},
		{[]string{"Host", "evil.example:37767", "Origin", "http://evil.example:37767"}, http.StatusMisdirectedRequest},
		{[]string{"Origin", "http://localhost:3000"}, http.StatusOK},
		{[]string{"Host", "dprop.test:37767"}, http.StatusOK},
		{nil, http.StatusOK},
	} {
		if got := post(c.header...); got != c.want {
			t.Errorf("POST with %v: %d, want %d", c.header, got, c.want)
		}
	}
}
