package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
)

// dprop up --auth: anonymous NATS clients are refused, the admin key made
// under --data (mode 0600) gets in with the real nats CLI, up's own replica
// works all along, and auth stays on after a restart without the flag.
func TestEndToEndUpAuth(t *testing.T) {
	data := t.TempDir()
	natsAddr, httpAddr := freePort(t), freePort(t)
	natsURL, api := "nats://"+natsAddr, "http://"+httpAddr
	up := func(args ...string) *proc {
		p := startDprop(t, append([]string{"up", "--data", data, "--nats-listen", natsAddr, "--http", httpAddr}, args...)...)
		brokertest.WaitFor(t, "dprop up to be ready", func() bool {
			code, _, _ := httpGet(t, api+"/readyz")
			return code == http.StatusOK
		})
		return p
	}
	p := up("--auth")
	key := filepath.Join(data, "auth", "admin.nk")
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin key %s: %v, mode %v; want it made with mode 0600", key, err, fi.Mode())
	}
	brokertest.WaitFor(t, "up to say how to use the key", func() bool { return strings.Contains(p.output(), "nats --nkey "+key) })
	value := `{"type":"max","value":3}`
	if _, stderr, code := runCmd(t, natsBin, "-s", natsURL, "pub", "dprop.cell.a", value); code == 0 || !strings.Contains(strings.ToLower(stderr), "authorization") {
		t.Fatalf("anonymous nats pub: exit %d, %s; want an authorization violation", code, stderr)
	}
	if _, stderr, code := runCmd(t, natsBin, "-s", natsURL, "--nkey", key, "pub", "dprop.cell.a", value); code != 0 {
		t.Fatalf("nats pub as admin: %s", stderr)
	}
	brokertest.WaitFor(t, "the cell through up's own replica", func() bool {
		code, _, body := httpGet(t, api+"/v1/cells/a")
		return code == http.StatusOK && body == value
	})
	p.stop(t)
	up() // no --auth: the key on disk keeps it on
	if _, stderr, code := runCmd(t, natsBin, "-s", natsURL, "pub", "dprop.cell.a", value); code == 0 {
		t.Fatalf("anonymous nats pub after a restart without --auth was accepted: %s", stderr)
	}
}
