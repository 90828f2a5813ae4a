package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
)

// exitCode runs the dprop binary and returns its exit status and stderr.
func exitCode(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stderr strings.Builder
	cmd := exec.Command(dpropBin, args...)
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	}
	t.Fatalf("dprop %v: %v", args, err)
	return 0, ""
}

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"ready":false}`))
			return
		}
		w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	cases := []struct {
		args   []string
		status int
		says   string
	}{
		{[]string{"probe", srv.URL + "/healthz"}, 0, ""},
		{[]string{"probe", srv.URL + "/readyz"}, 1, `HTTP 503: {"ready":false}`},
		{[]string{"probe", "tcp://" + srv.Listener.Addr().String()}, 0, ""},
		{[]string{"probe", "tcp://" + closedAddr}, 1, "refused"},
		{[]string{"probe", "http://" + closedAddr + "/readyz"}, 1, "refused"},
		{[]string{"probe", "ftp://example.com/"}, 2, `scheme "ftp"`},
		{[]string{"probe", "--timeout", "0s", srv.URL}, 2, "--timeout"},
	}
	for _, c := range cases {
		status, stderr := exitCode(t, c.args...)
		if status != c.status || !strings.Contains(stderr, c.says) {
			t.Errorf("dprop %v: status %d, stderr %q; want %d and %q", c.args, status, stderr, c.status, c.says)
		}
	}
}
