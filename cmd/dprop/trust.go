package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nkeys"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/propagators/network"
	"github.com/dprop/dprop/replica/fold"
)

// This file reads trust policies (--trust FILE) and signing keys
// (--sign-key FILE) for the commands that fold or publish; see
// docs/signing.md. A policy file:
//
//	keys:                  # optional: names for public keys
//	  ingest: UDXU4RCS...
//	rules:                 # in order; the first whose cells match decides
//	  - cells: weather.>
//	    signers: [ingest]  # names from keys, or public keys (U...)
//	  - cells: ">"
//	    unsigned: true     # unsigned updates count here
//
// A cell no rule matches takes no update at all.

// registerTrust adds --trust to the commands that fold the log: what
// counts depends on it, so they must all be given the same policy.
func registerTrust(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "trust", "", "trust policy (YAML): which keys may refine which cells, and where unsigned updates count; "+
		"give every replica, compactor and replay of a stream the same (see docs/signing.md; check one with dprop access check)")
}

// registerSignKey adds --sign-key: what signs (what) is said in the help.
func registerSignKey(cmd *cobra.Command, p *string, what string) {
	cmd.Flags().StringVar(p, "sign-key", "", "NKey seed file (from dprop keygen) to sign "+what+" with")
}

// loadTrust reads and checks the policy file at path: nil without one.
// Problems are network.Problems, each with its line.
func loadTrust(path string) (*fold.Trust, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--trust: %w", err)
	}
	return parseTrust(path, data)
}

// policyFields are the fields of a policy file, and ruleFields of a rule.
var (
	policyFields = []string{"keys", "rules"}
	ruleFields   = []string{"cells", "signers", "unsigned", "forgetters"}
	keyName      = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	yamlErrLine  = regexp.MustCompile(`line (\d+): `)
)

// policyParser gathers every problem of a policy file.
type policyParser struct {
	file     string
	problems network.Problems
	keys     map[string]string // name → public key
	badKeys  map[string]bool   // names whose key was reported already
}

func (p *policyParser) problem(n *yaml.Node, format string, args ...any) {
	p.problems = append(p.problems, network.Problem{File: p.file, Pos: network.Pos{Line: n.Line, Col: n.Column},
		Msg: fmt.Sprintf(format, args...)})
}

