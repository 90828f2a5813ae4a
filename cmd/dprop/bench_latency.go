package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/httpapi"
)

// The latency comparison: a JetStream publish (acknowledged) to a cell,
// and the time until the change reaches an SSE client of a sidecar
// (replica, HTTP API, event stream over loopback) — against the time
// until a plain NATS subscriber of the cell's subject has the message,
// measured on the same publishes. Once idle, once while a background
// writer publishes LoadRate updates a second to other cells, which the
// sidecar folds as well.

// sampleTimeout bounds the wait for one sample's arrivals.
const sampleTimeout = 10 * time.Second

// loadCells is how many cells the background writer's updates go to.
const loadCells = 1000

func benchLatency(ctx context.Context, e *benchEnv, _ jetstream.JetStream) ([]benchRow, error) {
	sc, err := e.sidecar(ctx, "latency")
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	rows, err := e.latency(ctx, sc, "latency.idle", "idle", 0)
	if err != nil || e.cfg.LoadRate == 0 {
		return rows, err
	}
	more, err := e.latency(ctx, sc, "latency.load", "load", e.cfg.LoadRate)
	return append(rows, more...), err
}

// arrival is when a sample's update arrived.
type arrival struct {
	at time.Time
	i  float64
}

// latency takes the samples on cell, with a background load of loadRate
// updates a second (none if 0).
func (e *benchEnv) latency(ctx context.Context, sc *benchSidecar, cell, label string, loadRate float64) ([]benchRow, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nc, err := e.connect("latency publisher")
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	sse, plain := make(chan arrival, 16), make(chan arrival, 16)
	sub, err := nc.Subscribe(e.subject(cell), func(m *nats.Msg) {
		if v, err := lattice.Decode(m.Data); err == nil {
			if mx, ok := v.(lattice.Max); ok {
				send(ctx, plain, arrival{time.Now(), mx.Value})
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	defer sub.Unsubscribe()
	opened, watched := make(chan struct{}), make(chan struct{})
	var watchErr error // set before watched is closed
	go func() {
		defer close(watched)
		watchErr = sc.c.Watch(ctx, cell, func(ev httpapi.Event) error {
			v, err := lattice.Decode(ev.Value)
			if err != nil {
				return fmt.Errorf("event of %s: %w", cell, err)
			}
			if mx, ok := v.(lattice.Max); ok {
				send(ctx, sse, arrival{time.Now(), mx.Value})
			}
			return nil
		}, httpapi.OnOpen(func() { close(opened) }))
	}()
	defer func() { cancel(); <-watched }()
	select {
	case <-opened:
	case <-watched:
		return nil, fmt.Errorf("event stream: %w", watchErr)
	case <-time.After(sampleTimeout):
		return nil, fmt.Errorf("event stream: not open after %v", sampleTimeout)
	}
	var load *backgroundLoad
	if loadRate > 0 {
		if load, err = e.startLoad(ctx, loadRate); err != nil {
			return nil, err
		}
		defer load.stop()
	}
	viaSSE, viaNATS := make([]time.Duration, 0, e.cfg.Samples), make([]time.Duration, 0, e.cfg.Samples)
	var behind string // why the samples stopped early, if they did
	for i := 1; i <= e.cfg.Samples; i++ {
		start := time.Now()
		if _, err := js.Publish(ctx, e.subject(cell), lattice.Encode(lattice.Max{Value: float64(i)})); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		a, err := arrivalOf(ctx, plain, float64(i), nil)
		if err != nil {
			return nil, fmt.Errorf("plain subscriber: %w", err)
		}
		viaNATS = append(viaNATS, a.Sub(start))
		a, err = arrivalOf(ctx, sse, float64(i), watched)
		if errors.Is(err, errSampleTimeout) {
			// The sidecar fell behind: what was measured stands, with
			// this sample counted as the wait, a lower bound.
			p := sc.r.Progress()
			behind = fmt.Sprintf("stopped at sample %d of %d: not at the sidecar after %v (it had folded up to seq %d, %d behind); ",
				i, e.cfg.Samples, sampleTimeout, p.Applied, p.Pending)
			viaSSE = append(viaSSE, sampleTimeout)
			break
		}
		if errors.Is(err, errWatchEnded) {
			err = fmt.Errorf("%w: %w", err, watchErr)
		}
		if err != nil {
			return nil, fmt.Errorf("event stream: %w", err)
		}
		viaSSE = append(viaSSE, a.Sub(start))
	}
	note := behind
	if load != nil {
		sent, took, failed := load.stop()
		note += fmt.Sprintf("background writer: %.0f updates/s to %d other cells (%d failed)", rate(sent, took), loadCells, failed)
	}
	var rows []benchRow
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p99", 0.99}} {
		d, b := quantile(viaSSE, q.q), quantile(viaNATS, q.q)
		rows = append(rows, benchRow{Name: fmt.Sprintf("publish -> SSE %s, %s", q.name, label),
			Dprop: us(d), Unit: "µs", Baseline: "plain NATS subscriber", BaselineValue: us(b), Ratio: us(b) / us(d), Note: note})
		note = ""
	}
	return rows, nil
}

// send sends a on c unless ctx ends first.
func send(ctx context.Context, c chan<- arrival, a arrival) {
	select {
	case c <- a:
	case <-ctx.Done():
	}
}

// errSampleTimeout says that a sample did not arrive within sampleTimeout.
var errSampleTimeout = fmt.Errorf("not seen after %v", sampleTimeout)

// errWatchEnded says that the event stream ended before a sample came.
var errWatchEnded = errors.New("the event stream ended")

// arrivalOf waits for the arrival of value i on c, skipping older ones,
// unless ended is closed first.
func arrivalOf(ctx context.Context, c <-chan arrival, i float64, ended <-chan struct{}) (time.Time, error) {
	t := time.NewTimer(sampleTimeout)
	defer t.Stop()
	for {
		select {
		case a := <-c:
			if a.i >= i {
				return a.at, nil
			}
		case <-ended:
			return time.Time{}, errWatchEnded
		case <-t.C:
			return time.Time{}, fmt.Errorf("update %v: %w", i, errSampleTimeout)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

// backgroundLoad is a writer publishing at a steady rate, asynchronously.
type backgroundLoad struct {
	cancel context.CancelFunc
	done   chan struct{}
	start  time.Time
	sent   int
	failed atomic.Int64
	took   time.Duration
	nc     *nats.Conn
	once   sync.Once
}

// startLoad starts a writer publishing perSecond updates a second to
// loadCells cells, paced every millisecond.
func (e *benchEnv) startLoad(ctx context.Context, perSecond float64) (*backgroundLoad, error) {
	nc, err := e.connect("background writer")
	if err != nil {
		return nil, err
	}
	l := &backgroundLoad{done: make(chan struct{}), nc: nc}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(publishWindow),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { l.failed.Add(1) }))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	ctx, l.cancel = context.WithCancel(ctx)
	l.start = time.Now()
	go func() {
		defer close(l.done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				l.took = time.Since(l.start)
				return
			case <-tick.C:
			}
			due := int(perSecond * time.Since(l.start).Seconds())
			for ; l.sent < due && ctx.Err() == nil; l.sent++ {
				subject := e.subject(fmt.Sprintf("load.c%d", l.sent%loadCells))
				if _, err := js.PublishAsync(subject, lattice.Encode(lattice.Max{Value: float64(l.sent)}), jetstream.WithStallWait(time.Second)); err != nil {
					l.failed.Add(1)
				}
			}
		}
	}()
	return l, nil
}

// stop stops the writer and says what it sent, in how long, and how many
// publishes failed.
func (l *backgroundLoad) stop() (sent int, took time.Duration, failed int64) {
	l.once.Do(func() {
		l.cancel()
		<-l.done
		l.nc.Close()
	})
	return l.sent, l.took, l.failed.Load()
}
