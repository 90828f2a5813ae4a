package cellname

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The Index finds what trying every pattern with Match finds, as patterns
// come and go; emptied branches are pruned.
func TestIndexAgreesWithMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tokens := []string{"a", "b", "c"}
	randName := func(wild bool) string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = tokens[rng.IntN(len(tokens))]
			if wild && rng.IntN(4) == 0 {
				parts[i] = "*"
			}
		}
		if wild && rng.IntN(4) == 0 {
			parts[n-1] = ">"
		}
		return strings.Join(parts, ".")
	}
	type entry struct {
		pattern string
		id      int
	}
	var x Index[int]
	var live []entry
	for step := range 3000 {
		if len(live) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(live))
			if !x.Remove(live[i].pattern, live[i].id) {
				t.Fatalf("step %d: Remove(%q, %d) found nothing", step, live[i].pattern, live[i].id)
			}
			live = slices.Delete(live, i, i+1)
		} else {
			e := entry{randName(true), step}
			x.Add(e.pattern, e.id)
			live = append(live, e)
		}
		if x.Len() != len(live) {
			t.Fatalf("step %d: Len %d, want %d", step, x.Len(), len(live))
		}
		cell := randName(false)
		var got, want []int
		x.Match(cell, func(id int) { got = append(got, id) })
		for _, e := range live {
			if Match(e.pattern, cell) {
				want = append(want, e.id)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("step %d: Match(%q) = %v, want %v (patterns %v)", step, cell, got, want, live)
		}
	}
	for _, e := range live {
		x.Remove(e.pattern, e.id)
	}
	if !x.root.empty() || x.Len() != 0 {
		t.Errorf("emptied index keeps %+v, Len %d", x.root, x.Len())
	}
	if x.Remove("a.b", 1) || x.Remove(">", 1) || x.Remove("*.c", 1) {
		t.Error("Remove from an empty index found something")
	}
}

// BenchmarkIndexMatch measures finding the patterns matching a cell among
// many that do not, against trying each with Match.
func BenchmarkIndexMatch(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		var x Index[int]
		patterns := make([]string, n)
		for i := range patterns {
			patterns[i] = fmt.Sprintf("sensors.s%d.*", i)
			x.Add(patterns[i], i)
		}
		cell := "sensors.s1.temp"
		b.Run(fmt.Sprintf("index/patterns=%d", n), func(b *testing.B) {
			for b.Loop() {
				x.Match(cell, func(int) {})
			}
		})
		b.Run(fmt.Sprintf("each/patterns=%d", n), func(b *testing.B) {
			for b.Loop() {
				for _, p := range patterns {
					Match(p, cell)
				}
			}
		})
	}
}
