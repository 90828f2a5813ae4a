package lattice

import "math"

// Interval is what is known of an unknown number: it lies in [Lo, Hi].
// Merging intersects (each update narrows the interval); an empty
// intersection is a Contradiction. A bound may be infinite: on the wire it is
// then omitted, so {"type":"interval","lo":0} says "at least 0".
// Wire form: {"type":"interval","lo":1,"hi":2}; lo > hi is refused.
type Interval struct{ Lo, Hi float64 }

// Type implements Value.
func (Interval) Type() string { return TypeInterval }

// AppendJSON implements Value.
func (iv Interval) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"interval"`...)
	return append(appendBounds(dst, iv.Lo, iv.Hi), '}')
}

// appendBounds writes the finite bounds of an interval.
func appendBounds(dst []byte, lo, hi float64) []byte {
	if !math.IsInf(lo, 0) {
		dst = append(dst, `,"lo":`...)
		dst = appendFloat(dst, lo)
	}
	if !math.IsInf(hi, 0) {
		dst = append(dst, `,"hi":`...)
		dst = appendFloat(dst, hi)
	}
	return dst
}

// Contains reports whether x lies in the interval.
func (iv Interval) Contains(x float64) bool { return iv.Lo <= x && x <= iv.Hi }

func (iv Interval) join(o Value) (Value, bool) {
	p, ok := o.(Interval)
	if !ok {
		return newTypeConflict(iv, o), true
	}
	lo, hi := math.Max(iv.Lo, p.Lo), math.Min(iv.Hi, p.Hi)
	if lo > hi {
		return &Contradiction{interval: &Interval{lo, hi}}, true
	}
	if lo == iv.Lo && hi == iv.Hi {
		return iv, false
	}
	if lo == p.Lo && hi == p.Hi {
		return o, true
	}
	return Interval{lo, hi}, true
}

// MarshalJSON implements json.Marshaler with the canonical encoding.
func (iv Interval) MarshalJSON() ([]byte, error) { return iv.AppendJSON(nil), nil }

func decodeInterval(o *object) (Value, error) {
	iv, err := decodeBounds(o)
	if err != nil {
		return nil, err
	}
	if iv.Lo > iv.Hi {
		return nil, o.invalid(o.at, "interval lo "+fmtNum(iv.Lo)+" > hi "+fmtNum(iv.Hi))
	}
	return iv, nil
}

// decodeBounds reads an interval's bounds without checking lo <= hi (a
// contradiction carries an empty interval).
func decodeBounds(o *object) (Interval, error) {
	if err := o.only("lo", "hi"); err != nil {
		return Interval{}, err
	}
	lo, ok, err := o.float("lo")
	if err != nil {
		return Interval{}, err
	}
	if !ok {
		lo = math.Inf(-1)
	}
	hi, ok, err := o.float("hi")
	if err != nil {
		return Interval{}, err
	}
	if !ok {
		hi = math.Inf(1)
	}
	return Interval{lo, hi}, nil
}

func fmtNum(f float64) string { return string(appendFloat(nil, f)) }

// Range is the hull of the numbers seen: merging takes the smaller minimum
// and the larger maximum, so a range only ever widens (the seed's daily
// temperatures). Wire form: {"type":"range","min":34,"max":48}; min > max is
// refused.
type Range struct{ Min, Max float64 }

// Type implements Value.
func (Range) Type() string { return TypeRange }

// AppendJSON implements Value.
func (r Range) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"range","min":`...)
	dst = appendFloat(dst, r.Min)
	dst = append(dst, `,"max":`...)
	return append(appendFloat(dst, r.Max), '}')
}

func (r Range) join(o Value) (Value, bool) {
	p, ok := o.(Range)
	if !ok {
		return newTypeConflict(r, o), true
	}
	lo, hi := math.Min(r.Min, p.Min), math.Max(r.Max, p.Max)
	if lo == r.Min && hi == r.Max {
		return r, false
	}
	if lo == p.Min && hi == p.Max {
		return o, true
	}
	return Range{lo, hi}, true
}

// MarshalJSON implements json.Marshaler with the canonical encoding.
func (r Range) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

func decodeRange(o *object) (Value, error) {
	if err := o.only("min", "max"); err != nil {
		return nil, err
	}
	lo, err := o.needFloat("min")
	if err != nil {
		return nil, err
	}
	hi, err := o.needFloat("max")
	if err != nil {
		return nil, err
	}
	if lo > hi {
		return nil, o.invalid(o.at, "range min "+fmtNum(lo)+" > max "+fmtNum(hi))
	}
	return Range{lo, hi}, nil
}
