package propagators_test

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/propagators/network"
)

// The example networks of testdata/networks, run over in-memory cells the
// way a replica runs them: declared initial values first, then the
// propagators.

// runNetwork loads a network file, seeds its initial values into cells and
// starts a runtime for the selected propagators (all when none).
func runNetwork(t *testing.T, cells *memCells, file string, selectors ...string) *propagators.Runtime {
	t.Helper()
	n, err := network.Load(filepath.Join("..", "testdata", "networks", file))
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Build(selectors...)
	if err != nil {
		t.Fatal(err)
	}
	for c, v := range b.Initial {
		cells.set(t, c, v)
	}
	return start(t, cells, propagators.Config{}, b.Propagators...)
}

// near reports whether got is within rel (relative) of want.
func near(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Max(1, math.Abs(want))
}

func TestTemperatureDemo(t *testing.T) {
	cells := newMemCells()
	rt := runNetwork(t, cells, "temperature.yaml")
	// The seed's daily readings, in the seed's order.
	for _, day := range [][2]float64{{34, 48}, {36, 43}, {33, 36}, {31, 42}, {31, 57}} {
		cells.set(t, "weather.boston.temp_f", rng(day[0], day[1]))
		settle(t, rt)
	}
	if got := cells.Value("weather.boston.temp_f"); !lattice.Equal(got, rng(31, 57)) {
		t.Fatalf("temp_f = %s", lattice.Encode(got))
	}
	// (31 − 32)·5/9 = −5/9 and (57 − 32)·5/9 = 125/9, rounded outward.
	c := cells.Value("weather.boston.temp_c").(lattice.Range)
	if !(c.Min <= -5.0/9 && near(c.Min, -5.0/9, 1e-15) && c.Max >= 125.0/9 && near(c.Max, 125.0/9, 1e-15)) {
		t.Fatalf("temp_c = %s, want [-5/9, 125/9]", lattice.Encode(c))
	}
}

func TestHeronDemo(t *testing.T) {
	cells := newMemCells()
	rt := runNetwork(t, cells, "heron.yaml")
	settle(t, rt)
	g := cells.Value("math.sqrt2").(lattice.Min).Value
	if math.Abs(g-math.Sqrt2) > 1e-9 {
		t.Fatalf("guess %v, want √2", g)
	}
	if !lattice.Equal(cells.Value("math.sqrt2.close"), lattice.Flag{Value: true}) {
		t.Fatal("the threshold flag is not set")
	}
}

// TestHeronSplitAcrossHosts runs the iteration and the watcher in two
// runtimes over the same cells, as two replicas sharing a broker would.
func TestHeronSplitAcrossHosts(t *testing.T) {
	cells := newMemCells()
	iterate := runNetwork(t, cells, "heron.yaml", "iterate")
	watch := runNetwork(t, cells, "heron.yaml", "watch")
	settleAll(t, iterate, watch)
	if g := cells.Value("math.sqrt2").(lattice.Min).Value; math.Abs(g-math.Sqrt2) > 1e-9 {
		t.Fatalf("guess %v", g)
	}
	if !lattice.Equal(cells.Value("math.sqrt2.close"), lattice.Flag{Value: true}) {
		t.Fatal("the watcher did not see the converged guess")
	}
	if iterate.Stats().Fires < 5 || watch.Stats().Fires < 1 {
		t.Errorf("iterate fired %d times, watch %d", iterate.Stats().Fires, watch.Stats().Fires)
	}
}

// settleAll waits until every runtime is quiescent at once.
func settleAll(t *testing.T, rts ...*propagators.Runtime) {
	t.Helper()
	for {
		for _, rt := range rts {
			settle(t, rt)
		}
		if !slices.ContainsFunc(rts, func(rt *propagators.Runtime) bool { return !rt.Quiescent() }) {
			return
		}
	}
}

