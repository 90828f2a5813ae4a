package replica_test

import (
	"errors"
	"flag"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
)

var (
	benchInstances = flag.Int("bench.instances", 100_000, "cities (template instances) in BenchmarkTemplateInstances")
	benchMembers   = flag.Int("bench.members", 4, "replicas sharing the network in BenchmarkTemplateInstances")
	benchLiveUpds  = flag.Int("bench.liveupdates", 20_000, "live updates of temp_f in BenchmarkTemplateInstances")
	benchWorkers   = flag.Int("bench.workers", 0, "propagator workers of each replica in BenchmarkTemplateInstances (0: the default)")
)

// BenchmarkTemplateInstances runs the temperature template over
// bench.instances cities shared by bench.members replicas of one broker,
// and reports:
//
//   - cold-s: from starting the replicas over a log holding every city's
//     temp_f to every instance running on exactly one of them;
//     base-cold-s is the same start without the network (the fold alone);
//   - converge-s and prop/s: until every temp_c is computed (one
//     refinement published, acknowledged and folded per instance);
//   - B/inst: heap per instance, over all the replicas (each records every
//     instance and runs its share), less the same replicas without the
//     network;
//   - live/s: temp_f updates of running instances propagated to temp_c
//     per second, beside base-live/s, the same updates folded without
//     the network;
//   - takeover-s: from a replica's death (its connection cut: no goodbye)
//     to its share running on the others, with 1 s heartbeats.
//
// Run it briefly: go test -run XXX -bench TemplateInstances -benchtime 1x ./replica
func BenchmarkTemplateInstances(b *testing.B) {
	n, members, updates := *benchInstances, *benchMembers, min(*benchLiveUpds, *benchInstances)
	srv := runBroker(b)
	url := srv.ClientURL()
	city := func(i int) string { return fmt.Sprintf("weather.c%d.temp_f", i) }
	publish(b, url, n, func(i int) (string, lattice.Value) { return city(i), lattice.Range{Min: 32, Max: 212} })
	net := liveNetwork(b, "weather", weatherYAML("5/9"), true)
	for b.Loop() {
		// The fold alone: the baseline of time and memory.
		h0 := heap()
		start := time.Now()
		base := startMembers(b, url, members, nil, nil)
		baseCold := time.Since(start)
		baseHeap := heap() - h0
		for _, r := range base {
			r.rep.Close()
		}

		h0 = heap()
		start = time.Now()
		// Counted as the fold goes (a scan of every cell, polled, would
		// slow the fold it waits for).
		var celsiusCells atomic.Int64
		seen := map[string]bool{}
		var seenMu sync.Mutex
		reps := startMembers(b, url, members, &net, func(c *replica.Config) {
			if c.Origin != "m0" {
				return
			}
			c.OnChange = func(ev replica.Event) {
				if !strings.HasSuffix(ev.Cell, ".temp_c") {
					return
				}
				seenMu.Lock()
				if !seen[ev.Cell] {
					seen[ev.Cell] = true
					celsiusCells.Add(1)
				}
				seenMu.Unlock()
			}
		})
		waitLong(b, "every instance to run on one replica", func() bool { return runningSum(reps) == n })
		cold := time.Since(start)
		waitLong(b, "every temp_c", func() bool { return int(celsiusCells.Load()) == n })
		converge := time.Since(start)
		if err := reps[0].rep.WaitQuiescent(ctxT(b)); err != nil {
			b.Fatal(err)
		}
		perInst := float64(heap()-h0-baseHeap) / float64(n)

		// Live updates: widen temp_f of the first cities; each widens temp_c.
		live := func(hi float64) time.Duration {
			start := time.Now()
			publish(b, url, updates, func(i int) (string, lattice.Value) { return city(i), lattice.Range{Min: 32, Max: hi} })
			celsius := (hi - 32) * 5 / 9
			waitLong(b, "the live updates to propagate", func() bool {
				for i := updates - 1; i >= 0; i -= max(1, updates/100) {
					if v, ok := reps[0].rep.Value(fmt.Sprintf("weather.c%d.temp_c", i)).(lattice.Range); !ok || v.Max < celsius {
						return false
					}
				}
				return true
			})
			return time.Since(start)
		}
		liveT := live(300)
		// The baseline: the same number of updates, folded, on cells no
		// propagator reads.
		start = time.Now()
		publish(b, url, updates, func(i int) (string, lattice.Value) {
			return fmt.Sprintf("other.c%d", i), lattice.Range{Min: 32, Max: 300}
		})
		last := fmt.Sprintf("other.c%d", updates-1)
		waitLong(b, "the baseline updates to fold", func() bool { return !lattice.IsNothing(reps[0].rep.Value(last)) })
		baseLive := time.Since(start)

		// A replica dies: its connection is cut, so it says no goodbye.
		victim := reps[len(reps)-1]
		start = time.Now()
		victim.nc.Close()
		victim.rep.Close() // what a dead process does not do: its propagators' failed refines
		waitLong(b, "the survivors to run every instance", func() bool { return runningSum(reps[:len(reps)-1]) == n })
		takeover := time.Since(start)

		b.ReportMetric(cold.Seconds(), "cold-s")
		b.ReportMetric(baseCold.Seconds(), "base-cold-s")
		b.ReportMetric(converge.Seconds(), "converge-s")
		b.ReportMetric(float64(n)/converge.Seconds(), "prop/s")
		b.ReportMetric(perInst, "B/inst")
		b.ReportMetric(float64(updates)/liveT.Seconds(), "live/s")
		b.ReportMetric(float64(updates)/baseLive.Seconds(), "base-live/s")
		b.ReportMetric(takeover.Seconds(), "takeover-s")
		b.Logf("%d instances over %d replicas: running in %v (the fold alone %v), converged in %v; %.0f B an instance; "+
			"live %0.f updates/s (fold alone %.0f/s); takeover %v",
			n, members, cold.Round(time.Millisecond), baseCold.Round(time.Millisecond), converge.Round(time.Millisecond), perInst,
			float64(updates)/liveT.Seconds(), float64(updates)/baseLive.Seconds(), takeover.Round(time.Millisecond))
		for _, r := range reps {
			r.rep.Close()
		}
	}
}

