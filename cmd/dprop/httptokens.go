package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/dprop/dprop/replica/httpapi"
)

// The tokens file of a sidecar's HTTP API (--http-tokens) lists who may
// call it, one entry per client (see docs/api.md#authentication):
//
//	- name: app                     # unique; said in messages and logs
//	  hash: sha256:9f86d081884c...  # SHA-256 of the bearer token (never the token)
//	  read: ["weather.>"]           # cell patterns it may read
//	  refine: ["weather.boston.>"]  # cell patterns it may refine
//	- name: billing
//	  cert: billing-svc             # or: the Subject CN of a client certificate
//	  read: ["billing.>"]
//	- name: ops
//	  hash: sha256:...
//	  admin: true                   # /metrics and other admin endpoints
//
// It is a YAML list so that 'dprop access token' can append to it
// without rewriting what people wrote (comments included).

// tokenPrefix starts every token dprop access token makes, so that a
// token is recognizable where it should not be (a log, a repository).
const tokenPrefix = "dprop_"

// hashPrefix names the hash of a token in the file.
const hashPrefix = "sha256:"

// tokenEntry is one entry of a tokens file and where its fields are.
type tokenEntry struct {
	p     httpapi.Principal
	line  int            // the entry's first line
	lines map[string]int // each field's line
}

// lineOf returns the line of field in e, or e's line.
func (e tokenEntry) lineOf(field string) int {
	if l, ok := e.lines[field]; ok {
		return l
	}
	return e.line
}

// loadTokens reads and checks a tokens file. Errors say FILE:LINE: what.
func loadTokens(path string) (*httpapi.Access, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	_, a, err := parseTokens(path, b)
	return a, b, err
}

// yamlLine finds the line in yaml.v3's syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseTokens parses the content b of the tokens file at path.
func parseTokens(path string, b []byte) ([]tokenEntry, *httpapi.Access, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			return nil, nil, fmt.Errorf("%s:%s: %s", path, m[1], m[2])
		}
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var entries []tokenEntry
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		switch {
		case root.Kind == yaml.ScalarNode && root.Tag == "!!null":
			// "~" or "null": no entries
		case root.Kind != yaml.SequenceNode:
			return nil, nil, fmt.Errorf("%s:%d: want a list of entries, each starting with '- name: ...' (see docs/api.md#authentication)", path, root.Line)
		default:
			for i, n := range root.Content {
				e, lerr := parseTokenEntry(n)
				if lerr != nil {
					return nil, nil, fmt.Errorf("%s:%d: entry %d: %w", path, lerr.line, i+1, lerr.err)
				}
				entries = append(entries, e)
			}
		}
	}
	ps := make([]httpapi.Principal, len(entries))
	for i, e := range entries {
		ps[i] = e.p
	}
	a, err := httpapi.NewAccess(ps)
	var ee *httpapi.EntryError
	if errors.As(err, &ee) {
		e := entries[ee.Index]
		msg := ee.Err.Error()
		if ee.Other >= 0 {
			msg += fmt.Sprintf(" (line %d has it too)", entries[ee.Other].lineOf(ee.Field))
		}
		if ee.Field != "" {
			msg = ee.Field + ": " + msg
		}
		return nil, nil, fmt.Errorf("%s:%d: entry %d (%q): %s", path, e.lineOf(ee.Field), ee.Index+1, e.p.Name, msg)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return entries, a, nil
}

// lineError is an error at a line of the file.
type lineError struct {
	line int
	err  error
}

func lineErrorf(n *yaml.Node, format string, a ...any) *lineError {
	return &lineError{n.Line, fmt.Errorf(format, a...)}
}

// parseTokenEntry reads one entry: a mapping of known fields.
func parseTokenEntry(n *yaml.Node) (tokenEntry, *lineError) {
	e := tokenEntry{line: n.Line, lines: map[string]int{}}
	if n.Kind != yaml.MappingNode {
		return e, lineErrorf(n, "want a mapping of name, hash or cert, read, refine and admin")
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		key, val := n.Content[k], n.Content[k+1]
		if _, dup := e.lines[key.Value]; dup {
			return e, lineErrorf(key, "%s given twice", key.Value)
		}
		e.lines[key.Value] = key.Line
		var err error
		switch key.Value {
		case "name":
			e.p.Name, err = yamlString(val)
		case "hash":
			e.p.TokenSHA256, err = parseTokenHash(val)
		case "cert":
			e.p.Cert, err = yamlString(val)
		case "read":
			e.p.Read, err = yamlPatterns(val)
		case "refine":
			e.p.Refine, err = yamlPatterns(val)
		case "admin":
			if val.Kind != yaml.ScalarNode || val.Tag != "!!bool" {
				err = errors.New("want true or false")
			} else {
				err = val.Decode(&e.p.Admin)
			}
		default:
			return e, lineErrorf(key, "unknown field %q (want name, hash, cert, read, refine, admin)", key.Value)
		}
		if err != nil {
			return e, lineErrorf(val, "%s: %v", key.Value, err)
		}
	}
	if e.p.Name == "" {
		return e, lineErrorf(n, "no name")
	}
	if e.p.TokenSHA256 == nil && e.p.Cert == "" {
		return e, lineErrorf(n, "%q has neither a hash (of a token) nor a cert (a client certificate's name)", e.p.Name)
	}
	return e, nil
}

