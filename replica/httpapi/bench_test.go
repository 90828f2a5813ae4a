package httpapi_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/httpapi"
)

// Sizes of the benchmarks. CI runs them small as a smoke test, e.g.
// -bench . -benchtime 1x -args -bench.refines=200.
var (
	benchRefines = flag.Int("bench.refines", 20_000, "refines (and raw publishes) per measurement of BenchmarkRefineThroughput")
	benchCells   = flag.Int("bench.cells", 1_000, "cells the throughput benchmark's refines go to")
)

// BenchmarkRefineThroughput measures HTTP refines per second (POST, with
// read-your-writes) by 1, 8 and 64 concurrent clients against raw
// JetStream publishes with acknowledgement by as many goroutines, in the
// same run, on the same broker.
func BenchmarkRefineThroughput(b *testing.B) {
	srv := runBroker(b)
	sc := newSidecar(b, srv.ClientURL(), httpapi.Options{})
	js := brokertest.JetStream(b, connect(b, srv.ClientURL()))
	tr := &http.Transport{MaxIdleConnsPerHost: 128}
	b.Cleanup(tr.CloseIdleConnections)
	c := httpapi.NewClient(sc.ts.URL, &http.Client{Transport: tr})
	n, cells := *benchRefines, *benchCells
	payload := func(i int) (string, []byte) {
		return fmt.Sprintf("bench.c%d", i%cells), lattice.Encode(lattice.Max{Value: float64(i)})
	}
	var seq atomic.Int64 // values keep growing across runs, so each refine changes its cell
	for _, clients := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			ctx := ctxT(b)
			var viaHTTP, viaJS []time.Duration
			for b.Loop() {
				viaHTTP = append(viaHTTP, concurrently(b, clients, n, func() error {
					cell, body := payload(int(seq.Add(1)))
					_, err := c.Refine(ctx, cell, body)
					return err
				}))
				viaJS = append(viaJS, concurrently(b, clients, n, func() error {
					cell, body := payload(int(seq.Add(1)))
					_, err := js.Publish(ctx, "dprop.cell."+cell, body)
					return err
				}))
			}
			h, j := float64(n)/median(viaHTTP).Seconds(), float64(n)/median(viaJS).Seconds()
			b.ReportMetric(h, "http-req/s")
			b.ReportMetric(j, "js-pub/s")
			b.ReportMetric(h/j, "ratio")
			b.Logf("%d clients, %d requests: HTTP refine %.0f req/s, JetStream publish %.0f msgs/s, ratio %.2f", clients, n, h, j, h/j)
		})
	}
}

// concurrently runs op n times from k goroutines and returns how long it
// took.
func concurrently(b *testing.B, k, n int, op func() error) time.Duration {
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	start := time.Now()
	for range k {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkEventLatency measures the time from a publish to the event
// reaching an SSE client of a second sidecar (its own replica and HTTP
// server), over loopback: publishing with JetStream, or POSTing to a first
// sidecar. Target p99 < 5ms.
func BenchmarkEventLatency(b *testing.B) {
	srv := runBroker(b)
	first := newSidecar(b, srv.ClientURL(), httpapi.Options{})
	second := newSidecar(b, srv.ClientURL(), httpapi.Options{})
	js := brokertest.JetStream(b, connect(b, srv.ClientURL()))
	for _, via := range []string{"jetstream", "http"} {
		b.Run("via="+via, func(b *testing.B) {
			ctx, cancel := context.WithCancel(ctxT(b))
			cell := "latency." + via
			type arrival struct {
				at time.Time
				ev httpapi.Event
			}
			arrivals := make(chan arrival, 64)
			done := make(chan error, 1)
			go func() {
				done <- second.c.Watch(ctx, cell, func(ev httpapi.Event) error {
					arrivals <- arrival{time.Now(), ev}
					return nil
				})
			}()
			defer func() { cancel(); <-done }()
			waitFor(b, "the stream", func() bool { return metric(b, second.reg, "dprop_http_event_streams") == 1 })

			var lat []time.Duration
			i := 0
			for b.Loop() {
				i++
				body := lattice.Encode(lattice.Max{Value: float64(i)})
				start := time.Now()
				var err error
				if via == "jetstream" {
					_, err = js.Publish(ctx, "dprop.cell."+cell, body)
				} else {
					_, err = first.c.Refine(ctx, cell, body)
				}
				if err != nil {
					b.Fatal(err)
				}
				for {
					a := <-arrivals
					v, err := lattice.Decode(a.ev.Value)
					if err != nil {
						b.Fatal(err)
					}
					if v.(lattice.Max).Value == float64(i) {
						lat = append(lat, a.at.Sub(start))
						break
					}
				}
			}
			reportLatency(b, lat)
		})
	}
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	b.ReportMetric(float64(p(0.5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(p(0.99).Microseconds()), "p99-µs")
	b.Logf("%d samples: p50 %v, p99 %v, max %v (target p99 < 5ms)", len(lat), p(0.5), p(0.99), lat[len(lat)-1])
}
