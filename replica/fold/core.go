package fold

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
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
	// Propagator names the propagator whose refinement of the cell was
	// folded last (Message.Propagator); "" if no propagator has refined
	// it. It only records where information came from: folding never
	// depends on it.
	Propagator string
	// At is the stream's timestamp (Unix nanoseconds) of the last update
	// folded into the cell, changing it or not: when it was last refined.
	// 0 when unknown (a message without a time).
	At int64
	// Pending is the number of updates the value includes that the
	// replica has not folded from the log yet: in its outbox, or
	// acknowledged by the log and not folded yet (0: the value is the
	// log's). The fold never sets it.
	Pending int
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
	by      string // the last propagator that refined the cell
	at      int64  // the stream's timestamp of the last update folded
}

// Message is one stream message as the core folds it.
type Message struct {
	Subject string
	Seq     uint64 // stream sequence; 0 when unknown (tests)
	Data    []byte
	// Rollup marks a compaction's message (header Nats-Rollup): the
	// stream holds nothing older on its subject.
	Rollup bool
	// Propagator names the propagator that published the update (header
	// Dprop-Propagator), "" for other writers. Kept as Cell.Propagator
	// when the update is folded; it changes nothing else.
	Propagator string
	// Signer and Signature are the headers Dprop-Signer and
	// Dprop-Signature as they came ("" when absent). Only a trust policy
	// (Limits.Trust) looks at them; see Trust.
	Signer, Signature string
	// Mark is, for a compaction's message (Rollup), the last sequence the
	// compactor had folded for the cell: what its join reflects. A join
	// that reflects a cell as it was before it was forgotten is refused
	// (ReasonForgotten); 0 when unknown.
	Mark uint64
	// Time is the stream's timestamp of the message (Unix nanoseconds),
	// kept as Cell.At; 0 when unknown.
	Time int64
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
	// Forgotten: the message was a forget marker and the cell was dropped
	// (its value is now Nothing, its type undecided); Existed says whether
	// there was a cell to drop.
	Forgotten bool
	Existed   bool
}

// DefaultMaxCellBytes is the default bound on a cell's canonical encoding
// (Limits.MaxCellBytes): half the default largest update, so that the join
// of a cell always fits in one update, with room for headers.
const DefaultMaxCellBytes = 512 << 10

// Limits bound what a Core accepts. Whether an update counts depends on
// them, so every replica of a stream, and every tool that folds its log
// (replay, history, compaction), must use the same limits: otherwise they
// could refuse different updates and their cells would differ.
type Limits struct {
	// Update bounds the decoding of each update (lattice defaults when
	// zero).
	Update lattice.Limits
	// MaxCellBytes bounds the canonical encoding of a cell's value: an
	// update whose merge would make it larger is refused (ReasonCellTooLarge)
	// and the cell keeps its value. Zero means DefaultMaxCellBytes. It is
	// never above Update.MaxBytes (a larger value counts as that), so that
	// a cell's join can always be published, by compaction or a restore,
	// as one update.
	MaxCellBytes int
	// Trust is the trust policy: whose updates count on which cells (nil:
	// no policy; every update may be unsigned and no signature is looked
	// at). It decides which updates count like the limits do.
	Trust *Trust
	// Networks, if set, reads the cell declarations of a network kept in
	// the log (a cell under NetworkCells) from the cell's merged value:
	// see Declarations. The core asks it each time such a cell changes,
	// in stream order, and types a cell that has no type yet by the
	// first declaration that matches it, networks taken in the order of
	// their names. It decides which updates count like the limits do, so
	// it must be pure (the same value gives the same declarations) and
	// the same on every replica and tool that folds the stream.
	Networks func(v lattice.Value) Declarations
}

// NetworkCells is the prefix of the cells that keep networks in the log,
// one last-writer-wins cell per network: _dprop.network.<name>.
const NetworkCells = "_dprop.network."

// Declarations are a network's cell declarations, exact names and
// patterns: the type a cell is declared with, and whether it is declared
// at all. nil declares nothing. It must be pure and safe for concurrent
// use.
type Declarations func(cell string) (typ string, ok bool)

