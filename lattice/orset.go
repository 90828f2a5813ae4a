package lattice

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Dot identifies one add operation: the writer and its event number (from 1).
type Dot struct {
	Writer string
	N      int64
}

func compareDots(a, b Dot) int {
	if c := strings.Compare(a.Writer, b.Writer); c != 0 {
		return c
	}
	return cmp.Compare(a.N, b.N)
}

// ORSet is an add-wins observed-remove set, state-based, after Bieniusa et
// al., "An optimized conflict-free replicated set" (2012) and Almeida et al.,
// "Delta state replicated data types" (2018).
//
// Every add is tagged with a fresh dot (writer, n). The state is the present
// elements, each with the dots of the adds that put it there, and a causal
// context: every dot the state has seen, whether still present or removed. A
// merge keeps a dot if both sides have it, or if one side has it and the
// other has never seen it; a dot seen by one side but absent there was
// removed. So a removal removes only the adds it observed, and an add
// concurrent with a removal wins.
//
// Wire form:
//
//	{"type":"orset",
//	 "elems":[{"elem":"a","dots":[["w1",1]]}],
//	 "context":{"w1":2},
//	 "cloud":[["w2",5]]}
//
// "context" says which dots were seen: for writer w, dots 1..context[w];
// "cloud" lists further seen dots beyond those ranges. Every dot in "elems"
// counts as seen even if the context omits it, so an add is simply
// {"type":"orset","elems":[{"elem":"x","dots":[["w1",3]]}]}, and a removal of
// what was observed is {"type":"orset","context":{...},"cloud":[...]} naming
// the element's dots. Fields may be omitted when empty. AddDelta and
// RemoveDelta build these updates. Each writer id must be used by one writer
// at a time, with increasing n.
type ORSet struct {
	entries []orEntry // sorted by elem; dots sorted, non-empty
	vv      []Count   // seen dots 1..N per writer; sorted by writer; N > 0
	cloud   []Dot     // other seen dots, sorted; never adjacent to vv
}

type orEntry struct {
	elem Elem
	dots []Dot
}

// Elems returns the present elements in canonical order.
func (s *ORSet) Elems() []Elem {
	es := make([]Elem, len(s.entries))
	for i, e := range s.entries {
		es[i] = e.elem
	}
	return es
}

// Has reports whether e is present.
func (s *ORSet) Has(e Elem) bool {
	_, ok := s.find(e)
	return ok
}

func (s *ORSet) find(e Elem) (int, bool) {
	return slices.BinarySearchFunc(s.entries, e, func(x orEntry, e Elem) int { return x.elem.Compare(e) })
}

// seen reports whether the causal context contains d.
func (s *ORSet) seen(d Dot) bool {
	if i, ok := slices.BinarySearchFunc(s.vv, d.Writer, func(c Count, w string) int { return strings.Compare(c.Writer, w) }); ok && d.N <= s.vv[i].N {
		return true
	}
	_, ok := slices.BinarySearchFunc(s.cloud, d, compareDots)
	return ok
}

// next returns the next unused event number of writer in this state.
func (s *ORSet) next(writer string) int64 {
	var n int64
	if i, ok := slices.BinarySearchFunc(s.vv, writer, func(c Count, w string) int { return strings.Compare(c.Writer, w) }); ok {
		n = s.vv[i].N
	}
	for _, d := range s.cloud {
		if d.Writer == writer && d.N > n {
			n = d.N
		}
	}
	return n + 1
}

// AddDelta returns the update that adds e as writer, given the writer has
// seen s (nil for an empty set). Publishing it adds e; merging it into s
// gives s with e added.
func (s *ORSet) AddDelta(writer string, e Elem) *ORSet {
	if s == nil {
		s = &ORSet{}
	}
	d := Dot{writer, s.next(writer)}
	return newORSet([]orEntry{{elem: e, dots: []Dot{d}}}, nil, []Dot{d})
}

// RemoveDelta returns the update that removes e as observed in s: it names
// the dots of e that s holds, so adds that s has not seen survive it. It is
// an empty update when e is absent.
func (s *ORSet) RemoveDelta(e Elem) *ORSet {
	i, ok := s.find(e)
	if !ok {
		return &ORSet{}
	}
	return newORSet(nil, nil, slices.Clone(s.entries[i].dots))
}

// newORSet builds a canonical state: every dot of the entries is added to
// the context, and the context is compacted.
func newORSet(entries []orEntry, vv []Count, cloud []Dot) *ORSet {
	for _, e := range entries {
		cloud = append(cloud, e.dots...)
	}
	s := &ORSet{entries: entries}
	s.vv, s.cloud = compactContext(vv, cloud)
	return s
}

