package propagators_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
)

func TestParseWorldview(t *testing.T) {
	out, in, err := propagators.ParseWorldview("-a, +b, c,,-d.e:f")
	if err != nil || !slices.Equal(out, []string{"a", "d.e:f"}) || !slices.Equal(in, []string{"b", "c"}) {
		t.Fatalf("out %v in %v err %v", out, in, err)
	}
	for _, bad := range []string{"-a b", "+", "-a,+b,c d", "-x,y|z"} {
		if _, _, err := propagators.ParseWorldview(bad); !errors.Is(err, lattice.ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestWorldviewCell(t *testing.T) {
	var v lattice.Value = lattice.Nothing{}
	apply := func(p string, believed bool, ts int64, writer string) {
		t.Helper()
		u, err := propagators.PremiseUpdate(p, believed, ts, writer)
		if err != nil {
			t.Fatal(err)
		}
		v, _, _ = lattice.Merge(v, u)
	}
	apply("a", false, 10, "w1")
	apply("b", false, 10, "w1")
	apply("a", true, 5, "w2") // older: loses
	apply("b", true, 11, "w2")
	w := propagators.WorldviewOf(v)
	if !slices.Equal(w.Withdrawn(), []string{"a"}) || w.Believes("a") || !w.Believes("b") || !w.Believes("never-named") {
		t.Fatalf("worldview %v", w.Withdrawn())
	}
	if got := w.With([]string{"c"}, []string{"a"}).Withdrawn(); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("what if: %v", got)
	}
	states := propagators.PremiseStates(v, []string{"z", "a"})
	if got := fmt.Sprint(states); got != "[{a false 10 w1} {b true 11 w2} {z true 0 }]" {
		t.Fatalf("states %s", got)
	}
	if _, err := propagators.PremiseUpdate("a,b", false, 1, "w"); !errors.Is(err, lattice.ErrInvalid) {
		t.Fatalf("a premise with a comma: %v", err)
	}

	var ng lattice.Value = lattice.Nothing{}
	for _, set := range [][]string{{"b", "a"}, {"c"}, {"a", "b"}} {
		ng, _, _ = lattice.Merge(ng, propagators.NogoodUpdate(set))
	}
	nogoods := propagators.NogoodsOf(ng)
	if fmt.Sprint(nogoods) != "[[a b] [c]]" {
		t.Fatalf("nogoods %v", nogoods)
	}
	if got := w.Inconsistent(nogoods); fmt.Sprint(got) != "[[c]]" { // a is withdrawn
		t.Fatalf("inconsistent %v", got)
	}
}

// OnSupported over one product: claims supported by the union of the
// inputs' supports; a contradiction in an input or in the result is a
// nogood; plain cells pass through.
func TestOnSupported(t *testing.T) {
	ctx := context.Background()
	p, err := propagators.Product("p", cell("a", lattice.TypeInterval), cell("b", lattice.TypeInterval), cell("c", lattice.TypeInterval))
	if err != nil {
		t.Fatal(err)
	}
	s := propagators.OnSupported(p, []string{"a", "c"}) // b is a plain interval
	if !slices.Contains(s.Inputs(), propagators.WorldviewCell) || !slices.Contains(s.Outputs(), propagators.NogoodsCell) || s.Name() != "p" {
		t.Fatalf("inputs %v outputs %v", s.Inputs(), s.Outputs())
	}
	sup := func(lo, hi float64, ps ...string) lattice.Value {
		v, err := lattice.Support(iv(lo, hi), ps...)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	refs, err := propagators.Evaluate(ctx, s, map[string]lattice.Value{"a": sup(2, 3, "x"), "b": iv(4, 5)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range refs {
		got[r.Cell] = string(lattice.Encode(r.Value))
	}
	if want := string(lattice.Encode(sup(8, 15, "x"))); got["c"] != want {
		t.Errorf("c = %s, want %s", got["c"], want)
	}
	if got["b"] != "" && got["b"] != string(lattice.Encode(iv(4, 5))) {
		t.Errorf("plain b refined with %s", got["b"])
	}

	// a's claims contradict under the worldview: a nogood, and a is read
	// as Nothing. c's claim contradicts what a and b give: the support of
	// what was read is a nogood too, and no claim is published for c.
	contradicting, _, _ := lattice.Merge(sup(2, 3, "x"), sup(5, 6, "y"))
	refs, err = propagators.Evaluate(ctx, s, map[string]lattice.Value{"a": contradicting, "b": iv(4, 5), "c": sup(100, 200, "z")})
	if err != nil {
		t.Fatal(err)
	}
	var nogoods []string
	for _, r := range refs {
		if r.Cell == propagators.NogoodsCell {
			nogoods = append(nogoods, fmt.Sprint(propagators.NogoodsOf(r.Value)))
		}
	}
	if fmt.Sprint(nogoods) != "[[[x y]]]" {
		t.Errorf("nogoods %v, want [[[x y]]]", nogoods)
	}
	refs, err = propagators.Evaluate(ctx, s, map[string]lattice.Value{"a": sup(2, 3, "x"), "b": iv(4, 5), "c": sup(100, 200, "z")})
	if err != nil {
		t.Fatal(err)
	}
	// The constraint derives from a and c, which rest on x and z: c gets a
	// claim on {x, z} (vacuous, for x and z cannot both hold, but true),
	// and the plain b nothing: it cannot say what it would rest on.
	got = map[string]string{}
	for _, r := range refs {
		got[r.Cell] = string(lattice.Encode(r.Value))
	}
	if want := string(lattice.Encode(sup(8, 15, "x", "z"))); got["c"] != want || got["b"] != "" {
		t.Errorf("refinements %v", got)
	}
}
