package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
)

// A stream at its byte limit, end to end with dprop up: what each kind of
// writer gets. A refine through the sidecar answers 503 stream_full (and
// dprop refine says so); `nats pub --jetstream`, which waits for
// JetStream's acknowledgement, fails with "maximum bytes exceeded"; a
// plain `nats pub` is told nothing and its update is not stored. Nothing
// acknowledged is lost, and dprop status shows the stream at its limit.
func TestEndToEndStreamFull(t *testing.T) {
	data := t.TempDir()
	natsAddr, httpAddr := freePort(t), freePort(t)
	natsURL, api := "nats://"+natsAddr, "http://"+httpAddr
	startDprop(t, "up", "--data", data, "--nats-listen", natsAddr, "--http", httpAddr,
		"--stream-max-bytes", "8KiB", "--js-max-memory", "64MiB", "--js-max-storage", "256MiB")
	brokertest.WaitFor(t, "dprop up to be ready", func() bool {
		code, _, _ := httpGet(t, api+"/readyz")
		return code == http.StatusOK
	})
	const cell = "limits.k"
	last := 0
	var errOut string
	for i := 1; i <= 1000; i++ {
		_, e, code := runCmd(t, dpropBin, "refine", "--url", api, cell, fmt.Sprintf(`{"type":"max","value":%d}`, i))
		if code != 0 {
			errOut = e
			break
		}
		last = i
	}
	if last == 0 || !strings.Contains(errOut, "503") || !strings.Contains(errOut, "stream is full") {
		t.Fatalf("dprop refine past the limit, after %d refines: %s", last, errOut)
	}
	t.Logf("dprop refine past the limit (after %d):\n%s", last, errOut)
	req, _ := http.NewRequest(http.MethodPost, api+"/v1/cells/"+cell, strings.NewReader(`{"type":"max","value":5000}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var eb struct{ Reason string }
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || eb.Reason != "stream_full" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("POST past the limit: %d %q, Retry-After %q", resp.StatusCode, eb.Reason, resp.Header.Get("Retry-After"))
	}

	// A refine through the sidecar carries headers (its writer id, ...),
	// so the stream may still have room for a bare update or two: publish
	// them until it has none; each one stored is acknowledged.
	var jsOut, jsErr string
	var code int
	for i := 1; i <= 100; i++ {
		jsOut, jsErr, code = runCmd(t, natsBin, "-s", natsURL, "pub", "--jetstream", "dprop.cell."+cell, fmt.Sprintf(`{"type":"max","value":%d}`, last+1))
		if code != 0 {
			break
		}
		last++
	}
	if code == 0 || !strings.Contains(jsOut+jsErr, "maximum bytes exceeded") {
		t.Errorf("nats pub --jetstream past the limit: exit %d: %s%s", code, jsOut, jsErr)
	}
	t.Logf("nats pub --jetstream past the limit: exit %d: %s%s", code, jsOut, jsErr)
	if _, e, code := runCmd(t, natsBin, "-s", natsURL, "pub", "dprop.cell."+cell, `{"type":"max","value":7000}`); code != 0 {
		t.Errorf("plain nats pub: exit %d: %s", code, e)
	}
	status, _, code := runCmd(t, dpropBin, "status", "--url", api)
	if code != 0 || !strings.Contains(status, "limit 8.0 KiB (discard new)") {
		t.Errorf("dprop status: exit %d:\n%s", code, status)
	}
	want := fmt.Sprintf(`{"type":"max","value":%d}`, last)
	brokertest.WaitFor(t, "the last acknowledged update folded", func() bool {
		_, _, body := httpGet(t, api+"/v1/cells/"+cell)
		return body == want
	})
	if _, _, body := httpGet(t, api+"/v1/cells/"+cell); body != want {
		t.Errorf("the cell is %s, want the last acknowledged update, %d", body, last)
	}
}

// dprop broker runs JetStream with the limits given, and makes the stream
// with its byte limit.
func TestBrokerLimits(t *testing.T) {
	p := startDprop(t, "broker", "--data", t.TempDir(), "--nats-listen", freePort(t),
		"--js-max-memory", "64MiB", "--js-max-storage", "256MiB", "--stream-max-bytes", "128MiB")
	brokertest.WaitFor(t, "the stream", func() bool { return strings.Contains(p.output(), `msg="stream ready"`) })
	out := p.output()
	for _, want := range []string{`max_memory="64.00 MB"`, `max_storage="256.00 MB"`, "max_bytes=134217728"} {
		if !strings.Contains(out, want) {
			t.Errorf("the broker's log lacks %s:\n%s", want, out)
		}
	}
}

// A stream limit the store cannot hold is refused before anything starts.
func TestStreamLargerThanStoreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"broker", "--data", t.TempDir(), "--nats-listen", freePort(t), "--stream-max-bytes", "2GiB", "--js-max-storage", "1GiB"},
		{"up", "--data", t.TempDir(), "--nats-listen", freePort(t), "--http", freePort(t), "--stream-max-bytes", "2GiB", "--js-max-storage", "1GiB"},
		{"replica", "--stream-max-bytes", "lots"},
	} {
		_, errOut, code := runCmd(t, dpropBin, args...)
		if code != 2 || !strings.Contains(errOut, "stream-max-bytes") {
			t.Errorf("dprop %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
	}
}
