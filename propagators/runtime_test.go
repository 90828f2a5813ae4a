package propagators_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
)

func TestWakesOnChange(t *testing.T) {
	cells := newMemCells()
	rt := start(t, cells, propagators.Config{}, must(propagators.Copy("", cell("a", "set"), cell("b", "set"))))
	settle(t, rt)
	if got := cells.Value("b"); !lattice.IsNothing(got) {
		t.Fatalf("b = %s before a has a value", lattice.Encode(got))
	}
	cells.set(t, "a", set(lattice.Str("x")))
	settle(t, rt)
	cells.set(t, "a", set(lattice.Str("y")))
	settle(t, rt)
	if got, want := cells.Value("b"), set(lattice.Str("x"), lattice.Str("y")); !lattice.Equal(got, want) {
		t.Fatalf("b = %s, want %s", lattice.Encode(got), lattice.Encode(want))
	}
}

// Every refinement the runtime publishes names its propagator.
func TestRefinementsNameTheirPropagator(t *testing.T) {
	cells := newMemCells()
	cells.set(t, "a", num(1))
	cells.set(t, "b", num(2))
	rt := start(t, cells, propagators.Config{},
		must(propagators.Sum("sum", cell("a", "number"), cell("b", "number"), cell("c", "number"))),
		must(propagators.Copy("", cell("c", "number"), cell("d", "number"))))
	settle(t, rt)
	cells.mu.Lock()
	defer cells.mu.Unlock()
	if want := map[string]string{"a": "", "b": "", "c": "sum", "d": "copy(c->d)"}; !maps.Equal(cells.by, want) {
		t.Errorf("refinements named %v, want %v", cells.by, want)
	}
}

func TestRunsOnceAtStartWithWhatItHas(t *testing.T) {
	cells := newMemCells()
	cells.set(t, "a", num(1))
	cells.set(t, "b", num(2))
	cells.set(t, "x", num(5))
	sum := must(propagators.Sum("ab", cell("a", "number"), cell("b", "number"), cell("c", "number")))
	partial := must(propagators.Sum("xy", cell("x", "number"), cell("y", "number"), cell("z", "number")))
	rt := start(t, cells, propagators.Config{}, sum, partial)
	settle(t, rt)
	if got := cells.Value("c"); !lattice.Equal(got, num(3)) {
		t.Errorf("c = %s, want 3", lattice.Encode(got))
	}
	if got := cells.Value("z"); !lattice.IsNothing(got) {
		t.Errorf("z = %s, want nothing: y is unknown", lattice.Encode(got))
	}
	cells.set(t, "y", num(2))
	settle(t, rt)
	if got := cells.Value("z"); !lattice.Equal(got, num(7)) {
		t.Errorf("z = %s, want 7", lattice.Encode(got))
	}
}

func TestNoOpRefinementsAreNotPublished(t *testing.T) {
	cells := newMemCells()
	cells.set(t, "a", maxv(5))
	cells.set(t, "b", maxv(9))
	rt := start(t, cells, propagators.Config{}, must(propagators.Copy("", cell("a", "max"), cell("b", "max"))))
	settle(t, rt)
	refines := cells.refines.Load()
	cells.set(t, "a", maxv(7)) // still below b
	settle(t, rt)
	s := rt.Stats()
	if s.Published != 0 || s.Suppressed != 2 || s.Fires != 2 {
		t.Errorf("stats %+v, want 2 fires, 2 suppressed, none published", s)
	}
	if got := cells.refines.Load() - refines; got != 1 { // the test's own
		t.Errorf("%d refines, want only the test's", got)
	}
}

// TestCycleTerminates runs cycles that would loop forever if a refinement
// adding nothing were published: copies both ways, and a linear map with its
// inverse over intervals whose rounding is inexact.
func TestCycleTerminates(t *testing.T) {
	cells := newMemCells()
	props := []propagators.Propagator{
		must(propagators.Copy("ab", cell("a", "max"), cell("b", "max"))),
		must(propagators.Copy("ba", cell("b", "max"), cell("a", "max"))),
		must(propagators.Linear("xy", cell("x", "interval"), cell("y", "interval"), propagators.Ratio{Num: 1, Den: 3}, propagators.Ratio{Num: 1, Den: 7})),
		must(propagators.Linear("yx", cell("y", "interval"), cell("x", "interval"), propagators.Ratio{Num: 3}, propagators.Ratio{Num: -3, Den: 7})),
	}
	rt := start(t, cells, propagators.Config{}, props...)
	for i := range 20 {
		cells.set(t, "a", maxv(float64(i)))
		cells.set(t, "x", iv(-1/float64(i+1), 1/float64(i+1)))
	}
	settle(t, rt)
	if !lattice.Equal(cells.Value("b"), maxv(19)) {
		t.Errorf("b = %s", lattice.Encode(cells.Value("b")))
	}
	if s := rt.Stats(); s.Fires > 400 {
		t.Errorf("%d fires for 40 updates: the cycles churn", s.Fires)
	}
}

