package lattice

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// Count is one writer's count in a counter.
type Count struct {
	Writer string
	N      int64
}

// GCounter is a grow-only counter: each writer counts on its own, and
// merging keeps each writer's largest count. Its value is the sum.
// Wire form: {"type":"gcounter","counts":{"w1":3}}. Counts are exact
// integers from 0 to 2^63-1 (larger ones are refused with ErrOverflow); zero
// counts are dropped from the canonical form. The total of several counts may
// exceed 2^63-1: Total then returns ErrOverflow rather than a wrong sum.
//
// To count up, a writer publishes its own new total, not an increment:
// {"counts":{"w1":4}} after {"counts":{"w1":3}}. Publishing the same total
// twice counts once, which is what makes retries safe.
type GCounter struct {
	counts []Count // sorted by writer, all N > 0
	inline [4]Count
}

// NewGCounter returns the counter with the given counts.
func NewGCounter(counts map[string]int64) *GCounter {
	g := &GCounter{}
	for w, n := range counts {
		if n > 0 {
			g.counts = append(g.counts, Count{w, n})
		}
	}
	slices.SortFunc(g.counts, func(a, b Count) int { return strings.Compare(a.Writer, b.Writer) })
	return g
}

// Counts returns the counts, sorted by writer (caller must not modify).
func (g *GCounter) Counts() []Count { return g.counts }

// Total returns the sum of the counts, or ErrOverflow.
func (g *GCounter) Total() (int64, error) { return total(g.counts) }

func total(cs []Count) (int64, error) {
	var t int64
	for _, c := range cs {
		if t > math.MaxInt64-c.N {
			return 0, ErrOverflow
		}
		t += c.N
	}
	return t, nil
}

// Type implements Value.
func (*GCounter) Type() string { return TypeGCounter }

