package replica_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators/network"
	"github.com/dprop/dprop/replica"
)

// weatherYAML is the temperature network as templates; k is the slope of
// the conversion (5/9 for Celsius).
func weatherYAML(k string) string {
	return `
cells:
  - {name: weather.<city>.temp_f, type: range}
  - {name: weather.<city>.temp_c, type: range}
  - {name: weather.hottest, type: max}
propagators:
  - {kind: linear, name: c.<city>, inputs: [weather.<city>.temp_f], outputs: [weather.<city>.temp_c], params: {k: ` + k + `, m: -160/9}}
  - {kind: max, name: hottest, inputs: [weather.*.temp_c], outputs: [weather.hottest]}
`
}

// liveNetwork builds a network file's text as a replica runs it.
func liveNetwork(t testing.TB, name, text string, shared bool) replica.Network {
	t.Helper()
	n, err := network.Parse(name+".yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Build()
	if err != nil {
		t.Fatal(err)
	}
	out := replica.Network{Name: name, Propagators: b.Propagators, Initial: b.Initial, Fingerprints: b.Fingerprints,
		Shared: shared, TypeOf: b.TypeOf}
	for _, tm := range b.Templates {
		out.Templates = append(out.Templates, tm)
	}
	return out
}

func templateStatus(r *replica.Replica, network, tmpl string) replica.TemplateStatus {
	for _, n := range r.Networks() {
		if n.Name != network {
			continue
		}
		for _, ts := range n.Templates {
			if ts.Name == tmpl {
				return ts
			}
		}
	}
	return replica.TemplateStatus{}
}

// waitValue waits until cell holds want.
func waitValue(t testing.TB, r *replica.Replica, cell string, want lattice.Value) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s = %s", cell, enc(want)), func() bool { return lattice.Equal(r.Value(cell), want) })
}

