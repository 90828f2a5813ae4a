package replica_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/lattice/op"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

func apply(t *testing.T, r *replica.Replica, cell, o string, opts ...replica.RefineOption) (lattice.Value, replica.RefineReport, error) {
	t.Helper()
	var rep replica.RefineReport
	c, err := r.ApplyJSON(ctxT(t), cell, []byte(o), append(opts, replica.WithReport(&rep))...)
	return c.Value, rep, err
}

func total(t *testing.T, v lattice.Value) int64 {
	t.Helper()
	g, ok := v.(*lattice.GCounter)
	if !ok {
		t.Fatalf("not a gcounter: %s", enc(v))
	}
	n, err := g.Total()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Increments through two replicas at once, many per replica concurrently,
// count exactly: each replica writes its own count, batched.
func TestApplyConcurrentIncrements(t *testing.T) {
	srv := runBroker(t)
	r1, r2 := startReplica(t, srv.ClientURL()), startReplica(t, srv.ClientURL())
	if r1.WriterID() == r2.WriterID() {
		t.Fatal("two replicas share a writer id")
	}
	const clients, each = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, clients*each)
	for i := range clients {
		r := r1
		if i%2 == 1 {
			r = r2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := r.ApplyJSON(ctxT(t), "hits", []byte(`{"op":"inc"}`)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, "both replicas count every increment", func() bool {
		a, _ := r1.Get("hits")
		b, _ := r2.Get("hits")
		return a.Value != nil && b.Value != nil && total(t, a.Value) == clients*each && total(t, b.Value) == clients*each
	})
	g := r1.Value("hits").(*lattice.GCounter)
	if len(g.Counts()) != 2 {
		t.Fatalf("counts %s, want one per writer", enc(g))
	}
	if n := subjectCount(t, srv.ClientURL(), "hits"); n > clients*each {
		t.Fatalf("%d updates for %d increments", n, clients*each)
	}
}

// An operation with an idempotency key applies once, through any replica:
// one that has folded the first update answers from its index, one that
// has not finds the duplicate through JetStream; the key for another
// operation is refused.
func TestApplyIdempotencyAcrossReplicas(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	gate := make(chan struct{})
	var once sync.Once
	r1 := startReplica(t, url)
	// r2's fold stops at its first change until the gate opens, so the
	// first increment stays unknown to it.
	r2 := startReplica(t, url, func(c *replica.Config) {
		c.OnChange = func(ev replica.Event) {
			if ev.Cell == "blocker" {
				<-gate
			}
		}
	})
	defer once.Do(func() { close(gate) })
	if _, _, err := apply(t, r1, "blocker", `{"op":"enable"}`); err != nil {
		t.Fatal(err)
	}
	v, rep, err := apply(t, r1, "jobs.done", `{"op":"inc","by":5}`, replica.WithIdempotencyKey("k1"))
	if err != nil || rep.Duplicate || total(t, v) != 5 {
		t.Fatalf("first: %s %+v %v", enc(v), rep, err)
	}
	// The same at r1: from its index, nothing published.
	before := subjectCount(t, url, "jobs.done")
	v, rep, err = apply(t, r1, "jobs.done", `{ "by":5, "op":"inc" }`, replica.WithIdempotencyKey("k1"))
	if err != nil || !rep.Duplicate || total(t, v) != 5 {
		t.Fatalf("retry at r1: %s %+v %v", enc(v), rep, err)
	}
	// At r2, whose fold is held: JetStream tells the duplicate.
	dups := make(chan bool, 4)
	defer replica.SetPublishedHook(func(cell string, dup bool) {
		if cell == "jobs.done" {
			dups <- dup
		}
	})()
	done := make(chan error, 1)
	go func() {
		var rep replica.RefineReport
		c, err := r2.ApplyJSON(context.Background(), "jobs.done", []byte(`{"op":"inc","by":5}`), replica.WithIdempotencyKey("k1"), replica.WithReport(&rep))
		if err == nil && (!rep.Duplicate || total(t, c.Value) != 5) {
			err = fmt.Errorf("retry at r2: %s %+v, want a duplicate and 5", enc(c.Value), rep)
		}
		done <- err
	}()
	if dup := <-dups; !dup {
		t.Fatal("r2's publish was stored, not told a duplicate")
	}
	once.Do(func() { close(gate) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if after := subjectCount(t, url, "jobs.done"); after != before {
		t.Fatalf("retries stored %d more updates", after-before)
	}
	if _, _, err := apply(t, r2, "jobs.done", `{"op":"inc","by":6}`, replica.WithIdempotencyKey("k1")); !errors.Is(err, replica.ErrKeyReused) {
		t.Fatalf("the key for another operation: %v, want ErrKeyReused", err)
	}
	if v, _, err := apply(t, r2, "jobs.done", `{"op":"inc"}`, replica.WithIdempotencyKey("k2")); err != nil || total(t, v) != 6 {
		t.Fatalf("a new key: %v %v, want 6", v, err)
	}
}

// An element removed through one replica right after its add was
// acknowledged through another is gone: the removal waits to observe it.
func TestApplyORSetAcrossReplicas(t *testing.T) {
	srv := runBroker(t)
	r1, r2 := startReplica(t, srv.ClientURL()), startReplica(t, srv.ClientURL())
	for i := range 20 {
		elem := fmt.Sprintf(`"e%d"`, i)
		if _, _, err := apply(t, r1, "tags", `{"op":"add","elems":[`+elem+`,"keep"]}`); err != nil {
			t.Fatal(err)
		}
		v, _, err := apply(t, r2, "tags", `{"op":"remove","elem":`+elem+`}`)
		if err != nil {
			t.Fatal(err)
		}
		s := v.(*lattice.ORSet)
		if s.Has(lattice.Str(fmt.Sprintf("e%d", i))) || !s.Has(lattice.Str("keep")) {
			t.Fatalf("after removing %s at r2: %s", elem, enc(v))
		}
	}
	waitFor(t, "r1 sees the removals", func() bool { return len(r1.Value("tags").(*lattice.ORSet).Elems()) == 1 })
	if v, _, err := apply(t, r1, "tags", `{"op":"clear"}`); err != nil || len(v.(*lattice.ORSet).Elems()) != 0 {
		t.Fatalf("clear: %v %v", v, err)
	}
}

// Operations that make no sense are refused and publish nothing; a
// replica that has not folded the log refuses them too.
func TestApplyRefusals(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL(), func(c *replica.Config) { c.Declared = map[string]string{"pages": "gcounter"} })
	if _, _, err := apply(t, r, "pages", `{"op":"inc"}`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o    string
		want error
	}{
		{`{"op":"dec"}`, op.ErrNotApplicable},
		{`{"op":"inc","by":-1}`, op.ErrBad},
		{`{"op":"add","elem":"x"}`, op.ErrNotApplicable},
		{`{"op":"explode"}`, op.ErrBad},
		{`not json`, op.ErrBad},
	} {
		if _, _, err := apply(t, r, "pages", c.o); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.o, err, c.want)
		}
	}
	if n := subjectCount(t, srv.ClientURL(), "pages"); n != 1 {
		t.Fatalf("%d updates stored, want 1", n)
	}
	if _, _, err := apply(t, r, "bad name", `{"op":"inc"}`); err == nil {
		t.Fatal("a bad cell name was taken")
	}
	notReady := startReplicaNoWait(t, srv.ClientURL(), func(c *replica.Config) { c.Stream = "NOSUCH" })
	if _, err := notReady.ApplyJSON(ctxT(t), "pages", []byte(`{"op":"inc"}`)); !errors.Is(err, replica.ErrNotReady) {
		t.Fatalf("before ready: %v, want ErrNotReady", err)
	}
}

// Without the log, increments go to the outbox and build on one another;
// once the log is back each counts once.
func TestApplyThroughOutbox(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL(), withOutbox(filepath.Join(t.TempDir(), "outbox")))
	if _, _, err := apply(t, r, "c", `{"op":"inc"}`); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	for i := range 3 {
		v, rep, err := apply(t, r, "c", `{"op":"inc","by":2}`, replica.WithIdempotencyKey(fmt.Sprint("k", i)))
		if err != nil || !rep.Pending || total(t, v) != int64(3+2*i) {
			t.Fatalf("inc %d without the log: %v %+v %v", i, v, rep, err)
		}
	}
	srv = brokertest.RestartServer(t, srv)
	waitFor(t, "the outbox drained", func() bool {
		c, _ := r.Get("c")
		return r.Outbox().Pending == 0 && c.Pending == 0
	})
	other := startReplica(t, srv.ClientURL())
	if n := total(t, other.Value("c")); n != 7 {
		t.Fatalf("the log's count is %d, want 7", n)
	}
	// A retry of a key taken by the outbox is a duplicate now.
	if v, rep, err := apply(t, r, "c", `{"op":"inc","by":2}`, replica.WithIdempotencyKey("k1")); err != nil || !rep.Duplicate || total(t, v) != 7 {
		t.Fatalf("retry after the drain: %v %+v %v", v, rep, err)
	}
}

