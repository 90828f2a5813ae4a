package fold

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/dprop/dprop/lattice"
)

// BenchmarkApply measures the fold's per-message path: decoding, merging,
// and (when the cell changes) encoding the value for its ETag, over 1,000
// cells. Compare runs with benchstat before and after touching the fold.
func BenchmarkApply(b *testing.B) {
	const cells = 1000
	subjects := make([]string, cells)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("dprop.cell.bench.c%d", i)
	}
	cases := []struct {
		name    string
		payload func(i int) []byte
	}{
		// Every message raises its cell's max: a change, so an encoding.
		{"max-changes", func(i int) []byte {
			return []byte(`{"type":"max","value":` + strconv.Itoa(i) + `}`)
		}},
		// Every message repeats what its cell knows: no change, no encoding.
		{"max-unchanged", func(int) []byte { return []byte(`{"type":"max","value":1}`) }},
		// Each cell's set grows by one element a message, to about 100.
		{"set-grows", func(i int) []byte {
			return []byte(`{"type":"set","elems":["e` + strconv.Itoa(i/cells%100) + `"]}`)
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			const n = 100 * cells
			payloads := make([][]byte, n)
			for i := range payloads {
				payloads[i] = tc.payload(i)
			}
			b.ReportAllocs()
			var c *Core
			seq := uint64(0)
			for i := 0; b.Loop(); i++ {
				if i%n == 0 {
					b.StopTimer()
					c, seq = NewCore("", nil, Limits{}), 0
					b.StartTimer()
				}
				seq++
				c.ApplyMessage(Message{Subject: subjects[i%cells], Seq: seq, Data: payloads[i%n]})
			}
		})
	}
}

// BenchmarkApplySigned weighs a trust policy: the same updates (each
// raising its cell's max, over 1,000 cells) folded with no policy
// (decode+merge), with a policy whose rule takes unsigned updates (the
// cost of finding the rule), and signed, where the rule requires its
// signer (verify+decode+merge).
func BenchmarkApplySigned(b *testing.B) {
	const cells, n = 1000, 10_000
	alice := traceKey("alice")
	open, err := NewTrust([]TrustRule{{Cells: "other.>", Signers: []string{alice.pub}}, {Cells: ">", Unsigned: true}})
	if err != nil {
		b.Fatal(err)
	}
	signed, err := NewTrust([]TrustRule{{Cells: "other.>", Unsigned: true}, {Cells: "bench.>", Signers: []string{alice.pub}}})
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]Message, n)
	for i := range msgs {
		m := Message{Subject: fmt.Sprintf("dprop.cell.bench.c%d", i%cells), Data: []byte(`{"type":"max","value":` + strconv.Itoa(i) + `}`)}
		raw, err := alice.kp.Sign(SignedBytes(m.Subject, m.Data))
		if err != nil {
			b.Fatal(err)
		}
		m.Signer, m.Signature = alice.pub, EncodeSignature(raw)
		msgs[i] = m
	}
	for _, tc := range []struct {
		name  string
		trust *Trust
		sign  bool
	}{
		{"no-policy", nil, false},
		{"no-policy-signed", nil, true},
		{"unsigned-allowed", open, false},
		{"signed-verified", signed, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var c *Core
			seq := uint64(0)
			for i := 0; b.Loop(); i++ {
				if i%n == 0 {
					b.StopTimer()
					c, seq = NewCore("", nil, Limits{Trust: tc.trust}), 0
					b.StartTimer()
				}
				seq++
				m := msgs[i%n]
				m.Seq = seq
				if !tc.sign {
					m.Signer, m.Signature = "", ""
				}
				if res := c.ApplyMessage(m); res.Err != nil {
					b.Fatal(res.Err)
				}
			}
		})
	}
}

// BenchmarkSnapshotCopy weighs what a replica holds its lock for while it
// starts a snapshot of 100,000 cells, stalling the fold: making a Cell of
// each under the read lock (as it did), against Freeze under the write
// lock (the cells are then read in pieces of 4,096, each under the read
// lock: "piece" is one of them).
func BenchmarkSnapshotCopy(b *testing.B) {
	const n = 100_000
	c := NewCore("dprop", nil, Limits{})
	for i := range n {
		c.ApplyValue(fmt.Sprintf("bench.c%d", i), uint64(i+1), lattice.Max{Value: float64(i)})
	}
	b.Run("cells", func(b *testing.B) {
		for b.Loop() {
			cells := make([]Cell, 0, c.Len())
			c.Each(func(cell Cell) bool { cells = append(cells, cell); return true })
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/cell")
	})
	b.Run("freeze", func(b *testing.B) {
		for b.Loop() {
			f, err := c.Freeze()
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/cell")
	})
	b.Run("piece", func(b *testing.B) {
		f, err := c.Freeze()
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		dst := make([]Cell, 0, 4096)
		for b.Loop() {
			dst = f.Cells(dst[:0], 0, 4096)
		}
	})
}
