package lattice

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// fold merges updates into Nothing in the given order, as a replica does,
// and returns the result and which positions changed it.
func fold(t tb, updates []Value, order []int) (Value, []bool) {
	t.Helper()
	var cur Value = Nothing{}
	changed := make([]bool, len(order))
	for i, k := range order {
		cur, changed[i] = join(t, cur, updates[k])
	}
	return cur, changed
}

// deliveries draws an order in which every update arrives at least once and
// some arrive again, anywhere: a permutation of 0..n-1 with repeats mixed in.
func deliveries(t *rapid.T, n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	order = rapid.Permutation(order).Draw(t, "permutation")
	for range rapid.IntRange(0, n).Draw(t, "repeats") {
		if n == 0 {
			break
		}
		k := rapid.IntRange(0, n-1).Draw(t, "repeat")
		at := rapid.IntRange(0, len(order)).Draw(t, "at")
		order = slices.Insert(order, at, k)
	}
	return order
}

// TestFoldAnyOrder folds a random sequence of updates (of one type, of maps
// mixing types, of orset deltas) in order, and again in any permutation with
// any duplication: the final bytes are the same. A delivery of an update that
// already arrived never reports a change.
func TestFoldAnyOrder(t *testing.T) {
	for _, f := range families() {
		t.Run(f.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				updates := f.draw(t, rapid.IntRange(0, 8).Draw(t, "n"))
				inOrder := make([]int, len(updates))
				for i := range inOrder {
					inOrder[i] = i
				}
				want, _ := fold(t, updates, inOrder)
				order := deliveries(t, len(updates))
				got, changed := fold(t, updates, order)
				sameBytes(t, "fold in another order", got, want)
				seen := map[int]bool{}
				for i, k := range order {
					if seen[k] && changed[i] {
						t.Fatalf("update %d delivered again at step %d reported a change", k, i)
					}
					seen[k] = true
				}
			})
		})
	}
}

// TestFoldORSetDeltas folds the deltas an orset history published, in any
// order and with duplicates, and expects the join of the replicas' states.
func TestFoldORSetDeltas(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := runORHistory(t, rapid.IntRange(0, 20).Draw(t, "ops"))
		deltas := []Value{&ORSet{}} // where every replica started
		for _, d := range h.deltas {
			deltas = append(deltas, d)
		}
		got, _ := fold(t, deltas, deliveries(t, len(deltas)))
		var want Value = Nothing{}
		for _, r := range h.replicas {
			want, _ = join(t, want, r)
		}
		sameBytes(t, "deltas folded in any order vs replicas joined", got, want)
	})
}

func mustDecode(t tb, s string) Value {
	t.Helper()
	v, err := Decode([]byte(s))
	if err != nil {
		t.Fatalf("Decode(%s): %v", s, err)
	}
	return v
}

func mustMerge(t tb, a, b Value) (Value, bool) {
	t.Helper()
	v, changed, err := Merge(a, b)
	if err != nil {
		t.Fatalf("Merge(%s, %s): %v", enc(a), enc(b), err)
	}
	return v, changed
}

func mergeAll(t tb, vs ...Value) Value {
	t.Helper()
	var cur Value = Nothing{}
	for _, v := range vs {
		cur, _ = mustMerge(t, cur, v)
	}
	return cur
}

func elemStrings(es []Elem) string {
	ss := make([]string, len(es))
	for i, e := range es {
		ss[i] = string(e.AppendJSON(nil))
	}
	return "[" + strings.Join(ss, ",") + "]"
}

func orElems(t tb, v Value) string {
	t.Helper()
	s, ok := v.(*ORSet)
	if !ok {
		t.Fatalf("not an orset: %s", enc(v))
	}
	return elemStrings(s.Elems())
}

// TestORSetAddWins: a removal concurrent with an add of the same element
// loses, on every replica, whatever the order of arrival.
func TestORSetAddWins(t *testing.T) {
	x := Str("x")
	a1 := (*ORSet)(nil).AddDelta("A", x) // A adds x
	stateA := mergeAll(t, a1).(*ORSet)
	stateB := mergeAll(t, a1).(*ORSet) // B has seen A's add

	rmB := stateB.RemoveDelta(x)  // B removes x, as it observed it...
	a2 := stateA.AddDelta("A", x) // ...while A adds x again
	if got := enc(a2); !strings.Contains(got, `["A",2]`) {
		t.Fatalf("second add should use dot A:2: %s", got)
	}
	for _, order := range [][]Value{{a1, rmB, a2}, {a1, a2, rmB}, {a2, rmB, a1}, {rmB, a2, a1, rmB}} {
		got := mergeAll(t, order...)
		if es := orElems(t, got); es != `["x"]` {
			t.Fatalf("concurrent add should win, got %s from %v", enc(got), order)
		}
		if want := `{"type":"orset","elems":[{"elem":"x","dots":[["A",2]]}],"context":{"A":2},"cloud":[]}`; enc(got) != want {
			t.Fatalf("got %s\nwant %s", enc(got), want)
		}
	}
	// Once the removal has seen the second add too, x is gone.
	all := mergeAll(t, a1, rmB, a2).(*ORSet)
	if got := mergeAll(t, all, all.RemoveDelta(x)); orElems(t, got) != `[]` {
		t.Fatalf("remove after observing every add: %s", enc(got))
	}
}

