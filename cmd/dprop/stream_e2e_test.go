package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
)

// The recovery runbook after `nats stream rm`, end to end: dprop up's
// broker provisions the stream again, its replica notices the new stream,
// sets its cells aside in a snapshot file and says so on /readyz; `dprop
// restore` of that file brings the cells back.
func TestEndToEndStreamDeleted(t *testing.T) {
	data := t.TempDir()
	natsAddr, httpAddr := freePort(t), freePort(t)
	natsURL, api := "nats://"+natsAddr, "http://"+httpAddr
	startDprop(t, "up", "--data", data, "--nats", natsAddr, "--http", httpAddr)
	brokertest.WaitFor(t, "dprop up to be ready", func() bool {
		code, _, _ := httpGet(t, api+"/readyz")
		return code == http.StatusOK
	})
	if _, stderr, code := runCmd(t, natsBin, "-s", natsURL, "pub", "dprop.cell.jobs.done", `{"type":"max","value":7}`); code != 0 {
		t.Fatalf("nats pub: %s", stderr)
	}
	brokertest.WaitFor(t, "the cell", func() bool {
		code, _, body := httpGet(t, api+"/v1/cells/jobs.done")
		return code == http.StatusOK && body == `{"type":"max","value":7}`
	})
	if _, stderr, code := runCmd(t, natsBin, "-s", natsURL, "stream", "rm", "DPROP", "-f"); code != 0 {
		t.Fatalf("nats stream rm: %s", stderr)
	}
	var rd struct {
		Ready        bool   `json:"ready"`
		LastIncident string `json:"last_incident"`
	}
	brokertest.WaitFor(t, "the replica to follow the re-provisioned stream", func() bool {
		code, _, body := httpGet(t, api+"/readyz")
		_ = json.Unmarshal([]byte(body), &rd)
		return code == http.StatusOK && strings.Contains(rd.LastIncident, "replaced")
	})
	if code, _, _ := httpGet(t, api+"/v1/cells/jobs.done"); code != http.StatusNotFound {
		t.Fatalf("the cell is still served from the deleted stream (status %d)", code)
	}
	kept, _ := filepath.Glob(filepath.Join(data, "replica", "snapshot.jsonl.replaced-*"))
	if len(kept) != 1 {
		t.Fatalf("set-aside snapshots: %v, want one", kept)
	}
	out, stderr, code := runCmd(t, dpropBin, "restore", "--nats-url", natsURL, kept[0])
	if code != 0 || !strings.Contains(out, "restored 1 of 1 cells") {
		t.Fatalf("dprop restore: %d %s %s", code, out, stderr)
	}
	brokertest.WaitFor(t, "the restored cell", func() bool {
		code, _, body := httpGet(t, api+"/v1/cells/jobs.done")
		return code == http.StatusOK && body == `{"type":"max","value":7}`
	})
}
