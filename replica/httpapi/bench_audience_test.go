package httpapi_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/httpapi"
)

var (
	benchAudienceUpdates = flag.Int("bench.audience-updates", 20_000, "updates per fold-rate measurement of BenchmarkAudience")
	benchAudienceSamples = flag.Int("bench.audience-samples", 400, "publish → SSE samples per measurement of BenchmarkAudience")
	benchAudienceMatch   = flag.Int("bench.audience-match", 10, "event streams of BenchmarkAudience's audience that match the measured cell")
)

// BenchmarkAudience measures what an audience of event streams costs the
// fold: with 0, 100 and 2,000 SSE clients open on one sidecar, the rate at
// which it folds a burst of updates of one cell (published asynchronously,
// timed until the replica has folded the last), and the publish → SSE
// latency of that cell (a JetStream publish with acknowledgement, until the
// change reaches one more SSE client of the cell). The audience is what a
// dashboard's browsers look like: a few watch the measured cell itself and
// as many "aud.>", which matches it (10 in all; -bench.audience-match);
// of the others nine in ten watch another cell each and one in ten a
// pattern of another subtree. So 100 and 2,000 clients ask the sidecar for
// the same work per change, the streams that match, and differ only in how
// many are there. Ratios are against the audience of 0, in the same run.
//
//	go test -run '^$' -bench Audience -benchtime 3x ./replica/httpapi
func BenchmarkAudience(b *testing.B) {
	srv := runBroker(b)
	sc := newSidecar(b, srv.ClientURL(), httpapi.Options{MaxStreams: 4096})
	js := brokertest.JetStream(b, connect(b, srv.ClientURL()))
	tr := &http.Transport{MaxIdleConnsPerHost: 4096}
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	c := httpapi.NewClient(sc.ts.URL, hc)
	const cell = "aud.hot"
	var value atomic.Int64 // the cell's values keep growing across runs: each publish changes it
	var baseRate float64
	var baseP50, baseP99 time.Duration
	for _, n := range []int{0, 100, 2000} {
		b.Run(fmt.Sprintf("sse=%d", n), func(b *testing.B) {
			ctx, cancel := context.WithCancel(ctxT(b))
			var wg sync.WaitGroup
			defer func() { cancel(); wg.Wait() }()
			watch := func(pattern string, fn func(httpapi.Event) error) {
				wg.Go(func() {
					err := c.Watch(ctx, pattern, fn)
					if err != nil && !errors.Is(err, context.Canceled) {
						b.Errorf("watch %s: %v", pattern, err)
					}
				})
			}
			// The audience reads its streams and throws them away: parsing
			// them is the browsers' work, not the sidecar's, and here
			// both share the machine.
			var received atomic.Int64
			drain := func(path string) {
				wg.Go(func() {
					req, err := http.NewRequestWithContext(ctx, http.MethodGet, sc.ts.URL+path, nil)
					if err != nil {
						b.Error(err)
						return
					}
					resp, err := hc.Do(req)
					if err != nil {
						if ctx.Err() == nil {
							b.Errorf("%s: %v", path, err)
						}
						return
					}
					defer resp.Body.Close()
					_, _ = io.Copy(countingDiscard{&received}, resp.Body)
				})
			}
			for i := range n {
				switch {
				case i < *benchAudienceMatch && i%2 == 0:
					drain("/v1/cells/" + cell + "/events")
				case i < *benchAudienceMatch:
					drain("/v1/events?match=aud.>")
				case i%10 == 0:
					drain(fmt.Sprintf("/v1/events?match=aud.p%d.>", i))
				default:
					drain(fmt.Sprintf("/v1/cells/aud.other.c%d/events", i))
				}
			}
			arrivals := make(chan float64, 1024)
			watch(cell, func(ev httpapi.Event) error {
				if v, err := lattice.Decode(ev.Value); err == nil {
					if m, ok := v.(lattice.Max); ok {
						arrivals <- m.Value
					}
				}
				return nil
			})
			waitFor(b, "the event streams", func() bool { return metric(b, sc.reg, "dprop_http_event_streams") == float64(n+1) })

			var rates []float64
			var lat []time.Duration
			for b.Loop() {
				rates = append(rates, foldRate(b, ctx, js, sc, cell, &value, arrivals))
				lat = append(lat, publishToSSE(b, ctx, js, cell, &value, arrivals)...)
			}
			slices.Sort(rates)
			rate := rates[len(rates)/2]
			p50, p99 := quantile(lat, 0.5), quantile(lat, 0.99)
			if n == 0 {
				baseRate, baseP50, baseP99 = rate, p50, p99
			}
			b.ReportMetric(rate, "folds/s")
			b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
			b.ReportMetric(rate/baseRate, "rate-ratio")
			b.Logf("%d SSE clients: fold %.0f updates/s (%.2f of no audience); publish → SSE p50 %v (%.2f), p99 %v (%.2f); %d bytes of events to the audience",
				n, rate, rate/baseRate, p50, float64(baseP50)/float64(p50), p99, float64(baseP99)/float64(p99), received.Load())
		})
	}
}

// foldRate publishes a burst of updates of cell asynchronously and returns
// the updates folded per second, from the first publish until the sidecar
// has folded the last.
func foldRate(b *testing.B, ctx context.Context, js jetstream.JetStream, sc *sidecar, cell string, value *atomic.Int64, arrivals chan float64) float64 {
	n := *benchAudienceUpdates
	start := time.Now()
	var last jetstream.PubAckFuture
	for i := range n {
		if i > 0 && i%2000 == 0 {
			// Below the client's limit of pending acknowledgements, which
			// fails a publish that waits for room 200 ms on a busy machine.
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				b.Fatal(ctx.Err())
			}
		}
		f, err := js.PublishAsync("dprop.cell."+cell, lattice.Encode(lattice.Max{Value: float64(value.Add(1))}))
		if err != nil {
			b.Fatal(err)
		}
		last = f
	}
	var seq uint64
	select {
	case ack := <-last.Ok():
		seq = ack.Sequence
	case err := <-last.Err():
		b.Fatal(err)
	case <-ctx.Done():
		b.Fatal(ctx.Err())
	}
	for sc.r.Progress().Applied < seq {
		time.Sleep(100 * time.Microsecond)
	}
	took := time.Since(start)
	// Let the measuring client catch up before latency samples are taken.
	want := float64(value.Load())
	for v := range arrivals {
		if v == want {
			break
		}
	}
	return float64(n) / took.Seconds()
}

// publishToSSE publishes updates of cell one at a time, each acknowledged,
// and returns how long each took to reach the measuring SSE client.
func publishToSSE(b *testing.B, ctx context.Context, js jetstream.JetStream, cell string, value *atomic.Int64, arrivals chan float64) []time.Duration {
	lat := make([]time.Duration, 0, *benchAudienceSamples)
	for range *benchAudienceSamples {
		v := float64(value.Add(1))
		start := time.Now()
		if _, err := js.Publish(ctx, "dprop.cell."+cell, lattice.Encode(lattice.Max{Value: v})); err != nil {
			b.Fatal(err)
		}
		for got := range arrivals {
			if got == v {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	return lat
}

func quantile(lat []time.Duration, q float64) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// countingDiscard counts the bytes written to it and keeps none.
type countingDiscard struct{ n *atomic.Int64 }

func (c countingDiscard) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return len(p), nil
}
