package fold

import (
	"errors"
	"maps"
	"testing"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
)

// A Frozen gives the cells as they were at the freeze, whatever the fold
// does meanwhile: changes, refusals, new cells, forgotten cells; and the
// fold goes on as if there were none.
func TestFrozen(t *testing.T) {
	c := NewCore("dprop", nil, Limits{})
	for i, name := range []string{"a", "b", "c", "d"} {
		apply(c, name, uint64(i+1), `{"type":"max","value":1}`)
	}
	want := map[string]Cell{}
	c.Each(func(cell Cell) bool { want[cell.Name] = cell; return true })

	f, err := c.Freeze()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Freeze(); !errors.Is(err, ErrFrozen) {
		t.Fatalf("a second Freeze: %v", err)
	}
	apply(c, "a", 5, `{"type":"max","value":2}`)     // changed
	apply(c, "a", 6, `{"type":"max","value":3}`)     // changed again
	apply(c, "b", 7, `{"type":"flag","value":true}`) // refused: seen
	apply(c, "e", 8, `{"type":"max","value":1}`)     // new
	c.ApplyMessage(Message{Subject: cellname.NewSubjects("dprop").Forget("c"), Seq: 9})
	apply(c, "c", 10, `{"type":"max","value":7}`) // forgotten, then anew
	if f.LastSeq() != 4 || f.Len() != 4 {
		t.Fatalf("frozen at seq %d with %d cells, want 4 and 4", f.LastSeq(), f.Len())
	}
	got := map[string]Cell{}
	for from := 0; from < f.Len(); from += 3 {
		for _, cell := range f.Cells(nil, from, min(from+3, f.Len())) {
			got[cell.Name] = cell
		}
	}
	if !maps.EqualFunc(got, want, func(a, b Cell) bool {
		return a.ETag == b.ETag && a.Seq == b.Seq && a.Last == b.Last && a.SinceRollup == b.SinceRollup && a.Updates == b.Updates
	}) {
		t.Fatalf("frozen cells:\n%+v\nwant\n%+v", got, want)
	}
	f.Close()
	if a, _ := c.Get("a"); a.Value.(lattice.Max).Value != 3 || c.Len() != 5 {
		t.Fatalf("after the freeze: a = %+v, %d cells", a, c.Len())
	}
	if c.frozen != nil {
		t.Fatal("the core still keeps states after Close")
	}
	if f2, err := c.Freeze(); err != nil || f2.Len() != 5 {
		t.Fatalf("Freeze after Close: %v", err)
	}
}