// CellLimit is the bound on a cell's canonical encoding that a Core with
// these limits applies: MaxCellBytes or its default, at most the largest
// update.
func (l Limits) CellLimit() int {
	n := l.MaxCellBytes
	if n <= 0 {
		n = DefaultMaxCellBytes
	}
	upd := l.Update.MaxBytes
	if upd <= 0 {
		upd = lattice.DefaultLimits.MaxBytes
	}
	return min(n, upd)
}

// Core is the deterministic heart of a replica: it folds stream messages into
// cells and says what changed. It does no I/O and keeps no clock, so the same
// messages in the same order give the same cells on every replica, and it is
// tested without a server. A Core is not safe for concurrent use.
type Core struct {
	subjects   cellname.Subjects
	limits     lattice.Limits    // of each update
	cellLimit  int               // bytes of a cell's encoding (Limits.CellLimit)
	trust      *Trust            // nil: no policy
	declared   map[string]string // cell → type, from a network file
	networks   func(lattice.Value) Declarations
	netDecls   map[string]Declarations // network (cell name) → its declarations, from the log
	netOrder   []string                // the keys of netDecls, sorted
	cells      map[string]state
	names      nameIndex         // the cells' names in order, once a listing asks
	reserved   int               // cells the empty map was made for (Reserve)
	frozen     *freezeLog        // while a Frozen is open (freeze.go)
	forgotten  map[string]uint64 // cell → sequence of its latest forget marker
	lastSeq    uint64
	folded     uint64
	logMsgs    uint64 // the sum of the cells' LogLen
	nforgotten uint64 // forget markers folded
	refused    map[refusal]uint64
}

type refusal struct{ cell, reason string }

