package lattice

import (
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// Dumb reference implementations: the obvious, slow, unoptimized version of
// a type, written without looking at the real one's tricks (sorted slices,
// shared memory, compacted causal contexts). Rapid checks that the real type
// agrees with its reference after any sequence of operations.

// elemKey names an element in a reference: numbers and strings apart.
func elemKey(e Elem) string {
	if e.IsString() {
		return "s:" + e.String()
	}
	return "n:" + e.String()
}

// refSet is a grow-only set as a Go map.
type refSet map[string]Elem

func (r refSet) union(o refSet) {
	for k, e := range o {
		r[k] = e
	}
}

// sorted lists the elements in the documented order: numbers ascending,
// then strings by bytes.
func (r refSet) sorted() []Elem {
	var nums []float64
	var strs []string
	for _, e := range r {
		if e.IsString() {
			strs = append(strs, e.String())
		} else {
			nums = append(nums, e.Float())
		}
	}
	slices.Sort(nums)
	slices.Sort(strs)
	var out []Elem
	for _, n := range nums {
		out = append(out, Num(n))
	}
	for _, s := range strs {
		out = append(out, Str(s))
	}
	return out
}

func TestSetAgreesWithReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ref := refSet{}
		var real Value = Nothing{}
		for i := range rapid.IntRange(1, 8).Draw(t, "updates") {
			es := rapid.SliceOfN(genElem(), 0, 5).Draw(t, fmt.Sprint("elems", i))
			upd := refSet{}
			for _, e := range es {
				upd[elemKey(e)] = e
			}
			subset := true
			for k := range upd {
				if _, ok := ref[k]; !ok {
					subset = false
				}
			}
			ref.union(upd)
			var changed bool
			real, changed = mustMerge(t, real, NewSet(es...))
			s := real.(*Set)
			if got, want := elemStrings(s.Elems()), elemStrings(ref.sorted()); got != want {
				t.Fatalf("set %s, reference %s", got, want)
			}
			if s.Len() != len(ref) {
				t.Fatalf("Len %d, reference %d", s.Len(), len(ref))
			}
			if changed == subset && i > 0 {
				t.Fatalf("changed=%v but the update was a subset: %v", changed, subset)
			}
			for _, e := range es {
				if !s.Has(e) {
					t.Fatalf("Has(%v) false after adding it", e)
				}
			}
			if probe := genElem().Draw(t, "probe"); s.Has(probe) != hasKey(ref, probe) {
				t.Fatalf("Has(%v) = %v", probe, s.Has(probe))
			}
			if !Leq(NewSet(es...), real) {
				t.Fatal("an update is not below the set it was merged into")
			}
		}
	})
}

func hasKey(r refSet, e Elem) bool { _, ok := r[elemKey(e)]; return ok }

// refCounter is a grow-only counter as a map of writer to its largest count,
// with a total in arbitrary precision.
type refCounter map[string]int64

func (r refCounter) join(o map[string]int64) {
	for w, n := range o {
		r[w] = max(r[w], n)
	}
}

func (r refCounter) total() *big.Int {
	t := new(big.Int)
	for _, n := range r {
		t.Add(t, big.NewInt(n))
	}
	return t
}

func (r refCounter) String() string {
	var ws []string
	for w, n := range r {
		if n > 0 {
			ws = append(ws, fmt.Sprintf("%q:%d", w, n))
		}
	}
	slices.Sort(ws)
	return "{" + strings.Join(ws, ",") + "}"
}

func countsString(cs []Count) string {
	var ws []string
	for _, c := range cs {
		ws = append(ws, fmt.Sprintf("%q:%d", c.Writer, c.N))
	}
	return "{" + strings.Join(ws, ",") + "}"
}

func checkTotal(t *rapid.T, what string, got int64, err error, want *big.Int) {
	if want.IsInt64() {
		if err != nil || got != want.Int64() {
			t.Fatalf("%s total = %d, %v; reference %s", what, got, err, want)
		}
	} else if err == nil {
		t.Fatalf("%s total = %d, reference %s overflows", what, got, want)
	}
}

func TestCountersAgreeWithReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		inc, dec := refCounter{}, refCounter{}
		var g, p Value = Nothing{}, Nothing{}
		for i := range rapid.IntRange(1, 8).Draw(t, "updates") {
			ci := genCounts().Draw(t, fmt.Sprint("inc", i))
			cd := genCounts().Draw(t, fmt.Sprint("dec", i))
			inc.join(ci)
			dec.join(cd)
			g, _ = mustMerge(t, g, NewGCounter(ci))
			p, _ = mustMerge(t, p, NewPNCounter(ci, cd))

			gc := g.(*GCounter)
			if got, want := countsString(gc.Counts()), inc.String(); got != want {
				t.Fatalf("gcounter %s, reference %s", got, want)
			}
			n, err := gc.Total()
			checkTotal(t, "gcounter", n, err, inc.total())

			pc := p.(*PNCounter)
			if got, want := countsString(pc.Inc())+countsString(pc.Dec()), inc.String()+dec.String(); got != want {
				t.Fatalf("pncounter %s, reference %s", got, want)
			}
			n, err = pc.Total()
			if inc.total().IsInt64() && dec.total().IsInt64() {
				checkTotal(t, "pncounter", n, err, new(big.Int).Sub(inc.total(), dec.total()))
			} else if err == nil {
				t.Fatalf("pncounter total %d: a side overflows", n)
			}
			if !Leq(NewGCounter(ci), g) {
				t.Fatal("an update is not below the counter it was merged into")
			}
		}
	})
}

// refORSet is the textbook observed-remove set: every add ever seen, as
// (dot, element), and every dot ever removed (tombstones). An element is
// present while one of its adds is not removed. It keeps all history; the
// real ORSet keeps only the live dots and a compact causal context.
type refORSet struct {
	adds    map[Dot]Elem
	removed map[Dot]bool
}

func newRefORSet() *refORSet { return &refORSet{adds: map[Dot]Elem{}, removed: map[Dot]bool{}} }

func (r *refORSet) merge(o *refORSet) {
	for d, e := range o.adds {
		r.adds[d] = e
	}
	for d := range o.removed {
		r.removed[d] = true
	}
}

// present lists each present element with its live dots, in canonical order.
func (r *refORSet) present() string {
	live := map[string][]Dot{}
	elems := refSet{}
	for d, e := range r.adds {
		if !r.removed[d] {
			live[elemKey(e)] = append(live[elemKey(e)], d)
			elems[elemKey(e)] = e
		}
	}
	var b strings.Builder
	for _, e := range elems.sorted() {
		ds := live[elemKey(e)]
		slices.SortFunc(ds, compareDots)
		fmt.Fprintf(&b, "%s%v ", e.AppendJSON(nil), ds)
	}
	return b.String()
}

func realPresent(s *ORSet) string {
	var b strings.Builder
	for _, e := range s.entries {
		fmt.Fprintf(&b, "%s%v ", e.elem.AppendJSON(nil), e.dots)
	}
	return b.String()
}

// orMessage is an update in flight: the real delta and the reference's.
type orMessage struct {
	real *ORSet
	ref  *refORSet
}

// orModel runs three replicas of one add-wins set, each with its own
// writer, that publish every add and remove as a delta; the network delivers
// deltas late, out of order and more than once, and replicas also sync whole
// states. After every step each replica must agree with its reference.
type orModel struct {
	real    [3]*ORSet
	ref     [3]*refORSet
	counter [3]int64
	sent    []orMessage
}

func (m *orModel) init() {
	for i := range m.real {
		m.real[i] = &ORSet{}
		m.ref[i] = newRefORSet()
	}
}

func (m *orModel) apply(t *rapid.T, r int, msg orMessage) {
	v, _, err := Merge(m.real[r], msg.real)
	if err != nil {
		t.Fatal(err)
	}
	m.real[r] = v.(*ORSet)
	m.ref[r].merge(msg.ref)
}

func (m *orModel) add(t *rapid.T) {
	r := rapid.IntRange(0, 2).Draw(t, "replica")
	e := genElem().Draw(t, "elem")
	w := writers[r]
	m.counter[r]++
	dot := Dot{w, m.counter[r]}
	delta := m.real[r].AddDelta(w, e)
	if len(delta.entries) != 1 || !slices.Equal(delta.entries[0].dots, []Dot{dot}) {
		t.Fatalf("AddDelta(%s) = %s, want dot %v", w, enc(delta), dot)
	}
	ref := newRefORSet()
	ref.adds[dot] = e
	msg := orMessage{delta, ref}
	m.apply(t, r, msg)
	m.sent = append(m.sent, msg)
}

