package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/natsapi"
)

// The hot counter comparison: CounterWriters writers increment one counter
// CounterOps times in all, each contender on the same server:
//
//   - dprop: a gcounter cell; each writer requests {"op":"inc"} from a
//     sidecar's NATS service, answered once the update is acknowledged
//     and folded. The sidecar applies the increments that arrive
//     together as one update under its writer id: no conflicts.
//   - NATS KV: read the key, write the value plus one with the revision
//     read (compare-and-set), again on a conflict.
//   - NATS counters: a stream with AllowMsgCounter (nats-server 2.12+),
//     each increment a publish with the header Nats-Incr: 1, the server
//     adding it up.
//
//   - a NATS echo service: requests answered at once by a plain
//     subscriber, the ceiling of any NATS service (an operation through
//     dprop's is such a request, and the update's publish besides).
//
// Each contender's final count is checked against CounterOps.

// natsIncr is the header of a NATS counter increment.
const natsIncr = "Nats-Incr"

func benchCounter(ctx context.Context, e *benchEnv, js jetstream.JetStream) ([]benchRow, error) {
	n, k := e.cfg.CounterOps, e.cfg.CounterWriters
	dprop, err := medianOf(e.cfg.Runs, func() (time.Duration, error) { return e.counterDprop(ctx) })
	if err != nil {
		return nil, fmt.Errorf("dprop gcounter: %w", err)
	}
	var conflicts atomic.Int64
	kv, err := medianOf(e.cfg.Runs, func() (time.Duration, error) { return e.counterKV(ctx, js, &conflicts) })
	if err != nil {
		return nil, fmt.Errorf("NATS KV compare-and-set: %w", err)
	}
	incr, err := medianOf(e.cfg.Runs, func() (time.Duration, error) { return e.counterIncr(ctx, js) })
	if err != nil {
		return nil, fmt.Errorf("NATS counter (Nats-Incr): %w", err)
	}
	echo, err := medianOf(e.cfg.Runs, func() (time.Duration, error) { return e.counterEcho(ctx) })
	if err != nil {
		return nil, fmt.Errorf("NATS echo service: %w", err)
	}
	d := rate(n, dprop)
	name := fmt.Sprintf("hot counter, %d writers", k)
	return []benchRow{
		{Name: name + " vs KV", Dprop: d, Unit: "incr/s", Baseline: "NATS KV read-modify-CAS", BaselineValue: rate(n, kv), Ratio: d / rate(n, kv),
			Note: fmt.Sprintf("the KV writers met %d conflicts for %d increments (over %d run(s))", conflicts.Load(), n, e.cfg.Runs)},
		{Name: name + " vs Nats-Incr", Dprop: d, Unit: "incr/s", Baseline: "NATS counter (Nats-Incr)", BaselineValue: rate(n, incr), Ratio: d / rate(n, incr)},
		{Name: name + " vs echo", Dprop: d, Unit: "incr/s", Baseline: "NATS echo service (a ceiling)", BaselineValue: rate(n, echo), Ratio: d / rate(n, echo),
			Note: "the echo: requests answered at once by a plain subscriber, the most any NATS service answers with as many clients"},
	}, nil
}

