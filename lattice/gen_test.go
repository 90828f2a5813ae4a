package lattice

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// This file holds the rapid generators of lattice values used by the law,
// fold and reference tests. They draw from small domains (a few numbers,
// writers, keys and elements) so that the values of one test case overlap
// and their merges interact instead of being disjoint.

// family draws n related values of one lattice type (or of several, for the
// mixed families).
type family struct {
	name string
	draw func(t *rapid.T, n int) []Value
}

// independent makes a family whose values are drawn one by one from g.
func independent(name string, g *rapid.Generator[Value]) family {
	return family{name, func(t *rapid.T, n int) []Value {
		vs := make([]Value, n)
		for i := range vs {
			vs[i] = g.Draw(t, name+strconv.Itoa(i))
		}
		return vs
	}}
}

// families lists a family per type, plus the mixed ones.
func families() []family {
	return []family{
		independent("nothing", rapid.Just[Value](Nothing{})),
		independent("contradiction", genContradiction(2)),
		independent("number", genNumber()),
		independent("max", genMax()),
		independent("min", genMin()),
		independent("interval", genInterval()),
		independent("range", genRange()),
		independent("flag", genFlag()),
		independent("set", genSet()),
		independent("gcounter", genGCounter()),
		independent("pncounter", genPNCounter()),
		independent("lww", genLWW()),
		{"orset", drawORSets},
		independent("map", genMap(2)),
		independent("supported", genSupported()),
		independent("mixed", genAny(2)),
	}
}

// smallFloats is the shared numeric domain: few enough values that two
// draws often agree, with -0, extremes of the canonical number format and
// numbers that are not exact in binary.
var smallFloats = []float64{-7, -1.5, 0, math.Copysign(0, -1), 0.1, 1, 2, 2.5, 3, 10, 1e21, 1e-7, 123456.789}

// genFloat mostly draws from smallFloats, sometimes any finite float64.
func genFloat() *rapid.Generator[float64] {
	return rapid.Custom(func(t *rapid.T) float64 {
		if rapid.IntRange(0, 7).Draw(t, "anyFloat") == 0 {
			return rapid.Float64().Draw(t, "f")
		}
		return rapid.SampledFrom(smallFloats).Draw(t, "f")
	})
}

func genNumber() *rapid.Generator[Value] {
	return rapid.Custom(func(t *rapid.T) Value { return Number{genFloat().Draw(t, "value")} })
}

func genMax() *rapid.Generator[Value] {
	return rapid.Custom(func(t *rapid.T) Value { return Max{genFloat().Draw(t, "value")} })
}

func genMin() *rapid.Generator[Value] {
	return rapid.Custom(func(t *rapid.T) Value { return Min{genFloat().Draw(t, "value")} })
}

func genFlag() *rapid.Generator[Value] {
	return rapid.Custom(func(t *rapid.T) Value { return Flag{rapid.Bool().Draw(t, "value")} })
}

// genInterval draws intervals with lo <= hi; either bound may be unbounded.
func genInterval() *rapid.Generator[Value] {
	return rapid.Custom(func(t *rapid.T) Value {
		lo, hi := genFloat().Draw(t, "lo"), genFloat().Draw(t, "hi")
		if lo > hi {
			lo, hi = hi, lo
		}
		if rapid.IntRange(0, 3).Draw(t, "noLo") == 0 {
			lo = math.Inf(-1)
		}
		if rapid.IntRange(0, 3).Draw(t, "noHi") == 0 {
			hi = math.Inf(1)
		}
		return Interval{lo, hi}
	})
}

func genRange() *rapid.Generator[Value] {
	return rapid.Custom(func(t *rapid.T) Value {
		lo, hi := genFloat().Draw(t, "min"), genFloat().Draw(t, "max")
		if lo > hi {
			lo, hi = hi, lo
		}
		return Range{lo, hi}
	})
}

// smallStrings is the shared domain of set elements, map keys and strings in
// JSON: the empty string, escapes, non-ASCII and a string that looks like a
// number.
var smallStrings = []string{"", "a", "b", "c", "1", "é", "日本", "q\"uote", "back\\slash", "tab\t", "\x01", "😀", "</script>"}

func genElem() *rapid.Generator[Elem] {
	return rapid.Custom(func(t *rapid.T) Elem {
		if rapid.Bool().Draw(t, "isStr") {
			return Str(rapid.SampledFrom(smallStrings).Draw(t, "str"))
		}
		return Num(genFloat().Draw(t, "num"))
	})
}

func genSet() *rapid.Generator[Value] {
	return rapid.Custom(func(t *rapid.T) Value {
		return NewSet(rapid.SliceOfN(genElem(), 0, 6).Draw(t, "elems")...)
	})
}

var writers = []string{"w1", "w2", "w3", "", "wé"}

