package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
)

// A sidecar with --data whose broker goes away keeps taking refines: dprop
// refine says the update waits in the outbox, reads show it marked
// pending, dprop outbox lists it; --ack-log still fails; once the broker
// is back the outbox drains, and the log (read with the nats CLI) holds
// each update once.
func TestEndToEndOutbox(t *testing.T) {
	dir, natsAddr, httpAddr := t.TempDir(), freePort(t), freePort(t)
	api, natsURL := "http://"+httpAddr, "nats://"+natsAddr
	brokerArgs := []string{"broker", "--data", filepath.Join(dir, "broker"), "--nats-listen", natsAddr}
	b := startDprop(t, brokerArgs...)
	startDprop(t, "replica", "--nats-url", natsURL, "--http", httpAddr, "--data", filepath.Join(dir, "replica"))
	brokertest.WaitFor(t, "the sidecar to be ready", func() bool { code, _, _ := httpGet(t, api+"/readyz"); return code == http.StatusOK })
	refine := func(v string, args ...string) (string, int) {
		t.Helper()
		_, errOut, code := runCmd(t, dpropBin, append([]string{"refine", "--url", api, "ob.jobs", v}, args...)...)
		return errOut, code
	}
	if errOut, code := refine(`{"type":"max","value":1}`); code != 0 || errOut != "" {
		t.Fatalf("refine with the broker up: exit %d, %q", code, errOut)
	}

	b.stop(t)
	errOut, code := refine(`{"type":"max","value":5}`)
	if code != 0 || !strings.Contains(errOut, "outbox") {
		t.Fatalf("refine without the broker: exit %d, %q; want 0 and a word about the outbox", code, errOut)
	}
	code, hdr, body := httpGet(t, api+"/v1/cells/ob.jobs")
	if code != http.StatusOK || body != `{"type":"max","value":5}` || hdr.Get("Dprop-Pending") != "1" {
		t.Fatalf("read: %d %s Dprop-Pending %q, want max 5 with 1 pending", code, body, hdr.Get("Dprop-Pending"))
	}
	out, _, code := runCmd(t, dpropBin, "outbox", "--url", api)
	if code != 3 || !strings.Contains(out, "1 update(s) pending") || !strings.Contains(out, "ob.jobs") {
		t.Fatalf("dprop outbox: exit %d:\n%s", code, out)
	}
	st, _, _ := runCmd(t, dpropBin, "status", "--url", api, "--json")
	var sts []struct {
		Status struct {
			Replica struct {
				Outbox *struct{ Pending int } `json:"outbox"`
			} `json:"replica"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(st), &sts); err != nil || len(sts) != 1 || sts[0].Status.Replica.Outbox == nil || sts[0].Status.Replica.Outbox.Pending != 1 {
		t.Fatalf("dprop status --json: %v\n%s", err, st)
	}
	if errOut, code := refine(`{"type":"max","value":9}`, "--ack-log"); code != 1 {
		t.Fatalf("refine --ack-log without the broker: exit %d, %q; want 1", code, errOut)
	}
	_, _, rd := httpGet(t, api+"/readyz")
	var r struct {
		Outbox struct{ Pending int } `json:"outbox"`
	}
	if err := json.Unmarshal([]byte(rd), &r); err != nil || r.Outbox.Pending != 1 {
		t.Fatalf("/readyz outbox: %s", rd)
	}

	startDprop(t, brokerArgs...)
	brokertest.WaitFor(t, "the outbox to drain", func() bool {
		_, _, code := runCmd(t, dpropBin, "outbox", "--url", api)
		return code == 0
	})
	brokertest.WaitFor(t, "the read to be the log's", func() bool {
		_, hdr, body := httpGet(t, api+"/v1/cells/ob.jobs")
		return body == `{"type":"max","value":5}` && hdr.Get("Dprop-Pending") == ""
	})
	info, errOut, code := runCmd(t, natsBin, "-s", natsURL, "stream", "info", "DPROP", "--json")
	if code != 0 {
		t.Fatalf("nats stream info: %s", errOut)
	}
	var si struct {
		State struct {
			Msgs uint64 `json:"messages"`
		} `json:"state"`
	}
	if err := json.Unmarshal([]byte(info), &si); err != nil || si.State.Msgs != 2 {
		t.Fatalf("the stream holds %d messages, want 2 (max 1, then max 5 once): %v\n%s", si.State.Msgs, err, info)
	}
}
