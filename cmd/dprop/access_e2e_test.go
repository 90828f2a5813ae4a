package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
)

// The roles end to end, with the real binaries: dprop access config writes
// a server configuration, dprop broker runs it and provisions its stream
// as itself, and the real nats CLI and a dprop replica, each with its
// role's credential, can do what the role allows and are refused by the
// server everything else.
func TestEndToEndAccessRoles(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "access.yaml")
	if err := os.WriteFile(users, []byte(`users:
  - name: app-writer
    role: writer
    cells: weather.>
  - name: app-sidecar
    role: sidecar
    cells: weather.>
  - name: ops
    role: admin
    auth: password
`), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets, conf := filepath.Join(dir, "secrets"), filepath.Join(dir, "nats.conf")
	if _, stderr, code := runCmd(t, dpropBin, "access", "config", "--users", users, "--secrets", secrets, "--out", conf); code != 0 {
		t.Fatalf("dprop access config: %s", stderr)
	}
	for _, f := range []string{"app-writer.nk", "app-sidecar.nk", "ops.password"} {
		if fi, err := os.Stat(filepath.Join(secrets, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("secret %s: %v", f, err)
		}
	}
	natsAddr := freePort(t)
	natsURL := "nats://" + natsAddr
	b := startDprop(t, "broker", "--config", conf, "--data", filepath.Join(dir, "broker"), "--nats-listen", natsAddr)
	brokertest.WaitFor(t, "the broker to provision its stream under auth", func() bool { return strings.Contains(b.output(), "stream ready") })

	pw, err := os.ReadFile(filepath.Join(secrets, "ops.password"))
	if err != nil {
		t.Fatal(err)
	}
	as := map[string][]string{
		"writer":  {"-s", natsURL, "--nkey", filepath.Join(secrets, "app-writer.nk"), "--inbox-prefix", "_INBOX_app-writer"},
		"sidecar": {"-s", natsURL, "--nkey", filepath.Join(secrets, "app-sidecar.nk"), "--inbox-prefix", "_INBOX_app-sidecar"},
		"admin":   {"-s", natsURL, "--user", "ops", "--password", strings.TrimSpace(string(pw))},
	}
	nats := func(who string, args ...string) (string, int) {
		out, stderr, code := runCmd(t, natsBin, append(append([]string{}, as[who]...), args...)...)
		return out + stderr, code
	}
	allowed := func(who, what string, args ...string) {
		t.Helper()
		if out, code := nats(who, args...); code != 0 {
			t.Errorf("%s: %s: exit %d: %s (want allowed)", who, what, code, out)
		}
	}
	denied := func(who, what string, args ...string) {
		t.Helper()
		out, code := nats(who, append([]string{"--timeout", "2s"}, args...)...)
		t.Logf("%s: %s: exit %d: %s", who, what, code, strings.TrimSpace(out))
		// The server refuses with a permissions violation; a request whose
		// subject is refused gets no answer, which the CLI reports as a
		// timeout. What was refused is checked below by the admin too.
		if lower := strings.ToLower(out); !strings.Contains(lower, "permission") && !strings.Contains(lower, "timeout") {
			t.Errorf("%s: %s: exit %d: %s (want refused by the server)", who, what, code, out)
		}
	}
	allowed("writer", "an acknowledged publish inside the subtree", "pub", "--jetstream", "dprop.cell.weather.boston", `{"type":"max","value":1}`)
	denied("writer", "an acknowledged publish outside it", "pub", "--jetstream", "dprop.cell.traffic.i90", `{"type":"max","value":1}`)
	denied("writer", "reading the stream", "stream", "get", "DPROP", "--last-for", "dprop.cell.weather.boston")
	denied("writer", "purging the stream", "stream", "purge", "DPROP", "-f")
	denied("sidecar", "purging the stream", "stream", "purge", "DPROP", "-f")
	denied("sidecar", "deleting the stream", "stream", "rm", "DPROP", "-f")
	denied("sidecar", "subscribing to another subtree", "sub", "dprop.cell.traffic.>", "--count", "1", "--wait", "1s")
	// What was refused did not happen: the stream is there, whole, and
	// holds nothing the writer sent outside its subtree.
	if out, code := nats("admin", "stream", "get", "DPROP", "--last-for", "dprop.cell.traffic.i90"); code == 0 {
		t.Errorf("the writer's refused publish was stored: %s", out)
	}
	allowed("admin", "reading the stream", "stream", "get", "DPROP", "--last-for", "dprop.cell.weather.boston")
	allowed("admin", "publishing anywhere", "pub", "--jetstream", "dprop.cell.traffic.i90", `{"type":"max","value":2}`)

	// A sidecar replica of its subtree with its own credential.
	httpAddr := freePort(t)
	api := "http://" + httpAddr
	startDprop(t, "replica", "--nats-url", natsURL, "--nkey", filepath.Join(secrets, "app-sidecar.nk"),
		"--inbox-prefix", "_INBOX_app-sidecar", "--cells", "weather.>", "--http", httpAddr)
	brokertest.WaitFor(t, "the sidecar to be ready", func() bool {
		code, _, _ := httpGet(t, api+"/readyz")
		return code == http.StatusOK
	})
	if code, _, body := httpGet(t, api+"/v1/cells/weather.boston"); code != http.StatusOK || body != `{"type":"max","value":1}` {
		t.Errorf("the sidecar reads weather.boston: %d %s", code, body)
	}
	out, stderr, code := runCmd(t, dpropBin, "refine", "--url", api, "weather.boston", `{"type":"max","value":5}`)
	if code != 0 || strings.TrimSpace(out) != `{"type":"max","value":5}` {
		t.Errorf("refine through the sidecar: %d %s %s", code, out, stderr)
	}
	allowed("admin", "purging the stream", "stream", "purge", "DPROP", "-f")
}
