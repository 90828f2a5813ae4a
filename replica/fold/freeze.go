package fold

import (
	"errors"
	"maps"
	"slices"
)

// ErrFrozen is returned by Freeze while another Frozen is open.
var ErrFrozen = errors.New("fold: a frozen view of the cells is already open")

// Frozen is the cells of a Core as they were when Freeze was called, to be
// read a piece at a time while the Core goes on folding: a snapshot of a
// million cells copied whole under the replica's lock stalled the fold
// for the whole copy (docs/performance.md). While a Frozen is open, the
// Core keeps the state a fold replaces, the first time it replaces it, so
// that the Frozen can still give it.
//
// Its methods are called under the Core's rules: Cells like a read method
// (Get), Close like a writer (Apply).
type Frozen struct {
	c         *Core
	log       *freezeLog
	names     []string
	lastSeq   uint64
	forgotten map[string]uint64
}

// freezeLog is what a Core keeps for its open Frozen: the state of each
// cell the fold changed since the freeze, as it was then (existed false:
// the cell did not exist).
type freezeLog struct {
	saved map[string]frozenState
}

type frozenState struct {
	st      state
	existed bool
}

// Freeze opens a Frozen view of the cells as they are: a writer method,
// which costs a copy of the cells' names, not of the cells. The caller
// must Close it; one may be open at a time (ErrFrozen).
func (c *Core) Freeze() (*Frozen, error) {
	if c.frozen != nil {
		return nil, ErrFrozen
	}
	names := make([]string, 0, len(c.cells))
	for name := range c.cells {
		names = append(names, name)
	}
	c.frozen = &freezeLog{saved: make(map[string]frozenState)}
	return &Frozen{c: c, log: c.frozen, names: names, lastSeq: c.lastSeq, forgotten: maps.Clone(c.forgotten)}, nil
}

// keep records the state of cell name before a writer changes it, if a
// Frozen is open and has not kept it yet.
func (c *Core) keep(name string) {
	if c.frozen == nil {
		return
	}
	if _, ok := c.frozen.saved[name]; ok {
		return
	}
	st, existed := c.cells[name]
	c.frozen.saved[name] = frozenState{st: st, existed: existed}
}

// Sort puts the cells in name order for Cells. It touches only the
// Frozen: call it without the Core's lock, before Cells.
func (f *Frozen) Sort() { slices.Sort(f.names) }

// Len returns the number of cells frozen.
func (f *Frozen) Len() int { return len(f.names) }

// LastSeq returns the last stream sequence the frozen cells reflect.
func (f *Frozen) LastSeq() uint64 { return f.lastSeq }

// Forgotten returns the forget markers folded at the freeze, as
// Core.ForgottenAll (a copy).
func (f *Frozen) Forgotten() map[string]uint64 { return maps.Clone(f.forgotten) }

// Cells appends to dst the frozen cells from index from up to to (of
// 0..Len, in name order after Sort) and returns it. A read method: call it
// under the lock of Get, a piece at a time, so that the fold goes on in
// between; and only until Close.
func (f *Frozen) Cells(dst []Cell, from, to int) []Cell {
	saved := f.log.saved
	for _, name := range f.names[from:to] {
		if fs, ok := saved[name]; ok {
			dst = append(dst, fs.st.cell(name)) // existed: it was in names
			continue
		}
		dst = append(dst, f.c.cells[name].cell(name))
	}
	return dst
}

// Close ends the freeze: the Core stops keeping states. A writer method.
func (f *Frozen) Close() {
	if f.c.frozen == f.log {
		f.c.frozen = nil
	}
}
