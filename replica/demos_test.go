package replica_test

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators/network"
	"github.com/dprop/dprop/replica"
)

// The seed's demos as networks split across replicas that share one broker
// (real embedded JetStream): what runs where is chosen by group, as two
// hosts would.

// withNetwork gives a replica the declared cells and initial values of a
// network file and the propagators selected by groups (none: no
// propagators).
func withNetwork(t testing.TB, file string, groups ...string) func(*replica.Config) {
	t.Helper()
	n, err := network.Load(filepath.Join("..", "testdata", "networks", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Check(); err != nil {
		t.Fatal(err)
	}
	b, err := n.Build(groups...)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *replica.Config) {
		c.Declared = b.Types
		c.Initial = b.Initial
		if len(groups) > 0 {
			c.Propagators = b.Propagators
		}
	}
}

// settle waits until every replica is quiescent and has folded everything
// the others published.
func settle(t testing.TB, rs ...*replica.Replica) {
	t.Helper()
	for {
		for _, r := range rs {
			if err := r.WaitQuiescent(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		}
		last := slices.MaxFunc(rs, func(a, b *replica.Replica) int { return int(a.Progress().Applied) - int(b.Progress().Applied) }).Progress().Applied
		for _, r := range rs {
			waitFor(t, "replicas to fold the same log", func() bool { return r.Progress().Applied >= last })
		}
		if !slices.ContainsFunc(rs, func(r *replica.Replica) bool { return !r.Quiescent() || r.Progress().Applied != last }) {
			return
		}
	}
}

// 1. The seed's temperature pair: one replica writes the Fahrenheit ranges,
// another runs the linear propagator keeping the Celsius range.
func TestDemoTemperatureAcrossReplicas(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	writer := startReplica(t, url, withNetwork(t, "temperature.yaml"))
	celsius := startReplica(t, url, withNetwork(t, "temperature.yaml", "celsius"))
	ctx := ctxT(t)
	for _, day := range [][2]float64{{34, 48}, {36, 43}, {33, 36}, {31, 42}, {31, 57}} {
		if _, err := writer.Refine(ctx, "weather.boston.temp_f", lattice.Range{Min: day[0], Max: day[1]}); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, writer, celsius)
	for _, r := range []*replica.Replica{writer, celsius} {
		if got := enc(r.Value("weather.boston.temp_f")); got != `{"type":"range","min":31,"max":57}` {
			t.Errorf("temp_f = %s", got)
		}
		c, ok := r.Value("weather.boston.temp_c").(lattice.Range)
		// (31 − 32)·5/9 = −5/9 and (57 − 32)·5/9 = 125/9, rounded outward.
		if !ok || c.Min > -5.0/9 || c.Min < -5.0/9-1e-12 || c.Max < 125.0/9 || c.Max > 125.0/9+1e-12 {
			t.Errorf("temp_c = %s, want [-5/9, 125/9]", enc(r.Value("weather.boston.temp_c")))
		}
	}
	if writer.PropagatorStats().Fires != 0 || celsius.PropagatorStats().Published == 0 {
		t.Errorf("the propagator ran in the wrong place: writer %+v, celsius %+v", writer.PropagatorStats(), celsius.PropagatorStats())
	}
	// A declared type is enforced.
	if _, err := writer.Refine(ctx, "weather.boston.temp_c", lattice.Max{Value: 1}); err == nil {
		t.Error("a max accepted into a declared range cell")
	}
}

// 2. Heron's square root: the iteration step runs on one host; the guess
// cell is read, and the convergence flag kept, on another.
func TestDemoHeronAcrossReplicas(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	iterate := startReplica(t, url, withNetwork(t, "heron.yaml", "iterate"))
	watch := startReplica(t, url, withNetwork(t, "heron.yaml", "watch"))
	c, err := watch.Await(ctxT(t), "math.sqrt2.close", lattice.Flag{Value: true})
	if err != nil {
		t.Fatal(err)
	}
	settle(t, iterate, watch)
	g, ok := watch.Value("math.sqrt2").(lattice.Min)
	if !ok || math.Abs(g.Value-math.Sqrt2) > 1e-9 {
		t.Fatalf("guess on the other host: %s, want √2 within 1e-9", enc(watch.Value("math.sqrt2")))
	}
	if !lattice.Equal(c.Value, lattice.Flag{Value: true}) || iterate.PropagatorStats().Published < 4 {
		t.Errorf("flag %s, iterations published %d", enc(c.Value), iterate.PropagatorStats().Published)
	}
	t.Logf("√2 ≈ %.17g after %d published steps", g.Value, iterate.PropagatorStats().Published)
}

// 3. A constraint network over intervals, split across two replicas: the
// measurements refine each other in both directions until nothing changes,
// and an exact measurement narrows everything again. The values are worked
// out by hand in propagators/scenarios_test.go (TestConstraintNetwork).
func TestDemoConstraintsAcrossReplicas(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	a := startReplica(t, url, withNetwork(t, "constraints.yaml", "barometer-shadow", "building-shadow", "half-gravity"))
	b := startReplica(t, url, withNetwork(t, "constraints.yaml", "fall-time-squared", "fall-height"))
	settle(t, a, b)
	near := func(got, want float64) bool { return math.Abs(got-want) <= 1e-12*math.Max(1, math.Abs(want)) }
	check := func(want map[string][2]float64) {
		t.Helper()
		for _, r := range []*replica.Replica{a, b} {
			for name, w := range want {
				got, ok := r.Value(name).(lattice.Interval)
				if !ok || !near(got.Lo, w[0]) || !near(got.Hi, w[1]) {
					t.Errorf("%s = %s, want [%v, %v]", name, enc(r.Value(name)), w[0], w[1])
				}
			}
		}
	}
	check(map[string][2]float64{
		"shadow.ratio":     {0.3 / 0.37, 4.916 * 9.61 / 54.9},
		"building.height":  {54.9 * 0.3 / 0.37, 4.916 * 9.61},
		"fall.time_sq":     {54.9 * 0.3 / 0.37 / 4.916, 9.61},
		"fall.time":        {math.Sqrt(54.9 * 0.3 / 0.37 / 4.916), 3.1},
		"barometer.height": {0.3, 0.37 * 4.916 * 9.61 / 54.9},
		"barometer.shadow": {0.36, 0.37},
		"gravity.half":     {4.8945, 4.916},
	})
	// The superintendent says the building is 45 m exactly.
	if _, err := b.Refine(ctxT(t), "building.height", lattice.Interval{Lo: 45, Hi: 45}); err != nil {
		t.Fatal(err)
	}
	settle(t, a, b)
	check(map[string][2]float64{
		"building.height":  {45, 45},
		"shadow.ratio":     {45 / 55.1, 45 / 54.9},
		"barometer.height": {0.3, 0.37 * 45 / 54.9},
		"barometer.shadow": {0.3 / (45 / 54.9), 0.37},
		"fall.time_sq":     {45 / 4.916, 45 / 4.8945},
		"fall.time":        {math.Sqrt(45 / 4.916), math.Sqrt(45 / 4.8945)},
	})
}

// 4. Conflicting measurements: the cells say contradiction, name the
// disagreeing values, and the contradiction travels to what depends on them.
func TestDemoContradictionAcrossReplicas(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	n, _ := network.Load(filepath.Join("..", "testdata", "networks", "contradiction.yaml"))
	b, _ := n.Build()
	var names []string
	for _, p := range b.Propagators {
		names = append(names, p.Name())
	}
	half := len(names) / 2
	r1 := startReplica(t, url, withNetwork(t, "contradiction.yaml", names[:half]...))
	r2 := startReplica(t, url, withNetwork(t, "contradiction.yaml", names[half:]...))
	settle(t, r1, r2)
	for _, r := range []*replica.Replica{r1, r2} {
		temp, ok := r.Value("room.temp").(*lattice.Contradiction)
		if !ok || !slices.EqualFunc(temp.Values(), []lattice.Value{lattice.Number{Value: 20}, lattice.Number{Value: 21}}, lattice.Equal) {
			t.Fatalf("room.temp = %s, want a contradiction of 20 and 21", enc(r.Value("room.temp")))
		}
		f, ok := r.Value("room.temp_f").(*lattice.Contradiction)
		if !ok || !slices.Equal(f.From(), []string{"room.temp"}) {
			t.Errorf("room.temp_f = %s, want a contradiction from room.temp", enc(r.Value("room.temp_f")))
		}
		bounds, ok := r.Value("room.bounds").(*lattice.Contradiction)
		if !ok || bounds.Reason() != "interval: lo 20.8 > hi 20.5, no number lies in both" {
			t.Errorf("room.bounds = %s", enc(r.Value("room.bounds")))
		}
	}
}
