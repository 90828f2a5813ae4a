package cellname

import "strings"

// Defaults of the subject layout and of the stream that keeps the log.
const (
	// DefaultPrefix is the subject prefix: cell c lives on "dprop.cell.c".
	DefaultPrefix = "dprop"
	// DefaultStream is the name of the stream that keeps the update log.
	DefaultStream = "DPROP"
)

// Kinds of subject. Every subject of a cell is <prefix>.<kind>.<cell>, so
// that one filter, <prefix>.*.<pattern>, follows everything about the cells
// of a pattern in stream order, while NATS permissions tell the kinds
// apart: writers may publish updates, only admins forget.
const (
	// KindCell is the subject of a cell's updates: dprop.cell.<cell>.
	KindCell = "cell"
	// KindForget is the subject of a cell's forget markers:
	// dprop.forget.<cell>. A replica that folds one drops the cell.
	KindForget = "forget"
)

// Subjects maps cell names to NATS subjects under a prefix: cell c lives on
// "<prefix>.cell.c", and is forgotten on "<prefix>.forget.c". The zero
// value is not usable; call NewSubjects.
type Subjects struct {
	prefix string // the configured prefix, such as "dprop"
	cells  string // "dprop.cell."
	forget string // "dprop.forget."
}

// NewSubjects returns the mapping for prefix (DefaultPrefix if empty).
func NewSubjects(prefix string) Subjects {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Subjects{prefix: prefix, cells: prefix + "." + KindCell + ".", forget: prefix + "." + KindForget + "."}
}

// Prefix returns the configured prefix, such as "dprop".
func (s Subjects) Prefix() string { return s.prefix }

// Subject returns the subject of cell's updates (or of a pattern).
func (s Subjects) Subject(cell string) string { return s.cells + cell }

// Forget returns the subject of cell's forget markers.
func (s Subjects) Forget(cell string) string { return s.forget + cell }

// Any returns the filter of every subject of the cells of pattern, of any
// kind: "dprop.*.weather.>".
func (s Subjects) Any(pattern string) string { return s.prefix + ".*." + pattern }

// All returns the subject filter of every cell's updates, "dprop.cell.>".
func (s Subjects) All() string { return s.cells + ">" }

// Stream returns the subjects the stream must capture: every kind.
func (s Subjects) Stream() []string { return []string{s.cells + ">", s.forget + ">"} }

// Cell returns the cell name of an update's subject, and false if the
// subject is not a cell subject under this prefix.
func (s Subjects) Cell(subject string) (string, bool) {
	if !strings.HasPrefix(subject, s.cells) {
		return "", false
	}
	return subject[len(s.cells):], true
}

// Parse returns the kind (KindCell, KindForget) and the cell of subject,
// and false if it is neither under this prefix.
func (s Subjects) Parse(subject string) (kind, cell string, ok bool) {
	switch {
	case strings.HasPrefix(subject, s.cells):
		return KindCell, subject[len(s.cells):], true
	case strings.HasPrefix(subject, s.forget):
		return KindForget, subject[len(s.forget):], true
	}
	return "", "", false
}
