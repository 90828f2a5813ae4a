package replica_test

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
)

// benchSnapCells are the sizes of BenchmarkSnapshotRestart: small by
// default, so that a run of every benchmark stays short; the issue's
// figures come from -args -bench.snapcells=200000,1000000 (a 1M-cell
// stream takes about 15 s to fill and a few GiB of memory).
var benchSnapCells = flag.String("bench.snapcells", "20000", "comma-separated cell counts (one update each) of BenchmarkSnapshotRestart")

// BenchmarkSnapshotRestart measures a replica's restart from its local
// snapshot against a fresh replica's resync of the same stream, in the
// same run, for each size of bench.snapcells: a stream of one update per
// cell, where a snapshot saves the least (target: restart <= 0.2 of the
// resync at 1,000,000 cells, and never slower at any size).
func BenchmarkSnapshotRestart(b *testing.B) {
	for _, f := range strings.Split(*benchSnapCells, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("bench.snapcells: %q is not a count", f)
		}
		b.Run(fmt.Sprintf("cells=%d", n), func(b *testing.B) { benchSnapshotRestart(b, n) })
	}
}

func benchSnapshotRestart(b *testing.B, n int) {
	srv := runBroker(b)
	url := srv.ClientURL()
	start := time.Now()
	publishBulk(b, connect(b, url), n, func(i int) (string, lattice.Value) {
		return fmt.Sprintf("bench.c%d", i), lattice.Max{Value: float64(i)}
	})
	b.Logf("filled the stream with %d cells of one update in %v", n, time.Since(start).Round(time.Millisecond))
	path := b.TempDir() + "/snapshot.jsonl"
	r := startReplica(b, url, withSnapshot(path))
	start = time.Now()
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("snapshot of %d cells written in %v", n, time.Since(start).Round(time.Millisecond))
	var full, fromSnap, fullCPU, snapCPU []time.Duration
	for b.Loop() {
		cpu := replica.CPUTime()
		full = append(full, replicaResync(b, url))
		fullCPU = append(fullCPU, replica.CPUTime()-cpu)
		start, cpu := time.Now(), replica.CPUTime()
		r := startReplica(b, url, withSnapshot(path))
		fromSnap = append(fromSnap, time.Since(start))
		snapCPU = append(snapCPU, replica.CPUTime()-cpu)
		if p := r.Progress(); p.Cells != n || p.Start != uint64(n) {
			b.Fatalf("restarted with %d cells from sequence %d, want %d from the snapshot's", p.Cells, p.Start, n)
		}
		r.Close()
	}
	f, s := median(full), median(fromSnap)
	fc, sc := median(fullCPU), median(snapCPU)
	b.ReportMetric(f.Seconds(), "resync-s")
	b.ReportMetric(s.Seconds(), "restart-s")
	b.ReportMetric(s.Seconds()/f.Seconds(), "ratio")
	b.ReportMetric(sc.Seconds()/fc.Seconds(), "cpu-ratio")
	b.Logf("%d cells: fresh resync %v (CPU %v), restart from the local snapshot %v (CPU %v): ratio %.2f, of CPU %.2f (target <= 0.2 at 1M cells)",
		n, f, fc, s, sc, s.Seconds()/f.Seconds(), sc.Seconds()/fc.Seconds())
}