// genCount draws a small count, sometimes one near 2^63-1 so that totals
// overflow.
func genCount() *rapid.Generator[int64] {
	return rapid.Custom(func(t *rapid.T) int64 {
		if rapid.IntRange(0, 15).Draw(t, "huge") == 0 {
			return rapid.SampledFrom([]int64{math.MaxInt64, math.MaxInt64 - 1, 1 << 62}).Draw(t, "n")
		}
		return rapid.Int64Range(0, 5).Draw(t, "n")
	})
}

func genCounts() *rapid.Generator[map[string]int64] {
	return rapid.MapOfN(rapid.SampledFrom(writers), genCount(), 0, 4)
}

func genGCounter() *rapid.Generator[Value] {
	return rapid.Custom(func(t *rapid.T) Value { return NewGCounter(genCounts().Draw(t, "counts")) })
}

func genPNCounter() *rapid.Generator[Value] {
	return rapid.Custom(func(t *rapid.T) Value {
		return NewPNCounter(genCounts().Draw(t, "inc"), genCounts().Draw(t, "dec"))
	})
}

// genLWW draws registers with few timestamps and writers, so that ties on
// (ts, writer) are common and the value decides.
func genLWW() *rapid.Generator[Value] {
	return rapid.Custom(func(t *rapid.T) Value {
		tree := genJSON(3).Draw(t, "value")
		raw := renderJSON(t, tree, true)
		ts := rapid.SampledFrom([]int64{0, 1, 2, -1, math.MaxInt64, math.MinInt64}).Draw(t, "ts")
		l, err := NewLWW(raw, ts, rapid.SampledFrom([]string{"", "a", "b"}).Draw(t, "writer"))
		if err != nil {
			t.Fatalf("NewLWW(%s): %v", raw, err)
		}
		return l
	})
}

// genJSON draws an arbitrary JSON value as a Go tree: nil, bool, float64,
// string, []any or jsonObject, nested at most depth levels.
func genJSON(depth int) *rapid.Generator[any] {
	leaf := rapid.OneOf(
		rapid.Just[any](nil),
		rapid.Bool().AsAny(),
		rapid.Custom(func(t *rapid.T) any {
			if rapid.Bool().Draw(t, "int") {
				return float64(rapid.Int64Range(-1e15, 1e15).Draw(t, "i"))
			}
			return genFloat().Draw(t, "f")
		}),
		rapid.SampledFrom(smallStrings).AsAny(),
	)
	if depth == 0 {
		return leaf
	}
	return rapid.OneOf(leaf, leaf,
		rapid.Custom(func(t *rapid.T) any {
			return rapid.SliceOfN(genJSON(depth-1), 0, 3).Draw(t, "arr")
		}),
		rapid.Custom(func(t *rapid.T) any {
			keys := rapid.SliceOfNDistinct(rapid.SampledFrom(smallStrings), 0, 3, rapid.ID[string]).Draw(t, "keys")
			o := make(jsonObject, len(keys))
			for _, k := range keys {
				o[k] = genJSON(depth-1).Draw(t, "val")
			}
			return o
		}),
	)
}

type jsonObject map[string]any

// renderJSON writes a JSON tree in a randomly chosen spelling: whitespace,
// key order, escapes and, when respell is true, the spelling of numbers vary.
// Every spelling means the same JSON value.
func renderJSON(t *rapid.T, v any, respell bool) []byte {
	var b []byte
	ws := func() {
		b = append(b, rapid.SampledFrom([]string{"", "", " ", "\n\t", "\r\n  "}).Draw(t, "ws")...)
	}
	var rec func(v any)
	rec = func(v any) {
		ws()
		switch x := v.(type) {
		case nil:
			b = append(b, "null"...)
		case bool:
			b = strconv.AppendBool(b, x)
		case float64:
			b = append(b, spellFloat(t, x, respell)...)
		case json.Number:
			b = append(b, x...)
		case string:
			b = spellString(t, b, x)
		case []any:
			b = append(b, '[')
			for i, e := range x {
				if i > 0 {
					b = append(b, ',')
				}
				rec(e)
			}
			ws()
			b = append(b, ']')
		case jsonObject:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			keys = rapid.Permutation(keys).Draw(t, "order")
			b = append(b, '{')
			for i, k := range keys {
				if i > 0 {
					b = append(b, ',')
				}
				ws()
				b = spellString(t, b, k)
				ws()
				b = append(b, ':')
				rec(x[k])
			}
			ws()
			b = append(b, '}')
		default:
			t.Fatalf("renderJSON: unexpected %T", v)
		}
		ws()
	}
	rec(v)
	return b
}

