package replica_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
	"github.com/nats-io/nats.go"
)

// Forgetting a subtree while writers write elsewhere: every replica, and a
// fresh one, agrees that the subtree is empty, and every other cell holds
// every acknowledged update; written again, a forgotten cell starts afresh
// (even with another type).
func TestForgetWhileWriting(t *testing.T) {
	srv := runBroker(t)
	r1, r2 := startReplica(t, srv.ClientURL()), startReplica(t, srv.ClientURL())
	ctx := ctxT(t)
	for i := range 20 {
		if _, err := r1.Refine(ctx, fmt.Sprintf("gone.c%d", i%5), lattice.Max{Value: float64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	acked := make([]float64, 4) // per writer: the largest max acknowledged
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := r2.Refine(ctx, fmt.Sprintf("keep.w%d", w), lattice.Max{Value: float64(i)}); err != nil {
					t.Error(err)
					return
				}
				acked[w] = float64(i)
			}
		}()
	}
	st, err := r1.Forget(ctx, "gone.>", "test")
	close(stop)
	wg.Wait()
	if err != nil || st.Cells != 5 || st.Markers != 5 || st.Purged != 5 {
		t.Fatalf("forget: %+v, %v", st, err)
	}
	fresh := startReplica(t, srv.ClientURL())
	waitFor(t, "r2 to fold the markers", func() bool { return len(r2.Cells("gone.>")) == 0 })
	for name, r := range map[string]*replica.Replica{"r1": r1, "r2": r2, "fresh": fresh} {
		if got := r.Cells("gone.>"); len(got) != 0 {
			t.Errorf("%s still holds %d forgotten cells", name, len(got))
		}
		waitFor(t, name+" to have every acknowledged update", func() bool {
			for w, want := range acked {
				c, ok := r.Get(fmt.Sprintf("keep.w%d", w))
				if !ok || lattice.Encode(c.Value) == nil || !lattice.Leq(lattice.Max{Value: want}, c.Value) {
					return false
				}
			}
			return true
		})
	}
	c, err := r1.RefineJSON(ctx, "gone.c1", []byte(`{"type":"set","elems":["again"]}`))
	if err != nil || c.Type != "set" {
		t.Fatalf("a forgotten cell written again (as a set, it was a max): %+v, %v", c, err)
	}
	h, err := r1.History(ctx, "gone.c1", replica.HistoryQuery{})
	if err != nil || len(h) != 2 || !h[0].Forgotten || h[1].Value == nil {
		t.Fatalf("history after the forget: %+v, %v (want the marker, then the new update: the old ones are purged)", h, err)
	}
}

// A replica restarted from a snapshot taken before a forget folds the
// marker again: the cell does not come back.
func TestForgetAfterSnapshot(t *testing.T) {
	srv := runBroker(t)
	snap := filepath.Join(t.TempDir(), "snapshot.jsonl")
	withSnap := func(c *replica.Config) { c.SnapshotPath = snap }
	a := startReplica(t, srv.ClientURL(), withSnap)
	ctx := ctxT(t)
	if _, err := a.Refine(ctx, "old.x", lattice.Max{Value: 1}); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil { // writes the snapshot
		t.Fatal(err)
	}
	b := startReplica(t, srv.ClientURL())
	if _, err := b.Forget(ctx, "old.x", ""); err != nil {
		t.Fatal(err)
	}
	a = startReplica(t, srv.ClientURL(), withSnap)
	if _, ok := a.Get("old.x"); ok {
		t.Fatal("a replica restarted from an older snapshot brought the forgotten cell back")
	}
}

