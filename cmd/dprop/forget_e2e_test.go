package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
)

// dprop forget, end to end: the subtree is gone from the sidecar, the other
// cells stay, and dprop history shows the forget.
func TestEndToEndForget(t *testing.T) {
	data := t.TempDir()
	natsAddr, httpAddr := freePort(t), freePort(t)
	natsURL, api := "nats://"+natsAddr, "http://"+httpAddr
	startDprop(t, "up", "--data", data, "--nats-listen", natsAddr, "--http", httpAddr)
	brokertest.WaitFor(t, "dprop up to be ready", func() bool {
		code, _, _ := httpGet(t, api+"/readyz")
		return code == http.StatusOK
	})
	for _, cell := range []string{"tenant.test.a", "tenant.test.b", "tenant.prod.a"} {
		if _, stderr, code := runCmd(t, natsBin, "-s", natsURL, "pub", "dprop.cell."+cell, `{"type":"max","value":1}`); code != 0 {
			t.Fatal(stderr)
		}
	}
	brokertest.WaitFor(t, "the cells", func() bool {
		code, _, _ := httpGet(t, api+"/v1/cells/tenant.prod.a")
		return code == http.StatusOK
	})
	out, stderr, code := runCmd(t, dpropBin, "forget", "--nats-url", natsURL, "--reason", "test tenant", "tenant.test.>")
	if code != 0 || !strings.Contains(out, "forgot 2 of 2 cells matching tenant.test.> (2 purged") {
		t.Fatalf("dprop forget: %d %s %s", code, out, stderr)
	}
	brokertest.WaitFor(t, "the sidecar to forget them", func() bool {
		code, _, _ := httpGet(t, api+"/v1/cells/tenant.test.a")
		return code == http.StatusNotFound
	})
	if code, _, _ := httpGet(t, api+"/v1/cells/tenant.prod.a"); code != http.StatusOK {
		t.Errorf("tenant.prod.a: %d, want it kept", code)
	}
	out, _, _ = runCmd(t, dpropBin, "history", "--url", api, "tenant.test.b")
	if !strings.Contains(out, "forgotten") || !strings.Contains(out, "test tenant") {
		t.Errorf("history of a forgotten cell:\n%s", out)
	}
}
