package lattice

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// The laws of a join-semilattice with a canonical encoding, checked by rapid
// for every type (see families in gen_test.go) and for values of mixed types.
// Values are compared by their canonical bytes.

// join merges b into a like a Map merges a key: with Merge, and for two
// values of different types (which Merge refuses) with the total merge that
// turns the conflict into a Contradiction. It checks that a refusal is the
// documented one.
func join(t tb, a, b Value) (Value, bool) {
	t.Helper()
	v, changed, err := Merge(a, b)
	if err == nil {
		return v, changed
	}
	var me *MergeError
	if !errors.As(err, &me) || !errors.Is(err, ErrTypeMismatch) || me.Left != a.Type() || me.Right != b.Type() {
		t.Fatalf("Merge(%s, %s): unexpected error %v", enc(a), enc(b), err)
	}
	if changed || !Equal(v, a) {
		t.Fatalf("Merge(%s, %s) refused but returned %s, changed=%v", enc(a), enc(b), enc(v), changed)
	}
	return merge(a, b)
}

// leq is ⊑ for values of any types: b ⊔ a adds nothing to b.
func leq(t tb, a, b Value) bool {
	t.Helper()
	_, changed := join(t, b, a)
	return !changed
}

// tb is what the helpers need of a *testing.T or a *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

func enc(v Value) string { return string(Encode(v)) }

