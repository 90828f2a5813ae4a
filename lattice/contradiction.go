package lattice

import (
	"math"
	"slices"
	"strings"
)

// maxEvidence bounds how many disagreeing numbers a Contradiction keeps (the
// smallest ones), so that a contradiction cannot grow without bound.
const maxEvidence = 16

// Contradiction is the top of every lattice: information that cannot all be
// true. It absorbs everything merged into it, and it says what disagreed:
//
//   - numbers: the distinct exact numbers that were claimed (Number);
//   - interval: the tightest bounds seen, whose lo > hi (Interval);
//   - one value per type when values of different types met at one map key;
//   - from: the cells whose contradiction this one was derived from
//     (propagators fill it in, so a contradiction says where it came from).
//
// Merging two contradictions unites what they say, so contradictions form a
// lattice too and every law holds for them as for any other type.
//
// Wire form:
//
//	{"type":"contradiction","reason":"number: 3 ≠ 4",
//	 "values":[{"type":"number","value":3},{"type":"number","value":4}]}
//
// "reason" is derived from the rest and ignored on input; "values" lists the
// evidence (an interval in it may have lo > hi); "from" is a list of cell
// names. A contradiction is never needed as input, but one read from a cell
// may be published again as is.
type Contradiction struct {
	numbers  []float64 // sorted, distinct, at most maxEvidence
	interval *Interval // nil when no interval was involved
	others   []Value   // at most one per type, sorted by type name
	from     []string  // sorted, distinct
}

// NewContradiction returns the contradiction that the given values make
// together, derived from the named cells. It is how a propagator says that
// its inputs contradict. Give at least one cell in from, or values that
// disagree: a contradiction that lists no disagreement is refused by Decode,
// so it could not be read back from a stream.
func NewContradiction(from []string, values ...Value) *Contradiction {
	c := &Contradiction{}
	for _, v := range values {
		c = c.absorb(v)
	}
	if len(from) > 0 {
		c.from = unionStrings(c.from, sortedStrings(from))
	}
	return c
}

// From returns the cells this contradiction was derived from (caller must not
// modify the slice).
func (c *Contradiction) From() []string { return c.from }

// Values returns the evidence: the values that disagreed.
func (c *Contradiction) Values() []Value {
	var vs []Value
	if c.interval != nil {
		vs = append(vs, *c.interval)
	}
	for _, n := range c.numbers {
		vs = append(vs, Number{n})
	}
	vs = append(vs, c.others...)
	slices.SortStableFunc(vs, func(a, b Value) int { return strings.Compare(a.Type(), b.Type()) })
	return vs
}

// Reason says in words what disagreed.
func (c *Contradiction) Reason() string {
	var parts []string
	types := c.factTypes()
	if len(types) > 1 {
		parts = append(parts, "type conflict: "+strings.Join(types, " vs "))
	}
	if len(c.numbers) > 1 {
		ns := make([]string, len(c.numbers))
		for i, n := range c.numbers {
			ns[i] = fmtNum(n)
		}
		parts = append(parts, "number: "+strings.Join(ns, " ≠ "))
	}
	if c.interval != nil && c.interval.Lo > c.interval.Hi {
		parts = append(parts, "interval: lo "+fmtNum(c.interval.Lo)+" > hi "+fmtNum(c.interval.Hi)+", no number lies in both")
	}
	if len(c.from) > 0 {
		parts = append(parts, "derived from contradiction in "+strings.Join(c.from, ", "))
	}
	if len(parts) == 0 {
		return "contradiction"
	}
	return strings.Join(parts, "; ")
}

func (c *Contradiction) factTypes() []string {
	var ts []string
	if c.interval != nil {
		ts = append(ts, TypeInterval)
	}
	if len(c.numbers) > 0 {
		ts = append(ts, TypeNumber)
	}
	for _, v := range c.others {
		ts = append(ts, v.Type())
	}
	slices.Sort(ts)
	return ts
}

// contradicts reports whether the evidence really disagrees.
func (c *Contradiction) contradicts() bool {
	return len(c.numbers) > 1 || (c.interval != nil && c.interval.Lo > c.interval.Hi) ||
		len(c.factTypes()) > 1 || len(c.from) > 0
}

// Type implements Value.
func (*Contradiction) Type() string { return TypeContradiction }

