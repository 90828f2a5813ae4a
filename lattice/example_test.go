package lattice_test

import (
	"errors"
	"fmt"

	"github.com/dprop/dprop/lattice"
)

// A cell of daily temperature ranges, as in the seed's demo: each update is
// the range one station saw, and the cell holds their hull. An update inside
// what the cell already knows changes nothing, which is what keeps watchers
// and propagators quiet.
func ExampleMerge() {
	updates := []string{
		`{"type":"range","min":34,"max":48}`,
		`{"type":"range","min":36,"max":43}`,
		`{"type":"range","min":33,"max":36}`,
		`{"type":"range","min":31,"max":42}`,
		`{"type":"range","min":31,"max":57}`,
	}
	var cell lattice.Value = lattice.Nothing{}
	for _, u := range updates {
		v, err := lattice.Decode([]byte(u))
		if err != nil {
			panic(err)
		}
		var changed bool
		cell, changed, err = lattice.Merge(cell, v)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%-5v %s\n", changed, lattice.Encode(cell))
	}
	// Output:
	// true  {"type":"range","min":34,"max":48}
	// false {"type":"range","min":34,"max":48}
	// true  {"type":"range","min":33,"max":48}
	// true  {"type":"range","min":31,"max":48}
	// true  {"type":"range","min":31,"max":57}
}

// Two sources bound one unknown number with intervals that do not overlap:
// the merge is a contradiction that says which bounds disagreed. Merging
// more into a contradiction only adds to its evidence.
func ExampleContradiction() {
	a, _ := lattice.Decode([]byte(`{"type":"interval","lo":10,"hi":20}`))
	b, _ := lattice.Decode([]byte(`{"type":"interval","lo":25}`))
	c, _, _ := lattice.Merge(a, b)
	fmt.Println(lattice.IsContradiction(c))
	fmt.Println(c.(*lattice.Contradiction).Reason())
	fmt.Printf("%s\n", lattice.Encode(c))

	// A propagator that reads a contradicting cell says where its own
	// contradiction came from.
	d := lattice.NewContradiction([]string{"sensor.depth"}, lattice.Number{3}, lattice.Number{4})
	fmt.Println(d.Reason())
	// Output:
	// true
	// interval: lo 25 > hi 20, no number lies in both
	// {"type":"contradiction","reason":"interval: lo 25 > hi 20, no number lies in both","values":[{"type":"interval","lo":25,"hi":20}]}
	// number: 3 ≠ 4; derived from contradiction in sensor.depth
}

// Two replicas of an add-wins set: while B removes "milk" (the add it has
// seen), A adds "milk" again. The concurrent add wins, on every replica, in
// whatever order the updates arrive.
func ExampleORSet_AddDelta() {
	add1 := (*lattice.ORSet)(nil).AddDelta("A", lattice.Str("milk"))
	fmt.Printf("add:    %s\n", lattice.Encode(add1))

	replicaA, _, _ := lattice.Merge(nil, add1)
	replicaB, _, _ := lattice.Merge(nil, add1)

	remove := replicaB.(*lattice.ORSet).RemoveDelta(lattice.Str("milk"))
	add2 := replicaA.(*lattice.ORSet).AddDelta("A", lattice.Str("milk"))
	fmt.Printf("remove: %s\n", lattice.Encode(remove))
	fmt.Printf("add:    %s\n", lattice.Encode(add2))

	replicaA, _, _ = lattice.Merge(replicaA, add2)
	replicaA, _, _ = lattice.Merge(replicaA, remove)
	replicaB, _, _ = lattice.Merge(replicaB, remove)
	replicaB, _, _ = lattice.Merge(replicaB, add2)
	fmt.Println(replicaA.(*lattice.ORSet).Elems(), lattice.Equal(replicaA, replicaB))
	// Output:
	// add:    {"type":"orset","elems":[{"elem":"milk","dots":[["A",1]]}],"context":{"A":1},"cloud":[]}
	// remove: {"type":"orset","elems":[],"context":{"A":1},"cloud":[]}
	// add:    {"type":"orset","elems":[{"elem":"milk","dots":[["A",2]]}],"context":{},"cloud":[["A",2]]}
	// [milk] true
}

// A removal names the adds it observed, so it removes the element once they
// have all been seen.
func ExampleORSet_RemoveDelta() {
	s := (*lattice.ORSet)(nil)
	var cell lattice.Value = lattice.Nothing{}
	for _, e := range []lattice.Elem{lattice.Str("a"), lattice.Num(2), lattice.Str("b")} {
		cell, _, _ = lattice.Merge(cell, s.AddDelta("w1", e))
		s = cell.(*lattice.ORSet)
	}
	fmt.Println(s.Elems())
	cell, changed, _ := lattice.Merge(cell, s.RemoveDelta(lattice.Str("a")))
	fmt.Println(cell.(*lattice.ORSet).Elems(), changed)
	fmt.Printf("%s\n", lattice.Encode(cell))
	// Output:
	// [2 a b]
	// [2 b] true
	// {"type":"orset","elems":[{"elem":2,"dots":[["w1",2]]},{"elem":"b","dots":[["w1",3]]}],"context":{"w1":3},"cloud":[]}
}

// Decode says what is wrong with bad input; callers classify it with
// errors.Is and read details from the *DecodeError.
func ExampleDecode_error() {
	_, err := lattice.Decode([]byte(`{"type":"map","entries":{"t":{"type":"interval","lo":5,"hi":1}}}`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, lattice.ErrInvalid))
	var de *lattice.DecodeError
	if errors.As(err, &de) {
		fmt.Println(de.Path, de.Offset)
	}
	// Output:
	// entries.t: invalid value: interval lo 5 > hi 1 (at byte 29)
	// true
	// entries.t 29
}

// The barometer's height as three sources give it, each claim resting on
// its premise: what follows depends on what is believed, and nothing is
// forgotten when a premise is withdrawn.
func ExampleSupported_Consequence() {
	cell, err := lattice.Decode([]byte(`{"type":"supported","values":[
		{"premises":["fall-time"],"value":{"type":"interval","lo":41.16,"hi":47.24}},
		{"premises":["shadows"],"value":{"type":"interval","lo":44.51,"hi":48.98}},
		{"premises":["superintendent"],"value":{"type":"interval","lo":45,"hi":45}}]}`))
	if err != nil {
		panic(err)
	}
	s := cell.(*lattice.Supported)
	all := s.Consequence(nil)
	fmt.Println(string(lattice.Encode(all.Value)), all.Support)
	doubted := s.Consequence(func(p string) bool { return p != "superintendent" })
	fmt.Println(string(lattice.Encode(doubted.Value)), doubted.Support)

	// A claim no other premise agrees with: the premises that cannot all
	// hold are the support of the contradiction.
	bad, _ := lattice.Support(lattice.Interval{Lo: 10, Hi: 11}, "cheap-stopwatch")
	cell, _, _ = lattice.Merge(cell, bad)
	c := cell.(*lattice.Supported).Consequence(nil)
	fmt.Println(c.Contradicts(), c.Support)
	// Output:
	// {"type":"interval","lo":45,"hi":45} [superintendent]
	// {"type":"interval","lo":44.51,"hi":47.24} [fall-time shadows]
	// true [cheap-stopwatch fall-time]
}
