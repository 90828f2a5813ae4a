package fold

import (
	"testing"

	"github.com/dprop/dprop/lattice"
)

// Restore takes a cell's ETag as given (ReadSnapshot computes it) and
// hashes the value only when it has none; either way the cell's ETag is
// the one of its value.
func TestRestoreETag(t *testing.T) {
	for _, h := range []uint64{0, 1, 0xdeadbeef, ^uint64(0)} {
		if got, ok := parseETag(formatETag(h)); !ok || got != h {
			t.Fatalf("parseETag(formatETag(%x)) = %x, %v", h, got, ok)
		}
	}
	for _, bad := range []string{"", `"abc"`, `"0123456789abcdeg"`, `0123456789abcdef00`, `"0123456789ABCDEF"`} {
		if _, ok := parseETag(bad); ok {
			t.Fatalf("parseETag(%q) accepted", bad)
		}
	}
	v := lattice.Max{Value: 7}
	c := NewCore("dprop", nil, Limits{})
	c.Restore(3, Cell{Name: "a", Value: v, Type: "max", Seq: 3}, Cell{Name: "b", Value: v, Type: "max", Seq: 2, ETag: ETag(v)})
	for _, name := range []string{"a", "b"} {
		got, ok := c.Get(name)
		if !ok || got.ETag != ETag(v) {
			t.Fatalf("cell %s after Restore: %+v, want ETag %s", name, got, ETag(v))
		}
	}
}

// BenchmarkRestore weighs Restore of 100,000 cells from a snapshot, with
// the ETags ReadSnapshot computed in parallel (etag=given) and without
// (etag=hashed: Restore encodes every value again).
func BenchmarkRestore(b *testing.B) {
	const n = 100_000
	cells := make([]Cell, n)
	for i := range cells {
		v := &lattice.Range{Min: float64(i), Max: float64(i + 10)}
		cells[i] = Cell{Name: "bench.cell" + itoa(i), Value: v, Type: "range", Seq: uint64(i + 1), ETag: ETag(v)}
	}
	bare := make([]Cell, n)
	for i, c := range cells {
		c.ETag = ""
		bare[i] = c
	}
	for _, bc := range []struct {
		name  string
		cells []Cell
	}{{"etag=given", cells}, {"etag=hashed", bare}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				c := NewCore("dprop", nil, Limits{})
				c.Restore(n, bc.cells...)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/cell")
		})
	}
}

func itoa(i int) string {
	var b [20]byte
	p := len(b)
	for {
		p--
		b[p] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[p:])
		}
	}
}
