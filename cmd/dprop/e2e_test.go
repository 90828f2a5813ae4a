package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dprop/dprop/internal/brokertest"
)

// The end-to-end tests run the real dprop binary, built once for the run,
// and the real nats CLI, pinned at natsVersion. findNats takes the nats CLI
// from $DPROP_NATS_CLI if set (a path, used as it is); else the nats on
// PATH if 'nats --version' says natsVersion; else a copy it installs once
// into the user's cache directory (go install, a couple of minutes).
var (
	dpropBin string
	natsBin  string
)

const (
	natsVersion = "v0.5.0"
	natsCLI     = "github.com/nats-io/natscli/nats@" + natsVersion
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "dprop-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	dpropBin = filepath.Join(dir, "dprop")
	if out, err := exec.Command("go", "build", "-o", dpropBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building dprop: %v\n%s", err, out)
		return 1
	}
	if natsBin, err = findNats(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// findNats returns the pinned nats CLI: $DPROP_NATS_CLI, the one on PATH
// when it is the pinned version, or a copy installed into the user's cache
// directory on first use.
func findNats() (string, error) {
	if p := os.Getenv("DPROP_NATS_CLI"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("nats"); err == nil && isPinnedNats(p) {
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "dprop", "tools", "natscli-"+natsVersion)
	nats := filepath.Join(bin, "nats")
	if _, err := os.Stat(nats); err == nil {
		return nats, nil
	}
	fmt.Fprintf(os.Stderr, "installing the nats CLI (%s) into %s, once (set DPROP_NATS_CLI to use another copy)\n", natsCLI, bin)
	cmd := exec.Command("go", "install", natsCLI)
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("installing the nats CLI: %v\n%s", err, out)
	}
	return nats, nil
}

// isPinnedNats reports whether the nats CLI at path says it is natsVersion.
func isPinnedNats(path string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	return err == nil && strings.TrimPrefix(strings.TrimSpace(string(out)), "v") == strings.TrimPrefix(natsVersion, "v")
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a running dprop process.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan error
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String() + p.stderr.String()
}

func (p *proc) stdoutText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

func (p *proc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func startDprop(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(dpropBin, args...), done: make(chan error, 1)}
	p.cmd.Stdout = lockedWriter{&p.mu, &p.stdout}
	p.cmd.Stderr = lockedWriter{&p.mu, &p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("dprop %s output:\n%s", strings.Join(args, " "), p.output())
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("dprop exited with %v:\n%s", err, p.output())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("dprop did not stop on SIGTERM:\n%s", p.output())
	}
}

// run runs a command and returns its stdout, stderr and exit status.
func runCmd(t *testing.T, name string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return out.String(), errb.String(), code
}

func httpGet(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, nil, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// The README's tour, end to end: dprop up, the seed's daily ranges
// published with the real nats CLI, read back with dprop get and over HTTP,
// bad updates refused both ways, and the value surviving a restart.
func TestEndToEndTemperatureDemo(t *testing.T) {
	data := t.TempDir()
	natsAddr, httpAddr := freePort(t), freePort(t)
	natsURL, api := "nats://"+natsAddr, "http://"+httpAddr
	up := func(natsFlag string) *proc {
		p := startDprop(t, "up", "--data", data, natsFlag, natsAddr, "--http", httpAddr)
		brokertest.WaitFor(t, "dprop up to be ready", func() bool {
			code, _, _ := httpGet(t, api+"/readyz")
			return code == http.StatusOK
		})
		return p
	}
	p := up("--nats-listen")
	brokertest.WaitFor(t, "dprop up's banner", func() bool { return strings.Contains(p.output(), "Stop with Ctrl-C") })
	if out := p.output(); !strings.Contains(out, "nats -s "+natsURL+" pub dprop.cell.weather.boston.temp") || !strings.Contains(out, "curl "+api+"/v1/cells/weather.boston.temp") {
		t.Errorf("dprop up does not say how to use it:\n%s", out)
	}
	// The banner's operations work as printed.
	if out := p.output(); !strings.Contains(out, "dprop inc --url "+api+" jobs.done") || !strings.Contains(out, "nats -s "+natsURL+` req dprop.op.jobs.done '{"op":"inc"}'`) {
		t.Errorf("dprop up does not show operations:\n%s", out)
	}
	if out, e, code := runCmd(t, dpropBin, "inc", "--url", api, "jobs.done"); code != 0 || !strings.Contains(out, `"gcounter"`) {
		t.Errorf("dprop inc as the banner says: exit %d: %s%s", code, out, e)
	}
	if out, e, code := runCmd(t, natsBin, "-s", natsURL, "req", "dprop.op.jobs.done", `{"op":"inc"}`); code != 0 || !strings.Contains(out+e, `"gcounter"`) {
		t.Errorf("nats req as the banner says: exit %d: %s%s", code, out, e)
	}
	secondUpFails(t, natsAddr, httpAddr)
	cell := "weather.boston.temp"
	for _, day := range []string{
		`{"type":"range","min":34,"max":48}`,
		`{"type":"range","min":36,"max":43}`,
		`{"type":"range","min":33,"max":36}`,
		`{"type":"range","min":31,"max":42}`,
		`{"type":"range","min":31,"max":57}`,
	} {
		if _, errOut, code := runCmd(t, natsBin, "-s", natsURL, "pub", "dprop.cell."+cell, day); code != 0 {
			t.Fatalf("nats pub: exit %d: %s", code, errOut)
		}
	}
	want := `{"type":"range","min":31,"max":57}`
	get := func() string {
		out, _, _ := runCmd(t, dpropBin, "get", "--url", api, cell)
		return strings.TrimSpace(out)
	}
	brokertest.WaitFor(t, "the five days to be merged", func() bool { return get() == want })
	code, hdr, body := httpGet(t, api+"/v1/cells/"+cell)
	if code != 200 || body != want || hdr.Get("Dprop-Type") != "range" || hdr.Get("ETag") == "" {
		t.Errorf("GET: %d %v %s", code, hdr, body)
	}
	if out, _, code := runCmd(t, dpropBin, "get", "--json", "--url", api, cell); code != 0 || !strings.Contains(out, `"updates":5`) {
		t.Errorf("dprop get --json: %d %s", code, out)
	}

	// Bad updates through NATS are refused and counted; the cell keeps its
	// value.
	for _, bad := range []string{`{"type":"range","min":31`, `{"type":"max","value":99}`, `{"type":"range","min":60,"max":50}`} {
		runCmd(t, natsBin, "-s", natsURL, "pub", "dprop.cell."+cell, bad)
	}
	brokertest.WaitFor(t, "three refusals in the metrics", func() bool {
		_, _, metrics := httpGet(t, api+"/metrics")
		return refusedTotal(metrics) == 3
	})
	if got := get(); got != want {
		t.Errorf("after bad updates: %s", got)
	}
	// Bad updates through the sidecar are refused before publishing.
	_, errOut, code := runCmd(t, dpropBin, "refine", "--url", api, cell, `{"type":"max","value":99}`)
	if code != 1 || !strings.Contains(errOut, "409") || !strings.Contains(errOut, "range") {
		t.Errorf("refine of another type: exit %d: %s", code, errOut)
	}
	_, errOut, code = runCmd(t, dpropBin, "refine", "--url", api, cell, `{"type":"range","min":1`)
	if code != 1 || !strings.Contains(errOut, "400") {
		t.Errorf("refine of malformed JSON: exit %d: %s", code, errOut)
	}
	if _, _, code := runCmd(t, dpropBin, "refine", "--url", api); code != 2 {
		t.Errorf("refine without arguments: exit %d, want 2", code)
	}
	// A good refine through the sidecar: read-your-writes.
	out, _, code := runCmd(t, dpropBin, "refine", "--url", api, cell, `{"type":"range","min":30,"max":40}`)
	if want = `{"type":"range","min":30,"max":57}`; code != 0 || strings.TrimSpace(out) != want {
		t.Errorf("refine: exit %d: %s", code, out)
	}

	readingHints(t, api, cell)

	// Restart on the same directory: the cell survives.
	p.stop(t)
	up("--nats") // the old spelling of --nats-listen

	if got := get(); got != want {
		t.Errorf("after a restart: %s, want %s", got, want)
	}
}

// secondUpFails starts a second dprop up on the NATS address, then on the
// HTTP address, of one that runs: each fails with status 1 before creating
// its data directory, and says which flag to change.
func secondUpFails(t *testing.T, natsAddr, httpAddr string) {
	t.Helper()
	for _, tt := range []struct {
		flag       string
		nats, http string
	}{
		{"--nats-listen", natsAddr, freePort(t)},
		{"--http", freePort(t), httpAddr},
	} {
		data := filepath.Join(t.TempDir(), "second")
		_, errOut, code := runCmd(t, dpropBin, "up", "--data", data, "--nats-listen", tt.nats, "--http", tt.http)
		if code != 1 || !strings.Contains(errOut, "choose another address with "+tt.flag+"\n") ||
			!strings.Contains(errOut, "Another dprop may be running") || strings.Contains(errOut, "broker: broker:") {
			t.Errorf("second dprop up on a taken %s address: exit %d:\n%s", tt.flag, code, errOut)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("second dprop up on a taken %s address created its data directory (stat: %v)", tt.flag, err)
		}
	}
}

// readingHints checks what get, refine and cells say beyond the value: no
// metadata on stderr, contradictions said plainly (and refine's status 3),
// and hints for a subject given as a cell and a subtree without ".>".
func readingHints(t *testing.T, api, cell string) {
	t.Helper()
	if out, errOut, code := runCmd(t, dpropBin, "get", "--url", api, cell); code != 0 || errOut != "" || strings.Count(out, "\n") != 1 {
		t.Errorf("get: exit %d, stdout %q, stderr %q: want the value alone", code, out, errOut)
	}
	if out, errOut, code := runCmd(t, dpropBin, "refine", "--url", api, "demo.exact", `{"type":"number","value":3}`); code != 0 || errOut != "" {
		t.Errorf("refine of a number: exit %d: %s %s", code, out, errOut)
	}
	out, errOut, code := runCmd(t, dpropBin, "refine", "--url", api, "demo.exact", `{"type":"number","value":4}`)
	if code != 3 || !strings.Contains(out, `"type":"contradiction"`) || !strings.Contains(errOut, "demo.exact is a contradiction: number: 3 ≠ 4") {
		t.Errorf("refine into a contradiction: exit %d (want 3), stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = runCmd(t, dpropBin, "get", "--url", api, "demo.exact")
	if code != 0 || !strings.Contains(out, `"type":"contradiction"`) || !strings.Contains(errOut, "is a contradiction") {
		t.Errorf("get of a contradiction: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, _, code = runCmd(t, dpropBin, "cells", "--url", api)
	if !regexp.MustCompile(`(?m)^demo\.exact +contradiction \(number\) `).MatchString(out) ||
		!regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(cell)+` +range `).MatchString(out) || code != 0 {
		t.Errorf("cells: exit %d, want the contradiction said plainly:\n%s", code, out)
	}

	_, errOut, code = runCmd(t, dpropBin, "get", "--url", api, "dprop.cell."+cell)
	if code != 1 || !strings.Contains(errOut, "is a NATS subject; the cell is "+cell+".") {
		t.Errorf("get of a subject: exit %d: %s", code, errOut)
	}
	out, errOut, code = runCmd(t, dpropBin, "cells", "--url", api, "weather")
	if code != 0 || strings.Contains(out, cell) || !strings.Contains(errOut, "'weather.>'") {
		t.Errorf("cells weather: exit %d, stdout %q, stderr %q: want a hint for weather.>", code, out, errOut)
	}
	if out, errOut, _ = runCmd(t, dpropBin, "cells", "--url", api, "weather.>"); !strings.Contains(out, cell) || errOut != "" {
		t.Errorf("cells weather.>: %q %q", out, errOut)
	}
}

// refusedTotal sums dprop_updates_refused_total over its reasons.
func refusedTotal(metrics string) int {
	total := 0
	sc := bufio.NewScanner(strings.NewReader(metrics))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "dprop_updates_refused_total{") {
			var n float64
			fmt.Sscanf(line[strings.LastIndex(line, " ")+1:], "%g", &n)
			total += int(n)
		}
	}
	return total
}

func TestVersionAndUsage(t *testing.T) {
	out, _, code := runCmd(t, dpropBin, "version")
	if code != 0 || !strings.HasPrefix(out, "dprop ") || !strings.HasSuffix(out, " "+runtime.Version()+"\n") {
		t.Errorf("version: %d %q", code, out)
	}
	if flag, _, code := runCmd(t, dpropBin, "--version"); code != 0 || flag != out {
		t.Errorf("--version: %d %q, want %q", code, flag, out)
	}
	js, _, code := runCmd(t, dpropBin, "version", "--json")
	var v struct {
		Version, Go, Revision string
		Modified              *bool
	}
	if err := json.Unmarshal([]byte(js), &v); code != 0 || err != nil || v.Version == "" || v.Go != runtime.Version() || v.Modified == nil {
		t.Errorf("version --json: %d %q (%v)", code, js, err)
	}
	if _, errOut, code := runCmd(t, dpropBin, "up", "--no-such-flag"); code != 2 || !strings.Contains(errOut, "--help") {
		t.Errorf("unknown flag: exit %d: %s", code, errOut)
	}
	if _, errOut, code := runCmd(t, dpropBin, "get", "--url", "http://127.0.0.1:1", "x"); code != 1 || !strings.Contains(errOut, "dprop up") {
		t.Errorf("no sidecar: exit %d: %s", code, errOut)
	}
}

// The temperature network with dprop up --network, then the log tools:
// replay to a file, compact, restore.
func TestEndToEndNetworkAndLog(t *testing.T) {
	data := t.TempDir()
	natsAddr, httpAddr := freePort(t), freePort(t)
	natsURL, api := "nats://"+natsAddr, "http://"+httpAddr
	file := filepath.Join("..", "..", "testdata", "networks", "temperature.yaml")
	up := func(args ...string) *proc {
		p := startDprop(t, append([]string{"up", "--data", data, "--nats-listen", natsAddr, "--http", httpAddr}, args...)...)
		brokertest.WaitFor(t, "dprop up to be ready", func() bool {
			code, _, _ := httpGet(t, api+"/readyz")
			return code == http.StatusOK
		})
		// The banner may be printed after the API answers.
		brokertest.WaitFor(t, "dprop up's banner", func() bool { return strings.Contains(p.stdoutText(), "Stop with Ctrl-C.") })
		return p
	}
	p := up("--network", file)
	// The banner says what runs, and suggests the network's cells.
	for _, want := range []string{
		"Network   " + file + " (2 cells)",
		"runs 1 of 1 propagators (groups celsius): boston-f-to-c",
		"pub dprop.cell.weather.boston.temp_f '{\"type\":\"range\",\"min\":34,\"max\":48}'",
		"Read the cell it derives:\n  curl " + api + "/v1/cells/weather.boston.temp_c",
	} {
		if !strings.Contains(p.stdoutText(), want) {
			t.Errorf("dprop up --network does not say %q:\n%s", want, p.stdoutText())
		}
	}
	for _, day := range []string{`{"type":"range","min":34,"max":48}`, `{"type":"range","min":31,"max":57}`} {
		if _, errOut, code := runCmd(t, natsBin, "-s", natsURL, "pub", "dprop.cell.weather.boston.temp_f", day); code != 0 {
			t.Fatalf("nats pub: %s", errOut)
		}
	}
	var celsius string
	brokertest.WaitFor(t, "the Celsius range", func() bool {
		out, _, _ := runCmd(t, dpropBin, "get", "--url", api, "weather.boston.temp_c")
		celsius = strings.TrimSpace(out)
		return strings.Contains(celsius, `"min":-0.55`) && strings.Contains(celsius, `"max":13.88`)
	})
	if out, _, code := runCmd(t, dpropBin, "network", "check", filepath.Join("..", "..", "testdata", "networks", "temperature.yaml")); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("network check: %d %s", code, out)
	}

	out, errOut, code := runCmd(t, dpropBin, "history", "--url", api, "weather.boston.temp_f")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, `{"type":"range","min":31,"max":57}`) {
		t.Errorf("history: %d %s %s", code, out, errOut)
	}

	snap := filepath.Join(t.TempDir(), "now.jsonl")
	out, errOut, code = runCmd(t, dpropBin, "replay", "--nats-url", natsURL, "--out", snap)
	if code != 0 || !strings.Contains(out, "wrote 2 cells") {
		t.Fatalf("replay: %d %s %s", code, out, errOut)
	}
	if b, _ := os.ReadFile(snap); !strings.Contains(string(b), `"cell":"weather.boston.temp_c"`) {
		t.Errorf("snapshot file:\n%s", b)
	}
	out, errOut, code = runCmd(t, dpropBin, "compact", "--nats-url", natsURL)
	if code != 0 || !strings.Contains(out, "checkpoint: 2 cells, 2 compacted") {
		t.Fatalf("compact: %d %s %s", code, out, errOut)
	}
	out, errOut, code = runCmd(t, dpropBin, "restore", "--nats-url", natsURL, snap)
	if code != 0 || !strings.Contains(out, "restored 2 of 2 cells") {
		t.Fatalf("restore: %d %s %s", code, out, errOut)
	}
	after, _, _ := runCmd(t, dpropBin, "get", "--url", api, "weather.boston.temp_c")
	if strings.TrimSpace(after) != celsius {
		t.Errorf("after compaction and restore: %s, want %s", after, celsius)
	}

	// Restarted without the network (its local snapshot and the compacted
	// log both say which propagator derived temp_c), up warns that the
	// Celsius cell will not follow; with the network but none of its
	// propagators, it only notes that they run elsewhere.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, `level=WARN msg="cells derived by boston-f-to-c will not follow their inputs unless a replica runs their network: restart with --network FILE"`},
		{[]string{"--network", file, "--propagators", "none"}, `level=INFO msg="propagators boston-f-to-c refined cells of the log but do not run here; other replicas may run them"`},
	} {
		p.stop(t)
		p = up(tt.args...)
		brokertest.WaitFor(t, "dprop up "+strings.Join(tt.args, " ")+" to say "+tt.want, func() bool {
			return strings.Contains(p.stderrText(), tt.want)
		})
		if strings.Count(p.stderrText(), "boston-f-to-c") != 2 { // the message and its propagators attribute
			t.Errorf("said more than once:\n%s", p.stderrText())
		}
	}
	if out := p.stdoutText(); !strings.Contains(out, "runs none of its 1 propagators (--propagators none)") {
		t.Errorf("banner with --propagators none:\n%s", out)
	}
}

// findNats takes a nats CLI on PATH only when it is the pinned version.
func TestFindNatsOnPath(t *testing.T) {
	if os.Getenv("DPROP_NATS_CLI") != "" {
		t.Skip("DPROP_NATS_CLI is set: findNats uses it as it is")
	}
	if !isPinnedNats(natsBin) {
		t.Errorf("findNats chose %s, which is not %s", natsBin, natsVersion)
	}
	for _, tt := range []struct {
		says string
		want bool
	}{{natsVersion, true}, {"0.5.0", true}, {"v0.4.0", false}, {"v0.5.01", false}} {
		dir := t.TempDir()
		fake := filepath.Join(dir, "nats")
		if err := os.WriteFile(fake, []byte("#!/bin/sh\necho "+tt.says+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
		got, err := findNats()
		if err != nil {
			t.Fatal(err)
		}
		if (got == fake) != tt.want {
			t.Errorf("a nats on PATH that says %s: findNats = %s, want it taken: %v", tt.says, got, tt.want)
		}
	}
}

// dprop watch outlives a restart of its sidecar: it says when the stream
// is lost and when it is back, prints nothing twice (the new stream starts
// with the value already printed), and goes on printing changes.
func TestWatchResumesAfterSidecarRestart(t *testing.T) {
	data := t.TempDir()
	natsAddr, httpAddr := freePort(t), freePort(t)
	api := "http://" + httpAddr
	up := func() *proc {
		p := startDprop(t, "up", "--data", data, "--nats-listen", natsAddr, "--http", httpAddr)
		brokertest.WaitFor(t, "dprop up to be ready", func() bool {
			code, _, _ := httpGet(t, api+"/readyz")
			return code == http.StatusOK
		})
		return p
	}
	refine := func(v string) {
		t.Helper()
		if _, errOut, code := runCmd(t, dpropBin, "refine", "--url", api, "jobs.done", v); code != 0 {
			t.Fatalf("refine %s: exit %d: %s", v, code, errOut)
		}
	}
	line := func(n int) string { return fmt.Sprintf("jobs.done\t{\"type\":\"max\",\"value\":%d}\n", n) }

	sidecar := up()
	refine(`{"type":"max","value":1}`)
	w := startDprop(t, "watch", "--url", httpAddr, "jobs.done") // host:port, as people type it
	brokertest.WaitFor(t, "the watch to print the value", func() bool { return w.stdoutText() == line(1) })

	sidecar.stop(t)
	brokertest.WaitFor(t, "the watch to say the stream is lost", func() bool {
		return strings.Contains(w.stderrText(), "dprop: event stream lost")
	})
	up()
	brokertest.WaitFor(t, "the watch to say the stream is back", func() bool {
		return strings.Contains(w.stderrText(), "dprop: event stream back")
	})
	refine(`{"type":"max","value":2}`)
	brokertest.WaitFor(t, "the watch to print the new value", func() bool { return strings.Contains(w.stdoutText(), line(2)) })
	w.stop(t)
	if got, want := w.stdoutText(), line(1)+line(2); got != want {
		t.Errorf("watch printed %q, want %q (each value once)", got, want)
	}
	if n := strings.Count(w.stderrText(), "\n"); n != 2 {
		t.Errorf("watch said on stderr:\n%s\nwant two lines (lost, back)", w.stderrText())
	}
}

// Ctrl-C (here SIGTERM) while up or replica is still starting is a stop
// asked for: exit status 0, one "shutting down" line, no error and no
// warning. The replica is given a NATS address where nothing listens, so
// it is surely still starting (waiting for the stream) when the signal
// comes; up is signalled as soon as it has made its store.
func TestCancelledStartIsQuiet(t *testing.T) {
	t.Run("replica", func(t *testing.T) {
		p := startDprop(t, "replica", "--log-level", "debug", "--nats-url", "nats://"+freePort(t), "--http", freePort(t))
		brokertest.WaitFor(t, "the replica to try the broker", func() bool {
			return strings.Contains(p.stderrText(), "cannot connect to the broker")
		})
		p.stop(t)
		// The broker's absence was worth a warning before the signal;
		// the stop itself must say nothing more.
		var rest []string
		for line := range strings.Lines(p.stderrText()) {
			if !strings.Contains(line, "cannot connect to the broker") {
				rest = append(rest, line)
			}
		}
		quietStop(t, strings.Join(rest, ""))
	})
	t.Run("up", func(t *testing.T) {
		data := t.TempDir()
		p := startDprop(t, "up", "--data", data, "--nats-listen", freePort(t), "--http", freePort(t))
		brokertest.WaitFor(t, "up to make its store", func() bool {
			_, err := os.Stat(filepath.Join(data, "broker"))
			return err == nil
		})
		p.stop(t)
		quietStop(t, p.stderrText())
	})
}

func quietStop(t *testing.T, stderr string) {
	t.Helper()
	if strings.Count(stderr, `msg="shutting down"`) != 1 || strings.Contains(stderr, "context canceled") ||
		strings.Contains(stderr, "level=WARN") || strings.Contains(stderr, "level=ERROR") || strings.Contains(stderr, `url=""`) {
		t.Errorf("stopped while starting, it said:\n%s", stderr)
	}
}