// Adds from many clients at once, several updates in flight: every add
// takes its own dot (each update builds on those in flight), and none is
// lost.
func TestApplyConcurrentAdds(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL())
	const clients, each = 32, 10
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				if _, err := r.ApplyJSON(ctxT(t), "many", []byte(fmt.Sprintf(`{"op":"add","elem":"e%d-%d"}`, i, j))); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	s := r.Value("many").(*lattice.ORSet)
	if n := len(s.Elems()); n != clients*each {
		t.Fatalf("%d elements, want %d", n, clients*each)
	}
	other := startReplica(t, srv.ClientURL())
	if got := enc(other.Value("many")); got != enc(s) {
		t.Fatalf("the log's set differs from the writer's:\n%s\n%s", got, enc(s))
	}
	// Every dot distinct: the context is one contiguous run of the writer.
	want := fmt.Sprintf(`"context":{"%s":%d}`, r.WriterID(), clients*each)
	if !strings.Contains(enc(s), want) {
		t.Fatalf("dots not 1..%d of the writer: %s", clients*each, enc(s)[len(enc(s))-200:])
	}
}

// A sidecar that stored an operation and crashed before answering: the
// client retries with the same key at the restarted sidecar (the same
// writer id) and at another; both tell a duplicate, and it counted once.
func TestApplyRetryAfterCrash(t *testing.T) {
	srv := runBroker(t)
	writer := "8d2f5a30-3f0c-4b7e-9a61-0c1d2e3f4a5b"
	same := func(c *replica.Config) { c.WriterID = writer }
	r1 := startReplica(t, srv.ClientURL(), same)
	if r1.WriterID() != writer {
		t.Fatalf("writer id %q, want the configured %q", r1.WriterID(), writer)
	}
	_, _, _ = apply(t, r1, "crash", `{"op":"inc","by":3}`, replica.WithIdempotencyKey("k")) // the answer is lost
	r1.Close()
	r2 := startReplica(t, srv.ClientURL(), same)
	v, rep, err := apply(t, r2, "crash", `{"op":"inc","by":3}`, replica.WithIdempotencyKey("k"))
	if err != nil || !rep.Duplicate || total(t, v) != 3 {
		t.Fatalf("retry at the restarted sidecar: %v %+v %v", v, rep, err)
	}
	if v, _, err := apply(t, r2, "crash", `{"op":"inc"}`); err != nil || total(t, v) != 4 || len(v.(*lattice.GCounter).Counts()) != 1 {
		t.Fatalf("the restarted sidecar counts on under its writer id: %s %v", enc(v), err)
	}
	r3 := startReplica(t, srv.ClientURL())
	if v, rep, err := apply(t, r3, "crash", `{"op":"inc","by":3}`, replica.WithIdempotencyKey("k")); err != nil || !rep.Duplicate || total(t, v) != 4 {
		t.Fatalf("retry at another sidecar: %v %+v %v", v, rep, err)
	}
	if _, err := replica.Start(ctxT(t), replica.Config{Conn: connect(t, srv.ClientURL()), WriterID: "not-a-uuid"}); err == nil {
		t.Fatal("a writer id that is not a UUID was taken")
	}
}