// TestCoalesces holds a propagator in its first run while its input changes
// many times: it runs once more, not once per change.
func TestCoalesces(t *testing.T) {
	cells := newMemCells()
	started, release := make(chan struct{}), make(chan struct{})
	var runs atomic.Int64
	slow := propagators.NewFunc("slow", []string{"a"}, nil, func(ctx context.Context, in *propagators.Inputs) ([]propagators.Refinement, error) {
		if runs.Add(1) == 1 {
			close(started)
			<-release
		}
		return nil, nil
	})
	rt := start(t, cells, propagators.Config{}, slow)
	<-started
	for i := range 100 {
		cells.set(t, "a", maxv(float64(i)))
	}
	if rt.Quiescent() {
		t.Fatal("quiescent while a propagator runs")
	}
	close(release)
	settle(t, rt)
	if got := runs.Load(); got != 2 {
		t.Fatalf("%d runs, want 2", got)
	}
}

// TestNeverRunsConcurrentlyWithItself wakes propagators from many goroutines
// on many workers and checks that no run of one overlaps another of it.
func TestNeverRunsConcurrentlyWithItself(t *testing.T) {
	cells := newMemCells()
	var props []propagators.Propagator
	var overlaps atomic.Int64
	for i := range 4 {
		var active atomic.Int32
		props = append(props, propagators.NewFunc(string(rune('p'+i)), []string{"a", "b"}, nil,
			func(context.Context, *propagators.Inputs) ([]propagators.Refinement, error) {
				if active.Add(1) > 1 {
					overlaps.Add(1)
				}
				defer active.Add(-1)
				for range 1000 {
					_ = active.Load()
				}
				return nil, nil
			}))
	}
	rt := start(t, cells, propagators.Config{Workers: 8}, props...)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				cells.set(t, []string{"a", "b"}[g%2], maxv(float64(i)))
			}
		})
	}
	wg.Wait()
	settle(t, rt)
	if n := overlaps.Load(); n > 0 {
		t.Fatalf("%d overlapping runs", n)
	}
}

// TestAggregateReadsOnlyChangedInputs checks the incremental fan-in: after
// the first run, one update of one of 1,000 inputs costs a few reads.
func TestAggregateReadsOnlyChangedInputs(t *testing.T) {
	cells := newMemCells()
	var ins []propagators.Cell
	for i := range 1000 {
		c := cell("in."+itoa(i), "max")
		ins = append(ins, c)
		cells.set(t, c.Name, maxv(float64(i)))
	}
	rt := start(t, cells, propagators.Config{}, must(propagators.Max("", ins, cell("out", "max"))))
	settle(t, rt)
	if !lattice.Equal(cells.Value("out"), maxv(999)) {
		t.Fatalf("out = %s", lattice.Encode(cells.Value("out")))
	}
	reads := cells.reads.Load()
	cells.set(t, "in.17", maxv(5000))
	settle(t, rt)
	if got := cells.reads.Load() - reads; got > 4 {
		t.Errorf("%d reads for one update", got)
	}
	if !lattice.Equal(cells.Value("out"), maxv(5000)) {
		t.Fatalf("out = %s", lattice.Encode(cells.Value("out")))
	}
}

