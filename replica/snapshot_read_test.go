package replica_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

// snapshotOf writes a snapshot of n range cells and returns its lines.
func snapshotOf(t *testing.T, n int) []string {
	t.Helper()
	cells := make([]fold.Cell, n)
	for i := range cells {
		cells[i] = fold.Cell{Name: fmt.Sprintf("s.%05d", i), Value: lattice.Range{Min: float64(i), Max: float64(i + 1)}, Type: "range", Seq: uint64(i + 1), Updates: 1}
	}
	var buf bytes.Buffer
	if err := replica.WriteSnapshot(&buf, replica.SnapshotHeader{Stream: "DPROP", Prefix: "dprop", Cells: ">", Seq: uint64(n)}, cells); err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(buf.String(), "\n")
}

// A snapshot of several decoding batches reads back whole and in order;
// with bad lines in several batches, the error names the first one, as a
// reading line by line would; damage that still decodes is the
// checksum's to catch.
func TestReadSnapshotInBatches(t *testing.T) {
	const n = 5000 // several batches of lines
	lines := snapshotOf(t, n)
	_, cells, err := replica.ReadSnapshot(strings.NewReader(strings.Join(lines, "")), replica.SnapshotLimits)
	if err != nil || len(cells) != n {
		t.Fatalf("read %d cells: %v", len(cells), err)
	}
	for i, c := range cells {
		if want := fmt.Sprintf("s.%05d", i); c.Name != want || c.Value.(lattice.Range).Min != float64(i) || c.ETag == "" {
			t.Fatalf("cell %d: %+v, want %s", i, c, want)
		}
	}

	bad := func(edit func([]string)) error {
		l := append([]string(nil), lines...)
		edit(l)
		_, _, err := replica.ReadSnapshot(strings.NewReader(strings.Join(l, "")), replica.SnapshotLimits)
		if !errors.Is(err, replica.ErrBadSnapshot) {
			t.Fatalf("err %v, want ErrBadSnapshot", err)
		}
		return err
	}
	// lines[k+1] holds cell k, on line k+2 (the header is line 1).
	err = bad(func(l []string) {
		l[4000] = strings.Replace(l[4000], `"min":3999`, `"min":4000.5`, 1) // lo > hi
		l[2501] = "{not json\n"
		l[1201] = strings.Replace(l[1201], `"cell":"s.01200"`, `"cell":"s..x"`, 1)
	})
	if !strings.Contains(err.Error(), "line 1202:") {
		t.Errorf("three bad lines: %v, want the first, line 1202", err)
	}
	err = bad(func(l []string) { l[4001] = strings.Replace(l[4001], `"max":4001`, `"max":4002`, 1) })
	if !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("a value changed: %v, want a checksum mismatch", err)
	}
	err = bad(func(l []string) { l[len(l)-2] = "" }) // the trailer gone
	if !strings.Contains(err.Error(), "truncated") {
		t.Errorf("no trailer: %v", err)
	}
	err = bad(func(l []string) { l[4001] = "{bad\n"; l[len(l)-2] = "" })
	if !strings.Contains(err.Error(), "line 4002: malformed cell line") {
		t.Errorf("a bad line and no trailer: %v, want the bad line", err)
	}
}
