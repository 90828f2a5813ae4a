package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/replica/fold"
)

// securityReport is the file whose attack table TestSecurityAttacks
// rewrites when DPROP_SECURITY_REPORT=1 asks it to (.ci/run does); the
// table lies between these markers.
const (
	securityReport = "../../docs/security.md"
	attacksBegin   = "<!-- attacks:begin (written by TestSecurityAttacks; do not edit) -->"
	attacksEnd     = "<!-- attacks:end -->"
)

// attack is one row of the table: who tried what, what was expected, and
// what happened.
type attack struct {
	layer, who, what, want, got string
	ok                          bool
}

// attacks collects the rows of a run.
type attacks struct {
	t    *testing.T
	rows []attack
}

// try records an attempt: ok says whether what happened (got) is what the
// design says must happen (want). A failed row fails the test.
func (a *attacks) try(layer, who, what, want, got string, ok bool) {
	a.t.Helper()
	got = evidence(got)
	a.rows = append(a.rows, attack{layer, who, what, want, got, ok})
	if !ok {
		a.t.Errorf("%s: %s: %s: want %s, got: %s", layer, who, what, want, got)
	}
}

// write rewrites the table in docs/security.md, when asked.
func (a *attacks) write(run time.Duration) {
	a.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nRun %s UTC, %s, %d attempts, every one as the design says.\n\n",
		attacksBegin, time.Now().UTC().Format("2006-01-02 15:04"), run.Round(time.Second), len(a.rows))
	b.WriteString("| layer | who | tries to | must be | what happened |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range a.rows {
		mark := "✓"
		if !r.ok {
			mark = "✗"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s %s |\n", r.layer, r.who, r.what, r.want, mark, strings.ReplaceAll(r.got, "|", "\\|"))
	}
	b.WriteString("\n" + attacksEnd)
	a.t.Logf("\n%s", b.String())
	if os.Getenv("DPROP_SECURITY_REPORT") != "1" || a.t.Failed() {
		a.t.Logf("not writing %s (set DPROP_SECURITY_REPORT=1 to)", securityReport)
		return
	}
	doc, err := os.ReadFile(securityReport)
	if err != nil {
		a.t.Fatal(err)
	}
	i, j := strings.Index(string(doc), attacksBegin), strings.Index(string(doc), attacksEnd)
	if i < 0 || j < i {
		a.t.Fatalf("%s has no attack table markers", securityReport)
	}
	out := string(doc[:i]) + b.String() + string(doc[j+len(attacksEnd):])
	if err := os.WriteFile(securityReport, []byte(out), 0o644); err != nil {
		a.t.Fatal(err)
	}
}

