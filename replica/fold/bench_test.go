package fold

import (
	"fmt"
	"strconv"
	"testing"
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
