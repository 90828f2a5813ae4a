package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

func newPub(t *testing.T) (nkeys.KeyPair, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return kp, pub
}

// dprop keygen writes a seed readable by its owner only, prints the public
// key alone, and never overwrites a key.
func TestKeygen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ingest.nk")
	out, errOut, code := runCmd(t, dpropBin, "keygen", "--out", path)
	pub := strings.TrimSpace(out)
	if code != 0 || !nkeys.IsValidPublicUserKey(pub) || strings.Count(out, "\n") != 1 {
		t.Fatalf("keygen: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("seed file: %v, mode %v", err, st.Mode().Perm())
	}
	seed, _ := os.ReadFile(path)
	if !strings.Contains(errOut, "keep it secret") || strings.Contains(out+errOut, strings.TrimSpace(string(seed))) {
		t.Errorf("keygen's note: %s", errOut)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
	if got, _ := kp.PublicKey(); err != nil || got != pub {
		t.Errorf("the seed file holds the key of %s (%v), keygen printed %s", got, err, pub)
	}
	_, errOut, code = runCmd(t, dpropBin, "keygen", "--out", path)
	if again, _ := os.ReadFile(path); code != 1 || !strings.Contains(errOut, "exists: not overwritten") || string(again) != string(seed) {
		t.Errorf("keygen over an existing key: exit %d: %s", code, errOut)
	}
}

// dprop access check reports every problem of a policy with its line, and
// exits 1.
func TestAccessCheckProblems(t *testing.T) {
	kp, pub := newPub(t)
	seed, _ := kp.Seed()
	account, _ := nkeys.CreateAccount()
	apub, _ := account.PublicKey()
	file := writeTemp(t, "policy.yaml", `# a policy with every kind of mistake
keys:
  ingest: `+pub+`
  leaked: `+string(seed)+`
  bad name: `+pub+`
rules:
  - cells: ">"
    unsigned: true
  - cells: weather.>
    signers: [ingest]
  - cells: a..b
    signers: [ingest, nobody, `+apub+`]
  - cells: config.>
    unsigned: "yes"
    colour: blue
  - cells: frozen.>
  - signers: [leaked]
extra: 1
`)
	_, errOut, code := runCmd(t, dpropBin, "access", "check", file)
	if code != 1 || !strings.Contains(errOut, "policy.yaml: ") {
		t.Fatalf("exit %d, want 1: %s", code, errOut)
	}
	for _, want := range []string{
		`policy.yaml:4:11: key leaked: that is a seed, a secret`,
		`policy.yaml:5:3: keys: name "bad name"`,
		`policy.yaml:9:5: rule "weather.>" never applies: the rule at line 7 (cells ">") comes first`,
		`policy.yaml:11:12: rule 3: cells: invalid cell name: cell pattern "a..b" has an empty token`,
		`policy.yaml:12:23: rule 3: signer "nobody": not a public key, nor a name under keys (known: ingest)`,
		`policy.yaml:12:31: rule 3: signer: an NKey of another kind (A...)`,
		`policy.yaml:14:15: rule 4: unsigned: want true or false, got "yes"`,
		`policy.yaml:15:5: rule 4: unknown field "colour" (known: cells, signers, unsigned, forgetters)`,
		`policy.yaml:16:5: rule 5: takes no update at all`,
		`policy.yaml:17:5: rule 6: no cells`,
		`policy.yaml:18:1: the policy: unknown field "extra" (known: keys, rules)`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("lacks %q", want)
		}
	}
	if strings.Contains(errOut, string(seed)) {
		t.Errorf("the report repeats the seed")
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", errOut)
	}
	_, errOut, code = runCmd(t, dpropBin, "access", "check", writeTemp(t, "bad.yaml", "rules: [\n"))
	if code != 1 || !regexp.MustCompile(`bad.yaml:\d+: invalid YAML`).MatchString(errOut) {
		t.Errorf("invalid YAML: exit %d: %s", code, errOut)
	}
}

// The hash is the canonical policy's: names, comments, layout and the
// signers' order do not change it; what the policy decides does.
func TestAccessCheckHash(t *testing.T) {
	_, a := newPub(t)
	_, b := newPub(t)
	hash := func(text string) string {
		t.Helper()
		out, errOut, code := runCmd(t, dpropBin, "access", "check", writeTemp(t, "p.yaml", text))
		m := regexp.MustCompile(`trust policy sha256 ([0-9a-f]{64})`).FindStringSubmatch(out)
		if code != 0 || m == nil || !strings.Contains(out, "p.yaml: ok, 2 rules, 2 keys") {
			t.Fatalf("access check: exit %d: %s%s", code, out, errOut)
		}
		return m[1]
	}
	one := hash(`keys:
  ingest: ` + a + `
  ops: ` + b + `
rules:
  - cells: weather.>
    signers: [ingest, ops]
  - cells: ">"
    unsigned: true
`)
	same := hash(`# the same policy, written otherwise
rules: [{cells: weather.>, signers: [` + b + `, ` + a + `]}, {unsigned: true, cells: '>'}]
`)
	other := hash(`rules: [{cells: weather.>, signers: [` + a + `, ` + b + `]}, {cells: '>', signers: []}]`)
	if one != same || one == other {
		t.Errorf("hashes %s, %s (the same policy), %s (another)", one, same, other)
	}
	out, _, _ := runCmd(t, dpropBin, "access", "check", "--canonical", writeTemp(t, "p.yaml", `rules: [{cells: '>', unsigned: true}]`))
	if strings.TrimSpace(out) != `{"version":1,"rules":[{"cells":">","signers":[],"unsigned":true}]}` {
		t.Errorf("--canonical: %s", out)
	}
}

func TestCovers(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{">", "a", true}, {">", "a.>", true}, {"a.>", "a.b", true}, {"a.>", "a", false}, {"a.>", "a.>", true},
		{"a.*", "a.b", true}, {"a.*", "a.b.c", false}, {"a.*", "a.>", false}, {"*.b", "a.b", true}, {"a.b", "a.*", false},
		{"a.b", "a.b", true}, {"a.*.c", "a.*.c", true}, {"a.b", "a.c", false},
	} {
		if got := covers(tt.a, tt.b); got != tt.want {
			t.Errorf("covers(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func writeTemp(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