// Watchers hear that a cell was forgotten, and a threshold read waiting on
// it ends with ErrForgotten.
func TestForgetWatchersAndAwait(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL())
	ctx := ctxT(t)
	if _, err := r.Refine(ctx, "w.a", lattice.Max{Value: 1}); err != nil {
		t.Fatal(err)
	}
	w, err := r.Watch("w.>", true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if ev, err := w.Next(ctx); err != nil || ev.Forgotten {
		t.Fatalf("first event: %+v %v", ev, err)
	}
	awaited := make(chan error, 1)
	go func() {
		_, err := r.Await(ctx, "w.a", lattice.Max{Value: 10})
		awaited <- err
	}()
	if _, err := r.Forget(ctx, "w.a", ""); err != nil {
		t.Fatal(err)
	}
	ev, err := w.Next(ctx)
	if err != nil || !ev.Forgotten || ev.Cell != "w.a" {
		t.Fatalf("event after the forget: %+v %v", ev, err)
	}
	select {
	case err := <-awaited:
		if !errors.Is(err, replica.ErrForgotten) {
			t.Fatalf("await of a forgotten cell: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the threshold read did not end")
	}
}

// An idle cell expires within its TTL plus the check interval; one refined
// in time is kept.
func TestExpiry(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL(), func(c *replica.Config) {
		c.Expire = []replica.ExpireRule{{Cells: "idle.>", TTL: 1500 * time.Millisecond}}
	})
	ctx := ctxT(t)
	for _, cell := range []string{"idle.a", "idle.b", "other.c"} {
		if _, err := r.Refine(ctx, cell, lattice.Max{Value: 1}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // keep idle.b refined
		for i := 2; kctx.Err() == nil; i++ {
			r.Refine(kctx, "idle.b", lattice.Max{Value: float64(i)})
			time.Sleep(200 * time.Millisecond)
		}
	}()
	waitFor(t, "idle.a to expire", func() bool { _, ok := r.Get("idle.a"); return !ok })
	t.Logf("idle.a expired %v after its last update (TTL 1.5s)", time.Since(start).Round(10*time.Millisecond))
	cancel()
	if _, ok := r.Get("idle.b"); !ok {
		t.Error("idle.b, refined all along, expired")
	}
	if _, ok := r.Get("other.c"); !ok {
		t.Error("other.c, which no rule covers, expired")
	}
}

// Under a trust policy, forgetting is a forgetter's: a marker counts only
// signed by a key the cell's rule lists among its forgetters, whoever may
// publish on the forget subject.
func TestForgetUnderTrust(t *testing.T) {
	srv := runBroker(t)
	admin, writer := newUserKey(t), newUserKey(t)
	policy := trustPolicy(t, fold.TrustRule{Cells: ">", Unsigned: true, Forgetters: []string{admin.pub}})
	r := startReplica(t, srv.ClientURL(), withTrust(policy))
	ctx := ctxT(t)
	for _, c := range []string{"a", "b"} {
		if _, err := r.Refine(ctx, c, lattice.Max{Value: 1}); err != nil {
			t.Fatal(err)
		}
	}
	nc := connect(t, srv.ClientURL())
	js := brokertest.JetStream(t, nc)
	marker := func(cell string, h nats.Header) uint64 {
		m := nats.NewMsg("dprop.forget." + cell)
		m.Data = []byte(`{"cell":"` + cell + `"}`)
		for k, v := range h {
			m.Header[k] = v
		}
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	marker("a", nil)
	marker("a", writer.sign(t, "dprop.forget.a", `{"cell":"a"}`))
	last := marker("b", admin.sign(t, "dprop.forget.b", `{"cell":"b"}`))
	waitApplied(t, last, r)
	if _, ok := r.Get("a"); !ok {
		t.Error("an unsigned marker, or one of a key that may not forget, forgot a")
	}
	if _, ok := r.Get("b"); ok {
		t.Error("the forgetter's marker did not forget b")
	}
	want := map[string]uint64{fold.ReasonUnsigned: 1, fold.ReasonUntrustedSigner: 1}
	if got := r.Stats().Refused["a"]; !maps.Equal(got, want) {
		t.Errorf("refusals of a: %v, want %v", got, want)
	}
	// A replica that signs with the forgetter's key forgets through Forget.
	f := startReplica(t, srv.ClientURL(), withTrust(policy), func(c *replica.Config) { c.SignKey = admin.kp })
	if st, err := f.Forget(ctx, "a", "test"); err != nil || st.Markers != 1 {
		t.Fatalf("forget with the forgetter's key: %+v %v", st, err)
	}
	waitFor(t, "a to be forgotten", func() bool { _, ok := r.Get("a"); return !ok })
}
