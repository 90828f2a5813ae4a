package network

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dprop/dprop/cellname"
)

// A pattern is a cell name whose tokens may be captures (<city>: any one
// token, bound to the name city) or, in an aggregate's inputs, the wildcard
// * (any one token, bound to nothing). A name with neither is concrete.
// Angle brackets need no quoting in YAML flow lists, where { would start a
// mapping.
type pattern struct {
	text  string
	toks  []ptok
	ncaps int // how many captures
}

// ptok is one token of a pattern: a literal, a capture or a wildcard.
type ptok struct {
	lit     string // the literal, when neither capture nor wildcard
	capture string // the capture's name, "" if not a capture
	wild    bool
}

func (t ptok) literal() bool { return t.capture == "" && !t.wild }

// isTemplateName reports whether a cell name as written uses a capture or a
// wildcard token.
func isTemplateName(s string) bool {
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "*" || strings.HasPrefix(tok, "<") {
			return true
		}
	}
	return false
}

// parsePattern reads a pattern; wild says whether * is allowed.
func parsePattern(s string, wild bool) (pattern, error) {
	p := pattern{text: s}
	var shape []string // the name with captures and wildcards as plain tokens, for cellname
	seen := map[string]bool{}
	for tok := range strings.SplitSeq(s, ".") {
		switch {
		case tok == "*":
			if !wild {
				return p, fmt.Errorf("cell %q: * matches any cell, so it may only be an input of an aggregate (hull, max, min, union)", s)
			}
			p.toks = append(p.toks, ptok{wild: true})
			shape = append(shape, "x")
		case strings.HasPrefix(tok, "<") || strings.HasSuffix(tok, ">"):
			name, ok := strings.CutPrefix(tok, "<")
			if ok {
				name, ok = strings.CutSuffix(name, ">")
			}
			if !ok || !validCapture(name) {
				return p, fmt.Errorf("cell %q: capture %q: want a whole token <name>, name being a letter or _ then letters, digits or _", s, tok)
			}
			if seen[name] {
				return p, fmt.Errorf("cell %q: capture <%s> appears twice", s, name)
			}
			seen[name] = true
			p.ncaps++
			p.toks = append(p.toks, ptok{capture: name})
			shape = append(shape, "x")
		default:
			p.toks = append(p.toks, ptok{lit: tok})
			shape = append(shape, tok)
		}
	}
	if err := cellname.Validate(strings.Join(shape, ".")); err != nil {
		return p, fmt.Errorf("cell %q: %w", s, err)
	}
	return p, nil
}

func validCapture(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// captures returns the pattern's capture names, in order.
func (p pattern) captures() []string {
	var out []string
	for _, t := range p.toks {
		if t.capture != "" {
			out = append(out, t.capture)
		}
	}
	return out
}

func (p pattern) hasWild() bool {
	return slices.ContainsFunc(p.toks, func(t ptok) bool { return t.wild })
}

// match reports whether cell matches p, and calls bind for each capture.
// It allocates nothing.
func (p pattern) match(cell string, bind func(capture, value string)) bool {
	rest := cell
	for i, t := range p.toks {
		tok, after, more := strings.Cut(rest, ".")
		if more != (i < len(p.toks)-1) || tok == "" {
			return false
		}
		if t.literal() && tok != t.lit {
			return false
		}
		if t.capture != "" && bind != nil {
			bind(t.capture, tok)
		}
		rest = after
	}
	return true
}

// covers reports whether every cell p matches is matched by decl too:
// p's literals meet decl's literals or captures, and p's captures and
// wildcards meet decl's captures.
func (p pattern) covers(decl pattern) bool {
	if len(p.toks) != len(decl.toks) {
		return false
	}
	for i, t := range p.toks {
		d := decl.toks[i]
		if d.literal() && (!t.literal() || t.lit != d.lit) {
			return false
		}
	}
	return true
}

// overlaps reports whether some cell matches both patterns.
func (p pattern) overlaps(q pattern) bool {
	if len(p.toks) != len(q.toks) {
		return false
	}
	for i, t := range p.toks {
		if u := q.toks[i]; t.literal() && u.literal() && t.lit != u.lit {
			return false
		}
	}
	return true
}

// subst writes p with each capture replaced by its value.
func (p pattern) subst(vals map[string]string) string {
	var b strings.Builder
	for i, t := range p.toks {
		if i > 0 {
			b.WriteByte('.')
		}
		switch {
		case t.capture != "":
			b.WriteString(vals[t.capture])
		case t.wild:
			b.WriteByte('*')
		default:
			b.WriteString(t.lit)
		}
	}
	return b.String()
}
