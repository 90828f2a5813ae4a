package lattice

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
)

// LWW is a last-writer-wins register holding any JSON value. Merging keeps
// the value with the larger (ts, writer); when both are equal, the larger
// canonical encoding of the value wins, so every replica decides the same.
// Wire form: {"type":"lww","value":<any JSON>,"ts":<int>,"writer":"id"};
// "writer" may be omitted (empty). ts is a 64-bit integer of the writer's
// choosing (Unix milliseconds is customary).
//
// The value is kept in canonical JSON: no insignificant whitespace, object
// keys sorted by their UTF-8 bytes, strings with minimal escapes, integers as
// written, other numbers in the shortest form that round-trips a float64.
type LWW struct {
	value  []byte // canonical JSON
	ts     int64
	writer string
}

// NewLWW returns a register holding the JSON value raw written at ts by
// writer. raw is checked and canonicalized under DefaultLimits.
func NewLWW(raw []byte, ts int64, writer string) (*LWW, error) {
	lim := DefaultLimits
	d := decoder{r: reader{data: raw, lim: lim}}
	sp, err := d.r.skip(0)
	if err == nil {
		d.r.ws()
		if d.r.pos != len(raw) {
			err = d.r.syntax("expected end of input after the value")
		}
	}
	if err != nil {
		return nil, err
	}
	c, err := d.canonical(nil, sp)
	if err != nil {
		return nil, err
	}
	return &LWW{value: c, ts: ts, writer: writer}, nil
}

// Raw returns the canonical JSON of the value (caller must not modify).
func (l *LWW) Raw() []byte { return l.value }

// TS returns the timestamp.
func (l *LWW) TS() int64 { return l.ts }

// Writer returns the writer.
func (l *LWW) Writer() string { return l.writer }

// Type implements Value.
func (*LWW) Type() string { return TypeLWW }

// AppendJSON implements Value.
func (l *LWW) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"lww","value":`...)
	dst = append(dst, l.value...)
	dst = append(dst, `,"ts":`...)
	dst = appendInt(dst, l.ts)
	dst = append(dst, `,"writer":`...)
	return append(appendString(dst, l.writer), '}')
}

// MarshalJSON implements json.Marshaler with the canonical encoding.
func (l *LWW) MarshalJSON() ([]byte, error) { return l.AppendJSON(nil), nil }

func (l *LWW) compare(m *LWW) int {
	if c := cmp.Compare(l.ts, m.ts); c != 0 {
		return c
	}
	if c := strings.Compare(l.writer, m.writer); c != 0 {
		return c
	}
	return bytes.Compare(l.value, m.value)
}

func (l *LWW) join(o Value) (Value, bool) {
	m, ok := o.(*LWW)
	if !ok {
		return newTypeConflict(l, o), true
	}
	if m.compare(l) > 0 {
		return m, true
	}
	return l, false
}

func decodeLWW(o *object) (Value, error) {
	if err := o.only("value", "ts", "writer"); err != nil {
		return nil, err
	}
	vsp, ok := o.lookup("value")
	if !ok {
		return nil, o.missing("value")
	}
	tsp, _, err := o.kind("ts", kindNumber, "an integer", true)
	if err != nil {
		return nil, err
	}
	ts, err := o.d.r.int(tsp)
	if err != nil {
		return nil, prefixPath(err, "ts")
	}
	l := &LWW{ts: ts}
	if wsp, ok, err := o.kind("writer", kindString, "a string", false); err != nil {
		return nil, err
	} else if ok {
		l.writer = o.d.keep(o.d.r.spanString(wsp))
	}
	if l.value, err = o.d.canonical(nil, vsp); err != nil {
		return nil, prefixPath(err, "value")
	}
	return l, nil
}

// canonical appends the canonical form of the validated JSON value at sp.
func (d *decoder) canonical(dst []byte, sp span) ([]byte, error) {
	r := &d.r
	switch sp.kind {
	case kindString:
		return appendString(dst, r.spanString(sp)), nil
	case kindNumber:
		raw := r.data[sp.start:sp.end]
		if !bytes.ContainsAny(raw, ".eE") {
			if string(raw) == "-0" {
				return append(dst, '0'), nil
			}
			// An integer is kept as written, but like 1e400 it must be
			// finite as a float64: more than 309 digits may not be.
			if len(raw) > 309 {
				if _, err := r.float(sp); err != nil {
					return nil, err
				}
			}
			return append(dst, raw...), nil
		}
		f, err := r.float(sp)
		if err != nil {
			return nil, err
		}
		return appendFloat(dst, f), nil
	case kindArray:
		dst = append(dst, '[')
		for i, it := range r.items(sp, nil) {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = d.canonical(dst, it); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case kindObject:
		var fs fields
		if err := r.members(sp, &fs); err != nil {
			return nil, err
		}
		list := make([]field, fs.len())
		for i := range list {
			list[i] = *fs.get(i)
		}
		slices.SortFunc(list, func(a, b field) int { return strings.Compare(a.key, b.key) })
		dst = append(dst, '{')
		for i, f := range list {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, f.key)
			dst = append(dst, ':')
			var err error
			if dst, err = d.canonical(dst, f.val); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	}
	return append(dst, r.data[sp.start:sp.end]...), nil // true, false, null
}
