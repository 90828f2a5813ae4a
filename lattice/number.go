package lattice

// Number is exact knowledge of a number. Two different numbers contradict.
// Wire form: {"type":"number","value":3.5}. Numbers are IEEE-754 doubles;
// NaN and ±Inf are refused, -0 is 0.
type Number struct{ Value float64 }

// Type implements Value.
func (Number) Type() string { return TypeNumber }

// AppendJSON implements Value.
func (n Number) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"number","value":`...)
	return append(appendFloat(dst, n.Value), '}')
}

func (n Number) join(o Value) (Value, bool) {
	m, ok := o.(Number)
	if !ok {
		return newTypeConflict(n, o), true
	}
	if m.Value == n.Value {
		return n, false
	}
	return &Contradiction{numbers: sortedPair(n.Value, m.Value)}, true
}

// MarshalJSON implements json.Marshaler with the canonical encoding.
func (n Number) MarshalJSON() ([]byte, error) { return n.AppendJSON(nil), nil }

func decodeNumber(o *object) (Value, error) {
	if err := o.only("value"); err != nil {
		return nil, err
	}
	f, err := o.needFloat("value")
	if err != nil {
		return nil, err
	}
	return Number{f}, nil
}

// Max holds the largest number seen. Wire form: {"type":"max","value":7}.
type Max struct{ Value float64 }

// Type implements Value.
func (Max) Type() string { return TypeMax }

// AppendJSON implements Value.
func (m Max) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"max","value":`...)
	return append(appendFloat(dst, m.Value), '}')
}

func (m Max) join(o Value) (Value, bool) {
	p, ok := o.(Max)
	if !ok {
		return newTypeConflict(m, o), true
	}
	if p.Value > m.Value {
		return o, true
	}
	return m, false
}

// MarshalJSON implements json.Marshaler with the canonical encoding.
func (m Max) MarshalJSON() ([]byte, error) { return m.AppendJSON(nil), nil }

func decodeMax(o *object) (Value, error) {
	if err := o.only("value"); err != nil {
		return nil, err
	}
	f, err := o.needFloat("value")
	if err != nil {
		return nil, err
	}
	return Max{f}, nil
}

// Min holds the smallest number seen. Wire form: {"type":"min","value":7}.
type Min struct{ Value float64 }

// Type implements Value.
func (Min) Type() string { return TypeMin }

// AppendJSON implements Value.
func (m Min) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"min","value":`...)
	return append(appendFloat(dst, m.Value), '}')
}

func (m Min) join(o Value) (Value, bool) {
	p, ok := o.(Min)
	if !ok {
		return newTypeConflict(m, o), true
	}
	if p.Value < m.Value {
		return o, true
	}
	return m, false
}

// MarshalJSON implements json.Marshaler with the canonical encoding.
func (m Min) MarshalJSON() ([]byte, error) { return m.AppendJSON(nil), nil }

func decodeMin(o *object) (Value, error) {
	if err := o.only("value"); err != nil {
		return nil, err
	}
	f, err := o.needFloat("value")
	if err != nil {
		return nil, err
	}
	return Min{f}, nil
}

// Flag is false until it is true. Wire form: {"type":"flag","value":true}.
type Flag struct{ Value bool }

// Type implements Value.
func (Flag) Type() string { return TypeFlag }

// AppendJSON implements Value.
func (f Flag) AppendJSON(dst []byte) []byte {
	if f.Value {
		return append(dst, `{"type":"flag","value":true}`...)
	}
	return append(dst, `{"type":"flag","value":false}`...)
}

func (f Flag) join(o Value) (Value, bool) {
	g, ok := o.(Flag)
	if !ok {
		return newTypeConflict(f, o), true
	}
	if g.Value && !f.Value {
		return g, true
	}
	return f, false
}

// MarshalJSON implements json.Marshaler with the canonical encoding.
func (f Flag) MarshalJSON() ([]byte, error) { return f.AppendJSON(nil), nil }

func decodeFlag(o *object) (Value, error) {
	if err := o.only("value"); err != nil {
		return nil, err
	}
	sp, _, err := o.kind("value", kindTrue, "a boolean", true)
	if err != nil {
		return nil, err
	}
	return Flag{sp.kind == kindTrue}, nil
}
