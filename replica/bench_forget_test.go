package replica_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dprop/dprop/lattice"
)

// BenchmarkForget measures what forgetting costs on a large stream: the
// stream holds -bench-updates updates over -bench-cells cells
// (bench.c<i>), and each iteration forgets a subtree of one cell in ten
// (bench.c<i> for i ending in one digit... here: the cells bench.f<j>
// written alongside), its markers, their folding and the purges below
// them. Reported: forgotten cells per second and the time per cell.
//
//	go test -run '^$' -bench Forget -bench-updates 1000000 -bench-cells 100000 ./replica
func BenchmarkForget(b *testing.B) {
	srv := runBroker(b)
	url := srv.ClientURL()
	n, cells := *benchUpdates, *benchCells
	forget := max(cells/10, 1)
	publishBulk(b, connect(b, url), n, func(i int) (string, lattice.Value) {
		if i%10 == 0 {
			return fmt.Sprintf("bench.f.c%d", (i/10)%forget), lattice.Max{Value: float64(i)}
		}
		return fmt.Sprintf("bench.k.c%d", i%cells), lattice.Max{Value: float64(i)}
	})
	r := startReplica(b, url)
	b.ResetTimer()
	var took time.Duration
	total := 0
	for i := range b.N {
		if i > 0 { // write the subtree again for the next forget
			b.StopTimer()
			publishBulk(b, connect(b, url), forget, func(j int) (string, lattice.Value) {
				return fmt.Sprintf("bench.f.c%d", j), lattice.Max{Value: float64(j)}
			})
			waitFor(b, "the subtree written again", func() bool { return len(r.Cells("bench.f.>")) == forget })
			b.StartTimer()
		}
		st, err := r.Forget(ctxT(b), "bench.f.>", "bench")
		if err != nil || st.Purged != forget {
			b.Fatalf("forget: %+v, %v", st, err)
		}
		took += st.Took
		total += st.Markers
		b.Logf("%d cells: markers %v, folded %v, purges %v", st.Markers, st.Marking, st.Folding, st.Purging)
	}
	b.ReportMetric(float64(total)/took.Seconds(), "cells/s")
	b.ReportMetric(float64(took.Microseconds())/float64(total), "µs/cell")
	b.Logf("forgot %d cells of %d (stream of %d updates) per run", forget, cells+forget, n)
}