// parseTrust parses a policy file; name is what positions refer to.
func parseTrust(name string, data []byte) (*fold.Trust, error) {
	p := &policyParser{file: name, keys: map[string]string{}, badKeys: map[string]bool{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg, line := strings.TrimPrefix(err.Error(), "yaml: "), 1
		if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = strings.Replace(msg, m[0], "", 1)
		}
		return nil, network.Problems{{File: name, Pos: network.Pos{Line: line}, Msg: "invalid YAML: " + msg}}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, network.Problems{{File: name, Pos: network.Pos{Line: 1}, Msg: "a trust policy is a mapping with rules (and keys): see docs/signing.md"}}
	}
	root := doc.Content[0]
	var rulesNode *yaml.Node
	p.fields(root, "the policy", policyFields, func(key string, v *yaml.Node) {
		switch key {
		case "keys":
			p.parseKeys(v)
		case "rules":
			rulesNode = v
		}
	})
	var rules []fold.TrustRule
	var at []*yaml.Node
	switch {
	case rulesNode == nil:
		p.problem(root, "no rules: every update of every cell would be refused; say which keys may refine which cells")
	case rulesNode.Kind != yaml.SequenceNode:
		p.problem(rulesNode, "rules: want a list of rules, got %s", kindOf(rulesNode))
	case len(rulesNode.Content) == 0:
		p.problem(rulesNode, "rules: empty: every update of every cell would be refused")
	default:
		for i, rn := range rulesNode.Content {
			if r, ok := p.parseRule(i+1, rn); ok {
				rules, at = append(rules, r), append(at, rn)
			}
		}
	}
	p.shadowed(rules, at)
	if len(p.problems) > 0 {
		slices.SortStableFunc(p.problems, func(a, b network.Problem) int { return a.Pos.Line - b.Pos.Line })
		return nil, p.problems
	}
	t, err := fold.NewTrust(rules)
	if err != nil { // every pattern and key was checked above
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// fields calls fn with each field of mapping m, reporting duplicate and
// unknown ones.
func (p *policyParser) fields(m *yaml.Node, what string, known []string, fn func(key string, v *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		switch first, dup := seen[k.Value]; {
		case k.Kind != yaml.ScalarNode:
			p.problem(k, "%s: a field name must be a string", what)
		case dup:
			p.problem(k, "%s: %q given twice (first at line %d)", what, k.Value, first)
		case !slices.Contains(known, k.Value):
			p.problem(k, "%s: unknown field %q (known: %s)", what, k.Value, strings.Join(known, ", "))
		default:
			seen[k.Value] = k.Line
			fn(k.Value, v)
		}
	}
}

func (p *policyParser) parseKeys(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		p.problem(n, "keys: want a mapping of names to public keys, got %s", kindOf(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case !keyName.MatchString(k.Value):
			p.problem(k, "keys: name %q: want letters, digits, '_' or '-'", k.Value)
		case p.keys[k.Value] != "":
			p.problem(k, "keys: %q given twice", k.Value)
		default:
			if pub, ok := p.publicKey(v, "key "+k.Value); ok {
				p.keys[k.Value] = pub
			} else {
				p.badKeys[k.Value] = true
			}
		}
	}
}

// publicKey checks that n is a public user NKey.
func (p *policyParser) publicKey(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.problem(n, "%s: want a public key (U...), got %s", what, kindOf(n))
		return "", false
	}
	s := n.Value
	if _, err := fold.ParseSigner(s); err != nil {
		switch {
		case strings.HasPrefix(s, "S"):
			p.problem(n, "%s: that is a seed, a secret: give its public key (U...), which dprop keygen prints; "+
				"and make a new key, since this one was written in a policy file", what)
		case nkeys.Prefix(s) != nkeys.PrefixByteUser && nkeys.IsValidPublicKey(s):
			p.problem(n, "%s: an NKey of another kind (%.1s...); signing keys are user keys, U... (dprop keygen makes one)", what, s)
		default:
			p.problem(n, "%s: %q is not a public user NKey (U followed by 55 base32 characters, as dprop keygen prints)", what, s)
		}
		return "", false
	}
	return s, true
}

// keyList reads a list of key names or public keys (a rule's signers or
// forgetters), reporting every bad entry.
func (p *policyParser) keyList(v *yaml.Node, what, one string) ([]string, bool) {
	if v.Kind != yaml.SequenceNode {
		p.problem(v, "%s: %ss: want a list of key names or public keys, got %s", what, one, kindOf(v))
		return nil, false
	}
	var out []string
	ok := true
	for _, s := range v.Content {
		pub, known := p.keys[s.Value]
		switch {
		case s.Kind != yaml.ScalarNode:
			p.problem(s, "%s: %s: want a key name or a public key, got %s", what, one, kindOf(s))
			ok = false
		case known:
			out = append(out, pub)
		case p.badKeys[s.Value]:
			ok = false // its key was reported under keys
		case looksLikeKey(s.Value):
			pub, good := p.publicKey(s, what+": "+one)
			out = append(out, pub)
			ok = ok && good
		default:
			p.problem(s, "%s: %s %q: not a public key, nor a name under keys (%s)", what, one, s.Value, namesOf(p.keys))
			ok = false
		}
	}
	return out, ok
}

func (p *policyParser) parseRule(i int, n *yaml.Node) (fold.TrustRule, bool) {
	what := fmt.Sprintf("rule %d", i)
	if n.Kind != yaml.MappingNode {
		p.problem(n, "%s: want a mapping with cells, signers and unsigned, got %s", what, kindOf(n))
		return fold.TrustRule{}, false
	}
	var r fold.TrustRule
	ok, haveCells, haveSigners, badUnsigned := true, false, false, false
	p.fields(n, what, ruleFields, func(key string, v *yaml.Node) {
		switch key {
		case "cells":
			haveCells = true
			if err := cellname.ValidatePattern(v.Value); v.Kind != yaml.ScalarNode || err != nil {
				p.problem(v, "%s: cells: %v", what, orKind(err, v))
				ok = false
			}
			r.Cells = v.Value
		case "signers":
			haveSigners = true
			keys, good := p.keyList(v, what, "signer")
			r.Signers, ok = keys, ok && good
		case "forgetters":
			keys, good := p.keyList(v, what, "forgetter")
			r.Forgetters, ok = keys, ok && good
		case "unsigned":
			b, err := strconv.ParseBool(v.Value)
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" || err != nil {
				p.problem(v, "%s: unsigned: want true or false, got %s", what, kindOf(v))
				ok, badUnsigned = false, true
			}
			r.Unsigned = b
		}
	})
	if !haveCells {
		p.problem(n, "%s: no cells: say which cells it decides for (a pattern such as weather.> or \">\")", what)
		ok = false
	}
	if haveCells && !haveSigners && !r.Unsigned && !badUnsigned {
		p.problem(n, "%s: takes no update at all: give signers, or unsigned: true (an empty signers list freezes the cells on purpose)", what)
		ok = false
	}
	return r, ok
}