// TestConstraintNetwork runs constraints.yaml, the barometer problem.
//
// By hand, with exact arithmetic (the runtime rounds outward, so its bounds
// may differ from these in the last bits):
//
//	shadow.ratio     = barometer.height / barometer.shadow = [0.3/0.37, 0.32/0.36] = [0.810811, 0.888889]
//	building.height  = building.shadow × ratio = [54.9 × 0.3/0.37, 55.1 × 0.32/0.36] = [44.513514, 48.977778]
//	gravity.half     = 0.5 × gravity = [4.8945, 4.916]
//	fall.time_sq     = fall.time² = [8.41, 9.61]
//	building.height ∩= gravity.half × fall.time_sq = [41.162745, 47.24276]
//	                 → [44.513514, 47.24276]
//
// and back:
//
//	fall.time_sq ∩= height / gravity.half = [44.513514/4.916, 47.24276/4.8945] → [9.054824, 9.61]
//	fall.time    ∩= √fall.time_sq (fall.time ≥ 0)                               → [3.009123, 3.1]
//	shadow.ratio ∩= height / building.shadow = [44.513514/55.1, 47.24276/54.9]  → [0.810811, 0.860524]
//	barometer.height ∩= barometer.shadow × ratio = [0.36 × 0.810811, 0.37 × 0.860524] → [0.3, 0.318394]
//
// after which every constraint gives back what its cells hold. Then the
// superintendent says the building is 45 m exactly:
//
//	shadow.ratio     = 45 / [54.9, 55.1]                     = [0.816697, 0.819672]
//	barometer.height = [0.36 × 0.816697, 0.37 × 0.819672] ∩  → [0.3, 0.303279]
//	barometer.shadow = barometer.height / ratio = [0.3/0.819672, ...] ∩ → [0.366, 0.37]
//	fall.time_sq     = 45 / [4.8945, 4.916]                  = [9.153784, 9.193993]
//	fall.time        = √fall.time_sq                         = [3.025522, 3.03216]
func TestConstraintNetwork(t *testing.T) {
	cells := newMemCells()
	rt := runNetwork(t, cells, "constraints.yaml")
	settle(t, rt)
	checkIntervals(t, cells, map[string][2]float64{
		"shadow.ratio":     {0.3 / 0.37, 4.916 * 9.61 / 54.9},
		"building.height":  {54.9 * 0.3 / 0.37, 4.916 * 9.61},
		"fall.time_sq":     {54.9 * 0.3 / 0.37 / 4.916, 9.61},
		"fall.time":        {math.Sqrt(54.9 * 0.3 / 0.37 / 4.916), 3.1},
		"barometer.height": {0.3, 0.37 * 4.916 * 9.61 / 54.9},
		"barometer.shadow": {0.36, 0.37},
		"building.shadow":  {54.9, 55.1},
		"gravity.half":     {4.8945, 4.916},
		"gravity":          {9.789, 9.832},
	})
	if !lattice.Equal(cells.Value("half"), num(0.5)) {
		t.Errorf("half = %s", lattice.Encode(cells.Value("half")))
	}

	cells.set(t, "building.height", iv(45, 45))
	settle(t, rt)
	checkIntervals(t, cells, map[string][2]float64{
		"building.height":  {45, 45},
		"shadow.ratio":     {45 / 55.1, 45 / 54.9},
		"barometer.height": {0.3, 0.37 * 45 / 54.9},
		"barometer.shadow": {0.3 / (45 / 54.9), 0.37},
		"building.shadow":  {54.9, 55.1},
		"fall.time_sq":     {45 / 4.916, 45 / 4.8945},
		"fall.time":        {math.Sqrt(45 / 4.916), math.Sqrt(45 / 4.8945)},
		"gravity":          {9.789, 9.832},
	})
}

func checkIntervals(t *testing.T, cells *memCells, want map[string][2]float64) {
	t.Helper()
	for name, w := range want {
		got, ok := cells.Value(name).(lattice.Interval)
		if !ok || !near(got.Lo, w[0], 1e-12) || !near(got.Hi, w[1], 1e-12) {
			t.Errorf("%s = %s, want [%v, %v]", name, lattice.Encode(cells.Value(name)), w[0], w[1])
		}
	}
}

func TestContradictionDemo(t *testing.T) {
	cells := newMemCells()
	rt := runNetwork(t, cells, "contradiction.yaml")
	settle(t, rt)
	temp, ok := cells.Value("room.temp").(*lattice.Contradiction)
	if !ok || !slices.EqualFunc(temp.Values(), []lattice.Value{num(20), num(21)}, lattice.Equal) {
		t.Fatalf("room.temp = %s, want a contradiction of 20 and 21", lattice.Encode(cells.Value("room.temp")))
	}
	f, ok := cells.Value("room.temp_f").(*lattice.Contradiction)
	if !ok || !slices.Equal(f.From(), []string{"room.temp"}) {
		t.Fatalf("room.temp_f = %s, want a contradiction from room.temp", lattice.Encode(cells.Value("room.temp_f")))
	}
	bounds, ok := cells.Value("room.bounds").(*lattice.Contradiction)
	if !ok || bounds.Reason() != "interval: lo 20.8 > hi 20.5, no number lies in both" {
		t.Fatalf("room.bounds = %s", lattice.Encode(cells.Value("room.bounds")))
	}
}