// NewCore returns an empty core for cells under prefix. declared fixes the
// types of some cells (nil for none); limits bound each update and each
// cell.
func NewCore(prefix string, declared map[string]string, limits Limits) *Core {
	return &Core{
		subjects:  cellname.NewSubjects(prefix),
		limits:    limits.Update,
		cellLimit: limits.CellLimit(),
		trust:     limits.Trust,
		declared:  declared,
		networks:  limits.Networks,
		netDecls:  make(map[string]Declarations),
		cells:     make(map[string]state),
		refused:   make(map[refusal]uint64),
		forgotten: make(map[string]uint64),
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
	kind, name, ok := c.subjects.Parse(m.Subject)
	if !ok {
		return c.refuse(m.Subject, m.Seq, fmt.Errorf("%w: subject %q is not under %q", cellname.ErrBad, m.Subject, c.subjects.All()))
	}
	if err := cellname.Validate(name); err != nil {
		return c.refuse(name, m.Seq, err)
	}
	if kind == cellname.KindForget {
		if c.trust != nil {
			if err := c.trust.admitForget(name, &m); err != nil {
				return c.refuse(name, m.Seq, err)
			}
		}
		return c.forget(name, m)
	}
	if c.trust != nil {
		if err := c.trust.admit(name, &m); err != nil {
			c.seen(name, m)
			return c.refuse(name, m.Seq, err)
		}
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
		before := st.logLen()
		st.last = m.Seq
		st.since = min(st.since+1, math.MaxUint32-1)
		c.logMsgs += st.logLen() - before
		c.keep(name)
		c.cells[name] = st
	}
}

func (c *Core) fold(name string, m Message, v lattice.Value) Result {
	seq := m.Seq
	st, exists := c.cells[name]
	if st.typ == "" {
		st.typ = c.declaredType(name)
	}
	if err := checkType(st.typ, v); err != nil {
		c.seen(name, m)
		return c.refuse(name, seq, err)
	}
	if f := c.forgotten[name]; f != 0 && m.Rollup && m.Mark < f {
		// A compaction that folded the cell before it was forgotten,
		// published after: it would bring the forgotten state back.
		c.seen(name, m)
		return c.refuse(name, seq, fmt.Errorf("%w: a compaction's join of the cell as of sequence %d, before it was forgotten at %d", ErrForgotten, m.Mark, f))
	}
	merged, changed, err := lattice.Merge(st.value, v)
	if err != nil {
		return c.refuse(name, seq, err)
	}
	// The encoding that hashes the ETag measures the cell as well: a cell
	// that would outgrow its limit keeps its value.
	var etag uint64
	if changed {
		if err := tooManyClaims(merged); err != nil {
			c.seen(name, m)
			return c.refuse(name, seq, err)
		}
		var size int
		if etag, size = hashValue(merged); size > c.cellLimit {
			c.seen(name, m)
			return c.refuse(name, seq, c.tooLarge(size))
		}
	}
	if st.typ == "" && typed(v) {
		st.typ = v.Type()
	}
	st.updates++
	st.last = seq
	if m.Time != 0 {
		st.at = m.Time
	}
	before := st.logLen()
	if m.Propagator != "" {
		st.by = m.Propagator
	}
	if m.Rollup {
		st.since, st.rolled = 0, true
	} else {
		st.since = min(st.since+1, math.MaxUint32-1)
	}
	c.logMsgs = c.logMsgs - before + st.logLen()
	c.folded++
	if changed {
		st.value = merged
		st.seq = seq
		st.etag = etag
	} else if !exists {
		st.value = lattice.Nothing{}
		st.etag, _ = hashValue(st.value)
	}
	c.keep(name)
	c.cells[name] = st
	if !exists {
		c.names.add(name)
	}
	if changed && c.networks != nil {
		c.networkChanged(name, st.value)
	}
	res := Result{Cell: name, Seq: seq, Changed: changed, Value: st.value, Type: st.typ, Update: v}
	if changed {
		res.ETag = formatETag(st.etag)
	}
	return res
}

// forget drops the cell named by a forget marker: every replica does so
// at the same point of the stream order, and what comes after starts the
// cell afresh (its type decided again by declaration or first valid
// update). The marker's sequence is kept (a tombstone), so that a
// compaction's join of the cell as it was before cannot bring it back.
func (c *Core) forget(name string, m Message) Result {
	st, existed := c.cells[name]
	if existed {
		c.logMsgs -= st.logLen()
		c.keep(name)
		delete(c.cells, name)
		c.names.drop()
		c.networkChanged(name, nil)
	}
	c.forgotten[name] = max(c.forgotten[name], m.Seq)
	c.nforgotten++
	return Result{Cell: name, Seq: m.Seq, Forgotten: true, Existed: existed, Value: lattice.Nothing{}}
}

// Forgotten returns the sequence of the latest forget marker of cell (0 if
// none), and ForgottenAll every such cell's: what a snapshot keeps so that
// a compaction's stale join cannot bring a forgotten cell back after a
// restart. The map is a copy.
func (c *Core) Forgotten(cell string) uint64 { return c.forgotten[cell] }

// ForgottenAll returns every forgotten cell's latest forget sequence (a
// copy).
func (c *Core) ForgottenAll() map[string]uint64 { return maps.Clone(c.forgotten) }

// RestoreForgotten records forget markers already folded (from a
// snapshot).
func (c *Core) RestoreForgotten(tombs map[string]uint64) {
	for cell, seq := range tombs {
		c.forgotten[cell] = max(c.forgotten[cell], seq)
	}
}

// Forgets returns how many forget markers were folded.
func (c *Core) Forgets() uint64 { return c.nforgotten }

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

// tooLarge is the refusal of a merge that would make a cell size bytes.
func (c *Core) tooLarge(size int) error {
	return fmt.Errorf("%w: its value would be %d bytes, limit %d", ErrCellTooLarge, size, c.cellLimit)
}

// tooManyClaims refuses a supported value past lattice.MaxClaims: the
// lattice's join keeps every claim, the cell does not.
func tooManyClaims(v lattice.Value) error {
	if s, ok := v.(*lattice.Supported); ok && s.Len() > lattice.MaxClaims {
		return fmt.Errorf("%w: it would hold %d supported claims, limit %d", ErrCellTooLarge, s.Len(), lattice.MaxClaims)
	}
	return nil
}

// Check says whether v could be folded into cell name now without refusal:
// the test a replica runs before publishing. Besides the name and the type
// it merges v into the cell and measures the result, so it costs what
// folding v would; an update that adds nothing costs no encoding. The
// error is a *RefusedError.
func (c *Core) Check(name string, v lattice.Value) error {
	if err := c.CheckType(name, v); err != nil {
		return err
	}
	merged, changed, err := lattice.Merge(c.cells[name].value, v)
	if err != nil {
		return &RefusedError{Cell: name, Reason: ReasonOf(err), Err: err}
	}
	if changed {
		if err := tooManyClaims(merged); err != nil {
			return &RefusedError{Cell: name, Reason: ReasonCellTooLarge, Err: err}
		}
		if _, size := hashValue(merged); size > c.cellLimit {
			return &RefusedError{Cell: name, Reason: ReasonCellTooLarge, Err: c.tooLarge(size)}
		}
	}
	return nil
}

// CheckType says whether the name is valid and v fits the cell's type (or
// its declared type): the part of Check that does not depend on the cell's
// value, as a threshold read needs. The error is a *RefusedError.
func (c *Core) CheckType(name string, v lattice.Value) error {
	if err := cellname.Validate(name); err != nil {
		return &RefusedError{Cell: name, Reason: ReasonBadSubject, Err: err}
	}
	typ := c.Type(name)
	if err := checkType(typ, v); err != nil {
		return &RefusedError{Cell: name, Reason: ReasonTypeMismatch, Err: err}
	}
	return nil
}

// CheckSigner says whether the trust policy lets an update of cell name
// signed by signer ("" for an unsigned one) count, provided its signature
// verifies (Verify says whether it does): the test of the policy a
// replica runs before publishing. Without a policy every update counts.
// The error is a *RefusedError (ReasonUnsigned, ReasonUntrustedSigner).
func (c *Core) CheckSigner(name, signer string) error {
	if c.trust == nil {
		return nil
	}
	if _, err := c.trust.decide(name, signer, signer != ""); err != nil {
		return &RefusedError{Cell: name, Reason: ReasonOf(err), Err: err}
	}
	return nil
}

// Trust returns the core's trust policy (nil for none).
func (c *Core) Trust() *Trust { return c.trust }

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
	if st, ok := c.cells[name]; ok && st.typ != "" {
		return st.typ
	}
	return c.declaredType(name)
}

