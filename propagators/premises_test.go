package propagators_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
)

// The barometer problem with premises (barometer-premises.yaml): the
// building's height under every non-empty set of believed premises, by hand
// (see TestConstraintNetwork for the arithmetic):
//
//	fall-time alone:       gravity.half × fall.time² = [4.8945 × 8.41, 4.916 × 9.61] = [41.162745, 47.24276]
//	shadows alone:         building.shadow × barometer.height / barometer.shadow
//	                       = [54.9 × 0.3/0.37, 55.1 × 0.32/0.36]                   = [44.513514, 48.977778]
//	fall-time and shadows: the intersection                                          [44.513514, 47.24276]
//	with the superintendent: [45, 45], resting on the superintendent alone (45 lies
//	                       in what the others say, so they add nothing to it)
var barometerHeights = []struct {
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

var barometerPremises = []string{"fall-time", "shadows", "superintendent"}

// worldviewSetter changes the worldview cell as dprop withdraw and dprop
// reinstate do, with increasing timestamps.
type worldviewSetter struct {
	cells *memCells
	ts    int64
}

func (w *worldviewSetter) set(t *testing.T, p string, believed bool) {
	t.Helper()
	w.ts++
	u, err := propagators.PremiseUpdate(p, believed, w.ts, "test")
	if err != nil {
		t.Fatal(err)
	}
	w.cells.set(t, propagators.WorldviewCell, u)
}

// believeOnly withdraws every premise of all but those of believed.
func (w *worldviewSetter) believeOnly(t *testing.T, all, believed []string) {
	t.Helper()
	for _, p := range all {
		w.set(t, p, slices.Contains(believed, p))
	}
}

func checkHeight(t *testing.T, got lattice.Value, worldview propagators.Worldview, lo, hi float64, support []string) {
	t.Helper()
	c := worldview.Consequence(got)
	v, ok := c.Value.(lattice.Interval)
	if !ok || !near(v.Lo, lo, 1e-12) || !near(v.Hi, hi, 1e-12) || !slices.Equal(c.Support, support) {
		t.Errorf("withdrawn %v: building.height = %s on %v, want [%v, %v] on %v",
			worldview.Withdrawn(), lattice.Encode(c.Value), c.Support, lo, hi, support)
	}
}

func TestBarometerPremises(t *testing.T) {
	cells := newMemCells()
	rt := runNetwork(t, cells, "barometer-premises.yaml")
	settle(t, rt)
	wv := &worldviewSetter{cells: cells}
	all := propagators.WorldviewOf(cells.Value(propagators.WorldviewCell))
	checkHeight(t, cells.Value("building.height"), all, 45, 45, []string{"superintendent"})

	for _, c := range barometerHeights {
		t.Run(strings.Join(c.believed, "+"), func(t *testing.T) {
			wv.believeOnly(t, barometerPremises, c.believed)
			settle(t, rt)
			checkHeight(t, cells.Value("building.height"), propagators.WorldviewOf(cells.Value(propagators.WorldviewCell)), c.lo, c.hi, c.support)
		})
	}

	// Withdrawing the superintendent brings back what the others say;
	// believing him again narrows it again.
	wv.believeOnly(t, barometerPremises, barometerPremises)
	settle(t, rt)
	wv.set(t, "superintendent", false)
	settle(t, rt)
	now := func() propagators.Worldview { return propagators.WorldviewOf(cells.Value(propagators.WorldviewCell)) }
	checkHeight(t, cells.Value("building.height"), now(), 54.9*0.3/0.37, 4.916*9.61, []string{"fall-time", "shadows"})
	wv.set(t, "superintendent", true)
	settle(t, rt)
	checkHeight(t, cells.Value("building.height"), now(), 45, 45, []string{"superintendent"})
	if n := len(propagators.NogoodsOf(cells.Value(propagators.NogoodsCell))); n != 0 {
		t.Fatalf("%d nogoods among consistent premises: %s", n, lattice.Encode(cells.Value(propagators.NogoodsCell)))
	}

	// A second stopwatch says the barometer fell in 1–1.1 s: no height
	// matches both it and the first one. The nogood names exactly the two.
	bad, err := lattice.Support(lattice.Interval{Lo: 1, Hi: 1.1}, "cheap-stopwatch")
	if err != nil {
		t.Fatal(err)
	}
	cells.set(t, "fall.time", bad)
	settle(t, rt)
	nogoods := propagators.NogoodsOf(cells.Value(propagators.NogoodsCell))
	if want := [][]string{{"cheap-stopwatch", "fall-time"}}; fmt.Sprint(nogoods) != fmt.Sprint(want) {
		t.Fatalf("nogoods %v, want %v", nogoods, want)
	}
	if got := now().Inconsistent(nogoods); len(got) != 1 {
		t.Fatalf("the worldview believing every premise is not reported inconsistent: %v", got)
	}
	// The other worldviews keep their answers.
	wv.set(t, "cheap-stopwatch", false)
	for _, c := range barometerHeights {
		wv.believeOnly(t, barometerPremises, c.believed)
		settle(t, rt)
		checkHeight(t, cells.Value("building.height"), now(), c.lo, c.hi, c.support)
		if got := now().Inconsistent(propagators.NogoodsOf(cells.Value(propagators.NogoodsCell))); len(got) != 0 {
			t.Errorf("believing %v: reported inconsistent with %v", c.believed, got)
		}
	}
	t.Logf("building.height holds %d claims; the log of fall.time %s", cells.Value("building.height").(*lattice.Supported).Len(), lattice.Encode(cells.Value("fall.time")))
}
