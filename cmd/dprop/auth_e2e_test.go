package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/dprop/dprop/internal/brokertest"
)

// runEnv runs dprop with extra environment variables and returns its
// stdout, stderr and exit status.
func runEnv(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, dpropBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("dprop %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

// makeToken runs dprop access token and returns the token it prints.
func makeToken(t *testing.T, file, name string, scopes ...string) string {
	t.Helper()
	out, errOut, code := runCmd(t, dpropBin, append([]string{"access", "token", name, "--file", file}, scopes...)...)
	token := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(token, "dprop_") || strings.Count(out, "\n") != 1 || strings.Contains(errOut, token) {
		t.Fatalf("dprop access token %s: exit %d, stdout %q, stderr %q: want the token alone, on stdout only", name, code, out, errOut)
	}
	return token
}

// A sidecar beyond loopback without authentication does not start, and
// says what to do; --insecure-no-auth starts it. Contradictory or
// incomplete authentication flags are usage errors too.
func TestSidecarBeyondLoopbackNeedsAuth(t *testing.T) {
	_, port, _ := net.SplitHostPort(freePort(t))
	anywhere := "0.0.0.0:" + port
	data := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{
		{"up", "--data", data, "--nats-listen", freePort(t), "--http", anywhere},
		{"replica", "--nats-url", "nats://127.0.0.1:1", "--http", anywhere},
		{"replica", "--nats-url", "nats://127.0.0.1:1", "--http", ":" + port},
	} {
		_, errOut, code := runCmd(t, dpropBin, args...)
		if code != exitUsage || !strings.Contains(errOut, "has no authentication") || !strings.Contains(errOut, "--http-tokens FILE") ||
			!strings.Contains(errOut, "dprop access token") || !strings.Contains(errOut, "--insecure-no-auth") {
			t.Errorf("dprop %v: exit %d, want %d and what to do:\n%s", args, code, exitUsage, errOut)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("the refused dprop up created its data directory (stat: %v)", err)
	}

	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	makeToken(t, tokens, "app", "--read", ">")
	files := brokertest.NewTLSFiles(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--http-tokens", tokens, "--insecure-no-auth"}, "contradict"},
		{[]string{"--http-tls-cert", files.ServerCert}, "--http-tls-cert and --http-tls-key together"},
		{[]string{"--http-tls-cert", files.ServerCert, "--http-tls-key", files.ServerKey, "--http-client-ca", files.CA}, "--http-client-ca needs --http-tokens"},
		{[]string{"--http-client-ca", files.CA, "--http-tokens", tokens}, "--http-client-ca needs --http-tls-cert"},
		{[]string{"--http-tls-cert", files.ServerCert, "--http-tls-key", files.ClientKey}, "--http-tls-cert " + files.ServerCert},
		{[]string{"--http-tokens", filepath.Join(t.TempDir(), "none.yaml")}, "--http-tokens: open"},
	} {
		args := append([]string{"replica", "--nats-url", "nats://127.0.0.1:1", "--http", freePort(t)}, tt.args...)
		if _, errOut, code := runCmd(t, dpropBin, args...); code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("dprop %v: exit %d, want %d and %q:\n%s", args, code, exitUsage, tt.want, errOut)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("- name: app\n  read: [\"a.>\"]\n- name: app\n  hash: dprop_x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCmd(t, dpropBin, "replica", "--nats-url", "nats://127.0.0.1:1", "--http", freePort(t), "--http-tokens", bad); code != exitUsage ||
		!strings.Contains(errOut, bad+":1: entry 1: \"app\" has neither a hash") {
		t.Errorf("a bad tokens file: exit %d:\n%s", code, errOut)
	}

	// Told that the network is trusted, it starts (and warns).
	p := startDprop(t, "replica", "--nats-url", "nats://127.0.0.1:1", "--http", anywhere, "--insecure-no-auth")
	brokertest.WaitFor(t, "the sidecar to serve /healthz", func() bool {
		code, _, _ := httpGet(t, "http://127.0.0.1:"+port+"/healthz")
		return code == http.StatusOK
	})
	brokertest.WaitFor(t, "a warning", func() bool { return strings.Contains(p.output(), "without authentication (--insecure-no-auth)") })
}

// dprop access token makes a token that dprop get, refine, cells and watch
// use against dprop up --http-tokens, from --token or DPROP_TOKEN; refusals
// say which scope is missing; a token added while the sidecar runs works
// within moments, and SIGHUP reloads the file at once.
func TestAccessTokenEndToEnd(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.yaml")
	app := makeToken(t, tokens, "app", "--read", "weather.>", "--refine", "weather.boston.>")
	if fi, err := os.Stat(tokens); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("tokens file mode %v (%v), want 0600", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(tokens); strings.Contains(string(b), app) || !strings.Contains(string(b), "hash: sha256:") {
		t.Fatalf("the tokens file:\n%s", b)
	}
	if _, errOut, code := runCmd(t, dpropBin, "access", "token", "app", "--read", ">", "--file", tokens); code != exitFailure || !strings.Contains(errOut, `already has an entry named "app"`) {
		t.Errorf("a name twice: exit %d: %s", code, errOut)
	}
	if _, errOut, code := runCmd(t, dpropBin, "access", "token", "nothing", "--file", tokens); code != exitUsage || !strings.Contains(errOut, "--read PATTERN, --refine PATTERN or --admin") {
		t.Errorf("no scope: exit %d: %s", code, errOut)
	}

	httpAddr := freePort(t)
	api := "http://" + httpAddr
	p := startDprop(t, "up", "--data", filepath.Join(dir, "data"), "--nats-listen", freePort(t), "--http", httpAddr, "--http-tokens", tokens)
	brokertest.WaitFor(t, "dprop up to be ready", func() bool {
		code, _, _ := httpGet(t, api+"/readyz") // open without a token
		return code == http.StatusOK
	})
	brokertest.WaitFor(t, "the banner to show how to send the token", func() bool {
		return strings.Contains(p.output(), `curl -H "Authorization: Bearer $DPROP_TOKEN" `+api+"/v1/cells/") // printed once the API serves
	})
	const cell, value = "weather.boston.temp", `{"type":"range","min":34,"max":48}`
	if out, errOut, code := runCmd(t, dpropBin, "refine", "--url", api, "--token", app, cell, value); code != 0 || strings.TrimSpace(out) != value {
		t.Fatalf("refine --token: exit %d: %s %s", code, out, errOut)
	}
	if out, errOut, code := runEnv(t, []string{"DPROP_TOKEN=" + app}, "get", "--url", api, cell); code != 0 || strings.TrimSpace(out) != value {
		t.Errorf("get with DPROP_TOKEN: exit %d: %s %s", code, out, errOut)
	}
	if out, _, code := runEnv(t, []string{"DPROP_TOKEN=" + app}, "cells", "--url", api, ">"); code != 0 || !strings.Contains(out, cell) {
		t.Errorf("cells with DPROP_TOKEN: exit %d: %s", code, out)
	}
	if out, errOut, code := runEnv(t, []string{"DPROP_TOKEN=" + app}, "get", "--help"); code != 0 || strings.Contains(out+errOut, app) {
		t.Errorf("get --help shows the token of DPROP_TOKEN:\n%s", out)
	}
	_, errOut, code := runCmd(t, dpropBin, "get", "--url", api, cell)
	if code != exitFailure || !strings.Contains(errOut, "(HTTP 401)") || !strings.Contains(errOut, "give --token (or set DPROP_TOKEN)") {
		t.Errorf("get without a token: exit %d: %s", code, errOut)
	}
	_, errOut, code = runCmd(t, dpropBin, "refine", "--url", api, "--token", app, "traffic.i90", value)
	if code != exitFailure || !strings.Contains(errOut, `token "app" may not refine cell "traffic.i90" (it may refine weather.boston.>) (HTTP 403)`) {
		t.Errorf("refine outside the scope: exit %d: %s", code, errOut)
	}
	_, errOut, code = runCmd(t, dpropBin, "watch", "--url", api, "--token", app, "traffic.i90")
	if code != exitFailure || !strings.Contains(errOut, `may not read cell "traffic.i90"`) {
		t.Errorf("watch outside the scope: exit %d: %s", code, errOut)
	}
	_, errOut, code = runCmd(t, dpropBin, "history", "--url", api, "--token", "dprop_wrong", cell)
	if code != exitFailure || !strings.Contains(errOut, "not one this sidecar accepts") {
		t.Errorf("history with a wrong token: exit %d: %s", code, errOut)
	}

	// A token added now is taken up without a restart.
	ops := makeToken(t, tokens, "ops", "--admin")
	brokertest.WaitFor(t, "the new token to be accepted", func() bool {
		req, _ := http.NewRequest("GET", api+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+ops)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	// SIGHUP reloads the file, changed or not, and the sidecar goes on.
	brokertest.WaitFor(t, "the reload of the new token to be logged", func() bool {
		return strings.Count(p.output(), "HTTP API tokens reloaded") == 1
	})
	before := 1
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	brokertest.WaitFor(t, "a reload on SIGHUP", func() bool {
		return strings.Count(p.output(), "HTTP API tokens reloaded") > before
	})
	if out, _, code := runCmd(t, dpropBin, "get", "--url", api, "--token", app, cell); code != 0 || strings.TrimSpace(out) != value {
		t.Errorf("get after SIGHUP: exit %d: %s", code, out)
	}
	if strings.Contains(p.output(), app) || strings.Contains(p.output(), ops) {
		t.Errorf("the sidecar logged a token:\n%s", p.output())
	}
}

// Over HTTPS with --http-client-ca, a client certificate named in the
// tokens file is its key: dprop get with --tlsca, --tlscert and --tlskey
// works; without a certificate it is refused; the probes need none.
func TestSidecarClientCertificates(t *testing.T) {
	files := brokertest.NewTLSFiles(t)
	cert, key := files.NewClientCert(t, "billing-svc")
	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	if _, errOut, code := runCmd(t, dpropBin, "access", "token", "billing", "--cert", "billing-svc", "--read", ">", "--refine", ">", "--file", tokens); code != 0 {
		t.Fatalf("access token --cert: exit %d: %s", code, errOut)
	}
	httpAddr := freePort(t)
	api := "https://" + httpAddr
	p := startDprop(t, "up", "--data", t.TempDir(), "--nats-listen", freePort(t), "--http", httpAddr, "--http-tokens", tokens,
		"--http-tls-cert", files.ServerCert, "--http-tls-key", files.ServerKey, "--http-client-ca", files.CA)
	brokertest.WaitFor(t, "dprop up to be ready over HTTPS", func() bool {
		_, _, code := runCmd(t, dpropBin, "probe", "--tlsca", files.CA, api+"/readyz")
		return code == 0
	})
	brokertest.WaitFor(t, "the banner to say https", func() bool { return strings.Contains(p.output(), "HTTP API  "+api) })
	tlsFlags := []string{"--url", api, "--tlsca", files.CA, "--tlscert", cert, "--tlskey", key}
	const value = `{"type":"max","value":3}`
	if out, errOut, code := runCmd(t, dpropBin, append(append([]string{"refine"}, tlsFlags...), "demo.x", value)...); code != 0 || strings.TrimSpace(out) != value {
		t.Fatalf("refine with a client certificate: exit %d: %s %s", code, out, errOut)
	}
	if out, errOut, code := runCmd(t, dpropBin, append(append([]string{"get"}, tlsFlags...), "demo.x")...); code != 0 || strings.TrimSpace(out) != value {
		t.Errorf("get with a client certificate: exit %d: %s %s", code, out, errOut)
	}
	if _, errOut, code := runCmd(t, dpropBin, "get", "--url", api, "--tlsca", files.CA, "demo.x"); code != exitFailure || !strings.Contains(errOut, "(HTTP 401)") {
		t.Errorf("get without a certificate: exit %d: %s", code, errOut)
	}
	other := brokertest.NewTLSFiles(t)
	if _, errOut, code := runCmd(t, dpropBin, "get", "--url", api, "--tlsca", files.CA, "--tlscert", other.ClientCert, "--tlskey", other.ClientKey, "demo.x"); code != exitFailure ||
		!strings.Contains(errOut, "TLS with the sidecar") {
		t.Errorf("get with a certificate of another authority: exit %d: %s", code, errOut)
	}
	if _, errOut, code := runCmd(t, dpropBin, "get", "--url", "http://"+httpAddr, "--tlsca", files.CA, "demo.x"); code != exitUsage || !strings.Contains(errOut, "https://") {
		t.Errorf("TLS flags with an http:// URL: exit %d: %s", code, errOut)
	}
}

// The compose file's commands parse, with its variables at their defaults
// (so a flag renamed or a size mistyped is caught here, not by a user's
// docker compose up), and its sidecars pass the sidecar's checks: one that
// listens beyond loopback has tokens or says --insecure-no-auth. The fault
// suite runs the same file, with an override that adds no command.
func TestComposeCommandsParse(t *testing.T) {
	const file = "../../docker-compose.yml"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	variable := regexp.MustCompile(`\$\{[A-Z0-9_]+:-([^}]*)\}`)
	sidecars := 0
	for name, svc := range compose.Services {
		args := make([]string, len(svc.Command))
		for i, a := range svc.Command {
			args[i] = variable.ReplaceAllString(a, "$1")
			if strings.Contains(args[i], "$") {
				t.Errorf("%s: %s: %q: a variable without a default", file, name, a)
			}
		}
		c, rest, err := newRoot().Find(args)
		if err == nil {
			err = c.ParseFlags(rest)
		}
		if err != nil {
			t.Errorf("%s: %s: %v", file, name, err)
			continue
		}
		if args[0] != "replica" && args[0] != "up" {
			continue
		}
		sidecars++
		var sc sidecarFlags
		only := &cobra.Command{}
		sc.register(only)
		only.Flags().ParseErrorsAllowlist.UnknownFlags = true
		if err := only.Flags().Parse(args[1:]); err != nil {
			t.Fatalf("%s: %s: %v", file, name, err)
		}
		if err := sc.auth.check(slog.New(slog.DiscardHandler), sc.http); err != nil {
			t.Errorf("%s: %s would not start: %v", file, name, err)
		}
	}
	if sidecars != 3 {
		t.Errorf("%s: %d sidecars found, want 3", file, sidecars)
	}
}