// evidence is the telling part of what a command said: from the first
// refusal it reports, else all of it, without the CLI's timestamps, cut to
// a table cell's length.
func evidence(out string) string {
	var words []string
	for _, w := range strings.Fields(out) {
		if len(w) == 8 && w[2] == ':' && w[5] == ':' {
			continue // a timestamp
		}
		words = append(words, w)
	}
	s := strings.Join(words, " ")
	for _, key := range []string{"Permissions Violation", "Authorization Violation", "rollup not permitted", "no message found", "timeout"} {
		if i := strings.Index(s, key); i >= 0 {
			s = s[i:]
			break
		}
	}
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// httpAttacks tries the sidecar's HTTP API at api with and without the
// token app (read weather.>, refine weather.boston and weather.boston.>).
func httpAttacks(t *testing.T, a *attacks, api, app string) {
	t.Helper()
	call := func(method, path, body string, header ...string) (int, string) {
		req, err := http.NewRequest(method, api+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			if header[i] == "Host" {
				req.Host = header[i+1]
				continue
			}
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	bearer := "Bearer " + app
	status := func(who, what, want string, code int, method, path, body string, header ...string) {
		t.Helper()
		got, out := call(method, path, body, header...)
		a.try("HTTP", who, what, want, out, got == code)
	}
	status("a client without a token", "read weather.boston", "401", http.StatusUnauthorized, "GET", "/v1/cells/weather.boston", "")
	status("a client with a wrong token", "read weather.boston", "401", http.StatusUnauthorized, "GET", "/v1/cells/weather.boston", "",
		"Authorization", "Bearer dprop_forged")
	status("token reading weather.>", "read weather.boston", "200", http.StatusOK, "GET", "/v1/cells/weather.boston", "", "Authorization", bearer)
	status("token refining weather.boston[.>]", "refine weather.other, outside its refine scope", "403", http.StatusForbidden,
		"POST", "/v1/cells/weather.other", `{"type":"max","value":1}`, "Authorization", bearer)
	status("token without admin", "read /metrics", "403", http.StatusForbidden, "GET", "/metrics", "", "Authorization", bearer)
	status("token without admin", "read /v1/status", "403", http.StatusForbidden, "GET", "/v1/status", "", "Authorization", bearer)
	status("a web page of another origin", "refine weather.boston.x with the user's token", "403", http.StatusForbidden,
		"POST", "/v1/cells/weather.boston.x", `{"type":"max","value":1}`, "Authorization", bearer, "Origin", "https://evil.example", "Content-Type", "text/plain")
	status("a page after DNS rebinding", "read weather.boston under its own name", "421", http.StatusMisdirectedRequest,
		"GET", "/v1/cells/weather.boston", "", "Authorization", bearer, "Host", "evil.example:"+strings.Split(api, ":")[2])
	status("a probe without a token", "read /readyz", "200", http.StatusOK, "GET", "/readyz", "")
}

// signingAttacks publishes, as the admin (who may publish anything: a
// compromised account or broker), updates of weather.secure.x that the
// sidecar's trust policy refuses, and one signed by the trusted key, and
// reads what the sidecar made of them.
func signingAttacks(t *testing.T, a *attacks, api, adminToken, keyFile string, nats func(args ...string) (string, int)) {
	t.Helper()
	seed, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.ParseDecoratedNKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	other, _ := nkeys.CreateUser()
	otherPub, _ := other.PublicKey()
	const subject = "dprop.cell.weather.secure.x"
	sign := func(k nkeys.KeyPair, subject, payload string) string {
		sig, err := k.Sign(fold.SignedBytes(subject, []byte(payload)))
		if err != nil {
			t.Fatal(err)
		}
		return fold.EncodeSignature(sig)
	}
	pubWith := func(payload string, headers ...string) {
		t.Helper()
		args := []string{"pub", "--jetstream"}
		for _, h := range headers {
			args = append(args, "-H", h)
		}
		if out, code := nats(append(args, subject, payload)...); code != 0 {
			t.Fatalf("nats pub: %s", out)
		}
	}
	refused := func(reason string) float64 {
		_, _, body := httpGetAuth(t, api+"/metrics", adminToken)
		for line := range strings.Lines(body) {
			if strings.HasPrefix(line, `dprop_updates_refused_total{reason="`+reason+`"}`) {
				var n float64
				fmt.Sscan(strings.Fields(line)[1], &n)
				return n
			}
		}
		return -1
	}
	value := func() string {
		_, _, body := httpGetAuth(t, api+"/v1/cells/weather.secure.x", adminToken)
		return body
	}
	good := `{"type":"max","value":1}`
	pubWith(good, "Dprop-Signer:"+pub, "Dprop-Signature:"+sign(kp, subject, good))
	brokertest.WaitFor(t, "the signed update", func() bool { return value() == good })
	a.try("signing", "the holder of the trusted key", "refine weather.secure.x, signed", "counts", value(), value() == good)
	try := func(who, what, reason, payload string, headers ...string) {
		t.Helper()
		before := refused(reason)
		pubWith(payload, headers...)
		brokertest.WaitFor(t, "the refusal counted", func() bool { return refused(reason) > before })
		a.try("signing", who, what, "refused: "+reason, fmt.Sprintf("%s; the cell holds %s", reason, value()), value() == good)
	}
	forged := `{"type":"max","value":1000}`
	try("an admin, or a broker's operator", "write weather.secure.x unsigned", "unsigned", forged)
	try("an admin, or a broker's operator", "sign it with a key of their own", "untrusted_signer", forged,
		"Dprop-Signer:"+otherPub, "Dprop-Signature:"+sign(other, subject, forged))
	try("an admin, or a broker's operator", "change the payload of a signed update", "bad_signature", forged,
		"Dprop-Signer:"+pub, "Dprop-Signature:"+sign(kp, subject, good))
	try("an admin, or a broker's operator", "move a signature made for another cell", "bad_signature", forged,
		"Dprop-Signer:"+pub, "Dprop-Signature:"+sign(kp, "dprop.cell.weather.other", forged))
	pubWith(good, "Dprop-Signer:"+pub, "Dprop-Signature:"+sign(kp, subject, good))
	a.try("signing", "anyone", "replay a signed update", "harmless: it counts, and changes nothing", value(), value() == good)
}

// httpGetAuth is httpGet with a bearer token.
func httpGetAuth(t *testing.T, url, token string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// refusedByServer reports whether a nats CLI run was refused: the server's
// permissions or authorization violation, or the silence that answers a
// request whose subject is not permitted (the CLI says timeout).
func refusedByServer(out string) bool {
	lower := strings.ToLower(out)
	return strings.Contains(lower, "permission") || strings.Contains(lower, "authorization") || strings.Contains(lower, "timeout")
}

// The attacks of docs/security.md, tried with the real binaries, each
// checked against what the design says must happen; the table in
// docs/security.md is written from this run.
func TestSecurityAttacks(t *testing.T) {
	start := time.Now()
	a := &attacks{t: t}
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
	natsAddr := freePort(t)
	natsURL := "nats://" + natsAddr
	b := startDprop(t, "broker", "--config", conf, "--data", filepath.Join(dir, "broker"), "--nats-listen", natsAddr)
	brokertest.WaitFor(t, "the broker to provision its stream under auth", func() bool { return strings.Contains(b.output(), "stream ready") })
	a.try("NATS", "the broker", "provision its stream on a server with users", "done, as itself", "stream ready", true)

	pw, err := os.ReadFile(filepath.Join(secrets, "ops.password"))
	if err != nil {
		t.Fatal(err)
	}
	creds := map[string][]string{
		"anonymous":            {"-s", natsURL},
		"writer of weather.>":  {"-s", natsURL, "--nkey", filepath.Join(secrets, "app-writer.nk"), "--inbox-prefix", "_INBOX_app-writer"},
		"sidecar of weather.>": {"-s", natsURL, "--nkey", filepath.Join(secrets, "app-sidecar.nk"), "--inbox-prefix", "_INBOX_app-sidecar"},
		"admin":                {"-s", natsURL, "--user", "ops", "--password=" + strings.TrimSpace(string(pw))},
	}
	nats := func(who string, args ...string) (string, int) {
		out, stderr, code := runCmd(t, natsBin, append(append([]string{"--timeout", "2s"}, creds[who]...), args...)...)
		return out + stderr, code
	}
	allowed := func(who, what string, args ...string) {
		t.Helper()
		out, code := nats(who, args...)
		a.try("NATS", who, what, "allowed", out, code == 0)
	}
	refused := func(who, what string, args ...string) {
		t.Helper()
		out, _ := nats(who, args...)
		a.try("NATS", who, what, "refused by the server", out, refusedByServer(out))
	}
	refused("anonymous", "publish to a cell", "pub", "dprop.cell.weather.boston", `{"type":"max","value":9}`)
	allowed("writer of weather.>", "publish to weather.boston, acknowledged", "pub", "--jetstream", "dprop.cell.weather.boston", `{"type":"max","value":1}`)
	refused("writer of weather.>", "publish to traffic.i90, outside its cells", "pub", "--jetstream", "dprop.cell.traffic.i90", `{"type":"max","value":1}`)
	refused("writer of weather.>", "read the log", "stream", "get", "DPROP", "--last-for", "dprop.cell.weather.boston")
	refused("writer of weather.>", "forget weather.boston (publish its forget marker)", "pub", "--jetstream", "dprop.forget.weather.boston", `{"cell":"weather.boston"}`)
	refused("writer of weather.>", "purge the stream", "stream", "purge", "DPROP", "-f")
	out, _ := nats("writer of weather.>", "pub", "--jetstream", "-H", "Nats-Rollup:sub", "dprop.cell.weather.boston", `{"type":"max","value":0}`)
	a.try("NATS", "writer of weather.>", "erase weather.boston's history with a Nats-Rollup header", "refused by the stream",
		out, strings.Contains(strings.ToLower(out), "rollup not permitted"))
	refused("sidecar of weather.>", "purge the stream", "stream", "purge", "DPROP", "-f")
	refused("sidecar of weather.>", "delete the stream", "stream", "rm", "DPROP", "-f")
	refused("sidecar of weather.>", "edit the stream", "stream", "edit", "DPROP", "--description", "mine", "-f")
	refused("sidecar of weather.>", "read traffic.> with an unfiltered consumer", "consumer", "add", "DPROP", "spy", "--pull", "--defaults")
	refused("sidecar of weather.>", "subscribe to traffic.>, outside its cells", "sub", "dprop.cell.traffic.>", "--count", "1", "--wait", "1s")
	refused("sidecar of weather.>", "subscribe to another user's inbox", "sub", "_INBOX_app-writer.>", "--count", "1", "--wait", "1s")
	// What was refused did not happen.
	out, code := nats("admin", "stream", "get", "DPROP", "--last-for", "dprop.cell.traffic.i90")
	a.try("NATS", "admin", "find the writer's refused publish in the log", "not there", out, code != 0)
	allowed("admin", "read the log", "stream", "get", "DPROP", "--last-for", "dprop.cell.weather.boston")

	// A sidecar of its subtree, with its own credential, works; its HTTP
	// API takes tokens.
	tokens := filepath.Join(dir, "tokens.yaml")
	mint := func(name string, args ...string) string {
		out, stderr, code := runCmd(t, dpropBin, append([]string{"access", "token", name, "--file", tokens}, args...)...)
		if code != 0 {
			t.Fatalf("dprop access token %s: %s", name, stderr)
		}
		return strings.TrimSpace(out)
	}
	appToken := mint("weather-app", "--read", "weather.>", "--refine", "weather.boston,weather.boston.>")
	adminToken := mint("ops", "--admin", "--read", ">")
	// The sidecar folds under a trust policy: weather.secure.> takes only
	// updates signed by the ingest key.
	ingestKey := filepath.Join(dir, "ingest.nk")
	ingestPub, stderr, code := runCmd(t, dpropBin, "keygen", "--out", ingestKey)
	if code != 0 {
		t.Fatalf("dprop keygen: %s", stderr)
	}
	ingestPub = strings.TrimSpace(ingestPub)
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte("rules:\n  - cells: weather.secure.>\n    signers: ["+ingestPub+"]\n  - cells: \">\"\n    unsigned: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr := freePort(t)
	api := "http://" + httpAddr
	startDprop(t, "replica", "--nats-url", natsURL, "--nkey", filepath.Join(secrets, "app-sidecar.nk"),
		"--inbox-prefix", "_INBOX_app-sidecar", "--cells", "weather.>", "--http", httpAddr, "--http-tokens", tokens, "--trust", policy)
	brokertest.WaitFor(t, "the sidecar to be ready", func() bool {
		code, _, _ := httpGet(t, api+"/readyz")
		return code == http.StatusOK
	})
	rout, rerr, rcode := runCmd(t, dpropBin, "refine", "--url", api, "--token", appToken, "weather.boston", `{"type":"max","value":5}`)
	a.try("NATS", "sidecar of weather.>", "replicate weather.> and refine weather.boston", "allowed", rout+rerr,
		rcode == 0 && strings.TrimSpace(rout) == `{"type":"max","value":5}`)
	httpAttacks(t, a, api, appToken)
	signingAttacks(t, a, api, adminToken, ingestKey, func(args ...string) (string, int) { return nats("admin", args...) })
	allowed("admin", "purge the stream", "stream", "purge", "DPROP", "-f")

	// A sidecar beyond loopback without authentication does not start.
	_, stderr, code = runCmd(t, dpropBin, "replica", "--nats-url", natsURL, "--http", "0.0.0.0:"+strings.Split(freePort(t), ":")[1])
	a.try("HTTP", "an operator", "expose a sidecar's API beyond loopback without tokens", "refused at start (exit 2)", stderr, code == exitUsage)
	a.write(time.Since(start))
}
