package replica_test

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
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

var benchStallCells = flag.Int("bench.stallcells", 100_000, "cells of BenchmarkFoldDuringSnapshot (the issue's figure: 1000000)")

// BenchmarkFoldDuringSnapshot measures how a replica of bench.stallcells
// cells folds a steady stream of updates while it writes its local
// snapshot: the fold's rate during the snapshot against its rate just
// before, and the longest the fold waited between two updates during the
// snapshot (goal: the fold does not notice the snapshot).
func BenchmarkFoldDuringSnapshot(b *testing.B) {
	n := *benchStallCells
	srv := runBroker(b)
	url := srv.ClientURL()
	path := b.TempDir() + "/snapshot.jsonl"
	cells := make([]fold.Cell, n)
	for i := range cells {
		v := lattice.Max{Value: float64(i)}
		cells[i] = fold.Cell{Name: fmt.Sprintf("bench.c%d", i), Value: v, Type: "max", Seq: 0, Updates: 1, ETag: fold.ETag(v)}
	}
	if err := replica.WriteSnapshotFile(path, replica.SnapshotHeader{Stream: "DPROP", Prefix: "dprop", Cells: ">"}, cells); err != nil {
		b.Fatal(err)
	}
	cells = nil
	var mu sync.Mutex
	var folds []time.Time
	r := startReplica(b, url, withSnapshot(path), func(c *replica.Config) {
		c.OnChange = func(replica.Event) { mu.Lock(); folds = append(folds, time.Now()); mu.Unlock() }
	})
	js, err := jetstream.New(connect(b, url), jetstream.WithPublishAsyncMaxPending(256))
	if err != nil {
		b.Fatal(err)
	}
	var gaps []time.Duration
	var before, during []float64
	i := 0
	for b.Loop() {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // a steady writer, as fast as 256 updates in flight allow
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				i++
				if _, err := js.PublishAsync("dprop.cell.hot", lattice.Encode(lattice.Max{Value: float64(i)}), jetstream.WithStallWait(time.Minute)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
		time.Sleep(time.Second) // the writer up to speed
		start := time.Now()
		if err := r.SaveSnapshot(); err != nil {
			b.Fatal(err)
		}
		end := time.Now()
		close(stop)
		<-done
		<-js.PublishAsyncComplete()
		mu.Lock()
		var gap time.Duration
		nb, nd := 0, 0
		for k, t := range folds {
			switch {
			case t.Before(start) && !t.Before(start.Add(-500*time.Millisecond)):
				nb++
			case !t.Before(start) && !t.After(end):
				nd++
				if k > 0 {
					gap = max(gap, t.Sub(folds[k-1]))
				}
			}
		}
		folds = folds[:0]
		mu.Unlock()
		gaps = append(gaps, gap)
		before = append(before, float64(nb)/0.5)
		during = append(during, float64(nd)/end.Sub(start).Seconds())
		b.Logf("snapshot of %d cells took %v: folds/s %.0f before, %.0f during; longest wait between folds during it %v",
			n, end.Sub(start).Round(time.Millisecond), before[len(before)-1], during[len(during)-1], gap)
	}
	b.ReportMetric(median(gaps).Seconds()*1000, "max-gap-ms")
	b.ReportMetric(medianF(during)/medianF(before), "rate-during/before")
}

func medianF(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
