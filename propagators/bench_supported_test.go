package propagators_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
)

// BenchmarkPropagatorStepSupported is one run of the product constraint
// c = a × b over intervals: plain, and over supported intervals whose
// inputs hold 1 or 4 claims each (the wrapper reads each input's strongest
// consequence under the worldview and supports what it returns). Evaluate
// runs it as the runtime's first run would, with no runtime around it.
func BenchmarkPropagatorStepSupported(b *testing.B) {
	ctx := context.Background()
	cells := []propagators.Cell{cell("a", lattice.TypeInterval), cell("b", lattice.TypeInterval), cell("c", lattice.TypeInterval)}
	plain, err := propagators.Product("step", cells[0], cells[1], cells[2])
	if err != nil {
		b.Fatal(err)
	}
	b.Run("plain", func(b *testing.B) {
		values := map[string]lattice.Value{"a": iv(2, 3), "b": iv(4, 5)}
		for b.Loop() {
			if refs, err := propagators.Evaluate(ctx, plain, values); err != nil || len(refs) == 0 {
				b.Fatal(refs, err)
			}
		}
	})
	supported := propagators.OnSupported(plain, []string{"a", "b", "c"})
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("supported-%d", n), func(b *testing.B) {
			values := map[string]lattice.Value{"a": claims(b, n, "p", 2, 3), "b": claims(b, n, "q", 4, 5)}
			for b.Loop() {
				if refs, err := propagators.Evaluate(ctx, supported, values); err != nil || len(refs) == 0 {
					b.Fatal(refs, err)
				}
			}
		})
	}
}

// claims is a supported interval of n nested claims within [lo, hi], each
// on its own premise.
func claims(b *testing.B, n int, prefix string, lo, hi float64) lattice.Value {
	cs := make([]lattice.Claim, n)
	for i := range cs {
		d := float64(i) * 0.01
		cs[i] = lattice.Claim{Value: lattice.Interval{Lo: lo - d, Hi: hi + d}, Premises: []string{fmt.Sprintf("%s%d", prefix, i)}}
	}
	s, err := lattice.NewSupported(cs...)
	if err != nil {
		b.Fatal(err)
	}
	return s
}
