package propagators

import (
	"errors"
	"fmt"
	"strings"
)

// Cell names are shared by every layer that speaks of cells: network files,
// propagators, replicas (which map them to NATS subjects). The rules live
// here, the lowest package that knows cells by name.

// MaxNameLen bounds a cell name in bytes (NATS subjects have no hard limit,
// but long subjects slow every hop; 255 leaves room for the prefix).
const MaxNameLen = 255

// ErrBadName is wrapped by every refusal of a cell name or pattern.
var ErrBadName = errors.New("invalid cell name")

// ValidateName checks a cell name: one or more dot-separated tokens of
// [A-Za-z0-9_-], at most MaxNameLen bytes. Errors wrap ErrBadName and say
// what is wrong and where.
func ValidateName(name string) error {
	return validate(name, false)
}

// ValidatePattern checks a cell pattern: a name whose tokens may also be "*"
// (any one token), and whose last token may be ">" (one or more tokens).
func ValidatePattern(pattern string) error {
	return validate(pattern, true)
}

func validate(name string, pattern bool) error {
	what := "cell name"
	if pattern {
		what = "cell pattern"
	}
	if name == "" {
		return fmt.Errorf("%w: empty %s", ErrBadName, what)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrBadName, what, len(name), MaxNameLen)
	}
	tokens := strings.Split(name, ".")
	for i, tok := range tokens {
		if tok == "" {
			return fmt.Errorf("%w: %s %q has an empty token at position %d", ErrBadName, what, name, i+1)
		}
		if pattern && (tok == "*" || (tok == ">" && i == len(tokens)-1)) {
			continue
		}
		for j := 0; j < len(tok); j++ {
			c := tok[j]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
				continue
			}
			hint := ""
			switch c {
			case '*', '>':
				hint = " (wildcards are for patterns, not cell names)"
				if pattern {
					hint = " (a wildcard must be a whole token, and > only the last)"
				}
			case ' ', '\t', '\n', '\r':
				hint = " (whitespace is not allowed)"
			}
			return fmt.Errorf("%w: %s %q has %q in token %q; tokens are letters, digits, '_' and '-'%s", ErrBadName, what, name, string(rune(c)), tok, hint)
		}
	}
	return nil
}

// Match reports whether cell matches pattern ("*" one token, ">" the rest).
// Both are assumed valid.
func Match(pattern, cell string) bool {
	for {
		pt, prest, pmore := strings.Cut(pattern, ".")
		ct, crest, cmore := strings.Cut(cell, ".")
		switch {
		case pt == ">":
			return true
		case pt != "*" && pt != ct:
			return false
		}
		if !pmore || !cmore {
			return pmore == cmore
		}
		pattern, cell = prest, crest
	}
}

// IsPattern reports whether s contains a wildcard token.
func IsPattern(s string) bool {
	for _, tok := range strings.Split(s, ".") {
		if tok == "*" || tok == ">" {
			return true
		}
	}
	return false
}
