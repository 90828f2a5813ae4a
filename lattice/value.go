package lattice

import "bytes"

// Value is a lattice value: an element of a join-semilattice with a
// canonical JSON encoding.
//
// Values are immutable: no method changes its receiver, and a value returned
// by Merge may share memory with its operands. Values are therefore safe for
// concurrent use. The set of implementations is closed: the types of this
// package are the lattice types, listed in the registry (see Types).
type Value interface {
	// Type is the type name used in the wire form's "type" field.
	Type() string
	// AppendJSON appends the canonical encoding of the value to dst: equal
	// values give identical bytes, so a hash of them is an ETag.
	AppendJSON(dst []byte) []byte
	// join returns the least upper bound of the receiver and o, and whether
	// it differs from the receiver. o has the receiver's type, and neither
	// is Nothing or a Contradiction: merge handles those cases first.
	join(o Value) (Value, bool)
}

// Merge returns the join a ⊔ b and whether it differs from a, that is,
// whether b added information to a.
//
// A nil Value is treated as Nothing. Nothing is the identity; a
// Contradiction absorbs everything (merging into one only adds to what it
// says disagreed). Two values of different types have no join: Merge returns
// a *MergeError wrapping ErrTypeMismatch and a unchanged. (Inside a Map a type
// conflict is a Contradiction at that key instead; see Map.)
func Merge(a, b Value) (Value, bool, error) {
	if a == nil {
		a = Nothing{}
	}
	if b == nil {
		b = Nothing{}
	}
	if ta, tb := a.Type(), b.Type(); ta != tb && ta != TypeNothing && tb != TypeNothing &&
		ta != TypeContradiction && tb != TypeContradiction {
		return a, false, &MergeError{Left: ta, Right: tb, Err: ErrTypeMismatch}
	}
	v, changed := merge(a, b)
	return v, changed, nil
}

// merge is the total join used inside the package: a type conflict becomes a
// Contradiction instead of an error.
func merge(a, b Value) (Value, bool) {
	switch bv := b.(type) {
	case Nothing:
		return a, false
	case *Contradiction:
		if ac, ok := a.(*Contradiction); ok {
			return ac.join(bv)
		}
		if _, ok := a.(Nothing); ok {
			return bv, true
		}
		return bv.absorb(a), true
	}
	switch av := a.(type) {
	case Nothing:
		return b, true
	case *Contradiction:
		return av.join(b)
	}
	if a.Type() != b.Type() {
		return newTypeConflict(a, b), true
	}
	return a.join(b)
}

// Leq reports whether a ⊑ b: b holds at least the information of a, so that
// merging a into b changes nothing. Values of different types are
// incomparable (false). Nothing is below everything. A Contradiction is above
// the values whose evidence it already holds, but not above every value:
// merging another value into it adds that value to its evidence, so
// Leq(Max{1}, c) is false unless c already says max ≥ 1.
func Leq(a, b Value) bool {
	_, changed, err := Merge(b, a)
	return err == nil && !changed
}

// Equal reports whether a and b are the same value (same canonical encoding).
func Equal(a, b Value) bool {
	if a == nil {
		a = Nothing{}
	}
	if b == nil {
		b = Nothing{}
	}
	var ab, bb [128]byte
	return bytes.Equal(a.AppendJSON(ab[:0]), b.AppendJSON(bb[:0]))
}

// Encode returns the canonical encoding of v (Nothing for nil).
func Encode(v Value) []byte {
	if v == nil {
		v = Nothing{}
	}
	return v.AppendJSON(nil)
}

// IsNothing reports whether v carries no information (nil or Nothing).
func IsNothing(v Value) bool {
	if v == nil {
		return true
	}
	_, ok := v.(Nothing)
	return ok
}

// IsContradiction reports whether v is a Contradiction.
func IsContradiction(v Value) bool {
	_, ok := v.(*Contradiction)
	return ok
}

// Type names of the built-in types, as they appear in the wire form.
const (
	TypeNothing       = "nothing"
	TypeContradiction = "contradiction"
	TypeNumber        = "number"
	TypeMax           = "max"
	TypeMin           = "min"
	TypeInterval      = "interval"
	TypeRange         = "range"
	TypeFlag          = "flag"
	TypeSet           = "set"
	TypeGCounter      = "gcounter"
	TypePNCounter     = "pncounter"
	TypeLWW           = "lww"
	TypeORSet         = "orset"
	TypeMap           = "map"
	TypeSupported     = "supported"
)

// Nothing is the bottom of every lattice: no information yet.
// Wire form: {"type":"nothing"}.
type Nothing struct{}

// Type implements Value.
func (Nothing) Type() string { return TypeNothing }

// AppendJSON implements Value.
func (Nothing) AppendJSON(dst []byte) []byte { return append(dst, `{"type":"nothing"}`...) }

func (n Nothing) join(o Value) (Value, bool) { return merge(n, o) }

// MarshalJSON implements json.Marshaler with the canonical encoding.
func (n Nothing) MarshalJSON() ([]byte, error) { return n.AppendJSON(nil), nil }
