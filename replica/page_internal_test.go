package replica

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/fold"
)

// coreReplica is a replica with a core and no connection: enough for the
// read methods.
func coreReplica() *Replica {
	return &Replica{core: fold.NewCore("dprop", nil, fold.Limits{}), pend: newPendingSet()}
}

func (r *Replica) addCell(t *testing.T, name string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if res := r.core.ApplyValue(name, 0, lattice.Max{Value: 1}); res.Err != nil {
		t.Fatal(res.Err)
	}
}

// names lists the names of cells.
func names(cells []fold.Cell) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = c.Name
	}
	return out
}

// Walking CellsPage lists exactly what the dumb reference (Cells: copy,
// filter, sort everything) lists, for random names, patterns and page
// sizes, with cells created between pages (which the index must merge,
// and sometimes drop and rebuild).
func TestCellsPageAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tokens := []string{"a", "b", "ab", "a-b", "b_1", "weather", "z9", "A"}
	name := func() string {
		n := 1 + rng.IntN(4)
		s := tokens[rng.IntN(len(tokens))]
		for range n - 1 {
			s += "." + tokens[rng.IntN(len(tokens))]
		}
		return s
	}
	patterns := []string{"", ">", "a.>", "a.*", "*.b", "weather.>", "a.b", "a.*.ab", "A.>", "nothing.>", "a-b.>"}
	for round := range 30 {
		r := coreReplica()
		for range rng.IntN(3000) {
			r.addCell(t, name())
		}
		for _, pattern := range patterns {
			limit := 1 + rng.IntN(50)
			var got []string
			after, pages := "", 0
			for {
				page, more := r.CellsPage(pattern, after, limit)
				if len(page) > limit || (more && len(page) != limit) {
					t.Fatalf("round %d, %q: a page of %d (limit %d, more %v)", round, pattern, len(page), limit, more)
				}
				got = append(got, names(page)...)
				if pages++; !more {
					break
				}
				after = page[len(page)-1].Name
				if rng.IntN(4) == 0 { // a cell created during the walk, after the cursor: it must be listed
					r.addCell(t, after+".zz")
				}
			}
			want := names(r.Cells(pattern))
			if !slices.Equal(got, want) {
				t.Fatalf("round %d, pattern %q, limit %d: walked %d names in %d pages, reference %d\n got %v\nwant %v",
					round, pattern, limit, len(got), pages, len(want), got, want)
			}
		}
	}
}

// Walking CellsPageFunc with a keep function lists exactly the kept cells
// of the reference, whatever the bound on the names passed over: a walk
// stopped by the bound goes on from where it stopped.
func TestCellsPageFuncKeeps(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	r := coreReplica()
	for i := range 2000 {
		r.addCell(t, fmt.Sprintf("%c.c%04d", 'a'+rng.IntN(4), i))
	}
	keeps := map[string]func(string) bool{
		"all":    nil,
		"none":   func(string) bool { return false },
		"b.>":    func(n string) bool { return n[0] == 'b' },
		"sparse": func(n string) bool { return n[len(n)-2:] == "17" },
	}
	for name, keep := range keeps {
		for _, pattern := range []string{"", ">", "b.>", "*.c0017"} {
			for _, skip := range []int{0, 1, 7, 500} {
				limit := 1 + rng.IntN(40)
				var got []string
				after := ""
				for pages := 0; ; pages++ {
					if pages > 10_000 {
						t.Fatalf("%s, %q, skip %d: the walk does not end", name, pattern, skip)
					}
					page, next := r.CellsPageFunc(pattern, after, limit, keep, skip)
					if len(page) > limit {
						t.Fatalf("a page of %d, limit %d", len(page), limit)
					}
					got = append(got, names(page)...)
					if next == "" {
						break
					}
					after = next
				}
				var want []string
				for _, c := range r.Cells(pattern) {
					if keep == nil || keep(c.Name) {
						want = append(want, c.Name)
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("keep %s, pattern %q, skip %d, limit %d:\n got %v\nwant %v", name, pattern, skip, limit, got, want)
				}
			}
		}
	}
}

// The index is dropped when far more cells were created since it was
// built than it holds, and rebuilt by the next listing.
func TestSortedNamesRebuilt(t *testing.T) {
	r := coreReplica()
	r.addCell(t, "first")
	if page, _ := r.CellsPage("", "", 10); len(page) != 1 {
		t.Fatalf("page %v", names(page))
	}
	const n = 10_000 // past the drop threshold
	for i := range n {
		r.addCell(t, fmt.Sprintf("c%05d", i))
	}
	page, more := r.CellsPage("", "c04999", 3)
	if got := names(page); !more || !slices.Equal(got, []string{"c05000", "c05001", "c05002"}) {
		t.Fatalf("page %v, more %v", got, more)
	}
}

func TestLiteralPrefix(t *testing.T) {
	for pattern, want := range map[string]string{
		"": "", ">": "", "*": "", "*.b": "", "a": "a", "a.b": "a.b",
		"a.>": "a.", "a.*": "a.", "a.b.*.c": "a.b.", "a.*.>": "a.",
	} {
		if got := literalPrefix(pattern); got != want {
			t.Errorf("literalPrefix(%q) = %q, want %q", pattern, got, want)
		}
	}
}