// counterDprop increments a fresh gcounter cell CounterOps times from
// CounterWriters clients, each increment an operation {"op":"inc"}
// requested from a sidecar's NATS service (package natsapi: what `nats
// req PREFIX.op.CELL '{"op":"inc"}'` does), answered once the update
// that carries it is acknowledged and folded.
func (e *benchEnv) counterDprop(ctx context.Context) (time.Duration, error) {
	r, err := e.replica(ctx, "counter")
	if err != nil {
		return 0, err
	}
	defer r.Close()
	if err := r.waitReady(ctx); err != nil {
		return 0, err
	}
	svc, err := natsapi.Serve(r.nc, r.Replica, natsapi.Options{Prefix: e.prefix, Logger: e.quiet})
	if err != nil {
		return 0, err
	}
	defer func() { _ = svc.Stop() }()
	nc, err := e.connect("counter clients")
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	cell := fmt.Sprintf("counter.hot%d", time.Now().UnixNano())
	subject, body := natsapi.Subject(e.prefix, cell), []byte(`{"op":"inc"}`)
	d, err := concurrently(ctx, e.cfg.CounterWriters, e.cfg.CounterOps, func() error {
		resp, err := nc.Request(subject, body, 30*time.Second)
		if err != nil {
			return fmt.Errorf("inc %s: %w", cell, err)
		}
		if code := resp.Header.Get(micro.ErrorCodeHeader); code != "" {
			return fmt.Errorf("inc %s: %s %s", cell, code, resp.Header.Get(micro.ErrorHeader))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	v, ok := r.Value(cell).(*lattice.GCounter)
	if !ok {
		return 0, fmt.Errorf("cell %s holds %v, not a gcounter", cell, r.Value(cell))
	}
	if total, err := v.Total(); err != nil || total != int64(e.cfg.CounterOps) {
		return 0, fmt.Errorf("cell %s counts %d (%v), want %d", cell, total, err, e.cfg.CounterOps)
	}
	return d, nil
}

// counterEcho is the ceiling of any NATS service with as many clients:
// CounterOps requests answered at once by a plain subscriber.
func (e *benchEnv) counterEcho(ctx context.Context) (time.Duration, error) {
	nc, err := e.connect("echo")
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	subject := e.prefix + ".echo"
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) { _ = m.Respond(m.Data) })
	if err != nil {
		return 0, fmt.Errorf("echo: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		return 0, fmt.Errorf("echo: %w", err)
	}
	clients, err := e.connect("echo clients")
	if err != nil {
		return 0, err
	}
	defer clients.Close()
	body := []byte(`{"op":"inc"}`)
	return concurrently(ctx, e.cfg.CounterWriters, e.cfg.CounterOps, func() error {
		_, err := clients.Request(subject, body, 30*time.Second)
		return err
	})
}

// counterKV increments a fresh key of a KV bucket by compare-and-set.
func (e *benchEnv) counterKV(ctx context.Context, js jetstream.JetStream, conflicts *atomic.Int64) (time.Duration, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: e.kv, History: 1})
	if err != nil {
		return 0, fmt.Errorf("bucket %s: %w", e.kv, err)
	}
	key := fmt.Sprintf("hot%d", time.Now().UnixNano())
	if _, err := kv.Create(ctx, key, []byte("0")); err != nil {
		return 0, fmt.Errorf("create %s: %w", key, err)
	}
	d, err := concurrently(ctx, e.cfg.CounterWriters, e.cfg.CounterOps, func() error {
		for {
			entry, err := kv.Get(ctx, key)
			if err != nil {
				return fmt.Errorf("get %s: %w", key, err)
			}
			n, err := strconv.ParseInt(string(entry.Value()), 10, 64)
			if err != nil {
				return fmt.Errorf("%s holds %q: %w", key, entry.Value(), err)
			}
			_, err = kv.Update(ctx, key, strconv.AppendInt(nil, n+1, 10), entry.Revision())
			if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				conflicts.Add(1)
				continue
			}
			return err
		}
	})
	if err != nil {
		return 0, err
	}
	entry, err := kv.Get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", key, err)
	}
	if got := string(entry.Value()); got != strconv.Itoa(e.cfg.CounterOps) {
		return 0, fmt.Errorf("%s counts %s, want %d", key, got, e.cfg.CounterOps)
	}
	return d, nil
}

// counterIncr increments a fresh subject of a counter stream with
// Nats-Incr publishes.
func (e *benchEnv) counterIncr(ctx context.Context, js jetstream.JetStream) (time.Duration, error) {
	prefix := e.prefix + "ctr"
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: e.ctr, Subjects: []string{prefix + ".>"}, Storage: jetstream.FileStorage, AllowMsgCounter: true, AllowDirect: true})
	if err != nil {
		return 0, fmt.Errorf("counter stream %s (needs nats-server 2.12 or later): %w", e.ctr, err)
	}
	subject := fmt.Sprintf("%s.hot%d", prefix, time.Now().UnixNano())
	d, err := concurrently(ctx, e.cfg.CounterWriters, e.cfg.CounterOps, func() error {
		_, err := js.PublishMsg(ctx, &nats.Msg{Subject: subject, Header: nats.Header{natsIncr: []string{"1"}}})
		return err
	})
	if err != nil {
		return 0, err
	}
	m, err := s.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		return 0, fmt.Errorf("last count of %s: %w", subject, err)
	}
	var body struct {
		Val string `json:"val"`
	}
	if err := json.Unmarshal(m.Data, &body); err != nil || body.Val != strconv.Itoa(e.cfg.CounterOps) {
		return 0, fmt.Errorf("%s counts %s (%v), want %d", subject, m.Data, err, e.cfg.CounterOps)
	}
	return d, nil
}
