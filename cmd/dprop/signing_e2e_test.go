package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
)

// Signed updates end to end, with the real binary and the real nats CLI:
// keys from dprop keygen, a policy checked by dprop access check, a
// sidecar that folds under it and signs, dprop refine --sign-key accepted,
// a plain nats pub refused as unsigned (in /metrics and dprop history),
// and dprop replay --trust rebuilding the cells as the replicas hold them.
func TestEndToEndSigned(t *testing.T) {
	dir := t.TempDir()
	keygen := func(name string) (string, string) {
		t.Helper()
		path := filepath.Join(dir, name+".nk")
		out, errOut, code := runCmd(t, dpropBin, "keygen", "--out", path)
		if code != 0 {
			t.Fatalf("keygen: exit %d: %s", code, errOut)
		}
		return path, strings.TrimSpace(out)
	}
	writerKey, writer := keygen("writer")
	sidecarKey, sidecar := keygen("sidecar")
	policy := writeTemp(t, "policy.yaml", `keys:
  writer: `+writer+`
  sidecar: `+sidecar+`
rules:
  - cells: weather.>
    signers: [writer]
  - cells: jobs.>
    signers: [sidecar]
  - cells: ">"
    unsigned: true
`)
	out, errOut, code := runCmd(t, dpropBin, "access", "check", policy)
	m := regexp.MustCompile(`trust policy sha256 ([0-9a-f]{64})`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("access check: exit %d: %s%s", code, out, errOut)
	}
	hash := m[1]

	natsAddr, httpAddr := freePort(t), freePort(t)
	natsURL, api := "nats://"+natsAddr, "http://"+httpAddr
	startDprop(t, "up", "--data", filepath.Join(dir, "data"), "--nats-listen", natsAddr, "--http", httpAddr,
		"--trust", policy, "--sign-key", sidecarKey)
	brokertest.WaitFor(t, "dprop up to be ready", func() bool {
		code, _, _ := httpGet(t, api+"/readyz")
		return code == http.StatusOK
	})
	if _, _, body := httpGet(t, api+"/readyz"); !strings.Contains(body, `"trust_policy":"`+hash+`"`) || !strings.Contains(body, `"signer":"`+sidecar+`"`) {
		t.Errorf("/readyz does not show the policy's hash %s and the signer: %s", hash, body)
	}
	if _, _, metrics := httpGet(t, api+"/metrics"); !strings.Contains(metrics, `dprop_trust_policy_info{hash="`+hash+`"} 1`) {
		t.Errorf("/metrics lacks the policy's hash")
	}

	const cell = "weather.boston.temp"
	want := `{"type":"range","min":34,"max":48}`
	// Written as people write it: dprop signs the canonical encoding,
	// which is what the sidecar publishes.
	out, errOut, code = runCmd(t, dpropBin, "refine", "--url", api, "--sign-key", writerKey, cell, `{ "type": "range", "max": 48, "min": 34 }`)
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("signed refine: exit %d: %s%s", code, out, errOut)
	}
	// Unsigned, the sidecar signs with its own key, which is not trusted
	// on weather.>: refused before publishing.
	_, errOut, code = runCmd(t, dpropBin, "refine", "--url", api, cell, `{"type":"range","min":1,"max":2}`)
	if code != 1 || !strings.Contains(errOut, "HTTP 403") || !strings.Contains(errOut, "untrusted_signer") {
		t.Errorf("refine without --sign-key: exit %d: %s", code, errOut)
	}
	// A signature on the wrong subject (another prefix) does not verify.
	_, errOut, code = runCmd(t, dpropBin, "refine", "--url", api, "--sign-key", writerKey, "--prefix", "other", cell, want)
	if code != 1 || !strings.Contains(errOut, "HTTP 400") || !strings.Contains(errOut, "bad_signature") {
		t.Errorf("refine signed under another prefix: exit %d: %s", code, errOut)
	}
	// jobs.> trusts the sidecar's key: it signs what carries no signature.
	if out, errOut, code := runCmd(t, dpropBin, "refine", "--url", api, "jobs.done", `{"type":"max","value":1}`); code != 0 {
		t.Errorf("refine signed by the sidecar: exit %d: %s%s", code, out, errOut)
	}

	// A plain nats pub: refused by the replica as unsigned, counted and
	// shown in the history; the cell keeps its value. Cells the policy
	// leaves open take it.
	for _, subject := range []string{"dprop.cell." + cell, "dprop.cell.open.x"} {
		if _, errOut, code := runCmd(t, natsBin, "-s", natsURL, "pub", subject, `{"type":"range","min":0,"max":100}`); code != 0 {
			t.Fatalf("nats pub: exit %d: %s", code, errOut)
		}
	}
	unsigned := regexp.MustCompile(`(?m)^dprop_updates_refused_total\{reason="unsigned"\} 1$`)
	brokertest.WaitFor(t, "the unsigned update to be refused", func() bool {
		_, _, metrics := httpGet(t, api+"/metrics")
		return unsigned.MatchString(metrics)
	})
	if _, _, metrics := httpGet(t, api+"/metrics"); refusedTotal(metrics) != 1 {
		t.Errorf("refusals: %d, want the unsigned one alone", refusedTotal(metrics))
	}
	if out, _, _ := runCmd(t, dpropBin, "get", "--url", api, cell); strings.TrimSpace(out) != want {
		t.Errorf("%s after the unsigned update: %s, want %s", cell, out, want)
	}
	brokertest.WaitFor(t, "the open cell to take the plain update", func() bool {
		_, _, code := runCmd(t, dpropBin, "get", "--url", api, "open.x")
		return code == 0
	})
	out, errOut, code = runCmd(t, dpropBin, "history", "--url", api, cell)
	if code != 0 || !strings.Contains(out, "refused: unsigned") || !strings.Contains(out, writer[:10]+"…") {
		t.Errorf("history: exit %d:\n%s%s", code, out, errOut)
	}

	// A replay under the policy rebuilds what the replicas hold; without
	// it, the refused update would count.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--trust", policy}, `"min":34,"max":48`},
		{nil, `"min":0,"max":100`},
	} {
		snap := filepath.Join(t.TempDir(), "snap.jsonl")
		args := append([]string{"replay", "--nats-url", natsURL, "--out", snap, "--cells", cell}, tc.args...)
		if _, errOut, code := runCmd(t, dpropBin, args...); code != 0 {
			t.Fatalf("replay %v: exit %d: %s", tc.args, code, errOut)
		}
		if data := readFile(t, snap); !strings.Contains(data, tc.want) {
			t.Errorf("replay %v: %s, want %s", tc.args, data, tc.want)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Networks kept in the log under a trust policy that wants
// _dprop.network.* signed: dprop network apply --sign-key is accepted and
// the sidecar runs the network; an unsigned apply is refused before it is
// published when given the policy, and refused by the replicas when not
// (dprop network get under the policy still shows the signed one); an
// unsigned rm is refused, a signed one removes the network.
func TestEndToEndSignedNetworks(t *testing.T) {
	dir := t.TempDir()
	adminKey := filepath.Join(dir, "admin.nk")
	out, errOut, code := runCmd(t, dpropBin, "keygen", "--out", adminKey)
	if code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, errOut)
	}
	policy := writeTemp(t, "policy.yaml", `keys:
  admin: `+strings.TrimSpace(out)+`
rules:
  - cells: _dprop.network.>
    signers: [admin]
  - cells: ">"
    unsigned: true
`)
	natsAddr, httpAddr := freePort(t), freePort(t)
	natsURL, api := "nats://"+natsAddr, "http://"+httpAddr
	startDprop(t, "up", "--data", filepath.Join(dir, "data"), "--nats-listen", natsAddr, "--http", httpAddr,
		"--trust", policy, "--networks", "*")
	brokertest.WaitFor(t, "dprop up to be ready", func() bool {
		code, _, _ := httpGet(t, api+"/readyz")
		return code == http.StatusOK
	})
	weather := filepath.Join("..", "..", "testdata", "networks", "weather.yaml")
	other := filepath.Join("..", "..", "testdata", "networks", "temperature.yaml")
	runs := func() bool {
		_, _, body := httpGet(t, api+"/readyz")
		return strings.Contains(body, `"networks":[{"name":"weather"`)
	}

	// Unsigned, with the policy: refused before anything is published.
	if _, errOut, code := runCmd(t, dpropBin, "network", "apply", "--nats-url", natsURL, "--trust", policy, weather); code == 0 ||
		!strings.Contains(errOut, "unsigned") || !strings.Contains(errOut, "--sign-key") {
		t.Fatalf("unsigned network apply under the policy: exit %d, %s", code, errOut)
	}
	// Signed: accepted, and run.
	if out, errOut, code := runCmd(t, dpropBin, "network", "apply", "--nats-url", natsURL, "--trust", policy, "--sign-key", adminKey, weather); code != 0 ||
		!strings.Contains(out, "network weather applied") {
		t.Fatalf("signed network apply: exit %d, %s%s", code, out, errOut)
	}
	brokertest.WaitFor(t, "the sidecar to run the signed network", runs)

	// Unsigned, without the policy: published, but it does not count.
	if _, errOut, code := runCmd(t, dpropBin, "network", "apply", "--nats-url", natsURL, "--name", "weather", other); code != 0 {
		t.Fatalf("unsigned network apply without the policy: exit %d, %s", code, errOut)
	}
	src, err := os.ReadFile(weather)
	if err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCmd(t, dpropBin, "network", "get", "--nats-url", natsURL, "--trust", policy, "weather"); code != 0 || out != string(src) {
		t.Fatalf("network get under the policy after an unsigned apply: exit %d, %s%s", code, out, errOut)
	}
	brokertest.WaitFor(t, "the sidecar to count the unsigned update as refused", func() bool {
		_, _, body := httpGet(t, api+"/metrics")
		return strings.Contains(body, `dprop_updates_refused_total{reason="unsigned"} 1`)
	})

	// rm: unsigned refused, signed accepted, and the sidecar stops it.
	if _, errOut, code := runCmd(t, dpropBin, "network", "rm", "--nats-url", natsURL, "--trust", policy, "weather"); code == 0 || !strings.Contains(errOut, "--sign-key") {
		t.Fatalf("unsigned network rm under the policy: exit %d, %s", code, errOut)
	}
	if !runs() {
		t.Fatal("the network stopped after an unsigned rm was refused")
	}
	if out, errOut, code := runCmd(t, dpropBin, "network", "rm", "--nats-url", natsURL, "--trust", policy, "--sign-key", adminKey, "weather"); code != 0 {
		t.Fatalf("signed network rm: exit %d, %s%s", code, out, errOut)
	}
	brokertest.WaitFor(t, "the sidecar to stop the removed network", func() bool { return !runs() })
}