// yamlString reads a string scalar.
func yamlString(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "", errors.New("want a string (quote it)")
	}
	return n.Value, nil
}

// yamlPatterns reads a list of cell patterns, or one.
func yamlPatterns(n *yaml.Node) ([]string, error) {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		s, err := yamlString(item)
		if err == nil && (s == "" || item.Style&(yaml.FoldedStyle|yaml.LiteralStyle) != 0) {
			err = errors.New(`empty pattern: quote patterns that start with > or * ("weather.>" is fine unquoted, ">" is not)`)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// parseTokenHash reads sha256:<64 hex digits>.
func parseTokenHash(n *yaml.Node) ([]byte, error) {
	s, err := yamlString(n)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(s, tokenPrefix) {
		return nil, errors.New("that is a token, not its hash: the file keeps hashes only (dprop access token writes them; remove this token and make a new one, as it has been stored in clear)")
	}
	hexSum, ok := strings.CutPrefix(s, hashPrefix)
	sum, err := hex.DecodeString(hexSum)
	if !ok || err != nil || len(sum) != 32 {
		return nil, errors.New("want sha256: and 64 hexadecimal digits, as dprop access token writes")
	}
	return sum, nil
}

// newToken makes a token: the prefix and 256 random bits, base64url.
func newToken() (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// formatTokenEntry writes p as an entry of a tokens file, after a comment
// saying when it was added.
func formatTokenEntry(p httpapi.Principal, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# added by dprop access token, %s\n", now.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- name: %s\n", strconv.Quote(p.Name))
	if p.TokenSHA256 != nil {
		fmt.Fprintf(&b, "  hash: %s%s\n", hashPrefix, hex.EncodeToString(p.TokenSHA256))
	} else {
		fmt.Fprintf(&b, "  cert: %s\n", strconv.Quote(p.Cert))
	}
	for _, f := range []struct {
		name     string
		patterns []string
	}{{"read", p.Read}, {"refine", p.Refine}} {
		if len(f.patterns) == 0 {
			continue
		}
		q := make([]string, len(f.patterns))
		for i, pat := range f.patterns {
			q[i] = strconv.Quote(pat)
		}
		fmt.Fprintf(&b, "  %s: [%s]\n", f.name, strings.Join(q, ", "))
	}
	if p.Admin {
		b.WriteString("  admin: true\n")
	}
	return b.String()
}

// tokensHeader starts a tokens file that dprop access token creates.
const tokensHeader = `# Who may call a dprop sidecar's HTTP API (dprop up/replica --http-tokens).
# Each entry: a name, the SHA-256 of its token (or cert: a client
# certificate's Subject CN), the cell patterns it may read and refine, and
# admin. See docs/api.md#authentication. Sidecars reload it when it changes.
`

// appendTokenEntry appends p to the tokens file at path, creating it
// (mode 0600) if it does not exist. The file must load as it is, and
// still load with p, who must not clash with an entry (same name, token
// or certificate).
func appendTokenEntry(path string, p httpapi.Principal, now time.Time) (created bool, err error) {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	created = err != nil
	entries, _, err := parseTokens(path, old)
	if err != nil {
		return false, fmt.Errorf("%w (fix the file first: nothing was added)", err)
	}
	for _, e := range entries {
		switch {
		case e.p.Name == p.Name:
			return false, fmt.Errorf("%s already has an entry named %q (line %d): choose another name, or remove that entry first", path, p.Name, e.line)
		case p.Cert != "" && e.p.Cert == p.Cert:
			return false, fmt.Errorf("%s already has an entry for certificates with CN %q, %q (line %d)", path, p.Cert, e.p.Name, e.line)
		}
	}
	add := formatTokenEntry(p, now)
	switch {
	case created || len(old) == 0:
		add = tokensHeader + add
	case old[len(old)-1] != '\n':
		add = "\n" + add
	}
	after, _, err := parseTokens(path, append(old[:len(old):len(old)], add...))
	if err != nil {
		return false, fmt.Errorf("%w (nothing was added)", err)
	}
	if len(after) != len(entries)+1 || after[len(after)-1].p.Name != p.Name {
		return false, fmt.Errorf("%s: its list is not written one '- name:' entry after another, so an entry cannot be appended; add it by hand:\n%s", path, add)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return false, err
	}
	if _, err := f.WriteString(add); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return false, err
	}
	return created, f.Close()
}

// writableByOthers reports whether the file at path may be written by
// others than its owner (who could then give themselves a token).
func writableByOthers(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().Perm()&0o022 != 0
}
