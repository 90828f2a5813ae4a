package replica_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

// A plain core-NATS publish, with no headers and no SDK, is an update like
// any other; a duplicate changes nothing and wakes no watcher.
func TestPlainPublishAndDuplicates(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL())
	w, err := r.Watch("weather.>", false)
	if err != nil {
		t.Fatal(err)
	}
	nc := connect(t, srv.ClientURL())
	pub := func(cell, payload string) {
		t.Helper()
		if err := nc.Publish("dprop.cell."+cell, []byte(payload)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := ctxT(t)
	next := func(want string) {
		t.Helper()
		ev, err := w.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := enc(ev.Value); got != want || ev.Cell != "weather.boston.temp" {
			t.Fatalf("event %s %s, want %s", ev.Cell, got, want)
		}
	}
	pub("weather.boston.temp", `{"type":"range","min":34,"max":48}`)
	next(`{"type":"range","min":34,"max":48}`)
	pub("weather.boston.temp", `{"type":"range","min":34,"max":48}`) // duplicate
	pub("weather.boston.temp", `{"type":"range","min":36,"max":43}`) // inside: no change
	pub("weather.boston.temp", `{"type":"range","min":33,"max":36}`)
	// The duplicate and the inner range were silent: the next event is the
	// real change.
	next(`{"type":"range","min":33,"max":48}`)
	waitFor(t, "four updates folded", func() bool {
		c, _ := r.Get("weather.boston.temp")
		return c.Updates == 4
	})
	pub("weather.boston.temp", `{"type":"range","min":31,"max":57}`)
	ev, err := w.Next(ctx)
	if err != nil || enc(ev.Value) != `{"type":"range","min":31,"max":57}` {
		t.Fatalf("next event %s, %v", enc(ev.Value), err)
	}
}

// Every kind of bad input arriving on a subject is refused, counted per
// cell and reason, and changes nothing; the replica keeps folding.
func TestBadInputOnSubjects(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL(), func(c *replica.Config) {
		c.Declared = map[string]string{"decl": "interval"}
		c.Limits = lattice.Limits{MaxBytes: 4096, MaxDepth: 8, MaxElems: 10}
	})
	nc := connect(t, srv.ClientURL())
	ctx := ctxT(t)
	if _, err := r.Refine(ctx, "t", mustDecode(t, `{"type":"range","min":1,"max":2}`)); err != nil {
		t.Fatal(err)
	}
	deep := strings.Repeat(`{"type":"map","entries":{"k":`, 6) + `{"type":"max","value":1}` + strings.Repeat(`}}`, 6)
	cases := []struct{ cell, payload, reason string }{
		{"t", `{"type":"range","min":1`, fold.ReasonMalformed},
		{"t", `{"type":"whatever"}`, fold.ReasonUnknownType},
		{"t", `{"type":"range","min":1}`, fold.ReasonBadField},
		{"t", `{"type":"range","min":true,"max":2}`, fold.ReasonBadField},
		{"t", `{"type":"range","min":1e999,"max":2}`, fold.ReasonNotFinite},
		{"t", `{"type":"range","min":NaN,"max":2}`, fold.ReasonMalformed},
		{"t", `{"type":"range","min":5,"max":2}`, fold.ReasonInvalid},
		{"t", `{"type":"max","value":1}`, fold.ReasonTypeMismatch},
		{"decl", `{"type":"range","min":1,"max":2}`, fold.ReasonTypeMismatch},
		{"decl", `{"type":"interval","lo":3,"hi":1}`, fold.ReasonInvalid},
		{"s", `{"type":"set","elems":[1,2,3,4,5,6,7,8,9,10,11]}`, fold.ReasonTooLarge},
		{"s", `{"type":"set","elems":["` + strings.Repeat("x", 5000) + `"]}`, fold.ReasonTooLarge},
		{"m", deep, fold.ReasonTooDeep},
	}
	for _, c := range cases {
		if err := nc.Publish("dprop.cell."+c.cell, []byte(c.payload)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every bad update to be refused", func() bool {
		n := 0
		for _, reasons := range r.Stats().Refused {
			for _, k := range reasons {
				n += int(k)
			}
		}
		return n == len(cases)
	})
	// A good update after all of them is still folded.
	c, err := r.Refine(ctx, "t", mustDecode(t, `{"type":"range","min":0,"max":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := enc(c.Value); got != `{"type":"range","min":0,"max":2}` || c.Updates != 2 {
		t.Errorf("cell t = %s after %d updates", got, c.Updates)
	}
	refused := r.Stats().Refused
	want := map[string]map[string]uint64{}
	for _, c := range cases {
		if want[c.cell] == nil {
			want[c.cell] = map[string]uint64{}
		}
		want[c.cell][c.reason]++
	}
	for cell, reasons := range want {
		for reason, n := range reasons {
			if got := refused[cell][reason]; got != n {
				t.Errorf("refused[%s][%s] = %d, want %d", cell, reason, got, n)
			}
		}
	}
	for _, cell := range []string{"decl", "s", "m"} {
		if _, ok := r.Get(cell); ok {
			t.Errorf("refused updates created cell %s", cell)
		}
	}
	// Through Refine the same problems are errors and nothing is published.
	before := r.Progress().Applied
	if _, err := r.RefineJSON(ctx, "t", []byte(`{"type":"range","min":5,"max":2}`)); !errors.Is(err, lattice.ErrInvalid) {
		t.Errorf("RefineJSON bad interval: %v", err)
	}
	if _, err := r.RefineJSON(ctx, "decl", []byte(`{"type":"max","value":1}`)); !errors.Is(err, fold.ErrTypeMismatch) {
		t.Errorf("RefineJSON declared mismatch: %v", err)
	}
	if _, err := r.RefineJSON(ctx, "a b", []byte(`{"type":"max","value":1}`)); !errors.Is(err, cellname.ErrBad) {
		t.Errorf("RefineJSON bad name: %v", err)
	}
	if _, err := r.RefineJSON(ctx, "s", []byte(`{"type":"set","elems":["`+strings.Repeat("x", 5000)+`"]}`)); !errors.Is(err, lattice.ErrTooLarge) {
		t.Errorf("RefineJSON too large: %v", err)
	}
	if after := r.Progress().Applied; after != before {
		t.Errorf("refused refines published: applied %d → %d", before, after)
	}
}

// Two different numbers make a contradiction that says which; watchers are
// told and reads show it.
func TestContradiction(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL())
	ctx := ctxT(t)
	w, _ := r.Watch("x", false)
	if _, err := r.Refine(ctx, "x", lattice.Number{Value: 3}); err != nil {
		t.Fatal(err)
	}
	c, err := r.Refine(ctx, "x", lattice.Number{Value: 4})
	if err != nil {
		t.Fatal(err)
	}
	con, ok := c.Value.(*lattice.Contradiction)
	if !ok || !strings.Contains(con.Reason(), "3 ≠ 4") {
		t.Fatalf("value %s, want a contradiction of 3 and 4", enc(c.Value))
	}
	// The watcher may see 3 first, or only the contradiction (a pending
	// event is replaced by a newer one); either way it ends there.
	ev, err := w.Next(ctx)
	if err == nil && !lattice.IsContradiction(ev.Value) {
		ev, err = w.Next(ctx)
	}
	if err != nil || !lattice.IsContradiction(ev.Value) {
		t.Fatalf("watcher got %v, %v", ev.Value, err)
	}
	// A contradiction absorbs what follows but stays readable.
	if c, _ = r.Refine(ctx, "x", lattice.Number{Value: 3}); !lattice.IsContradiction(c.Value) {
		t.Errorf("contradiction lost: %s", enc(c.Value))
	}
}

// A threshold read waits until the cell is at least as informative as the
// threshold.
func TestAwait(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL())
	ctx := ctxT(t)
	type weighed struct {
		v       float64
		reached bool
	}
	seen := make(chan weighed, 100)
	t.Cleanup(replica.SetAwaitHook(func(v lattice.Value, reached bool) {
		if m, ok := v.(lattice.Max); ok {
			seen <- weighed{m.Value, reached}
		}
	}))
	got := make(chan fold.Cell, 1)
	go func() {
		c, err := r.Await(ctx, "count", mustDecode(t, `{"type":"max","value":10}`))
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	// Every value below the threshold is weighed and found short (a slow
	// waiter may skip values, never the last): the await cannot return
	// early without this failing.
	for i := 1; i <= 10; i++ {
		if _, err := r.Refine(ctx, "count", lattice.Max{Value: float64(i)}); err != nil {
			t.Fatal(err)
		}
		for {
			var w weighed
			select {
			case w = <-seen:
			case <-ctx.Done():
				t.Fatalf("await never weighed the value %d", i)
			}
			if w.reached != (w.v >= 10) {
				t.Fatalf("await weighed %v and found reached=%v", w.v, w.reached)
			}
			if w.v >= float64(i) {
				break
			}
		}
	}
	select {
	case c := <-got:
		if enc(c.Value) != `{"type":"max","value":10}` {
			t.Errorf("await = %s", enc(c.Value))
		}
	case <-ctx.Done():
		t.Fatal("await did not return")
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := r.Await(short, "count", lattice.Max{Value: 11}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("await of an unmet threshold: %v", err)
	}
	// A cell in contradiction answers any threshold: it will never hold it.
	r.Refine(ctx, "exact", lattice.Number{Value: 1})
	go r.Refine(ctx, "exact", lattice.Number{Value: 2})
	if c, err := r.Await(ctx, "exact", lattice.Number{Value: 3}); err != nil || !lattice.IsContradiction(c.Value) {
		t.Errorf("await on a contradicted cell: %s %v", enc(c.Value), err)
	}
}

// A watcher that does not read never stalls folding; when it reads it gets
// the latest value of each cell.
func TestSlowWatcherCoalesces(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL())
	ctx := ctxT(t)
	w, _ := r.Watch(">", false)
	const n = 300
	for i := 1; i <= n; i++ {
		if _, err := r.Refine(ctx, fmt.Sprintf("c.%d", i%3), lattice.Max{Value: float64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// The changes reach the watcher shortly after they are folded: read
	// until the last value of each cell is in. Each value read is a later
	// one than the last read of its cell.
	last, received := map[string]float64{}, 0
	done := func() bool {
		for i := n - 2; i <= n; i++ {
			if last[fmt.Sprintf("c.%d", i%3)] != float64(i) {
				return false
			}
		}
		return true
	}
	for !done() {
		ev, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("after %d events, last values %v: %v", received, last, err)
		}
		received++
		v := ev.Value.(lattice.Max).Value
		if v <= last[ev.Cell] {
			t.Errorf("%s: %v after %v", ev.Cell, v, last[ev.Cell])
		}
		last[ev.Cell] = v
	}
	if received > n/10 {
		t.Errorf("%d events of %d changes to an idle watcher: not coalesced", received, n)
	}
	if got := w.Coalesced(); got+uint64(received) != n {
		t.Errorf("coalesced %d and received %d, want %d in all", got, received, n)
	}
}

// Watch with current sends the present values first, then changes, and a
// cell that does not exist yet can be watched.
func TestWatchCurrentAndFuture(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL())
	ctx := ctxT(t)
	r.Refine(ctx, "a.x", lattice.Flag{Value: true})
	w, err := r.Watch("a.*", true)
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := w.Next(ctx); ev.Cell != "a.x" {
		t.Fatalf("first event %+v", ev)
	}
	r.Refine(ctx, "b.y", lattice.Flag{Value: true})
	r.Refine(ctx, "a.new", lattice.Flag{Value: true})
	if ev, _ := w.Next(ctx); ev.Cell != "a.new" {
		t.Fatalf("second event %+v", ev)
	}
	if _, err := r.Watch("a.>.b", false); !errors.Is(err, cellname.ErrBad) {
		t.Errorf("bad pattern: %v", err)
	}
}

// Watching one cell, as every threshold read does, looks the cell up
// instead of scanning every cell the replica holds: its cost does not grow
// with the replica. (Scanning made 2,000 threshold reads on 200k cells
// queue ~20 s of work under the fold lock.) Counted in allocations, which
// the scan made per cell, so the test is exact rather than timed.
func TestWatchOneCellDoesNotScan(t *testing.T) {
	srv := runBroker(t)
	const n = 5_000
	publishBulk(t, connect(t, srv.ClientURL()), n, func(i int) (string, lattice.Value) {
		return fmt.Sprintf("fill.c%d", i), lattice.Max{Value: float64(i)}
	})
	r := startReplica(t, srv.ClientURL())
	if got := r.Progress().Cells; got != n {
		t.Fatalf("%d cells, want %d", got, n)
	}
	allocs := testing.AllocsPerRun(20, func() {
		w, err := r.Watch("fill.c7", true)
		if err != nil {
			t.Fatal(err)
		}
		if ev, err := w.Next(ctxT(t)); err != nil || ev.Cell != "fill.c7" {
			t.Fatalf("current value: %+v %v", ev, err)
		}
		w.Close()
	})
	if allocs > 100 {
		t.Errorf("watching one cell of %d allocates %.0f times: it scans the replica", n, allocs)
	}
}

// A replica holding a subtree ignores other cells and refuses to refine
// them.
func TestSubsetReplica(t *testing.T) {
	srv := runBroker(t)
	all := startReplica(t, srv.ClientURL())
	ctx := ctxT(t)
	all.Refine(ctx, "weather.a", lattice.Max{Value: 1})
	all.Refine(ctx, "other.b", lattice.Max{Value: 1})
	sub := startReplica(t, srv.ClientURL(), func(c *replica.Config) { c.Cells = "weather.>" })
	if cells := sub.Cells(""); len(cells) != 1 || cells[0].Name != "weather.a" {
		t.Errorf("subset replica holds %v", cells)
	}
	if _, err := sub.Refine(ctx, "other.b", lattice.Max{Value: 2}); !errors.Is(err, replica.ErrNotHeld) {
		t.Errorf("refine outside the subset: %v", err)
	}
	if c, err := sub.Refine(ctx, "weather.a", lattice.Max{Value: 2}); err != nil || enc(c.Value) != `{"type":"max","value":2}` {
		t.Errorf("refine inside the subset: %v %v", c, err)
	}
}

// An empty stream makes a replica ready at once.
func TestReadyOnEmptyStream(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL())
	if p := r.Progress(); !p.Ready || p.Cells != 0 || p.Fraction() != 1 {
		t.Errorf("progress %+v", p)
	}
}

// A refine that passed the replica's check but was refused in stream order
// (another writer fixed the cell's type first) returns the refusal.
func TestRefineRefusedInStreamOrder(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	gate := make(chan struct{})
	blocked := make(chan struct{}, 1)
	r := startReplica(t, url, func(c *replica.Config) {
		c.OnChange = func(ev replica.Event) {
			if ev.Cell == "gate" {
				blocked <- struct{}{}
				<-gate
			}
		}
	})
	nc := connect(t, url)
	ctx := ctxT(t)
	// Hold the fold on the gate cell, then let another writer type x as a
	// flag behind it: the replica has not seen that when it checks.
	nc.Publish("dprop.cell.gate", []byte(`{"type":"flag","value":true}`))
	<-blocked
	nc.Publish("dprop.cell.x", []byte(`{"type":"flag","value":true}`))
	waitFor(t, "the flag to be stored", func() bool {
		s, _ := brokertestStream(t, nc)
		return s >= 2
	})
	done := make(chan error, 1)
	go func() {
		_, err := r.Refine(ctx, "x", lattice.Max{Value: 1})
		done <- err
	}()
	waitFor(t, "the refine to be stored", func() bool {
		s, _ := brokertestStream(t, nc)
		return s >= 3
	})
	close(gate)
	if err := <-done; !errors.Is(err, fold.ErrTypeMismatch) {
		t.Errorf("refine refused in stream order returned %v, want ErrTypeMismatch", err)
	}
	if got := enc(r.Value("x")); got != `{"type":"flag","value":true}` {
		t.Errorf("x = %s", got)
	}
}

// Refusals met during the resync are the log's past: they are summed up in
// one line once the replica is ready, not warned about one by one. Live,
// the first refusal of a kind per cell is a warning again.
func TestRefusalsDuringResyncSummed(t *testing.T) {
	srv := runBroker(t)
	js := brokertest.JetStream(t, connect(t, srv.ClientURL()))
	ctx := ctxT(t)
	for _, m := range []struct{ cell, payload string }{
		{"a", `{"type":"max","value":1}`},
		{"a", `{"type":"range","min":1`},          // malformed_json
		{"a", `{"type":"min","value":1}`},         // type_mismatch
		{"b", `{"type":"range","min":5,"max":2}`}, // invalid_value
		{"a", `{"type":"range","min":1`},          // malformed_json again
	} {
		if _, err := js.Publish(ctx, "dprop.cell."+m.cell, []byte(m.payload)); err != nil {
			t.Fatal(err)
		}
	}
	logs, logger := brokertest.NewRecorder()
	r := startReplica(t, srv.ClientURL(), func(c *replica.Config) { c.Logger = logger })
	for _, rec := range logs.Records("update refused") {
		if rec.Level != slog.LevelDebug {
			t.Errorf("a refusal of the resync logged at %v: %s", rec.Level, brokertest.Attr(rec, "seq"))
		}
	}
	sums := logs.Records("the log holds refused updates")
	if len(sums) != 1 || sums[0].Level != slog.LevelInfo || brokertest.Attr(sums[0], "refused") != "4" ||
		brokertest.Attr(sums[0], "cells") != "2" ||
		brokertest.Attr(sums[0], "reasons") != "invalid_value=1 malformed_json=2 type_mismatch=1" {
		t.Fatalf("summary: %v", sums)
	}

	// Live: a malformed update of a is the first of its kind since the
	// resync, so it is a warning; the next one is not.
	for range 2 {
		if _, err := js.Publish(ctx, "dprop.cell.a", []byte(`{"type":"max"`)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the live refusals", func() bool { return r.Stats().Refused["a"]["malformed_json"] == 4 })
	var levels []slog.Level
	for _, rec := range logs.Records("update refused") {
		if seq := brokertest.Attr(rec, "seq"); seq == "6" || seq == "7" {
			levels = append(levels, rec.Level)
		}
	}
	if !slices.Equal(levels, []slog.Level{slog.LevelWarn, slog.LevelDebug}) {
		t.Errorf("live refusals logged at %v, want [WARN DEBUG]", levels)
	}
}