// shadowed reports rules that never apply: an earlier rule's cells cover
// all of theirs, and the first match decides.
func (p *policyParser) shadowed(rules []fold.TrustRule, at []*yaml.Node) {
	for j := range rules {
		for i := range j {
			if covers(rules[i].Cells, rules[j].Cells) {
				p.problem(at[j], "rule %q never applies: the rule at line %d (cells %q) comes first and matches every cell it does; put the narrower rule first",
					rules[j].Cells, at[i].Line, rules[i].Cells)
				break
			}
		}
	}
}

// covers reports whether every cell matching pattern b matches pattern a.
func covers(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i, tok := range at {
		switch {
		case tok == ">":
			return i < len(bt)
		case i >= len(bt) || bt[i] == ">":
			return false
		case tok != "*" && tok != bt[i]:
			return false
		}
	}
	return len(at) == len(bt)
}

// looksLikeKey: the length and alphabet of a public NKey or a seed, read
// as a key rather than as a name.
func looksLikeKey(s string) bool {
	return (len(s) == 56 || len(s) == 58) && strings.IndexFunc(s, func(r rune) bool { return (r < 'A' || r > 'Z') && (r < '2' || r > '7') }) < 0
}

func namesOf(keys map[string]string) string {
	if len(keys) == 0 {
		return "none given"
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	return "known: " + strings.Join(names, ", ")
}

func orKind(err error, n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return "want a pattern, got " + kindOf(n)
	}
	return err.Error()
}

func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.ShortTag() == "!!null" {
		return "nothing"
	}
	return strconv.Quote(n.Value)
}

// loadSignKey reads the NKey seed file at path (from dprop keygen, or a
// NATS credentials file holding a user seed). warn is told when the file
// is readable by others.
func loadSignKey(path string, warn func(string)) (nkeys.KeyPair, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--sign-key: %w", err)
	}
	kp, err := nkeys.ParseDecoratedNKey(data)
	if err != nil {
		return nil, fmt.Errorf("--sign-key %s: not an NKey seed file (make one with dprop keygen): %w", path, err)
	}
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return nil, fmt.Errorf("--sign-key %s: the seed is not a user key's (its public key would start with U): make one with dprop keygen", path)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 && warn != nil {
		warn(fmt.Sprintf("--sign-key %s is readable by others (mode %04o): anyone who reads it can sign as %s; chmod 600 it", path, st.Mode().Perm(), pub))
	}
	return kp, nil
}

// errExists is returned by writeNewSecret for a file that exists.
var errExists = errors.New("exists")

// writeNewSecret writes content to a new file readable by its owner only;
// it never replaces one.
func writeNewSecret(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s %w: not overwritten (a seed is a key: remove the file yourself to replace it)", path, errExists)
	}
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
