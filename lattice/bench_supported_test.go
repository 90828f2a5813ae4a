package lattice

import (
	"fmt"
	"testing"
)

// supportedOf returns a supported interval of n claims, each on its own
// premise (prefix and a number), none subsuming another (nested intervals
// on distinct premises).
func supportedOf(n int, prefix string) *Supported {
	claims := make([]Claim, n)
	for i := range claims {
		f := float64(i)
		claims[i] = Claim{Value: Interval{Lo: f, Hi: 100 - f}, Premises: []string{fmt.Sprintf("%s%02d", prefix, i)}}
	}
	s, err := NewSupported(claims...)
	if err != nil {
		panic(err)
	}
	return s
}

// BenchmarkSupportedDecodeMerge decodes an update of a supported interval
// with 1, 4 or 16 claims and merges it into a cell of as many claims on
// other premises (the cell grows to 2n claims). The
// baseline is the same work on a plain interval, in the same run.
func BenchmarkSupportedDecodeMerge(b *testing.B) {
	b.Run("interval", func(b *testing.B) {
		upd := Encode(Interval{Lo: 1, Hi: 99})
		var cell Value = Interval{Lo: 0, Hi: 100}
		b.SetBytes(int64(len(upd)))
		for b.Loop() {
			v, err := Decode(upd)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := Merge(cell, v); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("supported-%d", n), func(b *testing.B) {
			cell := supportedOf(n, "p")
			upd := Encode(supportedOf(n, "q"))
			b.SetBytes(int64(len(upd)))
			for b.Loop() {
				v, err := Decode(upd)
				if err != nil {
					b.Fatal(err)
				}
				m, changed, err := Merge(cell, v)
				if err != nil || !changed || m.(*Supported).Len() != 2*n {
					b.Fatalf("merge: %v %v %d", err, changed, m.(*Supported).Len())
				}
			}
		})
	}
}

// BenchmarkSupportedConsequence is the strongest consequence of a cell of
// 1, 4 or 16 claims (what every read and every propagator run on it pays).
func BenchmarkSupportedConsequence(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("claims-%d", n), func(b *testing.B) {
			s := supportedOf(n, "p")
			for b.Loop() {
				if c := s.Consequence(nil); IsNothing(c.Value) {
					b.Fatal("nothing")
				}
			}
		})
	}
}
