package replica_test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

// Sizes of the benchmarks; the defaults are the targets. CI runs
// them small as a smoke test, e.g. -args -bench.updates=20000.
var (
	benchUpdates     = flag.Int("bench.updates", 1_000_000, "updates in the resync benchmark's stream")
	benchCells       = flag.Int("bench.cells", 10_000, "cells the resync benchmark's updates go to")
	benchMemory      = flag.Int("bench.memcells", 1_000_000, "cells in the memory benchmark")
	benchCompactMode = flag.String("bench.compact", "checkpoint", "compaction mode of BenchmarkCompaction: checkpoint or rollup")
)

// BenchmarkResync measures how long a fresh replica takes to become ready
// on a stream of bench.updates updates over bench.cells cells, against the
// fastest plain reader of the same messages in the same process: a push
// ordered consumer (what a NATS KV watch uses) or a pull ordered consumer
// with batches of 10,000, whichever is faster in the run. Both read the
// whole stream, as the replica does: with a filter (dprop.cell.>, on a
// stream that also captures forget markers) the server took 15 to 25
// times longer to deliver the same messages, matching every message's
// subject against the block's subject tree (stree.match, 85% of the CPU
// in a profile), which made round one's baseline of a filtered reader
// meaningless once the stream gained its second subject.
func BenchmarkResync(b *testing.B) {
	url := fillBench(b)
	n := *benchUpdates
	var push, pull, rep []time.Duration
	for b.Loop() {
		push = append(push, pushRead(b, url, n))
		pull = append(pull, bareRead(b, url, n))
		rep = append(rep, replicaResync(b, url))
	}
	bm, best := median(push), "push ordered"
	if pm := median(pull); pm < bm {
		bm, best = pm, "pull ordered, batches of 10,000"
	}
	rm := median(rep)
	b.ReportMetric(float64(n)/median(push).Seconds(), "push-msgs/s")
	b.ReportMetric(float64(n)/median(pull).Seconds(), "pull-msgs/s")
	b.ReportMetric(float64(n)/rm.Seconds(), "replica-msgs/s")
	b.ReportMetric(bm.Seconds()/rm.Seconds(), "ratio")
	b.Logf("resync of %d updates: push ordered %v, pull ordered %v, replica %v (ratio to the fastest, %s: %.2f, target >= 0.8)",
		n, median(push), median(pull), rm, best, bm.Seconds()/rm.Seconds())
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// bareRead reads the whole stream with a pull ordered consumer asking for
// 10,000 messages at a time, and nothing else.
func bareRead(b *testing.B, url string, n int) time.Duration {
	nc := connect(b, url)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := ctxT(b)
	start := time.Now()
	s, err := js.Stream(ctx, "DPROP")
	if err != nil {
		b.Fatal(err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	count := 0
	cc, err := cons.Consume(func(m jetstream.Msg) {
		meta, err := m.Metadata()
		if err != nil {
			b.Error(err)
		}
		_ = m.Data()
		if count++; count == n || meta.NumPending == 0 {
			close(done)
		}
	}, jetstream.PullMaxMessages(10_000))
	if err != nil {
		b.Fatal(err)
	}
	<-done
	d := time.Since(start)
	cc.Stop()
	return d
}

// pushRead reads the whole stream with a push ordered consumer (nats.go's
// legacy JetStream API, as a KV watch does), and nothing else.
func pushRead(b *testing.B, url string, n int) time.Duration {
	nc := connect(b, url)
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	count := 0
	start := time.Now()
	sub, err := js.Subscribe("", func(m *nats.Msg) {
		meta, err := m.Metadata()
		if err != nil {
			b.Error(err)
		}
		_ = m.Data
		if count++; count == n || meta.NumPending == 0 {
			close(done)
		}
	}, nats.OrderedConsumer(), nats.DeliverAll(), nats.BindStream("DPROP"))
	if err != nil {
		b.Fatal(err)
	}
	<-done
	d := time.Since(start)
	sub.Unsubscribe()
	return d
}

func replicaResync(b *testing.B, url string) time.Duration {
	nc := connect(b, url)
	defer nc.Close()
	start := time.Now()
	r, err := replica.Start(ctxT(b), replica.Config{Conn: nc, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	<-r.Ready()
	d := time.Since(start)
	r.Close()
	return d
}

// BenchmarkLivePropagation measures the time from a Refine on one replica
// to the change reaching a Watch on another, over loopback.
func BenchmarkLivePropagation(b *testing.B) {
	srv := runBroker(b)
	url := srv.ClientURL()
	writer := startReplica(b, url)
	reader := startReplica(b, url)
	w, err := reader.Watch("live.x", false)
	if err != nil {
		b.Fatal(err)
	}
	ctx := ctxT(b)
	js, _ := jetstream.New(connect(b, url))
	_ = writer
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		if _, err := js.Publish(ctx, "dprop.cell.live.x", lattice.Encode(lattice.Max{Value: float64(i)})); err != nil {
			b.Fatal(err)
		}
		for {
			ev, err := w.Next(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if ev.Value.(lattice.Max).Value == float64(i) {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, lat)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	b.ReportMetric(float64(p(0.5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(p(0.99).Microseconds()), "p99-µs")
	b.Logf("%d samples: p50 %v, p99 %v, max %v", len(lat), p(0.5), p(0.99), lat[len(lat)-1])
}

// BenchmarkMemoryPerCell measures the heap a replica's core spends per cell
// beyond the cell's value, with bench.memcells cells. The cell names (18
// bytes each here) are counted as overhead; the values (a max, boxed in 8
// bytes) are allocated before the measurement.
func BenchmarkMemoryPerCell(b *testing.B) {
	n := *benchMemory
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("sensor.%07d.temp", i)
	}
	vals := make([]lattice.Value, n)
	for i := range vals {
		vals[i] = lattice.Max{Value: float64(i)}
	}
	for b.Loop() {
		heap := func() uint64 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		before := heap()
		c := fold.NewCore("", nil, fold.Limits{})
		for i, name := range names {
			c.ApplyValue(strings.Clone(name), uint64(i+1), vals[i])
		}
		after := heap()
		per := float64(after-before) / float64(n)
		b.ReportMetric(per, "bytes/cell")
		b.Logf("%d cells: %.0f bytes per cell beyond the value, name included (target <= 300)", n, per)
		runtime.KeepAlive(c)
	}
}

// fillBench fills a fresh broker's stream with bench.updates updates over
// bench.cells cells and returns its URL.
func fillBench(b *testing.B) string {
	srv := runBroker(b)
	url := srv.ClientURL()
	n, cells := *benchUpdates, *benchCells
	start := time.Now()
	publishBulk(b, connect(b, url), n, func(i int) (string, lattice.Value) {
		return fmt.Sprintf("bench.c%d", i%cells), lattice.Max{Value: float64(i)}
	})
	b.Logf("filled the stream with %d updates over %d cells in %v", n, cells, time.Since(start).Round(time.Millisecond))
	return url
}

// BenchmarkCompaction measures a fresh replica's resync before and after
// compaction, and the compaction itself (target: after <= 5% of before),
// in the mode bench.compact (checkpoint by default; rollup is far slower on
// long logs, as the server scans the store for every subject rollup).
func BenchmarkCompaction(b *testing.B) {
	mode := replica.CompactMode(*benchCompactMode)
	url := fillBench(b)
	before := replicaResync(b, url)
	r := startReplica(b, url)
	var took time.Duration
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	for b.Loop() {
		st, err := r.Compact(ctx, replica.CompactOptions{Mode: mode})
		if err != nil {
			b.Fatal(err)
		}
		if took == 0 {
			took = st.Took
			b.Logf("compaction: %+v", st)
		}
	}
	after := replicaResync(b, url)
	b.ReportMetric(before.Seconds(), "resync-before-s")
	b.ReportMetric(after.Seconds(), "resync-after-s")
	b.ReportMetric(took.Seconds(), "compaction-s")
	b.ReportMetric(100*after.Seconds()/before.Seconds(), "after-%")
	b.Logf("resync before compaction %v, after %v (%.1f%%, target <= 5%%); compaction took %v",
		before, after, 100*after.Seconds()/before.Seconds(), took)
}
