package replica

import (
	"fmt"
	"testing"
	"time"
)

// Rendezvous hashing: the members share the names evenly, and when one
// leaves only its names move (each to one of the others).
func TestRendezvousMovesOnlyTheLeaversShare(t *testing.T) {
	ms := newMembers(nil, "dprop", "a", time.Second, 3*time.Second)
	ms.settled = true
	for _, id := range []string{"b", "c", "d"} {
		ms.peers[id] = &peer{nets: []string{"w"}, seen: time.Now()}
	}
	const n = 20_000
	before := map[string]string{}
	count := map[string]int{}
	for i := range n {
		name := fmt.Sprintf("f-to-c.city%d", i)
		o := ms.owner("w", name)
		before[name] = o
		count[o]++
	}
	for id, c := range count {
		if c < n/4*9/10 || c > n/4*11/10 {
			t.Errorf("%s owns %d of %d names: want about a quarter", id, c, n)
		}
	}
	if o := ms.owner("other", "x"); o != "a" {
		t.Errorf("a network no peer runs is owned by %q, want this replica", o)
	}
	delete(ms.peers, "d")
	for name, was := range before {
		now := ms.owner("w", name)
		if was != "d" && now != was {
			t.Fatalf("%s moved from %s to %s though %s stayed", name, was, now, was)
		}
		if now == "d" {
			t.Fatalf("%s still owned by the member that left", name)
		}
	}
	ms.settled = false
	if o := ms.owner("w", "x"); o != "" {
		t.Errorf("before the members settle the owner is %q, want none", o)
	}
}