// declaredType is the type cell name is declared with: by the network
// file (NewCore's declared), else by the first network in the log, by
// name, that declares it; "" if none does. The cells that keep networks
// are never typed by a network.
func (c *Core) declaredType(name string) string {
	if t := c.declared[name]; t != "" {
		return t
	}
	if len(c.netOrder) == 0 || strings.HasPrefix(name, NetworkCells) {
		return ""
	}
	for _, n := range c.netOrder {
		if t, ok := c.netDecls[n](name); ok && lattice.Known(t) {
			return t
		}
	}
	return ""
}

// networkChanged reads the declarations of a network cell from its new
// value (nil: the cell was forgotten); other cells are ignored.
func (c *Core) networkChanged(name string, v lattice.Value) {
	if c.networks == nil || !strings.HasPrefix(name, NetworkCells) {
		return
	}
	var d Declarations
	if v != nil {
		d = c.networks(v)
	}
	_, had := c.netDecls[name]
	switch {
	case d != nil:
		c.netDecls[name] = d
		if !had {
			i, _ := slices.BinarySearch(c.netOrder, name)
			c.netOrder = slices.Insert(c.netOrder, i, name)
		}
	case had:
		delete(c.netDecls, name)
		i, _ := slices.BinarySearch(c.netOrder, name)
		c.netOrder = slices.Delete(c.netOrder, i, i+1)
	}
}

// NetworkDeclarations lists the networks in the log whose declarations
// type cells, in the order they are consulted (their cells' names).
func (c *Core) NetworkDeclarations() []string { return slices.Clone(c.netOrder) }

// logLen is Cell.LogLen of the state.
func (st state) logLen() uint64 {
	if st.rolled {
		return uint64(st.since) + 1
	}
	return uint64(st.since)
}

