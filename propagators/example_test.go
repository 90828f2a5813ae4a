package propagators_test

import (
	"context"
	"fmt"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
)

// A custom propagator in Go: the set of sensors that have ever read 30 or
// more. It is monotone (a max cell only grows, so a sensor once hot stays
// hot, and a grow-only set only grows) and incremental (it looks only at the
// sensors that changed since its last run: the alerts already in the output
// stay there, because refinements merge).
//
// newMemCells is this package's test Cells (a map and lattice.Merge that
// calls the runtime's Changed on every real change, as a replica does).
func ExampleNewFunc() {
	sensors := []string{"sensor.a", "sensor.b", "sensor.c"}
	hot := propagators.NewFunc("hot-sensors", sensors, []string{"alerts.hot"},
		func(_ context.Context, in *propagators.Inputs) ([]propagators.Refinement, error) {
			var names []lattice.Elem
			for _, c := range in.Changed() {
				if m, ok := in.Value(c).(lattice.Max); ok && m.Value >= 30 {
					names = append(names, lattice.Str(c))
				}
			}
			if len(names) == 0 {
				return nil, nil
			}
			return []propagators.Refinement{{Cell: "alerts.hot", Value: lattice.NewSet(names...)}}, nil
		})

	cells := newMemCells()
	rt, err := propagators.New(cells, []propagators.Propagator{hot}, propagators.Config{})
	if err != nil {
		panic(err)
	}
	cells.changed = rt.Changed
	rt.Start()
	defer rt.Close()

	ctx := context.Background()
	for _, r := range []struct {
		sensor string
		value  float64
	}{{"sensor.a", 25}, {"sensor.b", 31}, {"sensor.c", 12}, {"sensor.a", 33}} {
		if _, err := cells.Refine(ctx, r.sensor, lattice.Max{Value: r.value}, ""); err != nil {
			panic(err)
		}
	}
	if err := rt.WaitQuiescent(ctx); err != nil {
		panic(err)
	}
	fmt.Println(string(lattice.Encode(cells.Value("alerts.hot"))))
	// Output: {"type":"set","elems":["sensor.a","sensor.b"]}
}

// The seed's demo with a built-in: a Fahrenheit range kept in Celsius.
func ExampleLinear() {
	f := propagators.Cell{Name: "weather.boston.temp_f", Type: lattice.TypeRange}
	c := propagators.Cell{Name: "weather.boston.temp_c", Type: lattice.TypeRange}
	fToC, err := propagators.Linear("f-to-c", f, c, propagators.Ratio{Num: 5, Den: 9}, propagators.Ratio{Num: -160, Den: 9})
	if err != nil {
		panic(err)
	}

	cells := newMemCells()
	rt, err := propagators.New(cells, []propagators.Propagator{fToC}, propagators.Config{})
	if err != nil {
		panic(err)
	}
	cells.changed = rt.Changed
	rt.Start()
	defer rt.Close()

	ctx := context.Background()
	for _, day := range []lattice.Range{{Min: 32, Max: 50}, {Min: 41, Max: 212}} {
		if _, err := cells.Refine(ctx, f.Name, day, ""); err != nil {
			panic(err)
		}
	}
	if err := rt.WaitQuiescent(ctx); err != nil {
		panic(err)
	}
	fmt.Println(string(lattice.Encode(cells.Value(c.Name))))
	// Output: {"type":"range","min":0,"max":100}
}