// Without an outbox and without the broker, an operation fails at once
// (nothing was sent), and applies once the broker is back.
func TestApplyWithoutBroker(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL())
	if _, _, err := apply(t, r, "nb", `{"op":"inc"}`); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	waitFor(t, "the replica to see the broker gone", func() bool {
		_, _, err := apply(t, r, "nb", `{"op":"inc"}`, replica.WithIdempotencyKey("x"))
		return errors.Is(err, replica.ErrNotConnected)
	})
	brokertest.RestartServer(t, srv)
	waitFor(t, "the operation to apply once the broker is back", func() bool {
		v, _, err := apply(t, r, "nb", `{"op":"inc"}`, replica.WithIdempotencyKey("x"))
		return err == nil && total(t, v) == 2
	})
}

// ApplyFunc answers every operation once, through done, with what Apply
// answers: concurrent increments batched into updates count exactly, and
// a refusal comes back through done too.
func TestApplyFunc(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL())
	const n = 200
	var (
		mu      sync.Mutex
		answers = map[int]int{}
		totals  = map[int64]bool{}
		wg      sync.WaitGroup
	)
	for i := range n {
		wg.Add(1)
		go func() {
			o, err := op.Parse([]byte(`{"op":"inc"}`), lattice.Limits{})
			if err != nil {
				t.Error(err)
			}
			r.ApplyFunc("funcs", o, func(c fold.Cell, rep replica.RefineReport, err error) {
				mu.Lock()
				defer mu.Unlock()
				answers[i]++
				if answers[i] == 1 {
					defer wg.Done()
				}
				if err != nil || rep.Seq == 0 {
					t.Errorf("increment %d: %v, report %+v", i, err, rep)
					return
				}
				totals[total(t, c.Value)] = true
			})
		}()
	}
	wg.Wait()
	for i, k := range answers {
		if k != 1 {
			t.Fatalf("increment %d answered %d times", i, k)
		}
	}
	if len(answers) != n || !totals[n] {
		t.Fatalf("%d answers; no answer showed all %d increments (read-your-writes): totals %v", len(answers), n, totals)
	}
	refused := make(chan error, 1)
	r.ApplyJSONFunc("funcs", []byte(`{"op":"dec"}`), func(_ fold.Cell, _ replica.RefineReport, err error) { refused <- err })
	if err := <-refused; !errors.Is(err, op.ErrNotApplicable) {
		t.Fatalf("dec on a gcounter: %v, want ErrNotApplicable", err)
	}
}
