package replica_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/replica"
)

var (
	benchChain   = flag.Int("bench.chain", 1000, "propagators in BenchmarkChain")
	benchFanIn   = flag.Int("bench.fanin", 10_000, "input cells in BenchmarkFanIn")
	benchFanUpds = flag.Int("bench.fanupdates", 100_000, "updates in BenchmarkFanIn")
)

// BenchmarkChain measures a chain of bench.chain propagators, alternately
// copy and linear (y = x + 1) over range cells, split across two replicas
// sharing one broker (even links in one, odd in the other, so every hop
// crosses between them): the time from an update of the first cell to the
// last cell's change.
func BenchmarkChain(b *testing.B) {
	n := *benchChain
	srv := runBroker(b)
	url := srv.ClientURL()
	cell := func(i int) propagators.Cell {
		return propagators.Cell{Name: fmt.Sprintf("chain.c%d", i), Type: "range"}
	}
	declared := map[string]string{}
	var even, odd []propagators.Propagator
	for i := range n {
		declared[cell(i).Name] = "range"
		var p propagators.Propagator
		var err error
		if i%2 == 0 {
			p, err = propagators.Copy(fmt.Sprintf("link%d", i), cell(i), cell(i+1))
		} else {
			p, err = propagators.Linear(fmt.Sprintf("link%d", i), cell(i), cell(i+1), propagators.Ratio{Num: 1, Den: 1}, propagators.Ratio{Num: 1, Den: 1})
		}
		if err != nil {
			b.Fatal(err)
		}
		if i%2 == 0 {
			even = append(even, p)
		} else {
			odd = append(odd, p)
		}
	}
	declared[cell(n).Name] = "range"
	a := startReplica(b, url, func(c *replica.Config) { c.Declared, c.Propagators = declared, even })
	z := startReplica(b, url, func(c *replica.Config) { c.Declared, c.Propagators = declared, odd })
	ctx := context.Background()
	hops := float64(n / 2) // linear links add 1 each
	var total time.Duration
	i := 0
	for b.Loop() {
		i++
		lo := -float64(i)
		start := time.Now()
		if _, err := a.Refine(ctx, cell(0).Name, lattice.Range{Min: lo, Max: 0}); err != nil {
			b.Fatal(err)
		}
		if _, err := z.Await(ctx, cell(n).Name, lattice.Range{Min: lo + hops, Max: hops}); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
	}
	per := total / time.Duration(i)
	b.ReportMetric(per.Seconds()*1000, "ms/chain")
	b.ReportMetric(float64(per.Microseconds())/float64(n), "µs/hop")
	b.Logf("a chain of %d propagators over two replicas: %v from the first update to the last cell's change (%.0f µs a hop)",
		n, per, float64(per.Microseconds())/float64(n))
}

// BenchmarkFanIn measures a max aggregate over bench.fanin input cells in
// one replica while bench.fanupdates updates to random inputs are published
// straight to JetStream: updates folded and propagated per second, until the
// aggregate holds the largest value written.
func BenchmarkFanIn(b *testing.B) {
	n, updates := *benchFanIn, *benchFanUpds
	srv := runBroker(b)
	url := srv.ClientURL()
	inputs := make([]propagators.Cell, n)
	declared := map[string]string{"fan.out": "max"}
	for i := range inputs {
		inputs[i] = propagators.Cell{Name: fmt.Sprintf("fan.in.%d", i), Type: "max"}
		declared[inputs[i].Name] = "max"
	}
	agg, err := propagators.Max("fan-max", inputs, propagators.Cell{Name: "fan.out", Type: "max"})
	if err != nil {
		b.Fatal(err)
	}
	r := startReplica(b, url, func(c *replica.Config) {
		c.Declared, c.Propagators = declared, []propagators.Propagator{agg}
	})
	nc := connect(b, url)
	js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	ctx := context.Background()
	round := 0
	var total time.Duration
	for b.Loop() {
		round++
		base := float64(round * updates)
		top := 0.0
		start := time.Now()
		for i := range updates {
			v := base + float64(rand.IntN(updates))
			top = max(top, v)
			if _, err := js.PublishAsync("dprop.cell."+inputs[rand.IntN(n)].Name, lattice.Encode(lattice.Max{Value: v})); err != nil {
				b.Fatal(err)
			}
			if i%2048 == 2047 {
				<-js.PublishAsyncComplete()
			}
		}
		<-js.PublishAsyncComplete()
		if _, err := r.Await(ctx, "fan.out", lattice.Max{Value: top}); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
	}
	rate := float64(round*updates) / total.Seconds()
	st := r.PropagatorStats()
	b.ReportMetric(rate, "updates/s")
	b.Logf("%d inputs into one max: %.0f updates/s published, folded and propagated (the aggregate ran %d times for %d updates)",
		n, rate, st.Fires, round*updates)
}
