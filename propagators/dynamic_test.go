package propagators_test

import (
	"errors"
	"testing"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
)

// A propagator added to a running runtime computes from the cells' current
// values, and wakes on their changes from then on.
func TestAddWhileRunning(t *testing.T) {
	cells := newMemCells()
	rt := start(t, cells, propagators.Config{})
	cells.set(t, "a", maxv(4))
	settle(t, rt)
	if err := rt.Add(must(propagators.Copy("late", cell("a", "max"), cell("b", "max")))); err != nil {
		t.Fatal(err)
	}
	settle(t, rt)
	if got := cells.Value("b"); !lattice.Equal(got, maxv(4)) {
		t.Fatalf("b = %s, want 4 from a's value before the add", lattice.Encode(got))
	}
	cells.set(t, "a", maxv(6))
	settle(t, rt)
	if got := cells.Value("b"); !lattice.Equal(got, maxv(6)) {
		t.Fatalf("b = %s, want 6", lattice.Encode(got))
	}
	if err := rt.Add(must(propagators.Copy("late", cell("a", "max"), cell("c", "max")))); !errors.Is(err, propagators.ErrDuplicateName) {
		t.Fatalf("a second %q: %v, want ErrDuplicateName", "late", err)
	}
	if !rt.Running("late") || rt.Len() != 1 {
		t.Fatalf("Running(late) %v, Len %d", rt.Running("late"), rt.Len())
	}
}

// A removed propagator no longer follows its inputs; the others do.
func TestRemoveWhileRunning(t *testing.T) {
	cells := newMemCells()
	rt := start(t, cells, propagators.Config{},
		must(propagators.Copy("ab", cell("a", "max"), cell("b", "max"))),
		must(propagators.Copy("ac", cell("a", "max"), cell("c", "max"))))
	cells.set(t, "a", maxv(1))
	settle(t, rt)
	if n := rt.Remove("ab", "nosuch"); n != 1 {
		t.Fatalf("Remove = %d, want 1", n)
	}
	cells.set(t, "a", maxv(2))
	settle(t, rt)
	if got := cells.Value("b"); !lattice.Equal(got, maxv(1)) {
		t.Errorf("b = %s, want 1: its propagator was removed", lattice.Encode(got))
	}
	if got := cells.Value("c"); !lattice.Equal(got, maxv(2)) {
		t.Errorf("c = %s, want 2", lattice.Encode(got))
	}
	if s := rt.NodeStats(); len(s) != 1 || s[0].Name != "ac" {
		t.Errorf("NodeStats after the removal: %v", s)
	}
	// Added again under the same name: it catches up.
	if err := rt.Add(must(propagators.Copy("ab", cell("a", "max"), cell("b", "max")))); err != nil {
		t.Fatal(err)
	}
	settle(t, rt)
	if got := cells.Value("b"); !lattice.Equal(got, maxv(2)) {
		t.Errorf("b = %s after the re-add, want 2", lattice.Encode(got))
	}
}

// An aggregate given inputs as they appear folds each in, including one
// whose value came before it was added.
func TestAddInputGrowsAnAggregate(t *testing.T) {
	cells := newMemCells()
	cells.set(t, "w.a", maxv(3))
	rt := start(t, cells, propagators.Config{}, must(propagators.Max("hottest", []propagators.Cell{cell("w.a", "max")}, cell("hot", "max"))))
	settle(t, rt)
	cells.set(t, "w.b", maxv(9)) // not an input yet
	settle(t, rt)
	if got := cells.Value("hot"); !lattice.Equal(got, maxv(3)) {
		t.Fatalf("hot = %s, want 3", lattice.Encode(got))
	}
	if !rt.AddInput("hottest", "w.b") || rt.AddInput("nosuch", "w.b") {
		t.Fatal("AddInput: wrong report of which propagators run")
	}
	settle(t, rt)
	if got := cells.Value("hot"); !lattice.Equal(got, maxv(9)) {
		t.Fatalf("hot = %s, want 9 from the added input", lattice.Encode(got))
	}
	rt.AddInput("hottest", "w.c")
	cells.set(t, "w.c", maxv(12))
	settle(t, rt)
	if got := cells.Value("hot"); !lattice.Equal(got, maxv(12)) {
		t.Fatalf("hot = %s, want 12", lattice.Encode(got))
	}
}