// TestORSetRemoveOnlyObserved: a removal names the dots it observed, so an
// add it has not seen (here by another writer) survives it.
func TestORSetRemoveOnlyObserved(t *testing.T) {
	x, y := Str("x"), Num(1)
	addA := (*ORSet)(nil).AddDelta("A", x)
	addB := (*ORSet)(nil).AddDelta("B", x)              // concurrent, unseen by A
	addY := mergeAll(t, addB).(*ORSet).AddDelta("B", y) // B's next dot
	stateA := mergeAll(t, addA)
	rm := stateA.(*ORSet).RemoveDelta(x)
	if want := `{"type":"orset","elems":[],"context":{"A":1},"cloud":[]}`; enc(rm) != want {
		t.Fatalf("RemoveDelta = %s, want %s", enc(rm), want)
	}
	got := mergeAll(t, addB, addY, rm, addA)
	if es := orElems(t, got); es != `[1,"x"]` {
		t.Fatalf("got %s", enc(got))
	}
	if want := `{"type":"orset","elems":[{"elem":1,"dots":[["B",2]]},{"elem":"x","dots":[["B",1]]}],"context":{"A":1,"B":2},"cloud":[]}`; enc(got) != want {
		t.Fatalf("got %s\nwant %s", enc(got), want)
	}
	// Removing an absent element is an empty update.
	if d := got.(*ORSet).RemoveDelta(Str("absent")); enc(d) != `{"type":"orset","elems":[],"context":{},"cloud":[]}` {
		t.Fatalf("RemoveDelta of an absent element: %s", enc(d))
	}
	// A removal that arrives before the add it observed still removes it.
	if got := mergeAll(t, rm, addA); orElems(t, got) != `[]` {
		t.Fatalf("removal before its add: %s", enc(got))
	}
	if !got.(*ORSet).Has(x) || got.(*ORSet).Has(Str("y")) {
		t.Fatal("Has disagrees with Elems")
	}
}

func TestCounterTotals(t *testing.T) {
	g := mergeAll(t,
		mustDecode(t, `{"type":"gcounter","counts":{"w1":3}}`),
		mustDecode(t, `{"type":"gcounter","counts":{"w1":2,"w2":5}}`), // w1's older total
		mustDecode(t, `{"type":"gcounter","counts":{"w1":4}}`),
	).(*GCounter)
	if n, err := g.Total(); n != 9 || err != nil {
		t.Fatalf("gcounter total = %d, %v; want 9", n, err)
	}
	p := mergeAll(t,
		mustDecode(t, `{"type":"pncounter","inc":{"w1":5}}`),
		mustDecode(t, `{"type":"pncounter","dec":{"w2":7}}`),
		mustDecode(t, `{"type":"pncounter","inc":{"w1":6},"dec":{"w1":1}}`),
	).(*PNCounter)
	if n, err := p.Total(); n != -2 || err != nil {
		t.Fatalf("pncounter total = %d, %v; want 6-8 = -2", n, err)
	}
	if want := `{"type":"pncounter","inc":{"w1":6},"dec":{"w1":1,"w2":7}}`; enc(p) != want {
		t.Fatalf("got %s want %s", enc(p), want)
	}

	// Two counters that each fit can merge into one whose total does not:
	// the merge and its encoding stay valid, and Total says ErrOverflow.
	big := mustDecode(t, `{"type":"gcounter","counts":{"a":9223372036854775807}}`)
	one := mustDecode(t, `{"type":"gcounter","counts":{"b":1}}`)
	sum, _ := mustMerge(t, big, one)
	if _, err := sum.(*GCounter).Total(); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Total of an overflowing counter: %v", err)
	}
	checkCanonical(t, sum)
	pn := NewPNCounter(map[string]int64{"a": math.MaxInt64}, map[string]int64{"a": math.MaxInt64, "b": 1})
	if _, err := pn.Total(); !errors.Is(err, ErrOverflow) {
		t.Fatalf("PNCounter.Total with an overflowing dec: %v", err)
	}
	if n, err := NewPNCounter(nil, map[string]int64{"a": math.MaxInt64}).Total(); n != -math.MaxInt64 || err != nil {
		t.Fatalf("PNCounter.Total = %d, %v", n, err)
	}
}