func sameBytes(t tb, what string, got, want Value) {
	t.Helper()
	if g, w := Encode(got), Encode(want); !bytes.Equal(g, w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// checkLaws checks every law on the three values.
func checkLaws(t *rapid.T, a, b, c Value) {
	for _, v := range []Value{a, b, c} {
		checkCanonical(t, v)
	}

	// Idempotence.
	aa, changed := join(t, a, a)
	sameBytes(t, "a ⊔ a = a", aa, a)
	if changed {
		t.Fatalf("a ⊔ a reported a change for %s", enc(a))
	}

	// Commutativity.
	ab, abChanged := join(t, a, b)
	ba, _ := join(t, b, a)
	sameBytes(t, "a ⊔ b = b ⊔ a", ab, ba)

	// Associativity.
	bc, _ := join(t, b, c)
	left, _ := join(t, ab, c)
	right, _ := join(t, a, bc)
	sameBytes(t, "(a ⊔ b) ⊔ c = a ⊔ (b ⊔ c)", left, right)

	// Nothing is the identity, on either side, and so is nil.
	an, changed := join(t, a, Nothing{})
	sameBytes(t, "a ⊔ nothing = a", an, a)
	if changed {
		t.Fatalf("a ⊔ nothing reported a change for %s", enc(a))
	}
	na, changed := join(t, Nothing{}, a)
	sameBytes(t, "nothing ⊔ a = a", na, a)
	if changed != !IsNothing(a) {
		t.Fatalf("nothing ⊔ %s: changed=%v", enc(a), changed)
	}
	if v, changed, err := Merge(a, nil); err != nil || changed || !Equal(v, a) {
		t.Fatalf("a ⊔ nil: %s %v %v", enc(v), changed, err)
	}

	// The changed flag is true exactly when the bytes differ from a's.
	if want := !bytes.Equal(Encode(ab), Encode(a)); abChanged != want {
		t.Fatalf("%s ⊔ %s = %s: changed=%v, want %v", enc(a), enc(b), enc(ab), abChanged, want)
	}

	// Monotonicity: a ⊑ a ⊔ b and b ⊑ a ⊔ b.
	if !leq(t, a, ab) || !leq(t, b, ab) {
		t.Fatalf("not an upper bound: %s ⊔ %s = %s", enc(a), enc(b), enc(ab))
	}

	// ⊑ is consistent with the join: a ⊑ b iff a ⊔ b = b.
	if got, want := leq(t, a, b), bytes.Equal(Encode(ab), Encode(b)); got != want {
		t.Fatalf("leq(%s, %s) = %v but a ⊔ b = b is %v", enc(a), enc(b), got, want)
	}
	// Leq agrees with the total ⊑ where Merge is defined, and is false
	// where it is not.
	if _, _, err := Merge(b, a); err == nil {
		if Leq(a, b) != leq(t, a, b) {
			t.Fatalf("Leq(%s, %s) = %v disagrees with the join", enc(a), enc(b), Leq(a, b))
		}
	} else if Leq(a, b) {
		t.Fatalf("Leq(%s, %s) true for types Merge refuses", enc(a), enc(b))
	}

	// ⊑ is a partial order: reflexive, antisymmetric, transitive.
	if !leq(t, a, a) {
		t.Fatalf("not reflexive: %s", enc(a))
	}
	if leq(t, a, b) && leq(t, b, a) && !Equal(a, b) {
		t.Fatalf("not antisymmetric: %s and %s", enc(a), enc(b))
	}
	abc, _ := join(t, ab, c)
	if !leq(t, a, abc) { // a ⊑ a⊔b ⊑ a⊔b⊔c
		t.Fatalf("not transitive: %s ⋢ %s", enc(a), enc(abc))
	}
	if leq(t, a, b) && leq(t, b, c) && !leq(t, a, c) {
		t.Fatalf("not transitive: %s ⊑ %s ⊑ %s", enc(a), enc(b), enc(c))
	}

	for _, v := range []Value{ab, left, abc} {
		checkCanonical(t, v)
	}
}

// checkCanonical checks the encoding of v: Decode gives back a value that
// encodes to the same bytes and merges with v as a no-op both ways;
// MarshalJSON and AppendJSON (after a prefix) agree with Encode; the bytes
// are valid JSON.
func checkCanonical(t tb, v Value) {
	t.Helper()
	b := Encode(v)
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %s", b)
	}
	w, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode(Encode(v)) = %v\n%s", err, b)
	}
	if b2 := Encode(w); !bytes.Equal(b, b2) {
		t.Fatalf("not canonical:\n%s\nre-encodes as\n%s", b, b2)
	}
	if w.Type() != v.Type() {
		t.Fatalf("decoded type %s, encoded %s", w.Type(), v.Type())
	}
	for _, p := range [][2]Value{{v, w}, {w, v}} {
		if _, changed := join(t, p[0], p[1]); changed {
			t.Fatalf("merging a value with its decoded encoding changed it: %s", b)
		}
	}
	m, err := v.(json.Marshaler).MarshalJSON()
	if err != nil || !bytes.Equal(m, b) {
		t.Fatalf("MarshalJSON = %s, %v; AppendJSON = %s", m, err, b)
	}
	if p := v.AppendJSON([]byte("prefix")); string(p) != "prefix"+string(b) {
		t.Fatalf("AppendJSON after a prefix = %s", p)
	}
}

func TestLaws(t *testing.T) {
	for _, f := range families() {
		t.Run(f.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				vs := f.draw(t, 3)
				checkLaws(t, vs[0], vs[1], vs[2])
			})
		})
	}
}

// TestLawsAcrossTypes mixes families: a value of one type against values
// of others (Merge refuses those, the total merge of a Map key contradicts).
func TestLawsAcrossTypes(t *testing.T) {
	fs := families()
	rapid.Check(t, func(t *rapid.T) {
		var vs []Value
		for i := range 3 {
			f := fs[rapid.IntRange(0, len(fs)-1).Draw(t, "family"+string(rune('a'+i)))]
			vs = append(vs, f.draw(t, 1)[0])
		}
		checkLaws(t, vs[0], vs[1], vs[2])
	})
}

// TestEqualValuesEqualBytes decodes other spellings of a value's wire form
// (whitespace, key order, escapes, the order and repetition of set elements,
// orset entries, dots and contradiction evidence) and expects the same
// canonical bytes.
func TestEqualValuesEqualBytes(t *testing.T) {
	fs := families()
	rapid.Check(t, func(t *rapid.T) {
		f := fs[rapid.IntRange(0, len(fs)-1).Draw(t, "family")]
		v := f.draw(t, 1)[0]
		want := Encode(v)
		respelled := renderJSON(t, shuffleWire(t, parseJSON(t, want)), false)
		got, err := Decode(respelled)
		if err != nil {
			t.Fatalf("Decode(%s) = %v (a respelling of %s)", respelled, err, want)
		}
		if g := Encode(got); !bytes.Equal(g, want) {
			t.Fatalf("%s\nencodes as\n%s\nbut it respells\n%s", respelled, g, want)
		}
	})
}

