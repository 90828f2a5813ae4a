package replica_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
)

// BenchmarkOutboxTake measures refines taken into the outbox while the
// broker is down: each one synced to disk before it returns, by one
// writer (a sync per refine) and by 64 at once (syncs shared: group
// commit).
func BenchmarkOutboxTake(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			srv := runBroker(b)
			r := startReplica(b, srv.ClientURL(), withOutbox(filepath.Join(b.TempDir(), "outbox")))
			srv.Shutdown()
			waitFor(b, "the replica to notice", func() bool { _, err := r.Refine(ctxT(b), "bench.warm", lattice.Max{Value: 1}); return err == nil })
			var n atomic.Int64
			b.ResetTimer()
			if writers == 1 {
				for i := range b.N {
					if _, err := r.Refine(ctxT(b), fmt.Sprintf("bench.t%d", i%1000), lattice.Max{Value: float64(i)}); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.SetParallelism(writers)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := n.Add(1)
						if _, err := r.Refine(ctxT(b), fmt.Sprintf("bench.t%d", i%1000), lattice.Max{Value: float64(i)}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refines/s")
		})
	}
}

// BenchmarkOutboxDrain measures how fast a sidecar delivers what its
// outbox took while the broker was down, once the broker is back (each
// update with its message id, removed from the outbox once acknowledged),
// against a plain JetStream async publish of as many messages on the same
// server, with and without message ids, each with 4,096 acknowledgements
// outstanding at most (the drain's window too). The drain is timed from
// its first delivery: the broker's restart and the client's reconnection
// do not count.
func BenchmarkOutboxDrain(b *testing.B) {
	const n = 20_000
	for range b.N {
		srv := runBroker(b)
		r := startReplica(b, srv.ClientURL(), withOutbox(filepath.Join(b.TempDir(), "outbox")), func(c *replica.Config) { c.OutboxMaxBytes = 0 })
		srv.Shutdown()
		var wg sync.WaitGroup
		for w := range 64 { // filled by 64 writers: syncs shared
			wg.Go(func() {
				for i := w; i < n; i += 64 {
					if _, err := r.Refine(ctxT(b), fmt.Sprintf("drain.c%d", i%1000), lattice.Max{Value: float64(i)}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if r.Outbox().Pending != n {
			b.Fatalf("%d pending, want %d", r.Outbox().Pending, n)
		}
		// Timed from the first delivery, so that the broker's restart and
		// the client's reconnection do not count.
		srv = brokertest.RestartServer(b, srv)
		waitFor(b, "the first delivery", func() bool { return r.Outbox().Delivered > 0 })
		start, first := time.Now(), r.Outbox().Delivered
		waitFor(b, "the outbox drained", func() bool { return r.Outbox().Pending == 0 })
		drain := time.Since(start) * time.Duration(n) / time.Duration(n-first)

		nc := connect(b, srv.ClientURL())
		raw := func(ids bool) time.Duration {
			js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
			if err != nil {
				b.Fatal(err)
			}
			payload := lattice.Encode(lattice.Max{Value: 1})
			start := time.Now()
			for i := range n {
				m := nats.NewMsg(fmt.Sprintf("dprop.cell.raw.c%d", i%1000))
				m.Data = payload
				opts := []jetstream.PublishOpt{jetstream.WithStallWait(time.Minute)}
				if ids {
					opts = append(opts, jetstream.WithMsgID(fmt.Sprintf("raw-%v-%d", start.UnixNano(), i)))
				}
				if _, err := js.PublishMsgAsync(m, opts...); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("raw publishes not acknowledged")
			}
			return time.Since(start)
		}
		plain, withIDs := raw(false), raw(true)
		b.ReportMetric(n/drain.Seconds(), "drained/s")
		b.ReportMetric(n/plain.Seconds(), "raw-async/s")
		b.ReportMetric(n/withIDs.Seconds(), "raw-async-ids/s")
		r.Close()
	}
}

// BenchmarkOutboxDrainOps measures how fast a sidecar delivers increments
// its outbox took while the broker was down: with an idempotency key each
// (each delivered alone, its answer awaited, so that a key stored
// meanwhile by another sidecar is seen before anything builds on it) and
// without (pipelined like refines), in the same run, over 10 counters.
func BenchmarkOutboxDrainOps(b *testing.B) {
	const n = 10_000
	rate := func(keyed bool) float64 {
		srv := runBroker(b)
		r := startReplica(b, srv.ClientURL(), withOutbox(filepath.Join(b.TempDir(), "outbox")), func(c *replica.Config) { c.OutboxMaxBytes = 0 })
		defer r.Close()
		srv.Shutdown()
		var wg sync.WaitGroup
		for w := range 10 { // one writer per counter
			wg.Go(func() {
				for i := w; i < n; i += 10 {
					var opts []replica.RefineOption
					if keyed {
						opts = append(opts, replica.WithIdempotencyKey(fmt.Sprint("k", i)))
					}
					if _, err := r.ApplyJSON(ctxT(b), fmt.Sprintf("drain.ops%d", w), []byte(`{"op":"inc"}`), opts...); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		// Timed from the first delivery, so that the broker's restart and
		// the client's reconnection do not count.
		var first atomic.Int64
		defer replica.SetOutboxHooks(nil, func(string) { first.CompareAndSwap(0, time.Now().UnixNano()) })()
		brokertest.RestartServer(b, srv)
		waitFor(b, "the outbox drained", func() bool { return r.Outbox().Pending == 0 })
		return n / time.Since(time.Unix(0, first.Load())).Seconds()
	}
	for range b.N {
		b.ReportMetric(rate(true), "keyed-incs/s")
		b.ReportMetric(rate(false), "incs/s")
	}
}