// AppendJSON implements Value.
func (c *Contradiction) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"contradiction","reason":`...)
	dst = appendString(dst, c.Reason())
	dst = append(dst, `,"values":[`...)
	for i, v := range c.Values() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = v.AppendJSON(dst)
	}
	dst = append(dst, ']')
	if len(c.from) > 0 {
		dst = append(dst, `,"from":`...)
		dst = appendStrings(dst, c.from)
	}
	return append(dst, '}')
}

// MarshalJSON implements json.Marshaler with the canonical encoding.
func (c *Contradiction) MarshalJSON() ([]byte, error) { return c.AppendJSON(nil), nil }

func (c *Contradiction) join(o Value) (Value, bool) {
	n := c.absorb(o)
	if Equal(c, n) {
		return c, false
	}
	return n, true
}

// absorb returns a new contradiction that also says v.
func (c *Contradiction) absorb(v Value) *Contradiction {
	n := &Contradiction{numbers: c.numbers, interval: c.interval, others: c.others, from: c.from}
	switch x := v.(type) {
	case nil, Nothing:
	case *Contradiction:
		for _, f := range x.numbers {
			n.numbers = addNumber(n.numbers, f)
		}
		if x.interval != nil {
			n.interval = meetInterval(n.interval, *x.interval)
		}
		for _, w := range x.others {
			n.others = addOther(n.others, w)
		}
		n.from = unionStrings(n.from, x.from)
	case Number:
		n.numbers = addNumber(n.numbers, x.Value)
	case Interval:
		n.interval = meetInterval(n.interval, x)
	default:
		n.others = addOther(n.others, v)
	}
	return n
}

func addNumber(ns []float64, f float64) []float64 {
	i, found := slices.BinarySearch(ns, f)
	if found || i >= maxEvidence {
		return ns
	}
	out := slices.Insert(slices.Clip(ns), i, f)
	if len(out) > maxEvidence {
		out = out[:maxEvidence]
	}
	return out
}

func meetInterval(cur *Interval, iv Interval) *Interval {
	if cur == nil {
		return &iv
	}
	return &Interval{math.Max(cur.Lo, iv.Lo), math.Min(cur.Hi, iv.Hi)}
}

func addOther(others []Value, v Value) []Value {
	t := v.Type()
	i, found := slices.BinarySearchFunc(others, t, func(e Value, t string) int { return strings.Compare(e.Type(), t) })
	out := slices.Clone(others)
	if !found {
		return slices.Insert(out, i, v)
	}
	// The joins of the types kept here never contradict; stay total anyway.
	if j, _ := merge(out[i], v); !IsContradiction(j) {
		out[i] = j
	}
	return out
}

func sortedPair(a, b float64) []float64 {
	if a < b {
		return []float64{a, b}
	}
	return []float64{b, a}
}

// newTypeConflict is the contradiction of two values of different types.
func newTypeConflict(a, b Value) *Contradiction {
	return (&Contradiction{}).absorb(a).absorb(b)
}

func decodeContradiction(o *object) (Value, error) {
	if err := o.only("reason", "values", "from"); err != nil {
		return nil, err
	}
	if _, _, err := o.kind("reason", kindString, "a string", false); err != nil {
		return nil, err
	}
	c := &Contradiction{}
	sp, ok, err := o.kind("values", kindArray, "an array", false)
	if err != nil {
		return nil, err
	}
	if ok {
		items := o.d.r.items(sp, nil)
		if err := o.count("values", sp, len(items)); err != nil {
			return nil, err
		}
		for i, it := range items {
			v, err := o.d.evidenceAt(it, o.depth+2)
			if err != nil {
				return nil, prefixPath(err, "values["+itoa(i)+"]")
			}
			c = c.absorb(v)
		}
	}
	from, _, err := o.strings("from", false)
	if err != nil {
		return nil, err
	}
	c.from = sortedStrings(from)
	if !c.contradicts() {
		return nil, o.invalid(o.at, "contradiction lists no disagreement (give two different numbers, an interval with lo > hi, values of two types, or a non-empty \"from\")")
	}
	return c, nil
}

// evidenceAt decodes one value of a contradiction's evidence: like valueAt,
// but an interval may be empty.
func (d *decoder) evidenceAt(sp span, depth int) (Value, error) {
	if sp.kind != kindObject {
		return nil, d.r.errAt(sp.start, ErrFieldType, "expected an object, got "+kindName(sp.kind))
	}
	saved := d.r.pos
	defer func() { d.r.pos = saved }()
	d.r.pos = sp.start
	o := object{d: d, depth: depth, at: sp.start}
	if err := d.r.object(&o.fs, depth); err != nil {
		return nil, err
	}
	if tsp, ok := o.lookup("type"); ok && tsp.kind == kindString && d.r.spanString(tsp) == TypeInterval {
		return decodeBounds(&o)
	}
	d.r.pos = sp.start
	return d.value(depth)
}
