package broker_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/nats-io/nats.go/jetstream"
)

func TestEnsureStreamTwice(t *testing.T) {
	ctx := testContext(t)
	srv := brokertest.RunServer(t)
	js := brokertest.JetStream(t, brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}}))

	for range 2 {
		stream, err := broker.EnsureStream(ctx, js, broker.StreamConfig{})
		if err != nil {
			t.Fatal(err)
		}
		cfg := stream.CachedInfo().Config
		if cfg.Name != "DPROP" || len(cfg.Subjects) != 2 || cfg.Subjects[0] != "dprop.cell.>" || cfg.Subjects[1] != "dprop.forget.>" {
			t.Errorf("stream %s on %v, want DPROP on [dprop.cell.> dprop.forget.>]", cfg.Name, cfg.Subjects)
		}
		if cfg.Storage != jetstream.FileStorage || cfg.AllowRollup || !cfg.AllowDirect ||
			cfg.DenyDelete || cfg.DenyPurge || cfg.Discard != jetstream.DiscardNew ||
			cfg.Duplicates != 2*time.Minute || cfg.Replicas != 1 {
			t.Errorf("stream settings: %+v", cfg)
		}
	}
	names := js.StreamNames(ctx)
	var n int
	for range names.Name() {
		n++
	}
	if n != 1 {
		t.Errorf("%d streams, want 1", n)
	}
}

func TestEnsureStreamOtherPrefix(t *testing.T) {
	ctx := testContext(t)
	srv := brokertest.RunServer(t)
	js := brokertest.JetStream(t, brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}}))
	cfg := broker.StreamConfig{Prefix: "acme.dprop", Name: "ACME", MaxAge: time.Hour, MaxBytes: 1 << 30, Duplicates: time.Minute}
	stream, err := broker.EnsureStream(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := stream.CachedInfo().Config
	if got.Subjects[0] != "acme.dprop.cell.>" || got.MaxAge != time.Hour || got.MaxBytes != 1<<30 || got.Duplicates != time.Minute {
		t.Errorf("stream settings: %+v", got)
	}
	if _, err := broker.EnsureStream(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	// The default stream would capture other subjects: it lives alongside.
	if _, err := broker.EnsureStream(ctx, js, broker.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureStreamIncompatible(t *testing.T) {
	ctx := testContext(t)
	srv := brokertest.RunServer(t)
	js := brokertest.JetStream(t, brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}}))
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "DPROP",
		Subjects: []string{"dprop.cell.>", "other.>"},
		Storage:  jetstream.MemoryStorage,
		MaxAge:   time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}

	_, err = broker.EnsureStream(ctx, js, broker.StreamConfig{})
	if !errors.Is(err, broker.ErrIncompatibleStream) {
		t.Fatalf("EnsureStream on an incompatible stream: %v, want ErrIncompatibleStream", err)
	}
	var mismatch *broker.IncompatibleStreamError
	if !errors.As(err, &mismatch) {
		t.Fatalf("%v is not an *IncompatibleStreamError", err)
	}
	fields := map[string]bool{}
	for _, d := range mismatch.Diffs {
		fields[d.Field] = true
	}
	for _, f := range []string{"subjects", "storage", "allow direct", "max age"} {
		if !fields[f] || !strings.Contains(err.Error(), f) {
			t.Errorf("error does not name %q: %v", f, err)
		}
	}
	t.Log(err)
	if len(mismatch.Diffs) != 4 {
		t.Errorf("%d differences, want 4 (rollups allowed or not both work): %v", len(mismatch.Diffs), err)
	}
	if !strings.Contains(err.Error(), "expected File") {
		t.Errorf("error does not say what was expected: %v", err)
	}

	// The stream was left as it was.
	stream, err := js.Stream(ctx, "DPROP")
	if err != nil {
		t.Fatal(err)
	}
	if cfg := stream.CachedInfo().Config; cfg.Storage != jetstream.MemoryStorage || cfg.MaxAge != time.Hour {
		t.Errorf("EnsureStream changed the stream: %+v", cfg)
	}
}

func TestEnsureStreamReplicasRefused(t *testing.T) {
	for _, r := range []int{-1, 2, 5} {
		_, err := broker.EnsureStream(t.Context(), nil, broker.StreamConfig{Replicas: r})
		if err == nil || !strings.Contains(err.Error(), "replicas") {
			t.Errorf("replicas %d: error %v", r, err)
		}
	}
}

// Several processes start at once; each ensures the stream over its own
// connection.
func TestEnsureStreamConcurrent(t *testing.T) {
	ctx := testContext(t)
	srv := brokertest.RunServer(t)
	const n = 4
	js := make([]jetstream.JetStream, n)
	for i := range js {
		js[i] = brokertest.JetStream(t, brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}}))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = broker.EnsureStream(ctx, js[i], broker.StreamConfig{})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("process %d: %v", i, err)
		}
	}
}

// A stream of an earlier dprop, which captured cell updates only, is
// upgraded to capture forget markers too, keeping what it holds.
func TestEnsureStreamUpgradesSubjects(t *testing.T) {
	ctx := testContext(t)
	srv := brokertest.RunServer(t)
	js := brokertest.JetStream(t, brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}}))
	old, err := broker.EnsureStream(ctx, js, broker.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := old.CachedInfo().Config
	cfg.Subjects = []string{"dprop.cell.>"}
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "dprop.cell.a", []byte(`{"type":"max","value":1}`)); err != nil {
		t.Fatal(err)
	}
	stream, err := broker.EnsureStream(ctx, js, broker.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !broker.CapturesForget(info, "") || info.State.Msgs != 1 {
		t.Fatalf("after EnsureStream: subjects %v, %d messages", info.Config.Subjects, info.State.Msgs)
	}
}