func (st state) cell(name string) Cell {
	return Cell{Name: name, Value: st.value, Type: st.typ, Seq: st.seq, Updates: st.updates, ETag: formatETag(st.etag),
		Last: st.last, SinceRollup: uint64(st.since), RolledUp: st.rolled, Propagator: st.by, At: st.at}
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

// LogMessages returns how many messages the stream holds for the cells, as
// far as the fold knows: the sum of their Cell.LogLen. Messages on the
// cells' subjects are only ever removed by a compaction (whose rollups and
// checkpoints the fold sees) or by hand; a stream that holds fewer, once
// the fold has caught up with it, was purged.
func (c *Core) LogMessages() uint64 { return c.logMsgs }

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

// Reserve makes room for n cells in an empty core, before a Restore of
// that many in batches: a map grown one batch at a time rehashed every
// cell several times (a third of a 200,000-cell restore's CPU).
func (c *Core) Reserve(n int) {
	if len(c.cells) == 0 && n > c.reserved {
		c.cells = make(map[string]state, n)
		c.reserved = n
	}
}

// Restore sets cells' states wholesale (from a snapshot) and advances the
// last applied sequence to at least seq: the snapshot's cells reflect the
// stream up to seq. A cell's ETag, when set, must be the one of its value
// (ETag(v), as ReadSnapshot computes it, in parallel): Restore then does not
// encode the value again, one by one under the caller's lock.
func (c *Core) Restore(seq uint64, cells ...Cell) {
	c.Reserve(len(cells))
	replaced := false
	for _, cell := range cells {
		etag, ok := parseETag(cell.ETag)
		if !ok {
			etag, _ = hashValue(cell.Value)
		}
		st := state{value: cell.Value, typ: cell.Type, seq: cell.Seq, updates: cell.Updates,
			etag: etag, last: cell.Last, since: uint32(min(cell.SinceRollup, math.MaxUint32-1)), rolled: cell.RolledUp,
			by: cell.Propagator, at: cell.At}
		// One map operation a cell, not a lookup and an insert: a
		// snapshot's cells are new to the core (a fifth of a load's
		// CPU went to the lookup).
		n := len(c.cells)
		c.keep(cell.Name)
		c.cells[cell.Name] = st
		if len(c.cells) > n {
			c.names.add(cell.Name)
		} else {
			replaced = true
		}
		c.logMsgs += st.logLen()
		c.networkChanged(cell.Name, cell.Value)
	}
	if replaced {
		c.logMsgs = 0
		for _, st := range c.cells {
			c.logMsgs += st.logLen()
		}
	}
	c.lastSeq = max(c.lastSeq, seq)
}

// ETag returns the entity tag of a value, as Cell.ETag has it.
func ETag(v lattice.Value) string {
	h, _ := hashValue(v)
	return formatETag(h)
}

// ETagOfEncoding returns the entity tag of the value whose canonical
// encoding (lattice.Encode) is b, without decoding it: ETag(v) is
// ETagOfEncoding(lattice.Encode(v)). Another spelling of the same value
// has another tag.
func ETagOfEncoding(b []byte) string { return formatETag(fnv64(b)) }

// fnv64 is FNV-1a (64 bit) of b.
func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

var encBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// hashValue returns FNV-1a (64 bit) of the canonical encoding, and the
// encoding's length.
func hashValue(v lattice.Value) (uint64, int) {
	if v == nil {
		v = lattice.Nothing{}
	}
	bp := encBufs.Get().(*[]byte)
	b := v.AppendJSON((*bp)[:0])
	h := fnv64(b)
	n := len(b)
	if cap(b) <= 64<<10 {
		*bp = b[:0]
		encBufs.Put(bp)
	}
	return h, n
}

// parseETag reads what formatETag wrote.
func parseETag(s string) (uint64, bool) {
	if len(s) != 18 || s[0] != '"' || s[17] != '"' {
		return 0, false
	}
	var h uint64
	for i := 1; i <= 16; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			h = h<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			h = h<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return h, true
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
