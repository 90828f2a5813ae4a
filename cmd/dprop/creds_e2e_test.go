package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
)

// A credentials file that is not one is refused when the flags are read:
// exit status 2 and the cause, rather than a replica that starts and
// times out for ever.
func TestReplicaGarbageCreds(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "user.creds")
	if err := os.WriteFile(creds, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCmd(t, dpropBin, "replica", "--nats-url", "nats://127.0.0.1:1", "--creds", creds, "--http", freePort(t))
	if code != exitUsage || !strings.Contains(stderr, "credentials file "+creds) {
		t.Fatalf("exit %d, stderr %q; want %d naming the file and what is wrong", code, stderr, exitUsage)
	}
}

// A wrong password: the replica keeps running and retrying, says why at
// ERROR level and on /readyz (503, the cause under checks.nats), while
// /healthz stays 200.
func TestReplicaWrongPassword(t *testing.T) {
	conf := brokertest.WriteFile(t, "nats.conf", `authorization { users = [ { user: app, password: "right" } ] }`)
	srv := brokertest.RunServer(t, brokertest.WithConfigFile(conf))
	httpAddr := freePort(t)
	api := "http://" + httpAddr
	p := startDprop(t, "replica", "--nats-url", srv.ClientURL(), "--user", "app", "--password", "wrong", "--http", httpAddr)
	var rd struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	brokertest.WaitFor(t, "/readyz to name the authorization violation", func() bool {
		code, _, body := httpGet(t, api+"/readyz")
		rd.Checks = nil
		_ = json.Unmarshal([]byte(body), &rd)
		return code == http.StatusServiceUnavailable && strings.Contains(rd.Checks["nats"], "Authorization Violation")
	})
	if code, _, _ := httpGet(t, api+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200 (the process is alive and retrying)", code)
	}
	brokertest.WaitFor(t, "an ERROR log line with the cause", func() bool {
		out := p.output()
		return strings.Contains(out, "level=ERROR") && strings.Contains(out, "Authorization Violation")
	})
}
