package replica_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
)

// A refine and an operation the log acknowledged answer within about
// OutboxAfter even though the replica cannot fold them (its fold is held,
// and the broker is cut off right after the acknowledgement): the answer
// and every read show the update, marked pending; once the broker is back
// and the fold passes the update's sequence, the mark goes and the value
// stays, each update stored once. With and without an outbox.
func TestAcknowledgedAnswersWithoutFold(t *testing.T) {
	for _, outbox := range []bool{true, false} {
		name := "outbox"
		if !outbox {
			name = "no outbox"
		}
		t.Run(name, func(t *testing.T) { testAcknowledgedAnswersWithoutFold(t, outbox) })
	}
}

func testAcknowledgedAnswersWithoutFold(t *testing.T, outbox bool) {
	srv := runBroker(t)
	url := srv.ClientURL()
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	defer open()
	other := startReplica(t, url)
	r, proxy := cutOffReplica(t, srv, func(c *replica.Config) {
		if !outbox {
			c.OutboxPath = ""
		}
		// The fold stops at the blocker's change until the gate opens.
		c.OnChange = func(ev replica.Event) {
			if ev.Cell == "blocker" {
				<-gate
			}
		}
	})
	defer proxy.Heal()
	if _, err := other.Refine(ctxT(t), "blocker", lattice.Max{Value: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the fold held at the blocker", func() bool {
		_, ok := r.Get("blocker")
		return ok
	})
	// A watcher of both cells: its last event of each must not say
	// pending once the fold passed them.
	w, err := r.Watch(">", false)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// An operation, acknowledged and not folded: answered all the same.
	ctx, cancel := context.WithTimeout(ctxT(t), 10*time.Second)
	defer cancel()
	var rep replica.RefineReport
	c, err := r.ApplyJSON(ctx, "hits", []byte(`{"op":"inc","by":3}`), replica.WithIdempotencyKey("k1"), replica.WithReport(&rep))
	if err != nil || !rep.Unfolded || rep.Pending || rep.Seq == 0 || total(t, c.Value) != 3 || c.Pending != 1 {
		t.Fatalf("operation with the fold held: %+v %+v %v, want 3 acknowledged, unfolded, 1 pending", c, rep, err)
	}
	// Retried before the fold passes it: a duplicate, nothing published.
	c, err = r.ApplyJSON(ctx, "hits", []byte(`{"op":"inc","by":3}`), replica.WithIdempotencyKey("k1"), replica.WithReport(&rep))
	if err != nil || !rep.Duplicate || total(t, c.Value) != 3 {
		t.Fatalf("retry with the fold held: %+v %+v %v, want a duplicate of 3", c, rep, err)
	}
	// A refine, and the broker gone right after acknowledging it.
	defer replica.SetPublishedHook(func(cell string, _ bool) {
		if cell == "x" {
			proxy.Cut()
		}
	})()
	start := time.Now()
	rep = replica.RefineReport{}
	c, err = r.Refine(ctx, "x", lattice.Max{Value: 7}, replica.WithIdempotencyKey("kx"), replica.WithReport(&rep))
	took := time.Since(start)
	if err != nil || !rep.Unfolded || rep.Pending || rep.Seq == 0 || !lattice.Equal(c.Value, lattice.Max{Value: 7}) || c.Pending != 1 {
		t.Fatalf("refine cut off after the acknowledgement: %+v %+v %v, want max 7 acknowledged, unfolded, 1 pending", c, rep, err)
	}
	t.Logf("refine answered after %v without its fold", took)
	if got, ok := r.Get("x"); !ok || got.Pending != 1 || !lattice.Equal(got.Value, lattice.Max{Value: 7}) {
		t.Fatalf("read of x: %+v, want max 7 with 1 pending", got)
	}
	if got, err := r.Await(ctx, "x", lattice.Max{Value: 7}); err != nil || got.Pending != 1 {
		t.Fatalf("await max 7: %+v %v", got, err)
	}
	if outbox {
		// Retried while cut off: the log has it, the outbox does not
		// take it again.
		seq := rep.Seq
		rep = replica.RefineReport{}
		c, err = r.Refine(ctx, "x", lattice.Max{Value: 7}, replica.WithIdempotencyKey("kx"), replica.WithReport(&rep))
		if err != nil || rep.Pending || !rep.Duplicate || !rep.Unfolded || rep.Seq != seq || c.Pending != 1 || r.Outbox().Taken != 0 {
			t.Fatalf("retry cut off: %+v %+v %v (outbox %+v), want a duplicate of seq %d, unfolded, nothing taken", c, rep, err, r.Outbox(), seq)
		}
	}
	// The fold catches up once the broker is back.
	proxy.Heal()
	open()
	waitFor(t, "the fold passed the updates and their pending marks went", func() bool {
		x, _ := r.Get("x")
		h, _ := r.Get("hits")
		return x.Pending == 0 && h.Pending == 0 && x.Seq > 0 && h.Seq > 0
	})
	last := map[string]replica.Event{}
	for last["x"].Pending != 0 || last["hits"].Pending != 0 || last["x"].Seq == 0 || last["hits"].Seq == 0 {
		wctx, wcancel := context.WithTimeout(ctxT(t), 5*time.Second)
		ev, err := w.Next(wctx)
		wcancel()
		if err != nil {
			t.Fatalf("the watcher's last events %+v still say pending or none came: %v", last, err)
		}
		last[ev.Cell] = ev
	}
	if got, _ := r.Get("x"); !lattice.Equal(got.Value, lattice.Max{Value: 7}) {
		t.Fatalf("x after the fold: %s, want max 7", enc(got.Value))
	}
	if got, _ := r.Get("hits"); total(t, got.Value) != 3 {
		t.Fatalf("hits after the fold: %s, want 3", enc(got.Value))
	}
	if n := subjectCount(t, url, "x"); n != 1 {
		t.Fatalf("x stored %d times, want once", n)
	}
	if n := subjectCount(t, url, "hits"); n != 1 {
		t.Fatalf("hits stored %d times, want once", n)
	}
	if st := r.Outbox(); st.Pending != 0 {
		t.Fatalf("outbox %+v, want nothing in it: the updates were acknowledged", st)
	}
}