// spellFloat writes f in one of several JSON spellings of the same number.
func spellFloat(t *rapid.T, f float64, respell bool) string {
	if !respell {
		return string(appendFloat(nil, f))
	}
	spellings := []string{
		strconv.FormatFloat(f, 'g', -1, 64),
		strconv.FormatFloat(f, 'e', -1, 64),
		strings.ToUpper(strconv.FormatFloat(f, 'e', -1, 64)),
		strconv.FormatFloat(f, 'e', 20, 64), // more digits than needed
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		spellings = append(spellings, strconv.FormatFloat(f, 'f', -1, 64), strconv.FormatFloat(f, 'f', 1, 64))
	}
	s := rapid.SampledFrom(spellings).Draw(t, "spelling")
	// Go writes exponents as e+07; JSON also allows e7 and e07.
	return strings.Replace(s, "e+0", "e", 1)
}

// spellString writes s as a JSON string, escaping characters at random.
func spellString(t *rapid.T, b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20 || rapid.IntRange(0, 5).Draw(t, "escape") == 0:
			if r == '/' {
				b = append(b, '\\', '/')
				continue
			}
			if r > 0xffff {
				r1, r2 := surrogates(r)
				b = appendU(appendU(b, r1), r2)
				continue
			}
			b = appendU(b, r)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

func appendU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

func surrogates(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + r>>10&0x3ff, 0xdc00 + r&0x3ff
}

// drawORSets draws n states of one add-wins set from a single history, so
// that they share writers and dots as replicas of one cell do: some states
// are replicas after random adds, removes and syncs, some are the deltas
// those operations published. Sometimes a state is instead a raw random
// state, which need not come from any history but is still valid input.
func drawORSets(t *rapid.T, n int) []Value {
	h := runORHistory(t, rapid.IntRange(0, 12).Draw(t, "ops"))
	out := make([]Value, n)
	for i := range out {
		if rapid.IntRange(0, 4).Draw(t, "raw") == 0 {
			out[i] = genRawORSet().Draw(t, "rawState")
			continue
		}
		out[i] = rapid.SampledFrom(h.states).Draw(t, "state")
	}
	return out
}

// orHistory is a run of an add-wins set over three replicas: one writer per
// replica, adds and removes applied locally and published as deltas, and
// syncs that merge one replica into another.
type orHistory struct {
	replicas [3]*ORSet
	deltas   []*ORSet
	states   []*ORSet // every replica state and delta seen, starting empty
}

func runORHistory(t *rapid.T, ops int) *orHistory {
	h := &orHistory{}
	for i := range h.replicas {
		h.replicas[i] = &ORSet{}
	}
	h.states = append(h.states, &ORSet{})
	for range ops {
		r := rapid.IntRange(0, 2).Draw(t, "replica")
		cur := h.replicas[r]
		var d *ORSet
		switch rapid.IntRange(0, 2).Draw(t, "op") {
		case 0:
			d = cur.AddDelta(writers[r], genElem().Draw(t, "add"))
		case 1:
			es := cur.Elems()
			if len(es) == 0 {
				continue
			}
			d = cur.RemoveDelta(rapid.SampledFrom(es).Draw(t, "remove"))
		default:
			d = h.replicas[rapid.IntRange(0, 2).Draw(t, "from")]
		}
		v, _, err := Merge(cur, d)
		if err != nil {
			t.Fatal(err)
		}
		h.replicas[r] = v.(*ORSet)
		h.deltas = append(h.deltas, d)
		h.states = append(h.states, d, h.replicas[r])
	}
	return h
}

// genRawORSet draws a state directly in the wire form: entries with random
// dots (a dot may even be shared by two elements, which no history makes but
// Decode accepts), a random context and cloud.
func genRawORSet() *rapid.Generator[Value] {
	dot := rapid.Custom(func(t *rapid.T) []any {
		return []any{rapid.SampledFrom(writers[:3]).Draw(t, "w"), json.Number(strconv.Itoa(rapid.IntRange(1, 4).Draw(t, "n")))}
	})
	return rapid.Custom(func(t *rapid.T) Value {
		var entries []any
		for _, e := range rapid.SliceOfN(genElem(), 0, 3).Draw(t, "elems") {
			var ej any = e.String()
			if !e.IsString() {
				ej = json.Number(e.String())
			}
			dots := rapid.SliceOfN(dot, 1, 3).Draw(t, "dots")
			ds := make([]any, len(dots))
			for i := range dots {
				ds[i] = dots[i]
			}
			entries = append(entries, jsonObject{"elem": ej, "dots": ds})
		}
		ctx := jsonObject{}
		for w, n := range rapid.MapOfN(rapid.SampledFrom(writers[:3]), rapid.IntRange(0, 3), 0, 3).Draw(t, "context") {
			ctx[w] = json.Number(strconv.Itoa(n))
		}
		var cloud []any
		for _, d := range rapid.SliceOfN(dot, 0, 3).Draw(t, "cloud") {
			cloud = append(cloud, d)
		}
		o := jsonObject{"type": "orset", "elems": orNil(entries), "context": ctx, "cloud": orNil(cloud)}
		raw := renderJSON(t, o, false)
		v, err := Decode(raw)
		if err != nil {
			t.Fatalf("raw orset %s: %v", raw, err)
		}
		return v
	})
}

func orNil(xs []any) []any {
	if xs == nil {
		return []any{}
	}
	return xs
}

// genContradiction draws contradictions as they arise: conflicting numbers,
// disjoint intervals, two types at one map key, propagators' contradictions
// with "from", and merges of these.
func genContradiction(depth int) *rapid.Generator[Value] {
	return rapid.Custom(func(t *rapid.T) Value {
		var c Value
		switch rapid.IntRange(0, 4).Draw(t, "how") {
		case 0: // two numbers
			a, b := genNumber().Draw(t, "a"), genNumber().Draw(t, "b")
			c, _ = merge(a, b)
		case 1: // two intervals
			a, b := genInterval().Draw(t, "a"), genInterval().Draw(t, "b")
			c, _ = merge(a, b)
		case 2: // a type conflict
			a, b := genSmall(depth).Draw(t, "a"), genSmall(depth).Draw(t, "b")
			c, _ = merge(a, b)
		case 3: // a propagator's
			from := rapid.SliceOfN(rapid.SampledFrom([]string{"cell.a", "cell.b", "x"}), 1, 2).Draw(t, "from")
			c = NewContradiction(from, rapid.SliceOfN(genSmall(depth), 0, 2).Draw(t, "values")...)
		default: // many numbers, past the evidence cap
			ns := rapid.SliceOfN(genNumber(), 2, 20).Draw(t, "numbers")
			c = NewContradiction(nil, ns...)
		}
		if cc, ok := c.(*Contradiction); !ok || !cc.contradicts() {
			// Equal numbers, overlapping intervals, one type: no
			// disagreement (NewContradiction can build one that lists
			// none, which Decode refuses). Make it one.
			c, _ = merge(c, NewContradiction([]string{"forced"}))
		}
		return c
	})
}

// genSmall draws a value of one of a few types, for map entries and type
// conflicts: the pool is small so that two draws often have the same type.
func genSmall(depth int) *rapid.Generator[Value] {
	gens := []*rapid.Generator[Value]{genMax(), genRange(), genNumber(), genInterval(), genSet(), genFlag()}
	if depth > 0 {
		gens = append(gens, genMap(depth-1))
	}
	return rapid.OneOf(gens...)
}

// genMap draws maps over a few keys; values are small values, nested maps,
// Nothing (dropped), sometimes a contradiction or a register.
func genMap(depth int) *rapid.Generator[Value] {
	return rapid.Custom(func(t *rapid.T) Value {
		keys := rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"a", "b", "c", "", "x.y"}), 0, 3, rapid.ID[string]).Draw(t, "keys")
		es := make(map[string]Value, len(keys))
		for _, k := range keys {
			var v Value
			switch rapid.IntRange(0, 9).Draw(t, "kind") {
			case 0:
				v = Nothing{}
			case 1:
				v = genContradiction(0).Draw(t, "contradiction")
			case 2:
				v = genLWW().Draw(t, "lww")
			default:
				v = genSmall(depth).Draw(t, "value")
			}
			es[k] = v
		}
		return NewMap(es)
	})
}