// compactContext folds cloud dots into the version vector where they extend
// it, and drops those it already covers. vv must be sorted by writer; cloud
// may be in any order. It is linear after sorting the cloud: vv and the
// cloud's writers are merged in one pass (inserting writers one at a time
// was quadratic, 4 s for a 1 MiB update).
func compactContext(vv []Count, cloud []Dot) ([]Count, []Dot) {
	if len(cloud) == 0 {
		return vv, nil
	}
	slices.SortFunc(cloud, compareDots)
	cloud = slices.Compact(cloud)
	out := make([]Count, 0, len(vv)+1)
	var rest []Dot
	i := 0
	for k := 0; k < len(cloud); {
		w := cloud[k].Writer
		for i < len(vv) && vv[i].Writer < w {
			out = append(out, vv[i])
			i++
		}
		var have int64
		if i < len(vv) && vv[i].Writer == w {
			have = vv[i].N
			i++
		}
		for ; k < len(cloud) && cloud[k].Writer == w; k++ {
			switch d := cloud[k]; {
			case d.N <= have:
			case d.N == have+1:
				have++
			default:
				rest = append(rest, d)
			}
		}
		if have > 0 {
			out = append(out, Count{w, have})
		}
	}
	return append(out, vv[i:]...), rest
}

// Type implements Value.
func (*ORSet) Type() string { return TypeORSet }

// AppendJSON implements Value.
func (s *ORSet) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"orset","elems":[`...)
	for i, e := range s.entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"elem":`...)
		dst = e.elem.AppendJSON(dst)
		dst = append(dst, `,"dots":`...)
		dst = append(appendDots(dst, e.dots), '}')
	}
	dst = append(dst, `],"context":`...)
	dst = appendCounts(dst, s.vv)
	dst = append(dst, `,"cloud":`...)
	return append(appendDots(dst, s.cloud), '}')
}

func appendDots(dst []byte, ds []Dot) []byte {
	dst = append(dst, '[')
	for i, d := range ds {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		dst = appendString(dst, d.Writer)
		dst = append(dst, ',')
		dst = append(appendInt(dst, d.N), ']')
	}
	return append(dst, ']')
}

// MarshalJSON implements json.Marshaler with the canonical encoding.
func (s *ORSet) MarshalJSON() ([]byte, error) { return s.AppendJSON(nil), nil }

func (s *ORSet) join(o Value) (Value, bool) {
	t, ok := o.(*ORSet)
	if !ok {
		return newTypeConflict(s, o), true
	}
	var entries []orEntry
	i, j := 0, 0
	for i < len(s.entries) || j < len(t.entries) {
		var c int
		switch {
		case i == len(s.entries):
			c = 1
		case j == len(t.entries):
			c = -1
		default:
			c = s.entries[i].elem.Compare(t.entries[j].elem)
		}
		var e orEntry
		switch {
		case c < 0:
			e = orEntry{s.entries[i].elem, keepUnseen(s.entries[i].dots, nil, t)}
			i++
		case c > 0:
			e = orEntry{t.entries[j].elem, keepUnseen(t.entries[j].dots, nil, s)}
			j++
		default:
			e = orEntry{s.entries[i].elem, joinDots(s.entries[i].dots, t.entries[j].dots, s, t)}
			i++
			j++
		}
		if len(e.dots) > 0 {
			entries = append(entries, e)
		}
	}
	vv, _ := joinCounts(s.vv, t.vv)
	cloud := append(slices.Clone(s.cloud), t.cloud...)
	n := &ORSet{entries: entries}
	n.vv, n.cloud = compactContext(vv, cloud)
	if Equal(s, n) {
		return s, false
	}
	return n, true
}

// keepUnseen appends to dst the dots of ds that other has not seen.
func keepUnseen(ds, dst []Dot, other *ORSet) []Dot {
	for _, d := range ds {
		if !other.seen(d) {
			dst = append(dst, d)
		}
	}
	return dst
}

// joinDots joins one element's dots: dots on both sides stay; a dot on one
// side stays only if the other side has not seen (and so removed) it.
func joinDots(a, b []Dot, sa, sb *ORSet) []Dot {
	var out []Dot
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var c int
		switch {
		case i == len(a):
			c = 1
		case j == len(b):
			c = -1
		default:
			c = compareDots(a[i], b[j])
		}
		switch {
		case c == 0:
			out = append(out, a[i])
			i++
			j++
		case c < 0:
			if !sb.seen(a[i]) {
				out = append(out, a[i])
			}
			i++
		default:
			if !sa.seen(b[j]) {
				out = append(out, b[j])
			}
			j++
		}
	}
	return out
}

