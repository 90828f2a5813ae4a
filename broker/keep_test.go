package broker_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/internal/brokertest"
)

// A kept stream that is deleted is provisioned again, at once (the
// deletion advisory) rather than at the next periodic check.
func TestKeepStreamReprovisions(t *testing.T) {
	srv := brokertest.RunServer(t)
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}})
	js := brokertest.JetStream(t, nc)
	ctx, cancel := context.WithCancel(brokertest.Context(t))
	done := make(chan error, 1)
	go func() { done <- broker.KeepStream(ctx, nc, broker.StreamConfig{}, time.Hour, brokertest.Logger()) }()
	var first time.Time
	brokertest.WaitFor(t, "the stream to be provisioned", func() bool {
		s, err := js.Stream(ctx, cellname.DefaultStream)
		if err == nil {
			first = s.CachedInfo().Created
		}
		return err == nil
	})
	if err := js.DeleteStream(ctx, cellname.DefaultStream); err != nil {
		t.Fatal(err)
	}
	brokertest.WaitFor(t, "the stream to be provisioned again", func() bool {
		s, err := js.Stream(ctx, cellname.DefaultStream)
		return err == nil && !s.CachedInfo().Created.Equal(first)
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("KeepStream = %v after its context ended, want nil", err)
	}
}

// An existing stream with settings dprop cannot use is left alone, and
// KeepStream says why.
func TestKeepStreamIncompatible(t *testing.T) {
	srv := brokertest.RunServer(t)
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}})
	js := brokertest.JetStream(t, nc)
	ctx := brokertest.Context(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: cellname.DefaultStream, Subjects: []string{"dprop.cell.>"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	err := broker.KeepStream(ctx, nc, broker.StreamConfig{}, time.Hour, brokertest.Logger())
	if !errors.Is(err, broker.ErrIncompatibleStream) {
		t.Fatalf("KeepStream = %v, want ErrIncompatibleStream", err)
	}
}

// A stream made by an earlier dprop (no byte limit, discard old) is kept
// as it is when a byte limit is configured: KeepStream warns that the
// limit is not the stream's, and how to change it, rather than refuse it.
func TestKeepStreamOtherLimit(t *testing.T) {
	srv := brokertest.RunServer(t)
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}})
	js := brokertest.JetStream(t, nc)
	ctx, cancel := context.WithCancel(brokertest.Context(t))
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: cellname.DefaultStream, Subjects: []string{"dprop.cell.>"},
		Storage: jetstream.FileStorage, Discard: jetstream.DiscardOld, AllowDirect: true, Duplicates: broker.DefaultDuplicates}); err != nil {
		t.Fatal(err)
	}
	rec, log := brokertest.NewRecorder()
	done := make(chan error, 1)
	go func() { done <- broker.KeepStream(ctx, nc, broker.StreamConfig{MaxBytes: 1 << 30}, time.Hour, log) }()
	brokertest.WaitFor(t, "the warning about the byte limit", func() bool {
		return len(rec.Records("limit is not the configured one")) == 1
	})
	w := rec.Records("limit is not the configured one")[0]
	if w.Level != slog.LevelWarn || brokertest.Attr(w, "setting") != "max bytes" || brokertest.Attr(w, "is") != "unlimited" ||
		brokertest.Attr(w, "configured") != "1073741824" || brokertest.Attr(w, "to_change") != "nats stream edit DPROP --max-bytes 1073741824" {
		t.Errorf("warning %v %q: setting %q, is %q, configured %q, to change %q", w.Level, w.Message, brokertest.Attr(w, "setting"),
			brokertest.Attr(w, "is"), brokertest.Attr(w, "configured"), brokertest.Attr(w, "to_change"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("KeepStream = %v, want nil (the stream is kept)", err)
	}
	s, err := js.Stream(brokertest.Context(t), cellname.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if c := s.CachedInfo().Config; c.MaxBytes > 0 || c.Discard != jetstream.DiscardOld {
		t.Errorf("KeepStream changed the stream: max bytes %d, discard %v", c.MaxBytes, c.Discard)
	}
}
