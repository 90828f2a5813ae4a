package fold

import (
	"fmt"
	"math"
	"sync"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
)

// Cell is the state of one cell as a replica holds it.
type Cell struct {
	Name string
	// Value is the join of every update folded so far.
	Value lattice.Value
	// Type is the declared type, or the type of the first valid update in
	// stream order; "" while neither exists.
	Type string
	// Seq is the stream sequence of the last update that changed the cell.
	Seq uint64
	// Updates counts the updates folded into the cell, changing or not
	// (refused updates are not counted here).
	Updates uint64
	// ETag is a strong HTTP entity tag of the canonical encoding, quoted.
	ETag string
	// Last is the stream sequence of the last message on the cell's
	// subject, refused or not (what compaction guards its rollup with).
	Last uint64
	// SinceRollup counts the messages on the subject after the last
	// compaction's rollup (all of them if there was none), and RolledUp
	// says whether the log of the cell starts with a rollup: together, how
	// many messages the stream holds for the cell.
	SinceRollup uint64
	RolledUp    bool
}

// LogLen is the number of messages the stream holds for the cell, as far as
// this replica knows.
func (c Cell) LogLen() uint64 {
	if c.RolledUp {
		return c.SinceRollup + 1
	}
	return c.SinceRollup
}

// state is what the core keeps per cell; it is stored by value in the map
// to keep the per-cell overhead small.
type state struct {
	value   lattice.Value
	typ     string
	seq     uint64 // last change
	updates uint64
	etag    uint64
	last    uint64 // last message on the cell's subject, refused or not
	since   uint32 // messages on the subject after the last rollup (saturating)
	rolled  bool   // the log of the subject starts with a rollup
}

// Message is one stream message as the core folds it.
type Message struct {
	Subject string
	Seq     uint64 // stream sequence; 0 when unknown (tests)
	Data    []byte
	// Rollup marks a compaction's message (header Nats-Rollup): the
	// stream holds nothing older on its subject.
	Rollup bool
}

// Result is what one update did.
type Result struct {
	Cell    string
	Seq     uint64
	Changed bool          // the cell gained information
	Value   lattice.Value // the cell's value after the update
	Type    string        // the cell's type after the update ("" while it has none)
	ETag    string        // the entity tag of Value, when Changed
	Update  lattice.Value // the decoded update (nil when refused)
	Err     error         // a *RefusedError, or nil
	Stale   bool          // the sequence was already applied; nothing was done
}

// Core is the deterministic heart of a replica: it folds stream messages into
// cells and says what changed. It does no I/O and keeps no clock, so the same
// messages in the same order give the same cells on every replica, and it is
// tested without a server. A Core is not safe for concurrent use.
type Core struct {
	subjects cellname.Subjects
	limits   lattice.Limits
	declared map[string]string // cell → type, from a network file
	cells    map[string]state
	names    nameIndex // the cells' names in order, once a listing asks
	lastSeq  uint64
	folded   uint64
	refused  map[refusal]uint64
}

type refusal struct{ cell, reason string }

// NewCore returns an empty core for cells under prefix. declared fixes the
// types of some cells (nil for none); limits bound decoding.
func NewCore(prefix string, declared map[string]string, limits lattice.Limits) *Core {
	return &Core{
		subjects: cellname.NewSubjects(prefix),
		limits:   limits,
		declared: declared,
		cells:    make(map[string]state),
		refused:  make(map[refusal]uint64),
	}
}

// Apply folds the message at stream sequence seq on subject. A message at or
// below the last applied sequence is ignored (Result.Stale), so replaying an
// overlapping range is harmless.
func (c *Core) Apply(subject string, seq uint64, payload []byte) Result {
	return c.ApplyMessage(Message{Subject: subject, Seq: seq, Data: payload})
}

// ApplyMessage folds m; see Apply.
func (c *Core) ApplyMessage(m Message) Result {
	if m.Seq != 0 && m.Seq <= c.lastSeq {
		return Result{Seq: m.Seq, Stale: true}
	}
	if m.Seq != 0 {
		c.lastSeq = m.Seq
	}
	name, ok := c.subjects.Cell(m.Subject)
	if !ok {
		return c.refuse(m.Subject, m.Seq, fmt.Errorf("%w: subject %q is not under %q", cellname.ErrBad, m.Subject, c.subjects.All()))
	}
	if err := cellname.Validate(name); err != nil {
		return c.refuse(name, m.Seq, err)
	}
	v, err := c.limits.Decode(m.Data)
	if err != nil {
		c.seen(name, m)
		return c.refuse(name, m.Seq, err)
	}
	return c.fold(name, m, v)
}

// ApplyValue folds an already decoded value, as Apply does.
func (c *Core) ApplyValue(name string, seq uint64, v lattice.Value) Result {
	if seq != 0 && seq <= c.lastSeq {
		return Result{Seq: seq, Stale: true}
	}
	if seq != 0 {
		c.lastSeq = seq
	}
	return c.fold(name, Message{Seq: seq}, v)
}

// seen records a message on an existing cell's subject that was refused, so
// that compaction knows the subject's last sequence.
func (c *Core) seen(name string, m Message) {
	if st, ok := c.cells[name]; ok {
		st.last = m.Seq
		st.since = min(st.since+1, math.MaxUint32-1)
		c.cells[name] = st
	}
}

