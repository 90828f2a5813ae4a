package cellname

import "strings"

// Defaults of the subject layout and of the stream that keeps the log.
const (
	// DefaultPrefix is the subject prefix: cell c lives on "dprop.cell.c".
	DefaultPrefix = "dprop"
	// DefaultStream is the name of the stream that keeps the update log.
	DefaultStream = "DPROP"
)

// Subjects maps cell names to NATS subjects under a prefix: cell c lives on
// "<prefix>.cell.c". The zero value is not usable; call NewSubjects.
type Subjects struct {
	prefix string // the configured prefix, such as "dprop"
	cells  string // "dprop.cell."
}

// NewSubjects returns the mapping for prefix (DefaultPrefix if empty).
func NewSubjects(prefix string) Subjects {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Subjects{prefix: prefix, cells: prefix + ".cell."}
}

// Prefix returns the configured prefix, such as "dprop".
func (s Subjects) Prefix() string { return s.prefix }

// Subject returns the subject of cell (or of a pattern).
func (s Subjects) Subject(cell string) string { return s.cells + cell }

// All returns the subject filter of every cell, such as "dprop.cell.>".
func (s Subjects) All() string { return s.cells + ">" }

// Cell returns the cell name of subject, and false if the subject is not a
// cell subject under this prefix.
func (s Subjects) Cell(subject string) (string, bool) {
	if !strings.HasPrefix(subject, s.cells) {
		return "", false
	}
	return subject[len(s.cells):], true
}