func (m *orModel) remove(t *rapid.T) {
	r := rapid.IntRange(0, 2).Draw(t, "replica")
	var e Elem
	if es := m.real[r].Elems(); len(es) > 0 && rapid.IntRange(0, 4).Draw(t, "absent") > 0 {
		e = rapid.SampledFrom(es).Draw(t, "elem")
	} else {
		e = genElem().Draw(t, "elem")
	}
	ref := newRefORSet()
	for d, x := range m.ref[r].adds {
		if x.Compare(e) == 0 && !m.ref[r].removed[d] {
			ref.removed[d] = true
		}
	}
	msg := orMessage{m.real[r].RemoveDelta(e), ref}
	m.apply(t, r, msg)
	m.sent = append(m.sent, msg)
}

func (m *orModel) deliver(t *rapid.T) {
	if len(m.sent) == 0 {
		t.Skip("nothing sent yet")
	}
	msg := rapid.SampledFrom(m.sent).Draw(t, "message")
	m.apply(t, rapid.IntRange(0, 2).Draw(t, "to"), msg)
}

func (m *orModel) sync(t *rapid.T) {
	from, to := rapid.IntRange(0, 2).Draw(t, "from"), rapid.IntRange(0, 2).Draw(t, "to")
	m.apply(t, to, orMessage{m.real[from], m.ref[from]})
}

func (m *orModel) check(t *rapid.T) {
	for r := range m.real {
		if got, want := realPresent(m.real[r]), m.ref[r].present(); got != want {
			t.Fatalf("replica %d: orset has %s\nreference has %s\n%s", r, got, want, enc(m.real[r]))
		}
		for _, e := range m.real[r].Elems() {
			if !m.real[r].Has(e) {
				t.Fatalf("Has(%v) false for a present element", e)
			}
		}
	}
}

func TestORSetAgreesWithReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &orModel{}
		m.init()
		t.Repeat(map[string]func(*rapid.T){
			"add":     m.add,
			"remove":  m.remove,
			"deliver": m.deliver,
			"sync":    m.sync,
			"":        m.check,
		})
		// Once every delta has reached every replica, they all hold the
		// same bytes (strong eventual consistency).
		for r := range m.real {
			for _, msg := range m.sent {
				m.apply(t, r, msg)
			}
		}
		m.check(t)
		for r := 1; r < len(m.real); r++ {
			if enc(m.real[r]) != enc(m.real[0]) {
				t.Fatalf("replicas differ after all deliveries:\n%s\n%s", enc(m.real[0]), enc(m.real[r]))
			}
		}
	})
}

// TestORSetContextIsCompact: the causal context is a version vector plus
// only the dots that do not extend it, whatever order dots arrive in.
func TestORSetContextIsCompact(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ds := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Dot {
			return Dot{rapid.SampledFrom(writers[:3]).Draw(t, "w"), rapid.Int64Range(1, 6).Draw(t, "n")}
		}), 0, 12).Draw(t, "dots")
		s := newORSet(nil, nil, slices.Clone(ds))
		seen := map[Dot]bool{}
		for _, d := range ds {
			seen[d] = true
		}
		for _, w := range writers[:3] {
			for n := int64(1); n <= 7; n++ {
				if s.seen(Dot{w, n}) != seen[Dot{w, n}] {
					t.Fatalf("seen(%s,%d) = %v for dots %v: %s", w, n, !seen[Dot{w, n}], ds, enc(s))
				}
			}
		}
		for _, c := range s.vv {
			for _, d := range s.cloud {
				if d.Writer == c.Writer && d.N <= c.N+1 {
					t.Fatalf("cloud dot %v could extend the context: %s", d, enc(s))
				}
			}
		}
		for _, d := range s.cloud {
			if d.N == 1 {
				t.Fatalf("cloud dot %v starts a context: %s", d, enc(s))
			}
		}
	})
}
