package propagators_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
)

// memCells is an in-memory Cells: a map and lattice.Merge, calling
// Runtime.Changed on every real change before Refine returns, exactly as a
// replica does. It is the dumb reference the runtime is tested against; the
// replica package runs the same propagators over JetStream.
type memCells struct {
	mu      sync.Mutex
	vals    map[string]lattice.Value
	changed func(cell string) // the runtime's Changed
	// onChange, if set, is called after changed with the new value.
	onChange func(cell string, v lattice.Value)
	refines  atomic.Int64 // Refine calls that changed a cell
	reads    atomic.Int64 // Value calls
	// by is the propagator named by the last Refine of each cell.
	by map[string]string
}

var _ propagators.Cells = (*memCells)(nil)

func newMemCells() *memCells {
	return &memCells{vals: map[string]lattice.Value{}, by: map[string]string{}}
}

func (m *memCells) Value(cell string) lattice.Value {
	m.reads.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.vals[cell]; ok {
		return v
	}
	return lattice.Nothing{}
}

func (m *memCells) Refine(ctx context.Context, cell string, v lattice.Value, propagator string) (lattice.Value, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.by[cell] = propagator
	merged, changed, err := lattice.Merge(m.vals[cell], v)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	m.vals[cell] = merged
	notify, hook := m.changed, m.onChange
	m.mu.Unlock()
	if changed {
		m.refines.Add(1)
		if notify != nil {
			notify(cell)
		}
		if hook != nil {
			hook(cell, merged)
		}
	}
	return merged, nil
}

// set refines cell with v from a test.
func (m *memCells) set(t testing.TB, cell string, v lattice.Value) {
	t.Helper()
	if _, err := m.Refine(context.Background(), cell, v, ""); err != nil {
		t.Fatalf("refine %s: %v", cell, err)
	}
}

// start runs props over cells until the test ends.
func start(t testing.TB, cells *memCells, cfg propagators.Config, props ...propagators.Propagator) *propagators.Runtime {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rt, err := propagators.New(cells, props, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cells.mu.Lock()
	if prev := cells.changed; prev != nil { // another replica's runtime
		cells.changed = func(c string) { prev(c); rt.Changed(c) }
	} else {
		cells.changed = rt.Changed
	}
	cells.mu.Unlock()
	rt.Start()
	t.Cleanup(func() { _ = rt.Close() })
	return rt
}

// settle waits for the runtime to be quiescent.
func settle(t testing.TB, rt *propagators.Runtime) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := rt.WaitQuiescent(ctx); err != nil {
		t.Fatalf("not quiescent: %v (stats %+v)", err, rt.Stats())
	}
}

// must unwraps a constructor's result; constructors fail only on a test's
// own mistake.
func must(p *propagators.Func, err error) propagators.Propagator {
	if err != nil {
		panic(err)
	}
	return p
}

func cell(name, typ string) propagators.Cell { return propagators.Cell{Name: name, Type: typ} }

func num(f float64) lattice.Value          { return lattice.Number{Value: f} }
func iv(lo, hi float64) lattice.Value      { return lattice.Interval{Lo: lo, Hi: hi} }
func rng(lo, hi float64) lattice.Value     { return lattice.Range{Min: lo, Max: hi} }
func maxv(f float64) lattice.Value         { return lattice.Max{Value: f} }
func set(es ...lattice.Elem) lattice.Value { return lattice.NewSet(es...) }

func itoa(i int) string { return strconv.Itoa(i) }

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
