package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dprop/dprop/replica/httpapi"
)

const (
	hashA = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae" // of "foo"
	hashB = "sha256:fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9" // of "bar"
)

// A tokens file that is not right is refused with the file, the line and
// what is wrong.
func TestTokensFileErrors(t *testing.T) {
	for _, tt := range []struct {
		name, content, want string
	}{
		{"bad YAML", "- name: a\n  hash: [oops\n", "tokens.yaml:1: did not find expected"},
		{"a mapping, not a list", "name: a\nhash: " + hashA + "\n", "tokens.yaml:1: want a list of entries"},
		{"an entry not a mapping", "- a\n", "tokens.yaml:1: entry 1: want a mapping"},
		{"no hash nor cert", "- name: a\n  read: [x]\n", `tokens.yaml:1: entry 1: "a" has neither a hash`},
		{"no name", "- hash: " + hashA + "\n  read: [x]\n", "tokens.yaml:1: entry 1: no name"},
		{"a name twice", "- name: a\n  hash: " + hashA + "\n  read: [x]\n- name: a\n  hash: " + hashB + "\n  admin: true\n",
			`tokens.yaml:4: entry 2 ("a"): name: "a" given twice (line 1 has it too)`},
		{"a hash twice", "- name: a\n  hash: " + hashA + "\n  read: [x]\n- name: b\n  hash: " + hashA + "\n  admin: true\n",
			`tokens.yaml:5: entry 2 ("b"): hash: the same token hash given twice (line 2 has it too)`},
		{"a cert twice", "- name: a\n  cert: x\n  read: [x]\n- name: b\n  admin: true\n  cert: x\n",
			`tokens.yaml:6: entry 2 ("b"): cert: certificate name "x" given twice (line 2 has it too)`},
		{"an unknown field", "- name: a\n  hash: " + hashA + "\n  reads: [x]\n", `tokens.yaml:3: entry 1: unknown field "reads"`},
		{"a field twice", "- name: a\n  hash: " + hashA + "\n  read: [x]\n  read: [y]\n", "tokens.yaml:4: entry 1: read given twice"},
		{"a malformed hash", "- name: a\n  hash: sha256:abc\n  read: [x]\n", "tokens.yaml:2: entry 1: hash: want sha256: and 64 hexadecimal digits"},
		{"a bcrypt hash", "- name: a\n  hash: $2a$10$abcdefghijklmnopqrstuv\n  read: [x]\n", "tokens.yaml:2: entry 1: hash: want sha256:"},
		{"the token itself", "- name: a\n  hash: dprop_abcdef\n  read: [x]\n", "tokens.yaml:2: entry 1: hash: that is a token, not its hash"},
		{"admin: yes", "- name: a\n  hash: " + hashA + "\n  admin: yes\n", "tokens.yaml:3: entry 1: admin: want true or false"},
		{"a number for a name", "- name: 42\n  hash: " + hashA + "\n  admin: true\n", "tokens.yaml:1: entry 1: name: want a string (quote it)"},
		{"a bad name", "- name: a b\n  hash: " + hashA + "\n  admin: true\n", `tokens.yaml:1: entry 1 ("a b"): name: "a b"`},
		{"a bad pattern", "- name: a\n  hash: " + hashA + "\n  refine: [x, \"a.>.b\"]\n", `tokens.yaml:3: entry 1 ("a"): refine: invalid cell name`},
		{"an unquoted >", "- name: a\n  hash: " + hashA + "\n  read: >\n  admin: true\n", "tokens.yaml:3: entry 1: read: empty pattern: quote patterns"},
		{"an unquoted *", "- name: a\n  hash: " + hashA + "\n  read: [*.x]\n", "tokens.yaml:3: "},
		{"no scope", "- name: a\n  hash: " + hashA + "\n", `tokens.yaml:1: entry 1 ("a"): grants nothing`},
		{"a token and a cert", "- name: a\n  hash: " + hashA + "\n  cert: a\n  admin: true\n", `tokens.yaml:1: entry 1 ("a"): give a token hash or a certificate name, not both`},
	} {
		_, _, err := parseTokens("tokens.yaml", []byte(tt.content))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}

// A valid file gives its principals; an empty one, or one of comments,
// none.
func TestTokensFileValid(t *testing.T) {
	content := `# the sidecars' tokens
- name: app
  hash: ` + hashA + `
  read: ["weather.>", traffic.i90]
  refine: weather.boston.>
- name: "billing"
  cert: billing svc
  read: ["billing.>"]
- name: ops
  hash: ` + hashB + `
  admin: true
`
	entries, a, err := parseTokens("tokens.yaml", []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	want := []httpapi.Principal{
		{Name: "app", TokenSHA256: httpapi.HashToken("foo"), Read: []string{"weather.>", "traffic.i90"}, Refine: []string{"weather.boston.>"}},
		{Name: "billing", Cert: "billing svc", Read: []string{"billing.>"}},
		{Name: "ops", TokenSHA256: httpapi.HashToken("bar"), Admin: true},
	}
	if a.Len() != 3 || len(entries) != 3 {
		t.Fatalf("%d principals", a.Len())
	}
	for i, e := range entries {
		if !reflect.DeepEqual(e.p, want[i]) {
			t.Errorf("entry %d: %+v, want %+v", i+1, e.p, want[i])
		}
	}
	for _, empty := range []string{"", "# nobody yet\n", "~\n", "[]\n"} {
		if _, a, err := parseTokens("tokens.yaml", []byte(empty)); err != nil || a.Len() != 0 {
			t.Errorf("%q: %v", empty, err)
		}
	}
}

// What dprop access token appends reads back as the same principal; the
// file is created 0600; a name already there, or a file that does not
// load, is refused and the file left as it was.
func TestAppendTokenEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	app := httpapi.Principal{Name: "@app", TokenSHA256: httpapi.HashToken("foo"), Read: []string{">"}, Refine: []string{"*.temp", "weather.>"}}
	billing := httpapi.Principal{Name: "billing", Cert: `CN with "quotes" and é`, Admin: true}
	for i, p := range []httpapi.Principal{app, billing} {
		created, err := appendTokenEntry(path, p, now)
		if err != nil || created != (i == 0) {
			t.Fatalf("append %s: created %v, %v", p.Name, created, err)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	b, _ := os.ReadFile(path)
	entries, _, err := parseTokens(path, b)
	if err != nil || len(entries) != 2 || !reflect.DeepEqual(entries[0].p, app) || !reflect.DeepEqual(entries[1].p, billing) {
		t.Fatalf("read back: %v\n%s", err, b)
	}
	if strings.Contains(string(b), "foo") {
		t.Fatalf("the file holds the token:\n%s", b)
	}

	if _, err := appendTokenEntry(path, httpapi.Principal{Name: "@app", TokenSHA256: httpapi.HashToken("bar"), Admin: true}, now); err == nil ||
		!strings.Contains(err.Error(), `already has an entry named "@app" (line 6)`) {
		t.Fatalf("a name twice: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(b) {
		t.Fatalf("the file changed after a refusal:\n%s", after)
	}

	// A file without a final newline is appended to; one in flow style
	// cannot be, and says so; a broken one is refused.
	for _, tt := range []struct{ content, want string }{
		{"- name: x\n  hash: " + hashB + "\n  admin: true", ""},
		{"[]", "cannot be appended"},
		{"- name: [\n", "fix the file first"},
	} {
		p := filepath.Join(t.TempDir(), "t.yaml")
		if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := appendTokenEntry(p, app, now)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("appending to %q: %v, want %q", tt.content, err, tt.want)
		}
	}
}

// Tokens are 256 random bits after a recognizable prefix.
func TestNewToken(t *testing.T) {
	a, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newToken()
	if !strings.HasPrefix(a, tokenPrefix) || len(a) != len(tokenPrefix)+43 || a == b {
		t.Fatalf("tokens %q and %q", a, b)
	}
}