func TestContradictionsTravel(t *testing.T) {
	cells := newMemCells()
	props := []propagators.Propagator{
		must(propagators.Linear("c2f", cell("c", "number"), cell("f", "number"), propagators.Ratio{Num: 9, Den: 5}, propagators.Ratio{Num: 32})),
		must(propagators.Copy("f2g", cell("f", "number"), cell("g", "number"))),
	}
	rt := start(t, cells, propagators.Config{}, props...)
	cells.set(t, "c", num(20))
	settle(t, rt)
	if !lattice.Equal(cells.Value("g"), num(68)) {
		t.Fatalf("g = %s, want 68", lattice.Encode(cells.Value("g")))
	}
	if _, err := cells.Refine(context.Background(), "c", num(21), ""); err != nil {
		t.Fatal(err)
	}
	settle(t, rt)
	c, ok := cells.Value("c").(*lattice.Contradiction)
	if !ok || c.Reason() != "number: 20 ≠ 21" {
		t.Fatalf("c = %s", lattice.Encode(cells.Value("c")))
	}
	f, ok := cells.Value("f").(*lattice.Contradiction)
	if !ok || !slices.Equal(f.From(), []string{"c"}) {
		t.Fatalf("f = %s, want a contradiction from c", lattice.Encode(cells.Value("f")))
	}
	// g is derived from f, which was derived from c: it names both.
	g, ok := cells.Value("g").(*lattice.Contradiction)
	if !ok || !slices.Equal(g.From(), []string{"c", "f"}) {
		t.Fatalf("g = %s, want a contradiction from c and f", lattice.Encode(cells.Value("g")))
	}
	if s := rt.Stats(); s.Contradictions != 2 || s.Failures != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestPanicIsIsolated: a panicking propagator is reported (event, counter)
// and the others keep running.
func TestPanicIsIsolated(t *testing.T) {
	cells := newMemCells()
	var mu sync.Mutex
	var events []propagators.Event
	bad := propagators.NewFunc("bad", []string{"a"}, []string{"x"}, func(context.Context, *propagators.Inputs) ([]propagators.Refinement, error) {
		panic("boom")
	})
	good := must(propagators.Copy("good", cell("a", "max"), cell("b", "max")))
	rt := start(t, cells, propagators.Config{Backoff: time.Millisecond, OnEvent: func(e propagators.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}}, bad, good)
	settle(t, rt)
	for i := range 3 {
		cells.set(t, "a", maxv(float64(i)))
		settle(t, rt)
	}
	if !lattice.Equal(cells.Value("b"), maxv(2)) {
		t.Fatalf("b = %s", lattice.Encode(cells.Value("b")))
	}
	s := rt.Stats()
	if s.Panics != 4 || s.Failures != 4 { // the first run, then one per update
		t.Errorf("stats %+v, want 4 panics", s)
	}
	mu.Lock()
	defer mu.Unlock()
	var pe *propagators.PanicError
	if len(events) != 4 || events[0].Kind != propagators.EventPanic || events[0].Propagator != "bad" || !errors.As(events[0].Err, &pe) || pe.Value != "boom" {
		t.Fatalf("events %+v", events)
	}
	if got := events[3].Changed; !slices.Equal(got, []string{"a"}) {
		t.Errorf("event lists changed inputs %v", got)
	}
}

// TestFailingPropagatorBacksOff: after a failure, the next wake waits out a
// backoff instead of running at once, so a propagator that keeps failing
// cannot spin.
func TestFailingPropagatorBacksOff(t *testing.T) {
	cells := newMemCells()
	var runs atomic.Int64
	failing := propagators.NewFunc("failing", []string{"a"}, nil, func(context.Context, *propagators.Inputs) ([]propagators.Refinement, error) {
		runs.Add(1)
		return nil, errors.New("always")
	})
	rt := start(t, cells, propagators.Config{Backoff: time.Hour}, failing)
	settle(t, rt)
	for i := range 50 {
		cells.set(t, "a", maxv(float64(i)))
	}
	s := rt.Stats()
	if runs.Load() != 1 || s.Deferred != 1 || s.Backoffs != 1 || rt.Quiescent() {
		t.Fatalf("runs %d, stats %+v: want one run and one deferred wake", runs.Load(), s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := rt.WaitQuiescent(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitQuiescent = %v during a backoff", err)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rt.WaitQuiescent(context.Background()); !errors.Is(err, propagators.ErrClosed) {
		t.Fatalf("WaitQuiescent after Close = %v", err)
	}
}

// TestFailedRunKeepsItsChanges: an aggregate whose run fails sees the same
// changed inputs again on its next run, so no contribution is lost.
func TestFailedRunKeepsItsChanges(t *testing.T) {
	cells := newMemCells()
	var fail atomic.Bool
	var seen sync.Map
	agg := propagators.NewFunc("agg", []string{"a", "b"}, nil, func(_ context.Context, in *propagators.Inputs) ([]propagators.Refinement, error) {
		if fail.Load() {
			return nil, errors.New("not now")
		}
		for _, c := range in.Changed() {
			seen.Store(c, true)
		}
		return nil, nil
	})
	rt := start(t, cells, propagators.Config{Backoff: time.Millisecond}, agg)
	settle(t, rt)
	seen.Clear()
	fail.Store(true)
	cells.set(t, "a", maxv(1))
	settle(t, rt)
	fail.Store(false)
	cells.set(t, "b", maxv(1))
	settle(t, rt)
	for _, c := range []string{"a", "b"} {
		if _, ok := seen.Load(c); !ok {
			t.Errorf("the run after the failure did not see %s", c)
		}
	}
}

func TestBadRefinementsAreReported(t *testing.T) {
	cells := newMemCells()
	cells.set(t, "out", set(lattice.Str("x")))
	var mu sync.Mutex
	var got []error
	props := []propagators.Propagator{
		propagators.NewFunc("wrong-type", []string{"a"}, []string{"out"}, func(context.Context, *propagators.Inputs) ([]propagators.Refinement, error) {
			return []propagators.Refinement{{Cell: "out", Value: num(1)}}, nil
		}),
		propagators.NewFunc("not-output", []string{"a"}, []string{"out"}, func(context.Context, *propagators.Inputs) ([]propagators.Refinement, error) {
			return []propagators.Refinement{{Cell: "elsewhere", Value: num(1)}}, nil
		}),
	}
	rt := start(t, cells, propagators.Config{OnEvent: func(e propagators.Event) {
		mu.Lock()
		got = append(got, e.Err)
		mu.Unlock()
	}}, props...)
	settle(t, rt)
	mu.Lock()
	defer mu.Unlock()
	var mismatch, notOutput bool
	for _, err := range got {
		var pe *propagators.Error
		if !errors.As(err, &pe) || pe.Op != "refine" {
			t.Errorf("event error %v is not a refine *Error", err)
		}
		mismatch = mismatch || errors.Is(err, lattice.ErrTypeMismatch)
		notOutput = notOutput || errors.Is(err, propagators.ErrNotOutput)
	}
	if !mismatch || !notOutput || rt.Stats().Failures != 2 {
		t.Errorf("errors %v", got)
	}
	if !lattice.IsNothing(cells.Value("elsewhere")) {
		t.Error("a cell that is not an output was refined")
	}
}

// failingCells refuses every refine, as a replica cut off from its broker.
type failingCells struct{ *memCells }

func (failingCells) Refine(context.Context, string, lattice.Value, string) (lattice.Value, error) {
	return nil, errors.New("broker unreachable")
}

func TestRefineErrorsAreReported(t *testing.T) {
	cells := newMemCells()
	cells.set(t, "a", maxv(1))
	var kinds []propagators.EventKind
	var mu sync.Mutex
	rt, err := propagators.New(failingCells{cells}, []propagators.Propagator{must(propagators.Copy("", cell("a", "max"), cell("b", "max")))},
		propagators.Config{OnEvent: func(e propagators.Event) {
			mu.Lock()
			kinds = append(kinds, e.Kind)
			mu.Unlock()
		}, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start()
	defer rt.Close()
	settle(t, rt)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(kinds, []propagators.EventKind{propagators.EventRefine}) {
		t.Errorf("events %v", kinds)
	}
}

func TestQuiescence(t *testing.T) {
	cells := newMemCells()
	rt, err := propagators.New(cells, []propagators.Propagator{must(propagators.Copy("", cell("a", "max"), cell("b", "max")))}, propagators.Config{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	if rt.Quiescent() {
		t.Error("quiescent before its first runs")
	}
	rt.Start()
	t.Cleanup(func() { _ = rt.Close() })
	settle(t, rt)
	if !rt.Quiescent() {
		t.Error("not quiescent after WaitQuiescent")
	}
	empty, err := propagators.New(cells, nil, propagators.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !empty.Quiescent() {
		t.Error("a runtime without propagators is not quiescent")
	}
}

func TestNewRefusesDuplicateNames(t *testing.T) {
	p := must(propagators.Copy("same", cell("a", "max"), cell("b", "max")))
	_, err := propagators.New(newMemCells(), []propagators.Propagator{p, p}, propagators.Config{})
	if !errors.Is(err, propagators.ErrDuplicateName) {
		t.Fatalf("New = %v", err)
	}
}

// NodeStats counts each propagator's runs and failures apart.
func TestNodeStats(t *testing.T) {
	cells := newMemCells()
	cells.set(t, "a", maxv(1))
	ok := must(propagators.Copy("ok", cell("a", "max"), cell("b", "max")))
	bad := propagators.NewFunc("bad", []string{"a"}, nil, func(context.Context, *propagators.Inputs) ([]propagators.Refinement, error) {
		return nil, errors.New("always")
	})
	rt := start(t, cells, propagators.Config{Backoff: time.Hour}, ok, bad)
	settle(t, rt)
	s := rt.NodeStats()
	if len(s) != 2 || s[0].Name != "ok" || s[0].Runs != 1 || s[0].Published != 1 || s[0].Failures != 0 || s[0].Failing ||
		s[1].Name != "bad" || s[1].Runs != 1 || s[1].Failures != 1 || !s[1].Failing || s[1].Published != 0 {
		t.Errorf("NodeStats: %+v", s)
	}
}