// A template makes a propagator for each matching cell, those in the log
// before the network was set and those that come after; the aggregate
// follows every city; a change of the network rewires only what changed,
// and removing it stops its propagators.
func TestTemplatesFollowTheCells(t *testing.T) {
	s := runBroker(t)
	r := startReplica(t, s.ClientURL(), func(c *replica.Config) { c.LiveNetworks = true })
	ctx := ctxT(t)
	if _, err := r.Refine(ctx, "weather.boston.temp_f", lattice.Range{Min: 32, Max: 50}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetNetwork(liveNetwork(t, "weather", weatherYAML("5/9"), false)); err != nil {
		t.Fatal(err)
	}
	waitValue(t, r, "weather.boston.temp_c", lattice.Range{Min: 0, Max: 10})
	for _, city := range []string{"paris", "lima"} {
		if _, err := r.Refine(ctx, "weather."+city+".temp_f", lattice.Range{Min: 50, Max: 86}); err != nil {
			t.Fatal(err)
		}
	}
	waitValue(t, r, "weather.lima.temp_c", lattice.Range{Min: 10, Max: 30})
	waitValue(t, r, "weather.hottest", lattice.Max{Value: 30})
	if ts := templateStatus(r, "weather", "c.<city>"); ts.Instances != 3 || ts.Running != 3 {
		t.Fatalf("c.<city>: %+v, want 3 instances running", ts)
	}
	if ts := templateStatus(r, "weather", "hottest"); ts.Instances != 1 || ts.Running != 1 {
		t.Fatalf("hottest: %+v, want 1 instance running", ts)
	}

	// Only the conversion changes (k 1 instead of 5/9): its instances
	// start anew; the aggregate keeps running with its inputs.
	before := nodeRuns(r, "hottest")
	if err := r.SetNetwork(liveNetwork(t, "weather", weatherYAML("1"), false)); err != nil {
		t.Fatal(err)
	}
	// k = 1, m = -160/9: 86 °F gives 68.2; a range holds the hull of what
	// it was told, so the Celsius range widens to it.
	waitFor(t, "the changed conversion to refine weather.lima.temp_c", func() bool {
		v, ok := r.Value("weather.lima.temp_c").(lattice.Range)
		return ok && v.Max > 68 && v.Max < 69
	})
	if after := nodeRuns(r, "hottest"); after < before || after == 0 {
		t.Errorf("hottest restarted: %d runs before, %d after", before, after)
	}
	if !r.RemoveNetwork("weather") {
		t.Fatal("RemoveNetwork: not running")
	}
	if n := len(r.PropagatorNodes()); n != 0 {
		t.Fatalf("%d propagators still run after the network was removed", n)
	}
	if _, err := r.Refine(ctx, "weather.rome.temp_f", lattice.Range{Min: 32, Max: 32}); err != nil {
		t.Fatal(err)
	}
	if err := r.WaitQuiescent(ctx); err != nil {
		t.Fatal(err)
	}
	if v := r.Value("weather.rome.temp_c"); !lattice.IsNothing(v) {
		t.Fatalf("weather.rome.temp_c = %s after the network was removed", enc(v))
	}
}

func nodeRuns(r *replica.Replica, name string) uint64 {
	for _, n := range r.PropagatorNodes() {
		if n.Name == name {
			return n.Runs
		}
	}
	return 0
}

// Three replicas running a shared network split its instances (each runs
// on one); when one stops, the others take its share.
func TestSharedNetworkSplitsAndTakesOver(t *testing.T) {
	s := runBroker(t)
	var reps []*replica.Replica
	for i := range 3 {
		reps = append(reps, startReplica(t, s.ClientURL(), func(c *replica.Config) {
			c.Origin = fmt.Sprintf("r%d", i)
			c.Heartbeat, c.MemberTimeout = 50*time.Millisecond, 300*time.Millisecond
			c.Networks = []replica.Network{liveNetwork(t, "weather", weatherYAML("5/9"), true)}
		}))
	}
	ctx := ctxT(t)
	const cities = 30
	for i := range cities {
		if _, err := reps[i%3].Refine(ctx, fmt.Sprintf("weather.c%d.temp_f", i), lattice.Range{Min: 32, Max: 212}); err != nil {
			t.Fatal(err)
		}
	}
	running := func(rs []*replica.Replica) (sum int, each []int) {
		for _, r := range rs {
			ts := templateStatus(r, "weather", "c.<city>")
			sum += ts.Running
			each = append(each, ts.Running)
		}
		return sum, each
	}
	waitFor(t, "each instance to run on exactly one replica", func() bool {
		sum, _ := running(reps)
		for _, r := range reps {
			if len(r.Networks()) == 0 || len(r.Networks()[0].Members) != 3 {
				return false
			}
		}
		return sum == cities
	})
	_, each := running(reps)
	for i, n := range each {
		if n == 0 || n == cities {
			t.Errorf("replica %d runs %d of %d instances: not shared", i, n, cities)
		}
	}
	for i := range cities {
		waitValue(t, reps[0], fmt.Sprintf("weather.c%d.temp_c", i), lattice.Range{Min: 0, Max: 100})
	}
	reps[2].Close()
	waitFor(t, "the two others to run every instance", func() bool {
		sum, _ := running(reps[:2])
		return sum == cities && len(reps[0].Networks()[0].Members) == 2
	})
	for i := cities; i < cities+10; i++ {
		if _, err := reps[0].Refine(ctx, fmt.Sprintf("weather.c%d.temp_f", i), lattice.Range{Min: 32, Max: 212}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range cities + 10 {
		waitValue(t, reps[1], fmt.Sprintf("weather.c%d.temp_c", i), lattice.Range{Min: 0, Max: 100})
	}
	waitValue(t, reps[1], "weather.hottest", lattice.Max{Value: 100})
	if !strings.HasPrefix(reps[0].Networks()[0].Members[0], "r") {
		t.Errorf("members: %v", reps[0].Networks()[0].Members)
	}
}

// A network that declares a cell with another type than the one the log
// established is reported, and the cell keeps its type.
func TestNetworkTypeConflictIsReported(t *testing.T) {
	s := runBroker(t)
	r := startReplica(t, s.ClientURL(), func(c *replica.Config) { c.LiveNetworks = true })
	if _, err := r.Refine(ctxT(t), "weather.oslo.temp_f", lattice.Number{Value: 20}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetNetwork(liveNetwork(t, "weather", weatherYAML("5/9"), false)); err != nil {
		t.Fatal(err)
	}
	if ns := r.Networks(); len(ns) != 1 || ns[0].Conflicts != 1 {
		t.Fatalf("networks %+v: want one type conflict", ns)
	}
	if c, _ := r.Get("weather.oslo.temp_f"); c.Type != lattice.TypeNumber {
		t.Fatalf("the cell's type became %q", c.Type)
	}
	if err := r.SetNetwork(replica.Network{}); err == nil {
		t.Error("a network without a name was set")
	}
}
