package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/httpapi"
)

// The refine comparison: refines through a replica's Refine (NATS, with
// read-your-writes: the call returns once JetStream acknowledged the
// update and the replica folded it) and through a sidecar's HTTP API
// (POST, the same wait), against raw JetStream publishes with
// acknowledgement, with as many concurrent clients each. The note of the
// HTTP row gives an HTTP server that answers at once (httpEcho): what the
// HTTP layer alone allows on this machine.

// refineCells is how many cells the refines go to.
const refineCells = 1000

func benchRefine(ctx context.Context, e *benchEnv, _ jetstream.JetStream) ([]benchRow, error) {
	sc, err := e.sidecar(ctx, "refine")
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	nc, err := e.connect("raw publisher")
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	var seq atomic.Int64 // values keep growing, so that every refine changes its cell
	next := func() (string, lattice.Max) {
		i := seq.Add(1)
		return fmt.Sprintf("refine.c%d", i%refineCells), lattice.Max{Value: float64(i)}
	}
	n := e.cfg.Refines
	var rows []benchRow
	for _, k := range e.cfg.Clients {
		raw, err := medianOf(e.cfg.Runs, func() (time.Duration, error) {
			return concurrently(ctx, k, n, func() error {
				cell, v := next()
				_, err := js.Publish(ctx, e.subject(cell), lattice.Encode(v))
				return err
			})
		})
		if err != nil {
			return nil, fmt.Errorf("raw publish: %w", err)
		}
		viaNATS, err := medianOf(e.cfg.Runs, func() (time.Duration, error) {
			return concurrently(ctx, k, n, func() error {
				cell, v := next()
				_, err := sc.r.Refine(ctx, cell, v)
				return err
			})
		})
		if err != nil {
			return nil, fmt.Errorf("refine through NATS: %w", err)
		}
		viaHTTP, err := medianOf(e.cfg.Runs, func() (time.Duration, error) {
			return concurrently(ctx, k, n, func() error {
				cell, v := next()
				_, err := sc.c.Refine(ctx, cell, lattice.Encode(v))
				return err
			})
		})
		if err != nil {
			return nil, fmt.Errorf("refine through HTTP: %w", err)
		}
		echo, err := medianOf(e.cfg.Runs, func() (time.Duration, error) { return httpEcho(ctx, k, n) })
		if err != nil {
			return nil, fmt.Errorf("HTTP echo: %w", err)
		}
		base := rate(n, raw)
		for _, m := range []struct {
			via string
			d   time.Duration
		}{{"nats", viaNATS}, {"http", viaHTTP}} {
			r := rate(n, m.d)
			row := benchRow{
				Name:  fmt.Sprintf("refine %s, %d clients", m.via, k),
				Dprop: r, Unit: "req/s", Baseline: "JetStream publish + ack", BaselineValue: base, Ratio: r / base,
			}
			if m.via == "http" {
				row.Note = fmt.Sprintf("an HTTP server that answers at once, the ceiling of any HTTP API here: %.0f req/s, %.2f of the raw publishes; the refines %.2f of it",
					rate(n, echo), rate(n, echo)/base, r/rate(n, echo))
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// httpEcho runs n POSTs from k clients, on loopback, to an HTTP server
// that reads each body and answers a small JSON value at once: as much as
// Go's HTTP server and client do here, with no work behind them.
func httpEcho(ctx context.Context, k, n int) (time.Duration, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("listen: %w", err)
	}
	body := lattice.Encode(lattice.Max{Value: 1})
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 4096}
	defer tr.CloseIdleConnections()
	hc, url := &http.Client{Transport: tr}, "http://"+l.Addr().String()+"/"
	return concurrently(ctx, k, n, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	})
}

// concurrently runs op n times from k goroutines and returns how long it
// took; the first error stops it.
func concurrently(ctx context.Context, k, n int, op func() error) (time.Duration, error) {
	var left atomic.Int64
	left.Store(int64(n))
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	start := time.Now()
	for range k {
		wg.Go(func() {
			for left.Add(-1) >= 0 && ctx.Err() == nil {
				if err := op(); err != nil {
					once.Do(func() { first = err })
					left.Store(0)
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return time.Since(start), first
}

// benchSidecar is a replica with its HTTP API on a port of loopback, and
// a client of it.
type benchSidecar struct {
	r   *benchReplica
	api *httpapi.Server
	srv *http.Server
	c   *httpapi.Client
	tr  *http.Transport
}

// sidecar starts a replica of the bench's cells, waits for it to be
// ready, and serves its HTTP API on a free port of 127.0.0.1.
func (e *benchEnv) sidecar(ctx context.Context, name string) (*benchSidecar, error) {
	r, err := e.replica(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := r.waitReady(ctx); err != nil {
		r.Close()
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	api := httpapi.New(r.Replica, httpapi.Options{Logger: e.quiet, Registry: prometheus.NewRegistry()})
	srv := api.HTTPServer()
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Warn("bench: sidecar's HTTP server", "err", err)
		}
	}()
	tr := &http.Transport{MaxIdleConnsPerHost: 4096}
	c := httpapi.NewClient("http://"+l.Addr().String(), &http.Client{Transport: tr})
	return &benchSidecar{r: r, api: api, srv: srv, c: c, tr: tr}, nil
}

func (s *benchSidecar) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.api.Close()
	_ = s.srv.Shutdown(ctx)
	s.tr.CloseIdleConnections()
	s.r.Close()
}
