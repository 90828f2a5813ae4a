package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
)

// dprop status with two sidecars (up's and a replica's) shows the stream
// once and a line per sidecar; --json gives every sidecar's status; a
// sidecar that cannot be reached is a row that says so, and exit 1.
func TestEndToEndStatus(t *testing.T) {
	data := t.TempDir()
	natsAddr, api1, api2 := freePort(t), freePort(t), freePort(t)
	startDprop(t, "up", "--data", data, "--nats-listen", natsAddr, "--http", api1)
	startDprop(t, "replica", "--nats-url", "nats://"+natsAddr, "--http", api2)
	for _, a := range []string{api1, api2} {
		brokertest.WaitFor(t, "the sidecars to be ready", func() bool {
			code, _, _ := httpGet(t, "http://"+a+"/readyz")
			return code == http.StatusOK
		})
	}
	if _, stderr, code := runCmd(t, dpropBin, "refine", "--url", api1, "jobs.done", `{"type":"max","value":3}`); code != 0 {
		t.Fatal(stderr)
	}
	brokertest.WaitFor(t, "the second sidecar to fold it", func() bool {
		code, _, _ := httpGet(t, "http://"+api2+"/v1/cells/jobs.done")
		return code == http.StatusOK
	})
	out, stderr, code := runCmd(t, dpropBin, "status", api1, api2)
	if code != 0 || !strings.Contains(out, "Stream DPROP (dprop.cell.>, dprop.forget.>): 1 messages") || strings.Count(out, "  yes  ") != 2 {
		t.Fatalf("dprop status: exit %d\n%s%s", code, out, stderr)
	}
	out, _, code = runCmd(t, dpropBin, "status", "--json", api1, api2)
	var sts []sidecarStatus
	if err := json.Unmarshal([]byte(out), &sts); err != nil || code != 0 || len(sts) != 2 ||
		sts[0].Status.Replica.Applied != 1 || sts[1].Status.Replica.Held != 1 || sts[0].Status.Stream.LastSeq != 1 {
		t.Fatalf("dprop status --json: %v %d\n%s", err, code, out)
	}
	out, _, code = runCmd(t, dpropBin, "status", api1, freePort(t))
	if code != exitFailure || !strings.Contains(out, "cannot reach a sidecar") {
		t.Fatalf("dprop status with a dead sidecar: exit %d\n%s", code, out)
	}
}