// TestLWWCanonicalValue checks that every spelling of a JSON value gives a
// register the same canonical value, and that the value means the same JSON
// as before.
func TestLWWCanonicalValue(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tree := genJSON(4).Draw(t, "value")
		a, err := NewLWW(renderJSON(t, tree, true), 1, "w")
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewLWW(renderJSON(t, tree, true), 1, "w")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Raw(), b.Raw()) {
			t.Fatalf("two spellings of one value: %s vs %s", a.Raw(), b.Raw())
		}
		var got, want any
		if err := json.Unmarshal(a.Raw(), &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(renderJSON(t, tree, false), &want); err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(got, want) {
			t.Fatalf("canonical value %s means something else than %v", a.Raw(), want)
		}
		if a.Raw() != nil {
			if c := Encode(a); !json.Valid(c) {
				t.Fatalf("invalid: %s", c)
			}
		}
	})
}

func jsonEqual(a, b any) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return bytes.Equal(ab, bb)
}

// parseJSON reads canonical bytes back into a tree, keeping numbers as
// written (integer fields must stay integers).
func parseJSON(t *rapid.T, b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("parse %s: %v", b, err)
	}
	return toTree(v)
}

func toTree(v any) any {
	switch x := v.(type) {
	case map[string]any:
		o := make(jsonObject, len(x))
		for k, e := range x {
			o[k] = toTree(e)
		}
		return o
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toTree(e)
		}
		return out
	}
	return v
}

// shuffleWire reorders (and repeats) what a wire form says in no particular
// order: set elements, orset entries and dots, contradiction evidence and
// sources. It does not enter lww values, whose arrays are ordered.
func shuffleWire(t *rapid.T, v any) any {
	o, ok := v.(jsonObject)
	if !ok {
		return v
	}
	typ, _ := o["type"].(string)
	shuffle := func(key string) {
		if xs, ok := o[key].([]any); ok && len(xs) > 0 {
			xs = rapid.Permutation(xs).Draw(t, "perm")
			if rapid.Bool().Draw(t, "repeat") {
				xs = append(xs, xs[rapid.IntRange(0, len(xs)-1).Draw(t, "which")])
			}
			o[key] = xs
		}
	}
	switch typ {
	case TypeSet:
		shuffle("elems")
	case TypeORSet:
		shuffle("cloud")
		if es, ok := o["elems"].([]any); ok {
			for _, e := range es {
				if eo, ok := e.(jsonObject); ok {
					if ds, ok := eo["dots"].([]any); ok && len(ds) > 0 {
						eo["dots"] = rapid.Permutation(ds).Draw(t, "dots")
					}
				}
			}
			o["elems"] = rapid.Permutation(slices.Clone(es)).Draw(t, "entries")
		}
	case TypeContradiction:
		if xs, ok := o["values"].([]any); ok {
			for i := range xs {
				xs[i] = shuffleWire(t, xs[i])
			}
		}
		shuffle("values")
		shuffle("from")
		if rapid.Bool().Draw(t, "dropReason") {
			delete(o, "reason") // derived, so optional on input
		}
	case TypeSupported:
		if xs, ok := o["values"].([]any); ok {
			for _, x := range xs {
				if c, ok := x.(jsonObject); ok {
					if ps, ok := c["premises"].([]any); ok && len(ps) > 0 {
						c["premises"] = rapid.Permutation(ps).Draw(t, "premises")
					}
				}
			}
		}
		shuffle("values")
	case TypeMap:
		if es, ok := o["entries"].(jsonObject); ok {
			for k := range es {
				es[k] = shuffleWire(t, es[k])
			}
		}
	}
	return o
}