// AppendJSON implements Value.
func (g *GCounter) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"gcounter","counts":`...)
	return append(appendCounts(dst, g.counts), '}')
}

func appendCounts(dst []byte, cs []Count) []byte {
	dst = append(dst, '{')
	for i, c := range cs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, c.Writer)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, c.N, 10)
	}
	return append(dst, '}')
}

// MarshalJSON implements json.Marshaler with the canonical encoding.
func (g *GCounter) MarshalJSON() ([]byte, error) { return g.AppendJSON(nil), nil }

func (g *GCounter) join(o Value) (Value, bool) {
	h, ok := o.(*GCounter)
	if !ok {
		return newTypeConflict(g, o), true
	}
	if !countsAdd(g.counts, h.counts) {
		return g, false
	}
	n := &GCounter{}
	n.counts = mergeCounts(n.inline[:0], g.counts, h.counts)
	return n, true
}

// joinCounts takes the per-writer maximum of two sorted count lists. When b
// adds nothing it returns a and false.
func joinCounts(a, b []Count) ([]Count, bool) {
	if !countsAdd(a, b) {
		return a, false
	}
	return mergeCounts(make([]Count, 0, len(a)+len(b)), a, b), true
}

// mergeCounts appends the per-writer maximum of a and b to out.
func mergeCounts(out, a, b []Count) []Count {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := strings.Compare(a[i].Writer, b[j].Writer); {
		case c < 0:
			out = append(out, a[i])
			i++
		case c > 0:
			out = append(out, b[j])
			j++
		default:
			out = append(out, Count{a[i].Writer, max(a[i].N, b[j].N)})
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// countsAdd reports whether b has a count larger than a's for some writer.
func countsAdd(a, b []Count) bool {
	i := 0
	for _, c := range b {
		for i < len(a) && a[i].Writer < c.Writer {
			i++
		}
		if i == len(a) || a[i].Writer != c.Writer || a[i].N < c.N {
			return true
		}
	}
	return false
}

// counts decodes an object of writer → count into sorted counts, dropping
// zeros.
func (o *object) counts(name string, sp span, dst []Count) ([]Count, error) {
	var fs fields
	if err := o.d.r.members(sp, &fs); err != nil {
		return nil, prefixPath(err, name)
	}
	if err := o.count(name, sp, fs.len()); err != nil {
		return nil, err
	}
	var n int
	for i := range fs.len() {
		n += len(fs.get(i).key)
	}
	// One allocation holds every writer name.
	names := make([]byte, 0, n)
	for i := range fs.len() {
		f := fs.get(i)
		if f.val.kind != kindNumber {
			return nil, o.d.r.errAt(f.val.start, ErrFieldType, name+"."+strconv.Quote(f.key)+" must be an integer, got "+kindName(f.val.kind))
		}
		v, err := o.d.r.int(f.val)
		if err != nil {
			return nil, prefixPath(err, name+"."+f.key)
		}
		if v < 0 {
			return nil, o.invalid(f.val.start, name+"."+strconv.Quote(f.key)+" is negative: counts only grow from 0")
		}
		if v == 0 {
			continue
		}
		start := len(names)
		names = append(names, f.key...)
		dst = append(dst, Count{Writer: stringOf(names[start:]), N: v})
	}
	if !slices.IsSortedFunc(dst, func(a, b Count) int { return strings.Compare(a.Writer, b.Writer) }) {
		slices.SortFunc(dst, func(a, b Count) int { return strings.Compare(a.Writer, b.Writer) })
	}
	// The total is not checked here: a merge of two counters that each fit
	// may exceed 2^63-1, and its encoding must decode again (a compacted
	// cell is exactly such a merge). Total reports the overflow instead.
	return dst, nil
}

func decodeGCounter(o *object) (Value, error) {
	if err := o.only("counts"); err != nil {
		return nil, err
	}
	sp, _, err := o.kind("counts", kindObject, "an object of writer to count", true)
	if err != nil {
		return nil, err
	}
	g := &GCounter{}
	g.counts, err = o.counts("counts", sp, g.inline[:0])
	if err != nil {
		return nil, err
	}
	return g, nil
}

// PNCounter counts up and down: two grow-only counters, one of increments
// and one of decrements; its value is their difference.
// Wire form: {"type":"pncounter","inc":{"w1":5},"dec":{"w1":2}}; either
// field may be omitted when empty.
type PNCounter struct {
	inc, dec []Count
}

// NewPNCounter returns the counter with the given increments and decrements.
func NewPNCounter(inc, dec map[string]int64) *PNCounter {
	return &PNCounter{inc: NewGCounter(inc).counts, dec: NewGCounter(dec).counts}
}

// Inc and Dec return the counts (caller must not modify).
func (p *PNCounter) Inc() []Count { return p.inc }

// Dec returns the decrement counts (caller must not modify).
func (p *PNCounter) Dec() []Count { return p.dec }

// Total returns increments minus decrements, or ErrOverflow.
func (p *PNCounter) Total() (int64, error) {
	i, err := total(p.inc)
	if err != nil {
		return 0, err
	}
	d, err := total(p.dec)
	if err != nil {
		return 0, err
	}
	return i - d, nil // both in [0, MaxInt64]: the difference fits
}

// Type implements Value.
func (*PNCounter) Type() string { return TypePNCounter }

// AppendJSON implements Value.
func (p *PNCounter) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"pncounter","inc":`...)
	dst = appendCounts(dst, p.inc)
	dst = append(dst, `,"dec":`...)
	return append(appendCounts(dst, p.dec), '}')
}

// MarshalJSON implements json.Marshaler with the canonical encoding.
func (p *PNCounter) MarshalJSON() ([]byte, error) { return p.AppendJSON(nil), nil }

func (p *PNCounter) join(o Value) (Value, bool) {
	q, ok := o.(*PNCounter)
	if !ok {
		return newTypeConflict(p, o), true
	}
	inc, ci := joinCounts(p.inc, q.inc)
	dec, cd := joinCounts(p.dec, q.dec)
	if !ci && !cd {
		return p, false
	}
	return &PNCounter{inc: inc, dec: dec}, true
}

func decodePNCounter(o *object) (Value, error) {
	if err := o.only("inc", "dec"); err != nil {
		return nil, err
	}
	p := &PNCounter{}
	for _, name := range [2]string{"inc", "dec"} {
		sp, ok, err := o.kind(name, kindObject, "an object of writer to count", false)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		cs, err := o.counts(name, sp, nil)
		if err != nil {
			return nil, err
		}
		if name == "inc" {
			p.inc = cs
		} else {
			p.dec = cs
		}
	}
	return p, nil
}