// genAny draws a value of any type, for the mixed laws.
func genAny(depth int) *rapid.Generator[Value] {
	return rapid.OneOf(
		rapid.Just[Value](Nothing{}),
		genContradiction(depth),
		genNumber(), genMax(), genMin(), genInterval(), genRange(), genFlag(),
		genSet(), genGCounter(), genPNCounter(), genLWW(), genRawORSet(),
		genMap(depth), genSupported(),
	)
}

// genSupported draws supported values over a few premises: mostly claims
// of intervals (whose joins narrow and contradict), sometimes of maxima, so
// that two draws sometimes disagree on the inner type.
func genSupported() *rapid.Generator[Value] {
	return rapid.Custom(func(t *rapid.T) Value {
		inner := genInterval()
		if rapid.IntRange(0, 4).Draw(t, "maxInner") == 0 {
			inner = genMax()
		}
		n := rapid.IntRange(0, 4).Draw(t, "claims")
		claims := make([]Claim, n)
		for i := range claims {
			claims[i] = Claim{
				Value:    inner.Draw(t, "value"),
				Premises: rapid.SliceOfN(rapid.SampledFrom([]string{"a", "b", "c", "fall-time", "x:y.z"}), 0, 3).Draw(t, "premises"),
			}
		}
		s, err := NewSupported(claims...)
		if err != nil {
			t.Fatalf("NewSupported: %v", err)
		}
		return s
	})
}
