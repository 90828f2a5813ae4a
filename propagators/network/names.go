package network

import (
	"errors"
	"fmt"
	"strings"
)

// MaxNameLen bounds a cell name in bytes.
const MaxNameLen = 255

// ErrBadName is wrapped by ValidateName's refusals.
var ErrBadName = errors.New("invalid cell name")

// ValidateName checks a cell name: one or more dot-separated tokens of
// [A-Za-z0-9_-], at most MaxNameLen bytes. (The same rule as the replica's;
// this package cannot import the replica, which imports it.)
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrBadName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrBadName, len(name), MaxNameLen)
	}
	for i, tok := range strings.Split(name, ".") {
		if tok == "" {
			return fmt.Errorf("%w: %q has an empty token at position %d", ErrBadName, name, i+1)
		}
		for _, c := range tok {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return fmt.Errorf("%w: %q has %q in token %q; tokens are letters, digits, '_' and '-'", ErrBadName, name, c, tok)
			}
		}
	}
	return nil
}
