package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dprop/dprop/internal/brokertest"
)

// A sidecar whose broker goes away: /readyz turns 503 and says why, reads
// go on marked stale, a refine is answered 503 at once rather than held;
// once the broker is back, all is as before by itself.
func TestSidecarWithoutBroker(t *testing.T) {
	data, natsAddr, httpAddr := t.TempDir(), freePort(t), freePort(t)
	api := "http://" + httpAddr
	brokerArgs := []string{"broker", "--data", data, "--nats-listen", natsAddr}
	b := startDprop(t, brokerArgs...)
	startDprop(t, "replica", "--nats-url", "nats://"+natsAddr, "--http", httpAddr)
	ready := func() (int, map[string]string) {
		code, _, body := httpGet(t, api+"/readyz")
		var rd struct{ Checks map[string]string }
		_ = json.Unmarshal([]byte(body), &rd)
		return code, rd.Checks
	}
	brokertest.WaitFor(t, "the sidecar to be ready", func() bool { code, _ := ready(); return code == http.StatusOK })
	if _, errOut, code := runCmd(t, dpropBin, "refine", "--url", api, "h.k", `{"type":"max","value":1}`); code != 0 {
		t.Fatalf("refine: %s", errOut)
	}

	b.stop(t)
	var checks map[string]string
	brokertest.WaitFor(t, "/readyz to say the broker is away", func() bool {
		var code int
		code, checks = ready()
		return code == http.StatusServiceUnavailable && checks["nats"] != "ok"
	})
	t.Logf("/readyz checks without the broker: %v", checks)
	code, hdr, body := httpGet(t, api+"/v1/cells/h.k")
	if code != http.StatusOK || body != `{"type":"max","value":1}` || hdr.Get("Dprop-Stale") != "true" {
		t.Errorf("read without the broker: %d %s, Dprop-Stale %q", code, body, hdr.Get("Dprop-Stale"))
	}
	start := time.Now()
	resp, err := http.Post(api+"/v1/cells/h.k", "application/json", strings.NewReader(`{"type":"max","value":2}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if took := time.Since(start); resp.StatusCode != http.StatusServiceUnavailable || took > time.Second {
		t.Errorf("refine without the broker: %d after %v, want 503 at once", resp.StatusCode, took)
	}

	startDprop(t, brokerArgs...)
	brokertest.WaitFor(t, "the sidecar to be ready again", func() bool { code, _ := ready(); return code == http.StatusOK })
	if _, hdr, _ := httpGet(t, api+"/v1/cells/h.k"); hdr.Get("Dprop-Stale") != "" {
		t.Errorf("a read once the broker is back is still marked stale")
	}
	if _, errOut, code := runCmd(t, dpropBin, "refine", "--url", api, "h.k", `{"type":"max","value":3}`); code != 0 {
		t.Errorf("refine once the broker is back: %s", errOut)
	}
}