func TestLWWTieBreak(t *testing.T) {
	reg := func(value string, ts int64, writer string) Value {
		l, err := NewLWW([]byte(value), ts, writer)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, tc := range []struct {
		name string
		a, b Value
		want string
	}{
		{"larger ts wins", reg(`"old"`, 1, "z"), reg(`"new"`, 2, "a"), `"new"`},
		{"same ts: larger writer wins", reg(`"from a"`, 5, "a"), reg(`"from b"`, 5, "b"), `"from b"`},
		{"same ts and writer: larger canonical value wins", reg(`{"v":1}`, 5, "a"), reg(`{"v":2}`, 5, "a"), `{"v":2}`},
		{"spelling does not matter", reg(`{ "b":1, "a":2.0 }`, 5, "a"), reg(`{"a":2,"b":1}`, 5, "a"), `{"a":2,"b":1}`},
		{"negative ts", reg(`1`, -5, "a"), reg(`2`, -6, "z"), `1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ab, _ := mustMerge(t, tc.a, tc.b)
			ba, _ := mustMerge(t, tc.b, tc.a)
			if got := string(ab.(*LWW).Raw()); got != tc.want {
				t.Fatalf("a ⊔ b holds %s, want %s", got, tc.want)
			}
			sameBytes(t, "b ⊔ a", ba, ab)
		})
	}
}

// TestMapKeyContradiction: a type conflict at one key contradicts that key
// only; the other keys merge as usual, and the map keeps merging.
func TestMapKeyContradiction(t *testing.T) {
	a := mustDecode(t, `{"type":"map","entries":{"t":{"type":"max","value":1},"r":{"type":"range","min":1,"max":2}}}`)
	b := mustDecode(t, `{"type":"map","entries":{"t":{"type":"number","value":3},"r":{"type":"range","min":0,"max":1}}}`)
	m, changed := mustMerge(t, a, b)
	const want = `{"type":"map","entries":{"r":{"type":"range","min":0,"max":2},` +
		`"t":{"type":"contradiction","reason":"type conflict: max vs number","values":[{"type":"max","value":1},{"type":"number","value":3}]}}}`
	if !changed || enc(m) != want {
		t.Fatalf("got %s (changed=%v)\nwant %s", enc(m), changed, want)
	}
	if !IsContradiction(m.(*Map).Get("t")) || IsContradiction(m.(*Map).Get("r")) || !IsNothing(m.(*Map).Get("absent")) {
		t.Fatal("Get: wrong values")
	}
	// More information for the contradicting key adds evidence to it.
	m2, _ := mustMerge(t, m, mustDecode(t, `{"type":"map","entries":{"t":{"type":"max","value":9}}}`))
	if !strings.Contains(enc(m2), `{"type":"max","value":9}`) || strings.Contains(enc(m2), `{"type":"max","value":1}`) {
		t.Fatalf("evidence should hold max 9: %s", enc(m2))
	}
	// At the top, Merge refuses two types instead.
	if _, _, err := Merge(mustDecode(t, `{"type":"max","value":1}`), a); !errors.Is(err, ErrTypeMismatch) {
		t.Fatalf("Merge(max, map): %v", err)
	}
}

func TestIntervalContradiction(t *testing.T) {
	a := mustDecode(t, `{"type":"interval","lo":1,"hi":5}`)
	b := mustDecode(t, `{"type":"interval","lo":7}`)
	c, changed := mustMerge(t, a, b)
	const want = `{"type":"contradiction","reason":"interval: lo 7 > hi 5, no number lies in both","values":[{"type":"interval","lo":7,"hi":5}]}`
	if !changed || enc(c) != want {
		t.Fatalf("got %s\nwant %s", enc(c), want)
	}
	// Narrowing further keeps the tightest bounds as evidence.
	c2, _ := mustMerge(t, c, mustDecode(t, `{"type":"interval","lo":0,"hi":3}`))
	if !strings.Contains(enc(c2), `lo 7 > hi 3`) {
		t.Fatalf("got %s", enc(c2))
	}
	// Overlapping intervals intersect.
	iv, _ := mustMerge(t, a, mustDecode(t, `{"type":"interval","lo":3}`))
	if enc(iv) != `{"type":"interval","lo":3,"hi":5}` || !iv.(Interval).Contains(4) || iv.(Interval).Contains(6) {
		t.Fatalf("got %s", enc(iv))
	}
}

func TestNumberContradiction(t *testing.T) {
	c, _ := mustMerge(t, mustDecode(t, `{"type":"number","value":3.5}`), mustDecode(t, `{"type":"number","value":-4}`))
	const want = `{"type":"contradiction","reason":"number: -4 ≠ 3.5","values":[{"type":"number","value":-4},{"type":"number","value":3.5}]}`
	if enc(c) != want {
		t.Fatalf("got %s\nwant %s", enc(c), want)
	}
	// A third number joins the evidence; the same number again adds nothing.
	c3, changed := mustMerge(t, c, Number{10})
	if !changed || !strings.Contains(c3.(*Contradiction).Reason(), "-4 ≠ 3.5 ≠ 10") {
		t.Fatalf("got %s", enc(c3))
	}
	if _, changed := mustMerge(t, c3, Number{3.5}); changed {
		t.Fatal("a number already in the evidence changed the contradiction")
	}
	// Equal numbers agree.
	if v, changed := mustMerge(t, Number{2}, Number{2}); changed || enc(v) != `{"type":"number","value":2}` {
		t.Fatalf("got %s", enc(v))
	}
}

// TestContradictionEvidence: merging into a contradiction only adds
// evidence; numbers are capped at the 16 smallest; from is kept.
func TestContradictionEvidence(t *testing.T) {
	var c Value = NewContradiction([]string{"cell.b", "cell.a", "cell.b"})
	if got := c.(*Contradiction).From(); !slices.Equal(got, []string{"cell.a", "cell.b"}) {
		t.Fatalf("From = %v", got)
	}
	for i := 40; i > 0; i-- {
		c, _ = mustMerge(t, c, Number{float64(i)})
	}
	cc := c.(*Contradiction)
	var ns []float64
	for _, v := range cc.Values() {
		ns = append(ns, v.(Number).Value)
	}
	if len(ns) != maxEvidence || ns[0] != 1 || ns[maxEvidence-1] != maxEvidence {
		t.Fatalf("evidence should be the 16 smallest numbers: %v", ns)
	}
	// Evidence of any other type is joined by type.
	c, _ = mustMerge(t, c, Max{3})
	c, _ = mustMerge(t, c, Max{5})
	c, _ = mustMerge(t, c, Max{4})
	if e := enc(c); !strings.Contains(e, `{"type":"max","value":5}`) || strings.Contains(e, `{"type":"max","value":4}`) {
		t.Fatalf("max evidence should be 5: %s", enc(c))
	}
	if want := "type conflict: max vs number; number: 1 ≠ 2 ≠ 3 ≠ 4 ≠ 5 ≠ 6 ≠ 7 ≠ 8 ≠ 9 ≠ 10 ≠ 11 ≠ 12 ≠ 13 ≠ 14 ≠ 15 ≠ 16; derived from contradiction in cell.a, cell.b"; c.(*Contradiction).Reason() != want {
		t.Fatalf("Reason = %q", c.(*Contradiction).Reason())
	}
	// Nothing and itself add nothing.
	for _, v := range []Value{Nothing{}, c, nil} {
		if _, changed := mustMerge(t, c, v); changed {
			t.Fatalf("merging %v changed the contradiction", v)
		}
	}
	// A value of the contradiction's own kind is absorbed, not refused.
	if _, _, err := Merge(Range{1, 2}, c); err != nil {
		t.Fatalf("Merge(range, contradiction): %v", err)
	}
}

// TestDecodeDoesNotAlias: a decoded value keeps no reference to its input,
// so a caller may reuse the buffer.
func TestDecodeDoesNotAlias(t *testing.T) {
	for _, w := range wireForms {
		in := []byte(w.wire)
		v, err := Decode(in)
		if err != nil {
			t.Fatalf("%s: %v", w.wire, err)
		}
		before := Encode(v)
		for i := range in {
			in[i] = 'X'
		}
		if after := Encode(v); !bytes.Equal(before, after) {
			t.Fatalf("%s: value changed with its input:\n%s\n%s", w.name, before, after)
		}
	}
}

// TestMergeMayOutgrowLimits pins down what docs/lattices.md says: limits
// bound updates, not states. A type conflict deep in a map wraps the key in
// a contradiction two levels deeper; the result is valid and decodes under
// larger limits, but not under the limits its inputs met.
func TestMergeMayOutgrowLimits(t *testing.T) {
	a := mustDecode(t, nestMaps(15)) // 31 levels: within MaxDepth
	b := mustDecode(t, strings.Replace(nestMaps(15), `{"type":"max","value":1}`, `{"type":"min","value":1}`, 1))
	m, _ := mustMerge(t, a, b)
	if _, err := Decode(Encode(m)); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("expected the merge to exceed MaxDepth, got %v", err)
	}
	w, err := Limits{MaxDepth: DefaultLimits.MaxDepth + 2}.Decode(Encode(m))
	if err != nil || !Equal(w, m) {
		t.Fatalf("with two more levels: %v", err)
	}
}
