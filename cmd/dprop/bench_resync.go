package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/lattice"
)

// The resync comparison: a fresh replica reads the whole stream until it
// is ready, against plain readers of the same stream: a push ordered
// consumer (what a NATS KV watch uses), a pull ordered consumer with
// batches of bigBatch, and one with the client's default batches. The
// replica is compared with the fastest of them.

// bigBatch is the batch of the pull reader "with large batches".
const bigBatch = 10_000

// publishWindow bounds the asynchronous publishes awaiting their
// acknowledgement while bench fills a stream.
const publishWindow = 4096

func benchResync(ctx context.Context, e *benchEnv, js jetstream.JetStream) ([]benchRow, error) {
	n, cells := e.cfg.Updates, e.cfg.Cells
	if err := e.fill(ctx, n, func(i int) (string, []byte) {
		return e.subject(fmt.Sprintf("resync.c%d", i%cells)), lattice.Encode(lattice.Max{Value: float64(i)})
	}); err != nil {
		return nil, err
	}
	stream, err := js.Stream(ctx, e.stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", e.stream, err)
	}
	last := stream.CachedInfo().State.LastSeq
	readers := []struct {
		name string
		read func() (time.Duration, error)
	}{
		{"push ordered consumer", func() (time.Duration, error) { return e.readPush(ctx, last) }},
		{fmt.Sprintf("pull ordered, batches of %d", bigBatch), func() (time.Duration, error) { return e.readPull(ctx, last, bigBatch) }},
		{"pull ordered, default batches", func() (time.Duration, error) { return e.readPull(ctx, last, 0) }},
	}
	best, bestRate, note := "", 0.0, ""
	for _, rd := range readers {
		d, err := medianOf(e.cfg.Runs, rd.read)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rd.name, err)
		}
		r := rate(n, d)
		note += fmt.Sprintf("%s %.0fk msgs/s; ", rd.name, r/1000)
		if r > bestRate {
			best, bestRate = rd.name, r
		}
	}
	d, err := medianOf(e.cfg.Runs, func() (time.Duration, error) { return e.resyncReplica(ctx) })
	if err != nil {
		return nil, err
	}
	r := rate(n, d)
	return []benchRow{{
		Name: fmt.Sprintf("resync, %d updates over %d cells", n, cells), Dprop: r, Unit: "msgs/s",
		Baseline: best, BaselineValue: bestRate, Ratio: r / bestRate,
		Note: note + fmt.Sprintf("the replica %v, until ready", d.Round(time.Millisecond)),
	}}, nil
}

// fill publishes n messages, next(i) giving each one's subject and body,
// with up to publishWindow awaiting their acknowledgement.
func (e *benchEnv) fill(ctx context.Context, n int, next func(i int) (string, []byte)) error {
	nc, err := e.connect("filler")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(publishWindow))
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	for i := range n {
		subject, body := next(i)
		if _, err := js.PublishAsync(subject, body, jetstream.WithStallWait(time.Minute)); err != nil {
			return fmt.Errorf("publish %d of %d: %w", i+1, n, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// readPush reads the stream up to sequence last with a push ordered
// consumer (nats.go's legacy JetStream API, what a KV watch uses).
func (e *benchEnv) readPush(ctx context.Context, last uint64) (time.Duration, error) {
	nc, err := e.connect("push reader")
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return 0, fmt.Errorf("jetstream: %w", err)
	}
	done := make(chan struct{})
	start := time.Now()
	// No filter, as the replica's and the pull reader's: a filter on a
	// stream of several subjects (this one holds forget markers too)
	// made the server deliver 15 to 25 times slower.
	sub, err := js.Subscribe("", func(m *nats.Msg) {
		meta, err := m.Metadata()
		if err == nil && meta.Sequence.Stream >= last {
			close(done)
		}
	}, nats.OrderedConsumer(), nats.DeliverAll(), nats.BindStream(e.stream))
	if err != nil {
		return 0, fmt.Errorf("push ordered consumer: %w", err)
	}
	defer sub.Unsubscribe()
	return waitDone(ctx, start, done)
}

// readPull reads the stream up to sequence last with a pull ordered
// consumer asking for batch messages at a time (0: the client's default).
func (e *benchEnv) readPull(ctx context.Context, last uint64, batch int) (time.Duration, error) {
	nc, err := e.connect("pull reader")
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, fmt.Errorf("jetstream: %w", err)
	}
	done := make(chan struct{})
	start := time.Now()
	stream, err := js.Stream(ctx, e.stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", e.stream, err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return 0, fmt.Errorf("pull ordered consumer: %w", err)
	}
	var opts []jetstream.PullConsumeOpt
	if batch > 0 {
		opts = append(opts, jetstream.PullMaxMessages(batch))
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		meta, err := m.Metadata()
		if err == nil && meta.Sequence.Stream >= last {
			close(done)
		}
	}, opts...)
	if err != nil {
		return 0, fmt.Errorf("consume: %w", err)
	}
	defer cc.Stop()
	return waitDone(ctx, start, done)
}

// resyncReplica starts a fresh replica and returns how long it took to be
// ready.
func (e *benchEnv) resyncReplica(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	r, err := e.replica(ctx, "resync")
	if err != nil {
		return 0, err
	}
	defer r.Close()
	if err := r.waitReady(ctx); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// waitDone waits for done and returns the time since start.
func waitDone(ctx context.Context, start time.Time, done <-chan struct{}) (time.Duration, error) {
	select {
	case <-done:
		return time.Since(start), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}
