package lattice

import (
	"slices"
	"strconv"
	"sync"
	"unsafe"
)

// Limits bound what Decode accepts, so that a hostile or mistaken payload
// cannot exhaust memory or stack. The zero value of a field means its default.
type Limits struct {
	// MaxBytes bounds the encoded size. Default 1 MiB (the NATS default
	// maximum payload).
	MaxBytes int
	// MaxDepth bounds the nesting of JSON objects and arrays. Default 32.
	MaxDepth int
	// MaxElems bounds the elements of one set, the entries of one map, the
	// writers of one counter, the entries and dots of one orset. Default
	// 100,000.
	MaxElems int
}

// DefaultLimits are the limits Decode applies.
var DefaultLimits = Limits{MaxBytes: 1 << 20, MaxDepth: 32, MaxElems: 100_000}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxElems <= 0 {
		l.MaxElems = DefaultLimits.MaxElems
	}
	return l
}

// Decode parses the wire form of a lattice value under DefaultLimits.
// See Limits.Decode.
func Decode(data []byte) (Value, error) { return DefaultLimits.Decode(data) }

// Decode parses the wire form of a lattice value: a JSON object whose "type"
// field selects the type. The returned value does not alias data.
//
// A refusal is a *DecodeError wrapping one of ErrSyntax, ErrUnknownType,
// ErrMissingField, ErrUnknownField, ErrDuplicateField, ErrFieldType,
// ErrNotFinite, ErrInvalid, ErrOverflow, ErrTooLarge or ErrTooDeep.
// Decode never panics.
func (l Limits) Decode(data []byte) (Value, error) {
	l = l.withDefaults()
	if len(data) > l.MaxBytes {
		return nil, &DecodeError{Err: ErrTooLarge, Detail: strconv.Itoa(len(data)) + " bytes, limit " + strconv.Itoa(l.MaxBytes)}
	}
	// The decoder is recursive, so escape analysis cannot keep it on the
	// stack; a pool saves that allocation on every update.
	d := decoders.Get().(*decoder)
	defer func() {
		*d = decoder{}
		decoders.Put(d)
	}()
	d.r = reader{data: data, lim: l}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.r.ws()
	if d.r.pos != len(data) {
		return nil, d.r.syntax("expected end of input after the value")
	}
	return v, nil
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

// registry lists the lattice types: adding a type to dprop means writing its
// file and adding its line here and in decodeType, just below. decodeType
// dispatches with a switch because an indirect call through a table would
// move the decoder's state to the heap, costing allocations on every update;
// a test checks that the two lists agree.
var registry = []struct{ name, doc string }{
	{TypeNothing, "bottom: no information yet"},
	{TypeContradiction, "top: information that cannot all be true"},
	{TypeNumber, "an exact number; two different numbers contradict"},
	{TypeMax, "the largest number seen"},
	{TypeMin, "the smallest number seen"},
	{TypeInterval, "bounds on an unknown number; merging intersects"},
	{TypeRange, "the hull of the numbers seen"},
	{TypeFlag, "false until true"},
	{TypeSet, "a grow-only set of strings and numbers"},
	{TypeGCounter, "a grow-only counter, one count per writer"},
	{TypePNCounter, "a counter that counts up and down"},
	{TypeLWW, "a last-writer-wins register of any JSON value"},
	{TypeORSet, "an add-wins observed-remove set"},
	{TypeMap, "a map of keys to lattice values, merged per key"},
	{TypeSupported, "values of an inner type, each resting on a set of premises"},
}

// decodeType calls the decoder of the named type; known is false when there
// is none.
func decodeType(name string, o *object) (v Value, known bool, err error) {
	switch name {
	case TypeNothing:
		v, err = decodeNothing(o)
	case TypeContradiction:
		v, err = decodeContradiction(o)
	case TypeNumber:
		v, err = decodeNumber(o)
	case TypeMax:
		v, err = decodeMax(o)
	case TypeMin:
		v, err = decodeMin(o)
	case TypeInterval:
		v, err = decodeInterval(o)
	case TypeRange:
		v, err = decodeRange(o)
	case TypeFlag:
		v, err = decodeFlag(o)
	case TypeSet:
		v, err = decodeSet(o)
	case TypeGCounter:
		v, err = decodeGCounter(o)
	case TypePNCounter:
		v, err = decodePNCounter(o)
	case TypeLWW:
		v, err = decodeLWW(o)
	case TypeORSet:
		v, err = decodeORSet(o)
	case TypeMap:
		v, err = decodeMap(o)
	case TypeSupported:
		v, err = decodeSupported(o)
	default:
		return nil, false, nil
	}
	return v, true, err
}

// Types returns the registered type names, sorted.
func Types() []string {
	names := make([]string, 0, len(registry))
	for _, t := range registry {
		names = append(names, t.name)
	}
	slices.Sort(names)
	return names
}

// Doc returns the one-line summary of a type ("" if unknown).
func Doc(name string) string {
	for _, t := range registry {
		if t.name == name {
			return t.doc
		}
	}
	return ""
}

// Known reports whether name is a registered type.
func Known(name string) bool { return Doc(name) != "" }

// decoder turns validated JSON into values.
type decoder struct {
	r     reader
	arena []byte
}

// keep returns a copy of s that does not alias the input. Copies share one
// growing buffer, so a value with many strings costs few allocations.
func (d *decoder) keep(s string) string {
	if len(s) == 0 {
		return ""
	}
	if cap(d.arena)-len(d.arena) < len(s) {
		n := max(len(s), min(len(d.r.data), 4096))
		d.arena = make([]byte, 0, n)
	}
	start := len(d.arena)
	d.arena = append(d.arena, s...)
	b := d.arena[start:]
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// value decodes the object at the reader's position. depth is the number of
// containers around it.
func (d *decoder) value(depth int) (Value, error) {
	o := object{d: d, depth: depth}
	d.r.ws()
	o.at = d.r.pos
	if err := d.r.object(&o.fs, depth); err != nil {
		return nil, err
	}
	tsp, ok := o.lookup("type")
	if !ok {
		return nil, d.r.errAt(o.at, ErrMissingField, `"type"`)
	}
	if tsp.kind != kindString {
		return nil, d.r.errAt(tsp.start, ErrFieldType, `"type" must be a string, got `+kindName(tsp.kind))
	}
	name := d.r.spanString(tsp)
	v, known, err := decodeType(name, &o)
	if !known {
		return nil, d.r.errAt(tsp.start, ErrUnknownType, strconv.Quote(name)+" (known: "+typeList()+")")
	}
	return v, err
}

func typeList() string {
	s := ""
	for i, n := range Types() {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

// valueAt decodes the nested value at sp.
func (d *decoder) valueAt(sp span, depth int) (Value, error) {
	saved := d.r.pos
	d.r.pos = sp.start
	v, err := d.value(depth)
	d.r.pos = saved
	return v, err
}

// object gives typed access to the fields of one JSON object.
type object struct {
	d     *decoder
	fs    fields
	at    int // offset of '{'
	depth int
}

func (o *object) lookup(name string) (span, bool) {
	for i := range o.fs.len() {
		if f := o.fs.get(i); f.key == name {
			return f.val, true
		}
	}
	return span{}, false
}

// only refuses fields other than "type" and the given ones.
func (o *object) only(names ...string) error {
	for i := range o.fs.len() {
		f := o.fs.get(i)
		if f.key == "type" || slices.Contains(names, f.key) {
			continue
		}
		return o.d.r.errAt(f.val.start, ErrUnknownField, strconv.Quote(f.key)+" (this type has "+quoteList(names)+")")
	}
	return nil
}

func quoteList(names []string) string {
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += strconv.Quote(n)
	}
	if s == "" {
		return "no other fields"
	}
	return s
}

func (o *object) missing(name string) error {
	return o.d.r.errAt(o.at, ErrMissingField, strconv.Quote(name))
}

func (o *object) wrongKind(name string, sp span, want string) error {
	return o.d.r.errAt(sp.start, ErrFieldType, strconv.Quote(name)+" must be "+want+", got "+kindName(sp.kind))
}

func (o *object) invalid(pos int, detail string) error {
	return o.d.r.errAt(pos, ErrInvalid, detail)
}

// float returns the number field name; ok is false when it is absent.
func (o *object) float(name string) (f float64, ok bool, err error) {
	sp, ok := o.lookup(name)
	if !ok {
		return 0, false, nil
	}
	if sp.kind != kindNumber {
		return 0, true, o.wrongKind(name, sp, "a number")
	}
	f, err = o.d.r.float(sp)
	if err != nil {
		return 0, true, prefixPath(err, name)
	}
	return f, true, nil
}

// needFloat returns the required number field name.
func (o *object) needFloat(name string) (float64, error) {
	f, ok, err := o.float(name)
	if err == nil && !ok {
		err = o.missing(name)
	}
	return f, err
}

// kind returns the span of field name after checking its JSON kind.
func (o *object) kind(name string, kind byte, want string, required bool) (span, bool, error) {
	sp, ok := o.lookup(name)
	if !ok {
		if required {
			return span{}, false, o.missing(name)
		}
		return span{}, false, nil
	}
	if sp.kind != kind && !(kind == kindTrue && sp.kind == kindFalse) {
		return span{}, true, o.wrongKind(name, sp, want)
	}
	return sp, true, nil
}

// count checks a container size against MaxElems.
func (o *object) count(name string, sp span, n int) error {
	if n > o.d.r.lim.MaxElems {
		return o.d.r.errAt(sp.start, ErrTooLarge, strconv.Quote(name)+" has "+strconv.Itoa(n)+" elements, limit "+strconv.Itoa(o.d.r.lim.MaxElems))
	}
	return nil
}

func decodeNothing(o *object) (Value, error) {
	if err := o.only(); err != nil {
		return nil, err
	}
	return Nothing{}, nil
}