func decodeORSet(o *object) (Value, error) {
	if err := o.only("elems", "context", "cloud"); err != nil {
		return nil, err
	}
	var entries []orEntry
	budget := o.d.r.lim.MaxElems
	if sp, ok, err := o.kind("elems", kindArray, "an array of {\"elem\",\"dots\"}", false); err != nil {
		return nil, err
	} else if ok {
		items := o.d.r.items(sp, nil)
		if err := o.count("elems", sp, len(items)); err != nil {
			return nil, err
		}
		for i, it := range items {
			e, err := o.d.orEntry(it, o.depth+2, &budget)
			if err != nil {
				return nil, prefixPath(err, "elems["+strconv.Itoa(i)+"]")
			}
			entries = append(entries, e)
		}
	}
	slices.SortStableFunc(entries, func(a, b orEntry) int { return a.elem.Compare(b.elem) })
	entries = mergeDuplicateEntries(entries)
	var vv []Count
	if sp, ok, err := o.kind("context", kindObject, "an object of writer to count", false); err != nil {
		return nil, err
	} else if ok {
		if vv, err = o.counts("context", sp, nil); err != nil {
			return nil, err
		}
	}
	var cloud []Dot
	if sp, ok, err := o.kind("cloud", kindArray, "an array of dots", false); err != nil {
		return nil, err
	} else if ok {
		if cloud, err = o.d.dots(sp, &budget); err != nil {
			return nil, prefixPath(err, "cloud")
		}
	}
	return newORSet(entries, vv, cloud), nil
}

func mergeDuplicateEntries(es []orEntry) []orEntry {
	out := es[:0]
	for _, e := range es {
		if n := len(out); n > 0 && out[n-1].elem.Compare(e.elem) == 0 {
			out[n-1].dots = append(out[n-1].dots, e.dots...)
			continue
		}
		out = append(out, e)
	}
	for i := range out {
		slices.SortFunc(out[i].dots, compareDots)
		out[i].dots = slices.Compact(out[i].dots)
	}
	return out
}

func (d *decoder) orEntry(sp span, depth int, budget *int) (orEntry, error) {
	if sp.kind != kindObject {
		return orEntry{}, d.r.errAt(sp.start, ErrFieldType, "expected an object, got "+kindName(sp.kind))
	}
	o := object{d: d, at: sp.start, depth: depth}
	if err := d.r.members(sp, &o.fs); err != nil {
		return orEntry{}, err
	}
	for i := range o.fs.len() {
		f := o.fs.get(i)
		if f.key != "elem" && f.key != "dots" {
			return orEntry{}, d.r.errAt(f.val.start, ErrUnknownField, strconv.Quote(f.key)+` (an entry has "elem", "dots")`)
		}
	}
	esp, ok := o.lookup("elem")
	if !ok {
		return orEntry{}, o.missing("elem")
	}
	e, err := d.elem(esp, "elem")
	if err != nil {
		return orEntry{}, err
	}
	dsp, _, err := o.kind("dots", kindArray, "an array of dots", true)
	if err != nil {
		return orEntry{}, err
	}
	ds, err := d.dots(dsp, budget)
	if err != nil {
		return orEntry{}, prefixPath(err, "dots")
	}
	if len(ds) == 0 {
		return orEntry{}, d.r.errAt(dsp.start, ErrInvalid, "an element needs at least one dot")
	}
	return orEntry{elem: e, dots: ds}, nil
}

// dots decodes [["w",n],...]; budget bounds the dots of the whole value.
func (d *decoder) dots(sp span, budget *int) ([]Dot, error) {
	items := d.r.items(sp, nil)
	if *budget -= len(items); *budget < 0 {
		return nil, d.r.errAt(sp.start, ErrTooLarge, "more than "+strconv.Itoa(d.r.lim.MaxElems)+" dots")
	}
	out := make([]Dot, 0, len(items))
	var pair []span
	for i, it := range items {
		bad := func() error {
			return d.r.errAt(it.start, ErrFieldType, "["+strconv.Itoa(i)+"] must be a dot [\"writer\", n] with n >= 1")
		}
		if it.kind != kindArray {
			return nil, bad()
		}
		pair = d.r.items(it, pair[:0])
		if len(pair) != 2 || pair[0].kind != kindString || pair[1].kind != kindNumber {
			return nil, bad()
		}
		n, err := d.r.int(pair[1])
		if err != nil || n < 1 {
			return nil, bad()
		}
		out = append(out, Dot{Writer: d.keep(d.r.spanString(pair[0])), N: n})
	}
	return out, nil
}
