package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/fold"
)

// A read of the whole log during which a compaction purges messages it has
// not read yet goes on to read the compaction's messages, and so misses
// nothing; a read to an earlier point says it cannot rebuild that point.
func TestScanAcrossCompaction(t *testing.T) {
	ctx := brokertest.Context(t)
	srv := brokertest.RunServer(t)
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}})
	js := brokertest.JetStream(t, nc)
	if _, err := broker.EnsureStream(ctx, js, broker.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	const n, cells = 20000, 100
	async, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	fill := func() {
		for i := range n {
			if _, err := async.PublishAsync(fmt.Sprintf("dprop.cell.s.c%d", i%cells), lattice.Encode(lattice.Max{Value: float64(i)})); err != nil {
				t.Fatal(err)
			}
			if i%2000 == 1999 {
				<-async.PublishAsyncComplete()
			}
		}
		<-async.PublishAsyncComplete()
	}
	fill()
	r, err := Start(ctx, Config{Conn: nc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	<-r.Ready()

	compactOnce := func() func() {
		done := false
		return func() {
			if !done {
				done = true
				if _, err := r.Compact(ctx, CompactOptions{Mode: CompactCheckpoint}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// The whole log.
	core := fold.NewCore("", nil, fold.Limits{})
	compact := compactOnce()
	if _, err := scan(ctx, js, cellname.DefaultStream, "dprop.cell.>", func(m jetstream.Msg, meta *jetstream.MsgMetadata) bool {
		compact()
		core.ApplyMessage(fold.Message{Subject: m.Subject(), Seq: meta.Sequence.Stream, Data: m.Data()})
		return true
	}); err != nil {
		t.Fatal(err)
	}
	for i := range cells {
		cell := fmt.Sprintf("s.c%d", i)
		c, _ := core.Get(cell)
		want := lattice.Max{Value: float64(n - cells + i)}
		if !lattice.Equal(c.Value, want) {
			t.Fatalf("%s = %s after a read across a compaction, want %s", cell, lattice.Encode(c.Value), lattice.Encode(want))
		}
	}

	// A point before the end, whose messages the compaction removes.
	fill()
	s, _ := js.Stream(ctx, cellname.DefaultStream)
	info, _ := s.Info(ctx)
	brokertest.WaitFor(t, "the replica to fold the whole stream", func() bool { return r.Progress().Applied >= info.State.LastSeq })
	compact = compactOnce()
	stopAt := uint64(0)
	_, err = scan(ctx, js, cellname.DefaultStream, "dprop.cell.>", func(m jetstream.Msg, meta *jetstream.MsgMetadata) bool {
		if stopAt == 0 {
			stopAt = meta.Sequence.Stream + 5000
			compact()
		}
		return meta.Sequence.Stream < stopAt
	})
	if !errors.Is(err, ErrLogCompacted) {
		t.Fatalf("a bounded read across a compaction: %v, want ErrLogCompacted", err)
	}
}
