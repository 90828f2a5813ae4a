package broker_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
)

// JetStream's limits are the ones given, not the host's: Config's fields
// win over the file's, and the file's over nats-server's defaults.
func TestJetStreamLimits(t *testing.T) {
	srv := brokertest.RunServer(t, func(c *broker.Config) {
		c.JetStreamMaxMemory, c.JetStreamMaxStore = 64<<20, 256<<20
	})
	if mem, store := srv.JetStreamLimits(); mem != 64<<20 || store != 256<<20 {
		t.Errorf("limits %d, %d; want %d, %d", mem, store, 64<<20, 256<<20)
	}
	if c := srv.Config(); c.JetStreamMaxMemory != 64<<20 || c.JetStreamMaxStore != 256<<20 {
		t.Errorf("Config() lost the limits: %d, %d", c.JetStreamMaxMemory, c.JetStreamMaxStore)
	}

	file := brokertest.WriteFile(t, "nats.conf", "jetstream { max_memory_store: 32MiB, max_file_store: 1GiB }\n")
	fromFile := brokertest.RunServer(t, brokertest.WithConfigFile(file))
	if mem, store := fromFile.JetStreamLimits(); mem != 32<<20 || store != 1<<30 {
		t.Errorf("limits from the file %d, %d; want %d, %d", mem, store, 32<<20, 1<<30)
	}
	both := brokertest.RunServer(t, brokertest.WithConfigFile(file), func(c *broker.Config) { c.JetStreamMaxStore = 512 << 20 })
	if mem, store := both.JetStreamLimits(); mem != 32<<20 || store != 512<<20 {
		t.Errorf("limits from the file and Config %d, %d; want %d, %d", mem, store, 32<<20, 512<<20)
	}

	if _, err := broker.Start(broker.Config{StoreDir: t.TempDir(), JetStreamMaxStore: -1}); err == nil {
		t.Error("a negative store limit was accepted")
	}
}

// A stream with a byte limit refuses new updates once full, saying so to
// a publisher that waits for JetStream's acknowledgement, and keeps every
// update it acknowledged. A plain publish (nats pub without --jetstream)
// is not told: it is dropped unseen, which is why writers that must know
// wait for the acknowledgement, as sidecars do.
func TestStreamFullRefusesNewUpdates(t *testing.T) {
	ctx := testContext(t)
	srv := brokertest.RunServer(t)
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}})
	js := brokertest.JetStream(t, nc)
	const limit = 4 << 10
	stream, err := broker.EnsureStream(ctx, js, broker.StreamConfig{MaxBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	if cfg := stream.CachedInfo().Config; cfg.MaxBytes != limit || cfg.Discard != jetstream.DiscardNew {
		t.Fatalf("stream made with max bytes %d, discard %v", cfg.MaxBytes, cfg.Discard)
	}

	acked := 0
	var full error
	for i := 1; i <= 1000 && full == nil; i++ {
		_, err := js.Publish(ctx, "dprop.cell.c", fmt.Appendf(nil, `{"type":"max","value":%d}`, i))
		if err != nil {
			full = err
			break
		}
		acked++
	}
	if full == nil {
		t.Fatalf("1000 updates went into a stream of %d bytes", limit)
	}
	var apiErr *jetstream.APIError
	if !errors.As(full, &apiErr) || apiErr.Code != 503 || apiErr.ErrorCode != 10077 ||
		!strings.Contains(apiErr.Description, "maximum bytes exceeded") {
		t.Fatalf("the publish past the limit failed with %#v, want a 503, code 10077, maximum bytes exceeded", full)
	}
	t.Logf("after %d updates: %v", acked, full)

	if err := nc.Publish("dprop.cell.c", []byte(`{"type":"max","value":1000000}`)); err != nil {
		t.Fatalf("a plain publish failed at once: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.FirstSeq != 1 || info.State.Msgs != uint64(acked) || info.State.Bytes > limit {
		t.Errorf("stream state %+v: want messages 1 to %d, every acknowledged one, within %d bytes", info.State, acked, limit)
	}

	// Room made (here by a purge; compaction purges too), updates go in again.
	if err := stream.Purge(ctx, jetstream.WithPurgeKeep(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "dprop.cell.c", []byte(`{"type":"max","value":2000000}`)); err != nil {
		t.Errorf("publish after the purge: %v", err)
	}
}

// JetStream reserves a stream's byte limit in the store when it makes the
// stream: a limit larger than the store is refused at once, saying so.
func TestStreamLargerThanStore(t *testing.T) {
	ctx := testContext(t)
	srv := brokertest.RunServer(t, func(c *broker.Config) { c.JetStreamMaxStore = 1 << 20 })
	js := brokertest.JetStream(t, brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}}))
	_, err := broker.EnsureStream(ctx, js, broker.StreamConfig{MaxBytes: 2 << 20})
	if err == nil || !strings.Contains(err.Error(), "insufficient") {
		t.Fatalf("a stream of 2 MiB in a store of 1 MiB: %v", err)
	}
	t.Log(err)
	if _, err := broker.EnsureStream(ctx, js, broker.StreamConfig{MaxBytes: 512 << 10}); err != nil {
		t.Fatalf("a stream of 512 KiB in a store of 1 MiB: %v", err)
	}
}

// A stream without a byte limit fills the server's store instead: past
// it, JetStream refuses updates as "insufficient resources".
func TestStoreFullRefusesNewUpdates(t *testing.T) {
	ctx := testContext(t)
	srv := brokertest.RunServer(t, func(c *broker.Config) { c.JetStreamMaxStore = 64 << 10 })
	js := brokertest.JetStream(t, brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}}))
	stream, err := broker.EnsureStream(ctx, js, broker.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	acked := 0
	var full error
	for i := 1; i <= 10000; i++ {
		if _, full = js.Publish(ctx, "dprop.cell.c", fmt.Appendf(nil, `{"type":"max","value":%d}`, i)); full != nil {
			break
		}
		acked++
	}
	var apiErr *jetstream.APIError
	if !errors.As(full, &apiErr) || apiErr.Code != 503 || apiErr.ErrorCode != 10023 {
		t.Fatalf("the publish past the store's limit failed with %#v, want a 503, code 10023, insufficient resources", full)
	}
	t.Logf("after %d updates: %v", acked, full)
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.FirstSeq != 1 || info.State.Msgs != uint64(acked) {
		t.Errorf("stream state %+v: want messages 1 to %d, every acknowledged one", info.State, acked)
	}
}
