package replica_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
)

func withSnapshot(path string) func(*replica.Config) {
	return func(c *replica.Config) { c.SnapshotPath = path; c.SnapshotEvery = -1 }
}

// fill refines n updates over cells cells through r.
func fill(t testing.TB, r *replica.Replica, from, n, cells int) {
	t.Helper()
	ctx := ctxT(t)
	for i := from; i < from+n; i++ {
		if _, err := r.Refine(ctx, fmt.Sprintf("snap.c%d", i%cells), lattice.Max{Value: float64(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func sameCells(t testing.TB, got, want *replica.Replica) {
	t.Helper()
	g, w := got.Cells(""), want.Cells("")
	if len(g) != len(w) {
		t.Fatalf("%d cells, want %d", len(g), len(w))
	}
	for i := range g {
		if g[i].Name != w[i].Name || g[i].ETag != w[i].ETag || g[i].Seq != w[i].Seq {
			t.Errorf("cell %s = %s (seq %d), want %s %s (seq %d)", g[i].Name, enc(g[i].Value), g[i].Seq, w[i].Name, enc(w[i].Value), w[i].Seq)
		}
	}
}

// A replica restarted on its data directory loads its snapshot and replays
// only what came after it.
func TestRestartFromLocalSnapshot(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	path := filepath.Join(t.TempDir(), "snapshot.jsonl")
	r := startReplica(t, url, withSnapshot(path))
	fill(t, r, 0, 200, 20)
	seqAtClose := r.Progress().Applied
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	other := startReplica(t, url)
	fill(t, other, 200, 50, 30)
	r = startReplica(t, url, withSnapshot(path))
	if p := r.Progress(); p.Start != seqAtClose {
		t.Errorf("restarted after seq %d, want the snapshot's %d", p.Start, seqAtClose)
	}
	waitFor(t, "catch-up", func() bool { return r.Progress().Applied == other.Progress().Applied })
	sameCells(t, r, other)
	if r.Stale() {
		t.Error("stale after catching up")
	}
}

// With the broker unreachable, a replica serves its last known state marked
// stale, and catches up once the broker is back.
func TestStaleWhileBrokerDown(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	path := filepath.Join(t.TempDir(), "snapshot.jsonl")
	r := startReplica(t, url, withSnapshot(path))
	fill(t, r, 0, 50, 5)
	r.Close()
	other := startReplica(t, url)
	fill(t, other, 50, 10, 5) // after the snapshot
	srv.Shutdown()

	nc, err := broker.Connect(broker.ConnConfig{URLs: []string{url}, RetryOnFailedConnect: true, ReconnectWait: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	cfg := replica.Config{Conn: nc, Logger: testLogger(), SnapshotPath: path, SnapshotEvery: -1}
	r, err = replica.Start(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if !r.Stale() || r.IsReady() {
		t.Fatalf("stale %v ready %v, want stale and not ready", r.Stale(), r.IsReady())
	}
	if v := r.Value("snap.c4"); enc(v) != `{"type":"max","value":49}` {
		t.Errorf("stale value %s", enc(v))
	}
	brokertest.RestartServer(t, srv)
	waitReady(t, r)
	if r.Stale() {
		t.Error("still stale when ready")
	}
	if v := r.Value("snap.c4"); enc(v) != `{"type":"max","value":59}` {
		t.Errorf("caught-up value %s", enc(v))
	}
}

// A corrupt, truncated, foreign or future-version snapshot is detected and
// set aside, and the replica replays the whole stream instead.
func TestBadSnapshotsFallBackToFullReplay(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	dir := t.TempDir()
	path := filepath.Join(dir, "snapshot.jsonl")
	r := startReplica(t, url, withSnapshot(path))
	fill(t, r, 0, 40, 4)
	r.Close()
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	reference := startReplica(t, url)
	corruptions := map[string]func([]byte) []byte{
		"flipped byte": func(b []byte) []byte {
			i := bytes.Index(b, []byte(`"value":3`))
			c := bytes.Clone(b)
			c[i+8] = '4'
			return c
		},
		"truncated": func(b []byte) []byte { return b[:len(b)*2/3] },
		// Cells are restored as they are read, before the checksum is
		// known: a cell of a corrupt file must not stay.
		"extra cell": func(b []byte) []byte {
			i := bytes.Index(b, []byte(`{"end":`))
			return slices.Concat(b[:i], []byte(`{"cell":"ghost.x","type":"max","seq":1,"updates":1,"value":{"type":"max","value":1}}`+"\n"), b[i:])
		},
		"no trailer": func(b []byte) []byte {
			return b[:bytes.LastIndex(b[:len(b)-1], []byte("\n"))+1]
		},
		"other version": func(b []byte) []byte { return bytes.Replace(b, []byte(`"version":1`), []byte(`"version":9`), 1) },
		"other cells": func(b []byte) []byte {
			// A valid file, checksum and all, of another replica's cells.
			h, cells, err := replica.ReadSnapshot(bytes.NewReader(b), lattice.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			h.Cells = "snap.>"
			var out bytes.Buffer
			if err := replica.WriteSnapshot(&out, h, cells); err != nil {
				t.Fatal(err)
			}
			return out.Bytes()
		},
		"not a snapshot": func([]byte) []byte { return []byte("hello\n") },
		"empty":          func([]byte) []byte { return nil },
	}
	for name, corrupt := range corruptions {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, corrupt(good), 0o644); err != nil {
				t.Fatal(err)
			}
			r := startReplica(t, url, withSnapshot(path))
			if p := r.Progress(); p.Start != 0 {
				t.Errorf("started after seq %d from a bad snapshot", p.Start)
			}
			sameCells(t, r, reference)
			r.Close()
			aside, _ := filepath.Glob(path + ".unusable-*")
			if len(aside) == 0 {
				t.Error("bad snapshot not set aside")
			}
			for _, f := range aside {
				os.Remove(f)
			}
		})
	}
	_, _, err = replica.ReadSnapshot(bytes.NewReader(good[:len(good)/2]), lattice.Limits{})
	if !errors.Is(err, replica.ErrBadSnapshot) || !strings.Contains(err.Error(), "line") {
		t.Errorf("ReadSnapshot of a truncated file: %v", err)
	}
}

// A snapshot of an earlier stream (deleted and created again) is not
// replayed onto the new one: its sequence means nothing there.
func TestSnapshotOfEarlierStream(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	path := filepath.Join(t.TempDir(), "snapshot.jsonl")
	r := startReplica(t, url, withSnapshot(path))
	fill(t, r, 0, 30, 3)
	r.Close()
	js := brokertest.JetStream(t, connect(t, url))
	if err := js.DeleteStream(context.Background(), "DPROP"); err != nil {
		t.Fatal(err)
	}
	provision(t, url, 1)
	fresh := startReplica(t, url)
	fill(t, fresh, 100, 5, 5)
	r = startReplica(t, url, withSnapshot(path))
	sameCells(t, r, fresh)
	if kept, _ := filepath.Glob(path + ".foreign-*"); len(kept) != 1 {
		t.Errorf("earlier stream's snapshot not kept aside: %v", kept)
	}
}
