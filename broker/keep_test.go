package broker_test

import (
	"context"
	"errors"
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
