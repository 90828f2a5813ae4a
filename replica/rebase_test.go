package replica_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
)

// cutOffReplica starts a replica with an outbox that reaches the broker
// through a proxy the test can cut.
func cutOffReplica(t *testing.T, srv *broker.Server, mod ...func(*replica.Config)) (*replica.Replica, *brokertest.Proxy) {
	t.Helper()
	proxy := brokertest.NewProxy(t, srv.Config().Listen)
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{proxy.URL()}, ReconnectWait: 100 * time.Millisecond, Timeout: 300 * time.Millisecond})
	cfg := replica.Config{Conn: nc, Logger: testLogger()}
	withOutbox(filepath.Join(t.TempDir(), "outbox"))(&cfg)
	for _, m := range mod {
		m(&cfg)
	}
	r, err := replica.Start(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	waitReady(t, r)
	return r, proxy
}

// counterTotal is a gcounter's or a pncounter's total.
func counterTotal(t *testing.T, v lattice.Value) int64 {
	t.Helper()
	var (
		n   int64
		err error
	)
	switch c := v.(type) {
	case *lattice.GCounter:
		n, err = c.Total()
	case *lattice.PNCounter:
		n, err = c.Total()
	default:
		t.Fatalf("not a counter: %s", enc(v))
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A sidecar cut off from the log takes keyed operations k1 and k2 into its
// outbox, each building on the one before; the client retries k1 through
// another sidecar, which stores it. When the first sidecar delivers, k1 is
// a duplicate, and k2, which counted k1 too, is computed again: every
// replica counts each operation once. Before, the total was one too many.
func TestApplyOutboxKeyStoredElsewhere(t *testing.T) {
	for _, tc := range []struct {
		name, cell, first, op string
		want                  int64
	}{
		{"gcounter", "re.g", `{"op":"inc","by":5}`, `{"op":"inc","by":2}`, 11},
		{"pncounter", "re.pn", `{"op":"inc","by":5}`, `{"op":"dec","by":2}`, -1},
		{"map", "re.m", `{"op":"update","key":"n","with":{"op":"inc","by":5}}`, `{"op":"update","key":"n","with":{"op":"inc","by":2}}`, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := runBroker(t)
			declare := func(c *replica.Config) {
				c.Declared = map[string]string{"re.pn": lattice.TypePNCounter, "re.m": lattice.TypeMap}
			}
			a, proxy := cutOffReplica(t, srv, declare)
			b := startReplica(t, srv.ClientURL(), declare)
			value := func(r *replica.Replica) int64 {
				v := r.Value(tc.cell)
				if m, ok := v.(*lattice.Map); ok {
					v = m.Get("n")
				}
				return counterTotal(t, v)
			}
			if _, rep, err := apply(t, a, tc.cell, tc.first); err != nil || rep.Pending {
				t.Fatalf("first operation with the log reachable: %+v %v", rep, err)
			}
			proxy.Cut()
			if _, rep, err := apply(t, a, tc.cell, tc.op, replica.WithIdempotencyKey("k1")); err != nil || !rep.Pending {
				t.Fatalf("k1 while cut off: %+v %v, want pending", rep, err)
			}
			waitFor(t, "b to fold the first operation", func() bool { return b.Type(tc.cell) != "" })
			if _, rep, err := apply(t, b, tc.cell, tc.op, replica.WithIdempotencyKey("k1")); err != nil || rep.Pending || rep.Duplicate {
				t.Fatalf("k1 retried at b: %+v %v, want stored", rep, err)
			}
			if _, rep, err := apply(t, a, tc.cell, tc.op, replica.WithIdempotencyKey("k2")); err != nil || !rep.Pending {
				t.Fatalf("k2 while cut off: %+v %v, want pending", rep, err)
			}
			if _, rep, err := apply(t, a, tc.cell, tc.op); err != nil || !rep.Pending {
				t.Fatalf("an operation without a key while cut off: %+v %v, want pending", rep, err)
			}
			proxy.Heal()
			waitFor(t, "a's outbox to drain", func() bool {
				c, _ := a.Get(tc.cell)
				return a.Outbox().Pending == 0 && c.Pending == 0
			})
			c := startReplica(t, srv.ClientURL(), declare)
			last, _ := c.Get(tc.cell)
			for name, r := range map[string]*replica.Replica{"a": a, "b": b, "c": c} {
				waitFor(t, name+" to fold everything", func() bool { got, _ := r.Get(tc.cell); return got.Seq >= last.Seq })
				if got := value(r); got != tc.want {
					t.Errorf("%s counts %d, want %d", name, got, tc.want)
				}
			}
			// Retries of either key, anywhere, are duplicates.
			for _, r := range []*replica.Replica{a, b} {
				for _, k := range []string{"k1", "k2"} {
					if _, rep, err := apply(t, r, tc.cell, tc.op, replica.WithIdempotencyKey(k)); err != nil || !rep.Duplicate {
						t.Errorf("retry of %s: %+v %v, want a duplicate", k, rep, err)
					}
				}
			}
			if got := value(c); got != tc.want {
				t.Errorf("after the retries c counts %d, want %d", got, tc.want)
			}
		})
	}
}

// A sidecar restarted from its local snapshot still knows the keys of the
// operations it folded before it, though it folds only what came after:
// cut off from the log, it answers a retry as a duplicate from its index.
// Before, the index knew only the keys folded since the restart: the
// retry was taken into the outbox and counted again in what the sidecar
// showed (the log dropped it on delivery).
func TestApplyKeysKeptInSnapshot(t *testing.T) {
	srv := runBroker(t)
	snap := filepath.Join(t.TempDir(), "snapshot")
	writer := "5f0e6a1c-2b3d-4e5f-8a9b-0c1d2e3f4a5b"
	same := func(c *replica.Config) { c.SnapshotPath, c.SnapshotEvery, c.WriterID = snap, -1, writer }
	a, _ := cutOffReplica(t, srv, same)
	if _, rep, err := apply(t, a, "snap.c", `{"op":"inc","by":3}`, replica.WithIdempotencyKey("k1")); err != nil || rep.Duplicate {
		t.Fatalf("k1: %+v %v", rep, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a, proxy := cutOffReplica(t, srv, same)
	if a.Progress().Start == 0 {
		t.Fatal("the sidecar did not restart from its snapshot")
	}
	proxy.Cut()
	v, rep, err := apply(t, a, "snap.c", `{"op":"inc","by":3}`, replica.WithIdempotencyKey("k1"))
	if err != nil || !rep.Duplicate || rep.Pending || counterTotal(t, v) != 3 {
		t.Fatalf("k1 retried after the restart, cut off: %s %+v %v, want a duplicate and 3", enc(v), rep, err)
	}
	proxy.Heal()
	if n := counterTotal(t, startReplica(t, srv.ClientURL()).Value("snap.c")); n != 3 {
		t.Fatalf("the log counts %d, want 3", n)
	}
}

const crashWriter = "0b7c9d1e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"

// A sidecar cut off from the log takes k1 into its outbox and answers;
// it takes k2 (built on k1) and is killed between the outbox's sync and
// the answer. The client retries k1 through another sidecar, which stores
// it, then the first sidecar restarts on its outbox: k1 is a duplicate,
// k2 is computed again from the operation the outbox kept, and a retry of
// k2 at the restarted sidecar is a duplicate. Each counts once.
func TestApplyOutboxCrashRetriedElsewhere(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestApplyOutboxCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashPhaseEnv+"=ops", crashDirEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed: %v\n%s", err, out)
	}
	srv := brokertest.RunServer(t, func(c *broker.Config) { c.StoreDir = filepath.Join(dir, "store") })
	b := startReplica(t, srv.ClientURL())
	if _, rep, err := apply(t, b, "crash.ops", `{"op":"inc","by":2}`, replica.WithIdempotencyKey("k1")); err != nil || rep.Duplicate {
		t.Fatalf("k1 retried at b: %+v %v, want stored", rep, err)
	}
	a := startReplica(t, srv.ClientURL(), withOutbox(filepath.Join(dir, "outbox")), func(c *replica.Config) { c.WriterID = crashWriter })
	waitFor(t, "a's outbox to drain", func() bool {
		c, _ := a.Get("crash.ops")
		return a.Outbox().Pending == 0 && c.Pending == 0
	})
	v, rep, err := apply(t, a, "crash.ops", `{"op":"inc","by":2}`, replica.WithIdempotencyKey("k2"))
	if err != nil || !rep.Duplicate || counterTotal(t, v) != 4 {
		t.Fatalf("k2 retried at the restarted sidecar: %s %+v %v, want a duplicate and 4", enc(v), rep, err)
	}
	if n := counterTotal(t, startReplica(t, srv.ClientURL()).Value("crash.ops")); n != 4 {
		t.Fatalf("the log counts %d, want 4", n)
	}
}

// TestApplyOutboxCrashChild is TestApplyOutboxCrashRetriedElsewhere's
// child process: with its broker down it applies k1, then k2, and kills
// itself once k2 is synced to the outbox, before answering.
func TestApplyOutboxCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if os.Getenv(crashPhaseEnv) != "ops" {
		t.Skip("run by TestApplyOutboxCrashRetriedElsewhere")
	}
	var taken atomic.Int32
	defer replica.SetOutboxHooks(func(string) {
		if taken.Add(1) == 2 {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}, nil)()
	srv := brokertest.RunWithStream(t, func(c *broker.Config) { c.StoreDir = filepath.Join(dir, "store") })
	r := startReplica(t, srv.ClientURL(), withOutbox(filepath.Join(dir, "outbox")), func(c *replica.Config) { c.WriterID = crashWriter })
	srv.Shutdown()
	waitFor(t, "the replica to notice the broker gone", r.Stale)
	if _, rep, err := apply(t, r, "crash.ops", `{"op":"inc","by":2}`, replica.WithIdempotencyKey("k1")); err != nil || !rep.Pending {
		t.Fatalf("k1: %+v %v, want pending", rep, err)
	}
	_, _, err := apply(t, r, "crash.ops", `{"op":"inc","by":2}`, replica.WithIdempotencyKey("k2"))
	t.Fatalf("k2 answered (%v) though the process was to die before", err)
}

// A retry at the same sidecar while the first is still in its outbox is
// answered from there, counted once, and so is one after the delivery.
func TestApplyOutboxRetrySameSidecar(t *testing.T) {
	srv := runBroker(t)
	a, proxy := cutOffReplica(t, srv)
	proxy.Cut()
	for i := range 2 {
		v, rep, err := apply(t, a, "same.c", `{"op":"inc","by":2}`, replica.WithIdempotencyKey("k1"))
		if err != nil || !rep.Pending || counterTotal(t, v) != 2 || a.Outbox().Pending != 1 {
			t.Fatalf("attempt %d while cut off: %s %+v %v (outbox %+v), want pending, 2, one update", i, enc(v), rep, err, a.Outbox())
		}
	}
	proxy.Heal()
	waitFor(t, "a's outbox to drain", func() bool {
		c, _ := a.Get("same.c")
		return a.Outbox().Pending == 0 && c.Pending == 0
	})
	if v, rep, err := apply(t, a, "same.c", `{"op":"inc","by":2}`, replica.WithIdempotencyKey("k1")); err != nil || !rep.Duplicate || counterTotal(t, v) != 2 {
		t.Fatalf("retry after the delivery: %s %+v %v, want a duplicate and 2", enc(v), rep, err)
	}
	if n := counterTotal(t, startReplica(t, srv.ClientURL()).Value("same.c")); n != 2 {
		t.Fatalf("the log counts %d, want 2", n)
	}
}

// The same as TestApplyOutboxKeyStoredElsewhere, but the partition
// outlasts the stream's duplicate window: JetStream has forgotten the key
// stored through the other sidecar when the first delivers. The first
// finds the key in its own index (kept while its outbox holds older
// updates) once it has folded the cell, and drops its update. Before, it
// was stored again: counted twice.
func TestApplyOutboxKeyStoredElsewhereLongAgo(t *testing.T) {
	const window = 2 * time.Second
	srv := brokertest.RunServer(t)
	if _, err := broker.EnsureStream(ctxT(t), brokertest.JetStream(t, connect(t, srv.ClientURL())), broker.StreamConfig{Duplicates: window}); err != nil {
		t.Fatal(err)
	}
	a, proxy := cutOffReplica(t, srv)
	b := startReplica(t, srv.ClientURL())
	if _, _, err := apply(t, a, "long.c", `{"op":"inc","by":5}`); err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	if _, rep, err := apply(t, a, "long.c", `{"op":"inc","by":2}`, replica.WithIdempotencyKey("k1")); err != nil || !rep.Pending {
		t.Fatalf("k1 while cut off: %+v %v, want pending", rep, err)
	}
	if _, rep, err := apply(t, b, "long.c", `{"op":"inc","by":2}`, replica.WithIdempotencyKey("k1")); err != nil || rep.Duplicate || rep.Pending {
		t.Fatalf("k1 retried at b: %+v %v, want stored", rep, err)
	}
	if _, rep, err := apply(t, a, "long.c", `{"op":"inc","by":2}`, replica.WithIdempotencyKey("k2")); err != nil || !rep.Pending {
		t.Fatalf("k2 while cut off: %+v %v, want pending", rep, err)
	}
	// What is awaited is time itself: the stream's duplicate window.
	time.Sleep(window + window/2)
	proxy.Heal()
	waitFor(t, "a's outbox to drain", func() bool {
		c, _ := a.Get("long.c")
		return a.Outbox().Pending == 0 && c.Pending == 0
	})
	c := startReplica(t, srv.ClientURL())
	last, _ := c.Get("long.c")
	for name, r := range map[string]*replica.Replica{"a": a, "b": b, "c": c} {
		waitFor(t, name+" to fold everything", func() bool { got, _ := r.Get("long.c"); return got.Seq >= last.Seq })
		if got := counterTotal(t, r.Value("long.c")); got != 9 {
			t.Errorf("%s counts %d, want 9", name, got)
		}
	}
}

// While a cell has updates in the outbox that the log has not
// acknowledged, operations on it go to the outbox behind them even with
// the log reachable (they build on counts that may yet be dropped), and
// one that asks for the log's acknowledgement is refused until they are
// delivered. The drain is held on its first delivery to look.
func TestApplyBehindOutbox(t *testing.T) {
	srv := runBroker(t)
	a, proxy := cutOffReplica(t, srv)
	proxy.Cut()
	if _, rep, err := apply(t, a, "behind.c", `{"op":"inc"}`, replica.WithIdempotencyKey("k1")); err != nil || !rep.Pending {
		t.Fatalf("k1 while cut off: %+v %v, want pending", rep, err)
	}
	reached, release := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	defer replica.SetOutboxHooks(nil, func(string) {
		if once.CompareAndSwap(false, true) {
			close(reached)
			<-release
		}
	})()
	proxy.Heal()
	select {
	case <-reached:
	case <-time.After(testTimeout):
		t.Fatal("the outbox did not deliver")
	}
	if _, rep, err := apply(t, a, "behind.c", `{"op":"inc"}`); err != nil || !rep.Pending {
		t.Errorf("inc with the log back and k1 undelivered: %+v %v, want taken into the outbox", rep, err)
	}
	if _, _, err := apply(t, a, "behind.c", `{"op":"inc"}`, replica.WithLogAck()); !errors.Is(err, replica.ErrOutboxAhead) {
		t.Errorf("inc asking for the log's acknowledgement: %v, want ErrOutboxAhead", err)
	}
	if _, rep, err := apply(t, a, "other.c", `{"op":"inc"}`); err != nil || rep.Pending {
		t.Errorf("inc on another cell: %+v %v, want acknowledged by the log", rep, err)
	}
	close(release)
	waitFor(t, "a's outbox to drain", func() bool {
		c, _ := a.Get("behind.c")
		return a.Outbox().Pending == 0 && c.Pending == 0
	})
	if v, rep, err := apply(t, a, "behind.c", `{"op":"inc"}`, replica.WithLogAck()); err != nil || rep.Pending || counterTotal(t, v) != 3 {
		t.Fatalf("inc once delivered: %s %+v %v, want acknowledged, 3", enc(v), rep, err)
	}
}

// The same shape with an orset: k1 (add x) is taken into a cut-off
// sidecar's outbox and retried through another, which stores it with its
// own dot; k2 (add y) follows at the first. Nothing is computed again (a
// dot is new whether or not the one before it was stored): every replica
// ends with x and y, and a removal of x through the first removes it
// everywhere (the dropped dot was never stored, so none is left behind).
func TestApplyOutboxKeyStoredElsewhereORSet(t *testing.T) {
	srv := runBroker(t)
	declare := func(c *replica.Config) { c.Declared = map[string]string{"re.s": lattice.TypeORSet} }
	a, proxy := cutOffReplica(t, srv, declare)
	b := startReplica(t, srv.ClientURL(), declare)
	if _, _, err := apply(t, a, "re.s", `{"op":"add","elem":"w"}`); err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	if _, rep, err := apply(t, a, "re.s", `{"op":"add","elem":"x"}`, replica.WithIdempotencyKey("k1")); err != nil || !rep.Pending {
		t.Fatalf("k1 while cut off: %+v %v, want pending", rep, err)
	}
	if _, rep, err := apply(t, b, "re.s", `{"op":"add","elem":"x"}`, replica.WithIdempotencyKey("k1")); err != nil || rep.Pending || rep.Duplicate {
		t.Fatalf("k1 retried at b: %+v %v, want stored", rep, err)
	}
	if _, rep, err := apply(t, a, "re.s", `{"op":"add","elem":"y"}`, replica.WithIdempotencyKey("k2")); err != nil || !rep.Pending {
		t.Fatalf("k2 while cut off: %+v %v, want pending", rep, err)
	}
	proxy.Heal()
	waitFor(t, "a's outbox to drain", func() bool {
		c, _ := a.Get("re.s")
		return a.Outbox().Pending == 0 && c.Pending == 0
	})
	if _, rep, err := apply(t, a, "re.s", `{"op":"remove","elem":"x"}`); err != nil || rep.Pending {
		t.Fatalf("remove x through a: %+v %v", rep, err)
	}
	c := startReplica(t, srv.ClientURL(), declare)
	last, _ := c.Get("re.s")
	want := enc(c.Value("re.s"))
	for name, r := range map[string]*replica.Replica{"a": a, "b": b, "c": c} {
		waitFor(t, name+" to fold everything", func() bool { got, _ := r.Get("re.s"); return got.Seq >= last.Seq })
		s, ok := r.Value("re.s").(*lattice.ORSet)
		if !ok {
			t.Fatalf("%s: not an orset: %s", name, enc(r.Value("re.s")))
		}
		if got := fmt.Sprint(s.Elems()); got != `[w y]` && got != `["w" "y"]` {
			t.Errorf("%s holds %s, want w and y", name, enc(s))
		}
		if enc(s) != want {
			t.Errorf("%s differs from a fresh replica:\n%s\n%s", name, enc(s), want)
		}
	}
}
