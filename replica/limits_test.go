package replica_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

// bigSet is a set of n string elements of 8 bytes (11 bytes each in the
// encoding), numbered from first.
func bigSet(first, n int) string {
	var b strings.Builder
	b.WriteString(`{"type":"set","elems":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"e%07d"`, first+i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// A cell cannot outgrow its size limit by merging: with the default limits,
// sets of 165 kB each, every one a valid update, stop growing the cell at
// 512 KiB. The update that would pass the limit is refused in stream order
// by every replica alike, the cell keeps its value, a refine that would pass
// it is refused before publishing, and the cell can still be compacted.
func TestCellSizeLimit(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	r := startReplica(t, url)
	nc := connect(t, url)
	js := brokertest.JetStream(t, nc)
	ctx := ctxT(t)
	const per = 15_000
	for i := range 4 {
		if _, err := js.Publish(ctx, "dprop.cell.big", []byte(bigSet(i*per, per))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "four updates folded", func() bool { return r.Progress().Applied == 4 })
	c, _ := r.Get("big")
	size := len(lattice.Encode(c.Value))
	if n := c.Value.(*lattice.Set).Len(); n != 3*per || size > fold.DefaultMaxCellBytes {
		t.Fatalf("cell holds %d elements, %d bytes; want %d elements, at most %d bytes", n, size, 3*per, fold.DefaultMaxCellBytes)
	}
	if n := r.Stats().Refused["big"][fold.ReasonCellTooLarge]; n != 1 {
		t.Fatalf("refused for cell_too_large: %d, want 1 (refusals %v)", n, r.Stats().Refused)
	}
	// A replica that starts later decides alike.
	fresh := startReplica(t, url)
	if f, _ := fresh.Get("big"); f.ETag != c.ETag {
		t.Fatalf("a fresh replica holds %d bytes, want the same cell as the first", len(lattice.Encode(f.Value)))
	}
	// Through Refine the refusal comes before publishing.
	before := r.Progress().Applied
	_, err := r.RefineJSON(ctx, "big", []byte(bigSet(10*per, per)))
	var re *fold.RefusedError
	if !errors.As(err, &re) || re.Reason != fold.ReasonCellTooLarge || !errors.Is(err, fold.ErrCellTooLarge) {
		t.Fatalf("refine past the limit: %v, want a cell_too_large refusal", err)
	}
	if last, _ := brokertestStream(t, nc); last != before {
		t.Fatalf("a refused refine was published: the stream went from %d to %d", before, last)
	}
	// Smaller updates that fit are still folded; the cell can be compacted.
	if _, err := r.RefineJSON(ctx, "big", []byte(bigSet(10*per, 10))); err != nil {
		t.Fatalf("refine within the limit: %v", err)
	}
	st, err := r.Compact(ctx, replica.CompactOptions{})
	if err != nil || st.RolledUp != 1 || st.TooLarge != 0 {
		t.Fatalf("compaction: %v, %v", st, err)
	}
}

// A cell limit above the largest update is refused: such a cell could not
// be compacted or restored as one update.
func TestCellSizeLimitConfig(t *testing.T) {
	srv := runBroker(t)
	for _, n := range []int{-1, lattice.DefaultLimits.MaxBytes + 1} {
		_, err := replica.Start(ctxT(t), replica.Config{Conn: connect(t, srv.ClientURL()), MaxCellBytes: n, Logger: testLogger()})
		if err == nil || !strings.Contains(err.Error(), "max cell bytes") {
			t.Errorf("MaxCellBytes %d: %v, want a config error", n, err)
		}
	}
}
