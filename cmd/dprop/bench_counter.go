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

	"github.com/dprop/dprop/lattice"
)

// The hot counter comparison: CounterWriters writers increment one counter
// CounterOps times in all, each contender on the same server:
//
//   - dprop: a gcounter cell; each writer refines it with its own new
//     count ({"counts":{"w3":17}}) through a replica's Refine, which
//     returns once the update is acknowledged and folded. No conflicts:
//     writers never wait for each other.
//   - NATS KV: read the key, write the value plus one with the revision
//     read (compare-and-set), again on a conflict.
//   - NATS counters: a stream with AllowMsgCounter (nats-server 2.12+),
//     each increment a publish with the header Nats-Incr: 1, the server
//     adding it up.
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
	d := rate(n, dprop)
	name := fmt.Sprintf("hot counter, %d writers", k)
	return []benchRow{
		{Name: name + " vs KV", Dprop: d, Unit: "incr/s", Baseline: "NATS KV read-modify-CAS", BaselineValue: rate(n, kv), Ratio: d / rate(n, kv),
			Note: fmt.Sprintf("the KV writers met %d conflicts for %d increments (over %d run(s))", conflicts.Load(), n, e.cfg.Runs)},
		{Name: name + " vs Nats-Incr", Dprop: d, Unit: "incr/s", Baseline: "NATS counter (Nats-Incr)", BaselineValue: rate(n, incr), Ratio: d / rate(n, incr)},
	}, nil
}

// counterDprop increments a fresh gcounter cell CounterOps times from
// CounterWriters writers through one replica.
func (e *benchEnv) counterDprop(ctx context.Context) (time.Duration, error) {
	r, err := e.replica(ctx, "counter")
	if err != nil {
		return 0, err
	}
	defer r.Close()
	if err := r.waitReady(ctx); err != nil {
		return 0, err
	}
	cell := fmt.Sprintf("counter.hot%d", time.Now().UnixNano())
	var writer atomic.Int64
	d, err := concurrentlyEach(ctx, e.cfg.CounterWriters, e.cfg.CounterOps, func() func() error {
		w := fmt.Sprintf("w%d", writer.Add(1))
		var count int64
		return func() error {
			count++
			_, err := r.Refine(ctx, cell, lattice.NewGCounter(map[string]int64{w: count}))
			return err
		}
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
