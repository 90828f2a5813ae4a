package propagators_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
)

// BenchmarkChain measures a chain of 1,000 propagators, copy and linear
// (y = x + 1) in turn, over interval cells c0 … c1000: one op is the time from
// refining c0 to the change of c1000. The linear steps are bidirectional, so
// every hop also checks the way back (and suppresses it).
func BenchmarkChain(b *testing.B) {
	const n = 1000
	cells := newMemCells()
	var props []propagators.Propagator
	for i := range n {
		x, y := cell("c"+itoa(i), "interval"), cell("c"+itoa(i+1), "interval")
		if i%2 == 0 {
			props = append(props, must(propagators.Copy("", x, y)))
		} else {
			props = append(props, must(propagators.Linear("", x, y, propagators.Ratio{Num: 1}, propagators.Ratio{Num: 1})))
		}
	}
	last := "c" + itoa(n)
	reached := make(chan struct{}, 1)
	cells.onChange = func(c string, _ lattice.Value) {
		if c == last {
			reached <- struct{}{}
		}
	}
	rt := start(b, cells, propagators.Config{}, props...)
	settle(b, rt)
	b.ResetTimer()
	for i := range b.N {
		w := 1e9 - float64(i)
		cells.set(b, "c0", iv(-w, w))
		<-reached
		b.StopTimer()
		settle(b, rt)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/n, "µs/hop")
}

// BenchmarkFanIn measures 10,000 input cells aggregated into one: updates
// per second, each refining one input, until the aggregate has folded them
// all (the aggregate reads only the inputs that changed, and coalesces).
func BenchmarkFanIn(b *testing.B) {
	b.Run("max", func(b *testing.B) {
		fanIn(b, "max", func(i int) lattice.Value { return maxv(float64(i)) }, propagators.Max, "max")
	})
	b.Run("gcounter", func(b *testing.B) {
		fanIn(b, "gcounter", func(i int) lattice.Value {
			return lattice.NewGCounter(map[string]int64{"w": int64(i + 1)})
		}, propagators.CounterSum, "gcounter")
	})
}

func fanIn(b *testing.B, typ string, value func(i int) lattice.Value,
	ctor func(string, []propagators.Cell, propagators.Cell) (*propagators.Func, error), outType string) {
	const n = 10_000
	cells := newMemCells()
	ins := make([]propagators.Cell, n)
	for i := range ins {
		ins[i] = cell("in."+itoa(i), typ)
	}
	rt := start(b, cells, propagators.Config{}, must(ctor("agg", ins, cell("out", outType))))
	settle(b, rt)
	var seq atomic.Int64
	b.ResetTimer()
	begin := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(seq.Add(1))
			cells.set(b, ins[i%n].Name, value(i))
		}
	})
	settle(b, rt)
	elapsed := time.Since(begin)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "updates/s")
	b.ReportMetric(float64(rt.Stats().Fires)/float64(b.N), "runs/update")
}
