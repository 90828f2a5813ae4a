package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// TestFeed feeds two values through a fake sidecar that answers the first
// refine 503: feed retries it with the same idempotency key, and ends after
// the last value.
func TestFeed(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies []string
		keys   []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/v1/cells/demo.range" {
			http.Error(w, "unexpected", http.StatusNotFound)
			return
		}
		bodies = append(bodies, string(b))
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		if len(bodies) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"broker unavailable","reason":"unavailable"}`))
			return
		}
		w.Write(b)
	}))
	defer srv.Close()

	a, b := `{"type":"range","min":34,"max":48}`, `{"type":"range","min":31,"max":57}`
	out, err := exec.Command(dpropBin, "feed", "--url", srv.URL, "--every", "10ms", "demo.range", a, b).CombinedOutput()
	if err != nil {
		t.Fatalf("dprop feed: %v\n%s", err, out)
	}
	if want := []string{a, a, b}; strings.Join(bodies, " ") != strings.Join(want, " ") {
		t.Errorf("refines %q, want %q", bodies, want)
	}
	if keys[0] == "" || keys[0] != keys[1] || keys[1] == keys[2] {
		t.Errorf("idempotency keys %q: want the retry's equal to the first, the next value's another", keys)
	}
	if lines := strings.Count(string(out), "\n"); lines != 2 {
		t.Errorf("output %q: want a line per value", out)
	}

	status, stderr := exitCode(t, "feed", "--url", srv.URL, "demo.range", `{"type":"range","min":3`)
	if status != 2 || !strings.Contains(stderr, "value 1") {
		t.Errorf("a malformed value: status %d, stderr %q; want 2 and the value's number", status, stderr)
	}
}
