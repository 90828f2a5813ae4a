package replica_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/replica"
)

// The barometer problem with premises (testdata/networks/barometer-premises.yaml)
// split over two replicas: one runs the shadow constraints, the other the
// fall. The building's height under each non-empty set of believed
// premises, against the hand computation in
// propagators/premises_test.go (TestBarometerPremises).
func TestDemoBarometerPremisesAcrossReplicas(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	a := startReplica(t, url, withNetwork(t, "barometer-premises.yaml", "shadows"))
	b := startReplica(t, url, withNetwork(t, "barometer-premises.yaml", "fall"))
	settle(t, a, b)
	premises := []string{"fall-time", "shadows", "superintendent"}
	cases := []struct {
		believed []string
		lo, hi   float64
		support  []string
	}{
		{[]string{"fall-time"}, 4.8945 * 8.41, 4.916 * 9.61, []string{"fall-time"}},
		{[]string{"shadows"}, 54.9 * 0.3 / 0.37, 55.1 * 0.32 / 0.36, []string{"shadows"}},
		{[]string{"superintendent"}, 45, 45, []string{"superintendent"}},
		{[]string{"fall-time", "shadows"}, 54.9 * 0.3 / 0.37, 4.916 * 9.61, []string{"fall-time", "shadows"}},
		{[]string{"fall-time", "superintendent"}, 45, 45, []string{"superintendent"}},
		{[]string{"shadows", "superintendent"}, 45, 45, []string{"superintendent"}},
		{[]string{"fall-time", "shadows", "superintendent"}, 45, 45, []string{"superintendent"}},
	}
	near := func(got, want float64) bool { return math.Abs(got-want) <= 1e-12*math.Max(1, math.Abs(want)) }
	check := func(what string, lo, hi float64, support []string) {
		t.Helper()
		for i, r := range []*replica.Replica{a, b} {
			c := r.Worldview().Consequence(r.Value("building.height"))
			v, ok := c.Value.(lattice.Interval)
			if !ok || !near(v.Lo, lo) || !near(v.Hi, hi) || !slices.Equal(c.Support, support) {
				t.Errorf("%s, replica %d: building.height = %s on %v, want [%v, %v] on %v", what, i, enc(c.Value), c.Support, lo, hi, support)
			}
		}
	}
	believeOnly := func(believed []string) {
		t.Helper()
		for i, p := range premises {
			r := []*replica.Replica{a, b}[i%2] // either replica may change the worldview
			if _, err := r.SetPremise(ctxT(t), p, slices.Contains(believed, p)); err != nil {
				t.Fatal(err)
			}
		}
		settle(t, a, b)
	}
	for _, c := range cases {
		believeOnly(c.believed)
		check("believing "+strings.Join(c.believed, ", "), c.lo, c.hi, c.support)
	}

	// Withdrawing the superintendent brings back what the other two say;
	// believing him again narrows it again.
	if _, err := a.SetPremise(ctxT(t), "superintendent", false); err != nil {
		t.Fatal(err)
	}
	settle(t, a, b)
	check("superintendent withdrawn", 54.9*0.3/0.37, 4.916*9.61, []string{"fall-time", "shadows"})
	if _, err := b.SetPremise(ctxT(t), "superintendent", true); err != nil {
		t.Fatal(err)
	}
	settle(t, a, b)
	check("superintendent believed again", 45, 45, []string{"superintendent"})
	ps := a.Premises()
	if len(ps) != 3 || !ps[2].Believed || ps[2].Premise != "superintendent" || ps[2].Writer == "" {
		t.Errorf("premises: %+v", ps)
	}

	// A second stopwatch that no height can match: a nogood naming
	// exactly it and the first stopwatch, on both replicas.
	bad, _ := lattice.Support(lattice.Interval{Lo: 1, Hi: 1.1}, "cheap-stopwatch")
	if _, err := a.Refine(ctxT(t), "fall.time", bad); err != nil {
		t.Fatal(err)
	}
	settle(t, a, b)
	for _, r := range []*replica.Replica{a, b} {
		if got := fmt.Sprint(r.Nogoods()); got != "[[cheap-stopwatch fall-time]]" {
			t.Fatalf("nogoods %s, want [[cheap-stopwatch fall-time]]", got)
		}
		if len(r.Worldview().Inconsistent(r.Nogoods())) != 1 {
			t.Errorf("the worldview is not reported inconsistent")
		}
	}
	if _, err := b.SetPremise(ctxT(t), "cheap-stopwatch", false); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		believeOnly(c.believed)
		check("with the cheap stopwatch withdrawn, believing "+strings.Join(c.believed, ", "), c.lo, c.hi, c.support)
	}

	// Why the height is what it is, from the log: the last change is the
	// superintendent's claim, written from outside (the network's
	// initial value), or a derivation that ends there.
	why, err := b.Why(ctxT(t), "shadow.ratio", replica.WhyQuery{Depth: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(why.Changes) == 0 {
		t.Fatalf("no changes explain shadow.ratio: %+v", why)
	}
	derived := why.Changes[len(why.Changes)-1] // the first change: derived, the cell has no initial value
	if derived.Propagator == "" || len(derived.Inputs) == 0 || derived.Writer == "" {
		t.Fatalf("first change of shadow.ratio: %+v", derived)
	}
	var read []string
	for _, in := range derived.Inputs {
		read = append(read, fmt.Sprintf("%s@%d", in.Cell, in.Seq))
		if in.Seq > 0 && (in.Why == nil || len(in.Why.Changes) == 0 || in.Why.Changes[0].Seq > in.Seq) ||
			in.Seq == 0 && (in.Why != nil || string(in.Value) != `{"type":"nothing"}`) {
			t.Errorf("input %s@%d not explained: %s %+v", in.Cell, in.Seq, in.Value, in.Why)
		}
	}
	// It read one product's measurements (and the worldview, and itself,
	// empty): the ratio follows from the barometer's height and shadow,
	// or from the building's (the superintendent's height), whichever
	// propagator ran first.
	reads := func(cell string) bool {
		return slices.ContainsFunc(derived.Inputs, func(in replica.WhyInput) bool { return in.Cell == cell })
	}
	if !reads(propagators.WorldviewCell) ||
		!(reads("barometer.height") && reads("barometer.shadow") && derived.Propagator == "barometer-shadow" ||
			reads("building.height") && reads("building.shadow") && derived.Propagator == "building-shadow") {
		t.Errorf("first change of shadow.ratio by %s read %v: not one product's measurements and the worldview", derived.Propagator, read)
	}
	t.Logf("shadow.ratio's first change: by %s (%s) from %v", derived.Propagator, derived.Writer, read)
}
