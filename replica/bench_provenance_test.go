package replica_test

import (
	"testing"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/replica"
)

// BenchmarkRefineProvenance is the cost of the provenance headers on the
// publish path: a refine (publish, acknowledgement, fold) as a propagator
// makes one, with Dprop-Propagator and a Dprop-Inputs of four inputs, and
// the same refine with neither (the baseline), alternating on one replica
// and one embedded server in the same run. Dprop-Origin is on both.
func BenchmarkRefineProvenance(b *testing.B) {
	r := startReplica(b, runBroker(b).ClientURL())
	d := propagators.Derivation{Propagator: "fall-height", Inputs: []propagators.InputRef{
		{Cell: "building.height", Seq: 1234567}, {Cell: "fall.time_sq", Seq: 1234568},
		{Cell: "gravity.half", Seq: 1234569}, {Cell: propagators.WorldviewCell, Seq: 1234570},
	}}
	for _, bc := range []struct {
		name string
		opts []replica.RefineOption
	}{{"plain", nil}, {"derived", []replica.RefineOption{replica.WithDerivation(d)}}} {
		b.Run(bc.name, func(b *testing.B) {
			i := 0.0
			for b.Loop() {
				i++
				if _, err := r.Refine(ctxT(b), "bench."+bc.name, lattice.Max{Value: i}, bc.opts...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
