package replica

import (
	"strings"

	"github.com/dprop/dprop/propagators"
	"github.com/google/uuid"
)

// The cell name rules are shared with network files and propagators; they
// live in package propagators and are re-exported here for users of the
// replica.

// MaxNameLen bounds a cell name in bytes.
const MaxNameLen = propagators.MaxNameLen

// DefaultPrefix is the subject prefix: cell c lives on subject "dprop.cell.c".
const DefaultPrefix = "dprop"

// ErrBadName is wrapped by every refusal of a cell name or pattern.
var ErrBadName = propagators.ErrBadName

// ValidateName checks a cell name: one or more dot-separated tokens of
// [A-Za-z0-9_-], at most MaxNameLen bytes.
func ValidateName(name string) error { return propagators.ValidateName(name) }

// ValidatePattern checks a cell pattern: a name whose tokens may also be "*"
// (any one token), and whose last token may be ">" (one or more tokens).
func ValidatePattern(pattern string) error { return propagators.ValidatePattern(pattern) }

// Match reports whether cell matches pattern ("*" one token, ">" the rest).
func Match(pattern, cell string) bool { return propagators.Match(pattern, cell) }

// IsPattern reports whether s contains a wildcard token.
func IsPattern(s string) bool { return propagators.IsPattern(s) }

// NewName returns a fresh cell name for a cell created without one.
func NewName() string { return uuid.NewString() }

// Subjects maps cell names to NATS subjects under a prefix.
type Subjects struct {
	prefix string // "dprop.cell."
}

// NewSubjects returns the mapping for prefix (DefaultPrefix if empty).
func NewSubjects(prefix string) Subjects {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Subjects{prefix: prefix + ".cell."}
}

// Subject returns the subject of cell (or of a pattern).
func (s Subjects) Subject(cell string) string { return s.prefix + cell }

// All returns the subject filter of every cell.
func (s Subjects) All() string { return s.prefix + ">" }

// Cell returns the cell name of subject, and false if the subject is not a
// cell subject under this prefix.
func (s Subjects) Cell(subject string) (string, bool) {
	if !strings.HasPrefix(subject, s.prefix) {
		return "", false
	}
	return subject[len(s.prefix):], true
}
