package outbox

import (
	"path/filepath"
	"testing"
)

// BenchmarkAppend measures appends synced to disk: one writer at a time
// (a sync each), and many at once (synced together).
//
//	go test -run '^$' -bench Append ./replica/outbox
func BenchmarkAppend(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		o, _, err := Open(filepath.Join(b.TempDir(), "outbox"), 0)
		if err != nil {
			b.Fatal(err)
		}
		defer o.Close()
		r := rec("a", 1)
		for b.Loop() {
			if _, _, err := o.Append(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel-64", func(b *testing.B) {
		o, _, err := Open(filepath.Join(b.TempDir(), "outbox"), 0)
		if err != nil {
			b.Fatal(err)
		}
		defer o.Close()
		b.SetParallelism(32) // 64 goroutines on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			r := rec("a", 1)
			for pb.Next() {
				if _, _, err := o.Append(r); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
