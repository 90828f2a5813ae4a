package lattice

import (
	"cmp"
	"slices"
	"strconv"
)

// Elem is an element of a Set or an ORSet: a JSON string or a number.
// Elements are ordered numbers first (ascending), then strings (by bytes).
type Elem struct {
	str   string
	num   float64
	isStr bool
}

// Str returns the string element s.
func Str(s string) Elem { return Elem{str: s, isStr: true} }

// Num returns the number element f (f must be finite; -0 is 0).
func Num(f float64) Elem {
	if f == 0 {
		f = 0
	}
	return Elem{num: f}
}

// IsString reports whether e is a string element.
func (e Elem) IsString() bool { return e.isStr }

// String returns the string of a string element, or the canonical text of a
// number element.
func (e Elem) String() string {
	if e.isStr {
		return e.str
	}
	return fmtNum(e.num)
}

// Float returns the number of a number element (0 for strings).
func (e Elem) Float() float64 { return e.num }

// Compare orders elements: numbers before strings, then by value.
func (e Elem) Compare(f Elem) int {
	if e.isStr != f.isStr {
		if e.isStr {
			return 1
		}
		return -1
	}
	if e.isStr {
		return cmp.Compare(e.str, f.str)
	}
	return cmp.Compare(e.num, f.num)
}

// AppendJSON appends the element as JSON.
func (e Elem) AppendJSON(dst []byte) []byte {
	if e.isStr {
		return appendString(dst, e.str)
	}
	return appendFloat(dst, e.num)
}

// elem decodes one element at sp.
func (d *decoder) elem(sp span, where string) (Elem, error) {
	switch sp.kind {
	case kindString:
		return Elem{str: d.keep(d.r.spanString(sp)), isStr: true}, nil
	case kindNumber:
		f, err := d.r.float(sp)
		if err != nil {
			return Elem{}, prefixPath(err, where)
		}
		return Elem{num: f}, nil
	}
	return Elem{}, d.r.errAt(sp.start, ErrFieldType, where+" must be a string or a number, got "+kindName(sp.kind))
}

// Set is a grow-only set of strings and numbers; merging is union.
// Wire form: {"type":"set","elems":["a",1]}; duplicates in the input are
// harmless, the canonical form lists each element once in canonical order.
type Set struct{ elems []Elem }

// NewSet returns the set of the given elements.
func NewSet(elems ...Elem) *Set {
	es := slices.Clone(elems)
	slices.SortFunc(es, Elem.Compare)
	return &Set{elems: slices.CompactFunc(es, func(a, b Elem) bool { return a.Compare(b) == 0 })}
}

// Elems returns the elements in canonical order (caller must not modify).
func (s *Set) Elems() []Elem { return s.elems }

// Len returns the number of elements.
func (s *Set) Len() int { return len(s.elems) }

// Has reports whether e is in the set.
func (s *Set) Has(e Elem) bool {
	_, ok := slices.BinarySearchFunc(s.elems, e, Elem.Compare)
	return ok
}

// Type implements Value.
func (*Set) Type() string { return TypeSet }

// AppendJSON implements Value.
func (s *Set) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"set","elems":`...)
	return append(appendElems(dst, s.elems), '}')
}

func appendElems(dst []byte, es []Elem) []byte {
	dst = append(dst, '[')
	for i, e := range es {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = e.AppendJSON(dst)
	}
	return append(dst, ']')
}

// MarshalJSON implements json.Marshaler with the canonical encoding.
func (s *Set) MarshalJSON() ([]byte, error) { return s.AppendJSON(nil), nil }

func (s *Set) join(o Value) (Value, bool) {
	t, ok := o.(*Set)
	if !ok {
		return newTypeConflict(s, o), true
	}
	u, changed := unionElems(s.elems, t.elems)
	if !changed {
		return s, false
	}
	if len(u) == len(t.elems) {
		return t, true
	}
	return &Set{elems: u}, true
}

// unionElems merges two sorted distinct slices; changed reports whether b
// has an element a lacks (when it does not, a itself is returned).
func unionElems(a, b []Elem) ([]Elem, bool) {
	// Fast path: b ⊆ a needs no allocation.
	i := 0
	for _, e := range b {
		for i < len(a) && a[i].Compare(e) < 0 {
			i++
		}
		if i == len(a) || a[i].Compare(e) != 0 {
			goto merge
		}
	}
	return a, false
merge:
	out := make([]Elem, 0, len(a)+len(b))
	i = 0
	j := 0
	for i < len(a) && j < len(b) {
		switch c := a[i].Compare(b[j]); {
		case c < 0:
			out = append(out, a[i])
			i++
		case c > 0:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...), true
}

func decodeSet(o *object) (Value, error) {
	if err := o.only("elems"); err != nil {
		return nil, err
	}
	sp, _, err := o.kind("elems", kindArray, "an array", true)
	if err != nil {
		return nil, err
	}
	es, err := o.elems("elems", sp)
	if err != nil {
		return nil, err
	}
	return &Set{elems: es}, nil
}

// elems decodes an array of elements into canonical order.
func (o *object) elems(name string, sp span) ([]Elem, error) {
	var buf [16]span
	items := o.d.r.items(sp, buf[:0])
	if err := o.count(name, sp, len(items)); err != nil {
		return nil, err
	}
	es := make([]Elem, len(items))
	for i, it := range items {
		e, err := o.d.elem(it, name+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		es[i] = e
	}
	if !slices.IsSortedFunc(es, Elem.Compare) {
		slices.SortFunc(es, Elem.Compare)
	}
	return slices.CompactFunc(es, func(a, b Elem) bool { return a.Compare(b) == 0 }), nil
}
