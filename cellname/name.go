package cellname

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLen bounds a cell name in bytes (NATS subjects have no hard limit,
// but long subjects slow every hop; 255 leaves room for the prefix).
const MaxLen = 255

// ErrBad is wrapped by every refusal of a cell name or pattern.
var ErrBad = errors.New("invalid cell name")

// Validate checks a cell name: one or more dot-separated tokens of
// [A-Za-z0-9_-], at most MaxLen bytes. Errors wrap ErrBad and say what is
// wrong and where.
func Validate(name string) error {
	if plain(name) {
		return nil
	}
	return validate(name, false)
}

// plain reports, without allocating, whether name is a valid cell name:
// the common case, which a replica loading a million cells from its
// snapshot checks a million times. validate says what is wrong otherwise.
func plain(name string) bool {
	if name == "" || len(name) > MaxLen || name[0] == '.' || name[len(name)-1] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-':
		case c == '.' && name[i-1] != '.':
		default:
			return false
		}
	}
	return true
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
		return fmt.Errorf("%w: empty %s", ErrBad, what)
	}
	if len(name) > MaxLen {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrBad, what, len(name), MaxLen)
	}
	tokens := strings.Split(name, ".")
	for i, tok := range tokens {
		if tok == "" {
			return fmt.Errorf("%w: %s %q has an empty token at position %d", ErrBad, what, name, i+1)
		}
		if pattern && (tok == "*" || (tok == ">" && i == len(tokens)-1)) {
			continue
		}
		for j := 0; j < len(tok); {
			c := tok[j]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
				j++
				continue
			}
			// Report the whole character, not its first byte: "é", not "Ã".
			r, size := utf8.DecodeRuneInString(tok[j:])
			shown := fmt.Sprintf("%q", string(r))
			if r == utf8.RuneError && size <= 1 {
				shown = fmt.Sprintf("the byte 0x%02x (not UTF-8)", c)
			}
			hint := ""
			switch {
			case c == '*' || c == '>':
				hint = " (wildcards are for patterns, not cell names)"
				if pattern {
					hint = " (a wildcard must be a whole token, and > only the last)"
				}
			case c == ' ' || c == '\t' || c == '\n' || c == '\r':
				hint = " (whitespace is not allowed)"
			case c >= utf8.RuneSelf:
				hint = " (only ASCII letters and digits)"
			}
			return fmt.Errorf("%w: %s %q has %s in token %q; tokens are letters, digits, '_' and '-'%s", ErrBad, what, name, shown, tok, hint)
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
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "*" || tok == ">" {
			return true
		}
	}
	return false
}