func (c *Core) fold(name string, m Message, v lattice.Value) Result {
	seq := m.Seq
	st, exists := c.cells[name]
	if !exists {
		st.typ = c.declared[name]
	}
	if err := checkType(st.typ, v); err != nil {
		c.seen(name, m)
		return c.refuse(name, seq, err)
	}
	merged, changed, err := lattice.Merge(st.value, v)
	if err != nil {
		return c.refuse(name, seq, err)
	}
	if st.typ == "" && typed(v) {
		st.typ = v.Type()
	}
	st.updates++
	st.last = seq
	if m.Rollup {
		st.since, st.rolled = 0, true
	} else {
		st.since = min(st.since+1, math.MaxUint32-1)
	}
	c.folded++
	if changed {
		st.value = merged
		st.seq = seq
		st.etag = hashValue(merged)
	} else if !exists {
		st.value = lattice.Nothing{}
		st.etag = hashValue(st.value)
	}
	c.cells[name] = st
	if !exists {
		c.names.add(name)
	}
	res := Result{Cell: name, Seq: seq, Changed: changed, Value: st.value, Type: st.typ, Update: v}
	if changed {
		res.ETag = formatETag(st.etag)
	}
	return res
}

// typed reports whether v fixes a cell's type (Nothing and contradictions
// fit every cell).
func typed(v lattice.Value) bool {
	return !lattice.IsNothing(v) && !lattice.IsContradiction(v)
}

// checkType refuses a value of another type than typ.
func checkType(typ string, v lattice.Value) error {
	if typ == "" || !typed(v) || v.Type() == typ {
		return nil
	}
	return fmt.Errorf("%w: update is %s, cell is %s", ErrTypeMismatch, v.Type(), typ)
}

// Check says whether v could be folded into cell name without refusal: the
// test a replica runs before publishing.
func (c *Core) Check(name string, v lattice.Value) error {
	if err := cellname.Validate(name); err != nil {
		return &RefusedError{Cell: name, Reason: ReasonBadSubject, Err: err}
	}
	typ := c.declared[name]
	if st, ok := c.cells[name]; ok {
		typ = st.typ
	}
	if err := checkType(typ, v); err != nil {
		return &RefusedError{Cell: name, Reason: ReasonTypeMismatch, Err: err}
	}
	return nil
}

func (c *Core) refuse(name string, seq uint64, err error) Result {
	r := &RefusedError{Cell: name, Seq: seq, Reason: ReasonOf(err), Err: err}
	c.refused[refusal{name, r.Reason}]++
	return Result{Cell: name, Seq: seq, Err: r}
}

// Get returns the cell, and false if no update has reached it.
func (c *Core) Get(name string) (Cell, bool) {
	st, ok := c.cells[name]
	if !ok {
		return Cell{}, false
	}
	return st.cell(name), true
}

// Type returns the type a cell has or is declared with ("" if neither).
func (c *Core) Type(name string) string {
	if st, ok := c.cells[name]; ok {
		return st.typ
	}
	return c.declared[name]
}

func (st state) cell(name string) Cell {
	return Cell{Name: name, Value: st.value, Type: st.typ, Seq: st.seq, Updates: st.updates, ETag: formatETag(st.etag),
		Last: st.last, SinceRollup: uint64(st.since), RolledUp: st.rolled}
}

// Each calls fn for every cell (in no particular order) until fn returns false.
func (c *Core) Each(fn func(Cell) bool) {
	for name, st := range c.cells {
		if !fn(st.cell(name)) {
			return
		}
	}
}

// Len returns the number of cells.
func (c *Core) Len() int { return len(c.cells) }

// LastSeq returns the last stream sequence applied.
func (c *Core) LastSeq() uint64 { return c.lastSeq }

// Folded returns how many updates were folded (not refused).
func (c *Core) Folded() uint64 { return c.folded }

// Refused returns the refusal counts per cell and reason (a copy).
func (c *Core) Refused() map[string]map[string]uint64 {
	out := make(map[string]map[string]uint64)
	for k, n := range c.refused {
		if out[k.cell] == nil {
			out[k.cell] = make(map[string]uint64)
		}
		out[k.cell][k.reason] = n
	}
	return out
}

// RefusalCount returns how many updates of cell were refused for reason
// (one of the Reason constants) so far.
func (c *Core) RefusalCount(cell, reason string) uint64 { return c.refused[refusal{cell, reason}] }

// Restore sets cells' states wholesale (from a snapshot) and advances the
// last applied sequence to at least seq: the snapshot's cells reflect the
// stream up to seq.
func (c *Core) Restore(seq uint64, cells ...Cell) {
	for _, cell := range cells {
		if _, ok := c.cells[cell.Name]; !ok {
			c.names.add(cell.Name)
		}
		c.cells[cell.Name] = state{value: cell.Value, typ: cell.Type, seq: cell.Seq, updates: cell.Updates,
			etag: hashValue(cell.Value), last: cell.Last, since: uint32(min(cell.SinceRollup, math.MaxUint32-1)), rolled: cell.RolledUp}
	}
	c.lastSeq = max(c.lastSeq, seq)
}

// ETag returns the entity tag of a value, as Cell.ETag has it.
func ETag(v lattice.Value) string { return formatETag(hashValue(v)) }

var encBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// hashValue is FNV-1a (64 bit) of the canonical encoding.
func hashValue(v lattice.Value) uint64 {
	if v == nil {
		v = lattice.Nothing{}
	}
	bp := encBufs.Get().(*[]byte)
	b := v.AppendJSON((*bp)[:0])
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	if cap(b) <= 64<<10 {
		*bp = b[:0]
		encBufs.Put(bp)
	}
	return h
}

func formatETag(h uint64) string {
	var b [18]byte
	b[0] = '"'
	const hex = "0123456789abcdef"
	for i := 16; i >= 1; i-- {
		b[i] = hex[h&0xf]
		h >>= 4
	}
	b[17] = '"'
	return string(b[:])
}