type member struct {
	rep *replica.Replica
	nc  *nats.Conn
}

// startMembers starts replicas (running net, if given) and waits until
// they are ready.
func startMembers(b *testing.B, url string, count int, net *replica.Network, mod func(*replica.Config)) []member {
	var out []member
	for i := range count {
		nc := connect(b, url)
		r := startReplicaNoWait(b, url, func(c *replica.Config) {
			c.Conn, c.Origin, c.PropagatorWorkers = nc, fmt.Sprintf("m%d", i), *benchWorkers
			if net != nil {
				c.Networks = []replica.Network{*net}
			}
			if mod != nil {
				mod(c)
			}
		})
		out = append(out, member{r, nc})
	}
	for _, m := range out {
		waitReady(b, m.rep)
	}
	return out
}

func runningSum(ms []member) int {
	sum := 0
	for _, m := range ms {
		for _, n := range m.rep.Networks() {
			for _, t := range n.Templates {
				if t.Name == "c.<city>" {
					sum += t.Running
				}
			}
		}
	}
	return sum
}

// publish publishes n updates asynchronously and waits for their acks.
func publish(b *testing.B, url string, n int, update func(i int) (string, lattice.Value)) {
	b.Helper()
	nc := connect(b, url)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		cell, v := update(i)
		for {
			_, err := js.PublishAsync("dprop.cell."+cell, lattice.Encode(v))
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				b.Fatal(err)
			}
			<-js.PublishAsyncComplete() // the broker is behind: let it catch up
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publishes not acknowledged within a minute")
	}
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// waitLong waits for cond like waitFor, but for up to ten minutes: a
// large run on a loaded machine takes longer than a test's wait.
func waitLong(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
