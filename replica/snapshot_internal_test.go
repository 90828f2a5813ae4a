package replica

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/fold"
)

// readSnapshotSequential is ReadSnapshot as it was before it decoded in
// batches on several goroutines: one line at a time, appending to a
// growing slice. It is the reference the batched reader is checked
// against, and the baseline of BenchmarkReadSnapshotSequential.
func readSnapshotSequential(r io.Reader, limits lattice.Limits) (SnapshotHeader, []fold.Cell, error) {
	var h SnapshotHeader
	sum := sha256.New()
	sc := bufio.NewScanner(r)
	maxLine := limits.MaxBytes
	if maxLine <= 0 {
		maxLine = lattice.DefaultLimits.MaxBytes
	}
	sc.Buffer(make([]byte, 0, 1<<16), maxLine+64<<10)
	bad := func(line int, format string, a ...any) error {
		return fmt.Errorf("%w: line %d: %s", ErrBadSnapshot, line, fmt.Sprintf(format, a...))
	}
	var cells []fold.Cell
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if n == 1 {
			if err := json.Unmarshal(line, &h); err != nil || h.Kind != "snapshot" {
				return h, nil, bad(n, "not a dprop snapshot header")
			}
			if h.Version != SnapshotVersion {
				return h, nil, bad(n, "version %d, this dprop reads version %d", h.Version, SnapshotVersion)
			}
			sum.Write(line)
			sum.Write([]byte{'\n'})
			continue
		}
		if bytes.HasPrefix(line, []byte(`{"end":`)) {
			var end snapshotEnd
			if err := json.Unmarshal(line, &end); err != nil {
				return h, nil, bad(n, "malformed trailer: %v", err)
			}
			if got := hex.EncodeToString(sum.Sum(nil)); got != end.SHA256 {
				return h, nil, bad(n, "checksum mismatch: the file is corrupt (sha256 %s, trailer says %s)", got, end.SHA256)
			}
			if end.Count != len(cells) {
				return h, nil, bad(n, "trailer counts %d cells, file has %d", end.Count, len(cells))
			}
			if sc.Scan() {
				return h, nil, bad(n+1, "data after the trailer")
			}
			return h, cells, nil
		}
		sum.Write(line)
		sum.Write([]byte{'\n'})
		var cl snapshotCell
		if err := json.Unmarshal(line, &cl); err != nil {
			return h, nil, bad(n, "malformed cell line: %v", err)
		}
		if err := cellname.Validate(cl.Cell); err != nil {
			return h, nil, bad(n, "%v", err)
		}
		v, err := limits.Decode(cl.Value)
		if err != nil {
			return h, nil, bad(n, "cell %q: %v", cl.Cell, err)
		}
		cells = append(cells, fold.Cell{Name: cl.Cell, Value: v, Type: cl.Type, Seq: cl.Seq, Updates: cl.Updates,
			Last: cl.Last, SinceRollup: cl.Since, RolledUp: cl.Rolled, Propagator: cl.Propagator, At: cl.At, ETag: fold.ETag(v)})
	}
	if err := sc.Err(); err != nil {
		return h, nil, bad(n+1, "%v", err)
	}
	if n == 0 {
		return h, nil, fmt.Errorf("%w: empty file", ErrBadSnapshot)
	}
	return h, nil, bad(n, "truncated: no trailer")
}

// The batched reader returns what the line-by-line reference returns, on
// good snapshots and on each kind of damage, at the same line.
func TestReadSnapshotMatchesReference(t *testing.T) {
	var sb strings.Builder
	cells := make([]fold.Cell, 3000)
	for i := range cells {
		cells[i] = fold.Cell{Name: fmt.Sprintf("r.%04d", i), Value: lattice.Max{Value: float64(i)}, Type: "max", Seq: uint64(i + 1), Updates: 2}
	}
	if err := WriteSnapshot(&sb, SnapshotHeader{Stream: "DPROP", Prefix: "dprop", Cells: ">", Seq: 3000}, cells); err != nil {
		t.Fatal(err)
	}
	good := sb.String()
	lines := strings.SplitAfter(good, "\n")
	edits := map[string]func([]string){
		"intact":          func([]string) {},
		"bad json":        func(l []string) { l[1500] = "{x\n" },
		"bad name":        func(l []string) { l[10] = strings.Replace(l[10], `"r.0009"`, `"r 9"`, 1) },
		"bad value":       func(l []string) { l[2999] = strings.Replace(l[2999], `"type":"max"`, `"type":"nope"`, 1) },
		"checksum":        func(l []string) { l[7] = strings.Replace(l[7], `"value":6}`, `"value":7}`, 1) },
		"no trailer":      func(l []string) { l[len(l)-2] = "" },
		"two bad, no end": func(l []string) { l[2500] = "{\n"; l[2] = "[]\n"; l[len(l)-2] = "" },
		"header only":     func(l []string) { copy(l[1:], make([]string, len(l)-1)) },
		"empty":           func(l []string) { clear(l) },
		"crlf": func(l []string) {
			for i := range l {
				l[i] = strings.Replace(l[i], "\n", "\r\n", 1)
			}
		},
		"no final newline":   func(l []string) { l[len(l)-2] = strings.TrimSuffix(l[len(l)-2], "\n") },
		"after the trailer":  func(l []string) { l[len(l)-1] = "\n" },
		"trailer too early":  func(l []string) { l[1200] = l[len(l)-2] },
		"header no newline":  func(l []string) { l[0] = strings.TrimSuffix(l[0], "\n"); clear(l[1:]) },
		"bad name and value": func(l []string) { l[20] = strings.Replace(l[20], `"r.0019"`, `"r..9"`, 1); l[10] = "{}\n" },
	}
	defer func(n int) { snapshotChunk = n }(snapshotChunk)
	for _, chunk := range []int{1, 100, 4096, 256 << 10} {
		snapshotChunk = chunk
		testReadSnapshotEdits(t, chunk, lines, edits)
	}
}

func testReadSnapshotEdits(t *testing.T, chunk int, lines []string, edits map[string]func([]string)) {
	for name, edit := range edits {
		name := fmt.Sprintf("%s (chunks of %d)", name, chunk)
		l := append([]string(nil), lines...)
		edit(l)
		in := strings.Join(l, "")
		h1, c1, err1 := ReadSnapshot(strings.NewReader(in), SnapshotLimits)
		h2, c2, err2 := readSnapshotSequential(strings.NewReader(in), SnapshotLimits)
		if fmt.Sprint(err1) != fmt.Sprint(err2) {
			t.Errorf("%s: error %v, the reference says %v", name, err1, err2)
		}
		if h1.Seq != h2.Seq || len(c1) != len(c2) {
			t.Errorf("%s: %d cells at seq %d, the reference %d at %d", name, len(c1), h1.Seq, len(c2), h2.Seq)
			continue
		}
		for i := range c1 {
			if c1[i].Name != c2[i].Name || c1[i].ETag != c2[i].ETag || c1[i].Seq != c2[i].Seq {
				t.Fatalf("%s: cell %d: %+v, the reference %+v", name, i, c1[i], c2[i])
			}
		}
	}
}

// BenchmarkReadSnapshotSequential reads the snapshot of
// BenchmarkReadSnapshot with the line-by-line reference, as a baseline in
// the same run: go test -bench 'ReadSnapshot' ./replica
func BenchmarkReadSnapshotSequential(b *testing.B) {
	buf := benchSnapshot(b, 200_000)
	b.SetBytes(int64(len(buf)))
	cpu := cpuTime()
	for b.Loop() {
		if _, _, err := readSnapshotSequential(bytes.NewReader(buf), SnapshotLimits); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/200_000, "ns/cell")
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N)/200_000, "cpu-ns/cell")
}

// BenchmarkReadSnapshotBatched is ReadSnapshot on the same snapshot.
func BenchmarkReadSnapshotBatched(b *testing.B) {
	buf := benchSnapshot(b, 200_000)
	b.SetBytes(int64(len(buf)))
	cpu := cpuTime()
	for b.Loop() {
		if _, _, err := ReadSnapshot(bytes.NewReader(buf), SnapshotLimits); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/200_000, "ns/cell")
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N)/200_000, "cpu-ns/cell")
}

// benchSnapshot is a snapshot of n range cells.
func benchSnapshot(b *testing.B, n int) []byte {
	cells := make([]fold.Cell, n)
	for i := range cells {
		cells[i] = fold.Cell{Name: fmt.Sprintf("sensor.%07d.temp", i), Value: lattice.Range{Min: float64(i), Max: float64(i + 10)}, Type: "range", Seq: uint64(i + 1), Updates: 3, Last: uint64(i + 1)}
	}
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, SnapshotHeader{Stream: "DPROP", Prefix: "dprop", Cells: ">", Seq: uint64(n)}, cells); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzSnapshotCellLine checks that a cell line decodes the same with the
// fast path as with encoding/json alone (the reference reader's way):
// the same cell, or an error on both sides.
func FuzzSnapshotCellLine(f *testing.F) {
	for _, c := range []fold.Cell{
		{Name: "a.b", Value: lattice.Max{Value: 3}, Type: "max", Seq: 7, Updates: 2},
		{Name: "w.x", Value: lattice.Range{Min: 1, Max: 2}, Type: "range", Seq: 1, Updates: 1, Last: 9, SinceRollup: 3, RolledUp: true, Propagator: "p-1", At: 1234567},
		{Name: "z", Value: lattice.NewGCounter(map[string]int64{"w1": 4}), Seq: 18446744073709551615, Updates: 0},
	} {
		var sb strings.Builder
		if err := WriteSnapshot(&sb, SnapshotHeader{}, []fold.Cell{c}); err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(strings.SplitAfter(sb.String(), "\n")[1]))
	}
	f.Add([]byte(`{"cell":"a","seq":01,"updates":1,"value":{"type":"max","value":1}}`))
	f.Add([]byte(`{"cell":"a","seq":18446744073709551616,"updates":1,"value":{"type":"max","value":1}}`))
	f.Add([]byte(`{"cell":"a","seq":99999999999999999999,"updates":1,"value":{"type":"max","value":1}}`))
	f.Add([]byte(`{"cell":"a","seq":1,"updates":1,"value":{"type":"max","value":1},"value":{"type":"max","value":2}}`))
	f.Add([]byte(`{"cell":"a\u0062","seq":1,"updates":1,"at":-5,"value":{"type":"max","value":1} }`))
	f.Fuzz(func(t *testing.T, line []byte) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		got, err1 := decodeSnapshotCell(2, line, SnapshotLimits, newInterner())
		var cl snapshotCell
		err2 := json.Unmarshal(line, &cl)
		var want fold.Cell
		if err2 == nil {
			err2 = cellname.Validate(cl.Cell)
		}
		if err2 == nil {
			var v lattice.Value
			if v, err2 = SnapshotLimits.Decode(cl.Value); err2 == nil {
				want = fold.Cell{Name: cl.Cell, Value: v, Type: cl.Type, Seq: cl.Seq, Updates: cl.Updates,
					Last: cl.Last, SinceRollup: cl.Since, RolledUp: cl.Rolled, Propagator: cl.Propagator, At: cl.At, ETag: fold.ETag(v)}
			}
		}
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("%q: decoded with error %v, encoding/json says %v", line, err1, err2)
		}
		// The fast path takes the ETag from the value as written, which
		// is the value's own when written canonically, as WriteSnapshot
		// writes it.
		canonical := err2 == nil && bytes.HasSuffix(line, append(append([]byte(`"value":`), lattice.Encode(want.Value)...), '}'))
		if err1 == nil && canonical && got.ETag != want.ETag {
			t.Fatalf("%q: ETag %s, want %s", line, got.ETag, want.ETag)
		}
		if err1 == nil && (got.Name != want.Name || got.Type != want.Type || got.Seq != want.Seq ||
			got.Updates != want.Updates || got.Last != want.Last || got.SinceRollup != want.SinceRollup ||
			got.RolledUp != want.RolledUp || got.Propagator != want.Propagator || got.At != want.At) {
			t.Fatalf("%q: decoded %+v, encoding/json %+v", line, got, want)
		}
	})
}

// A cell line written by hand is the line encoding/json writes (as the
// writer did before), but for the value, which is its canonical
// encoding: json.Marshal escapes its '<', '>' and '&'.
func TestAppendSnapshotCell(t *testing.T) {
	for _, c := range []fold.Cell{
		{Name: "a.b", Value: lattice.Max{Value: 3}, Type: "max", Seq: 7, Updates: 2},
		{Name: "w.x", Value: lattice.Range{Min: 1, Max: 2}, Type: "range", Seq: 1, Updates: 1, Last: 9, SinceRollup: 3, RolledUp: true, Propagator: "p-1", At: 1234567},
		{Name: "z", Value: lattice.NewGCounter(map[string]int64{"w1": 4}), Seq: 18446744073709551615},
		{Name: "n", Seq: 1, Propagator: "odd \"name\" \\ é\n", Type: "t\x01", At: -5},
		{Name: "s", Value: lattice.NewSet(lattice.Str("<a & b>")), Type: "set", Seq: 2, Updates: 1},
	} {
		got := appendSnapshotCell(nil, c)
		want, err := json.Marshal(snapshotCell{Cell: c.Name, Type: c.Type, Seq: c.Seq, Updates: c.Updates,
			Last: c.Last, Since: c.SinceRollup, Rolled: c.RolledUp, Propagator: c.Propagator, At: c.At, Value: lattice.Encode(c.Value)})
		if err != nil {
			t.Fatal(err)
		}
		var g, w snapshotCell
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		json.Unmarshal(want, &w)
		if !bytes.Contains(want, []byte(`\u00`)) && !bytes.Equal(got, want) {
			t.Errorf("wrote %s, encoding/json %s", got, want)
		}
		if gv, wv := string(lattice.Encode(mustValue(t, g.Value))), string(lattice.Encode(mustValue(t, w.Value))); g.Cell != w.Cell || g.Type != w.Type ||
			g.Propagator != w.Propagator || g.At != w.At || gv != wv {
			t.Errorf("wrote %s, encoding/json %s: they read differently", got, want)
		}
		dc, err := decodeSnapshotCell(2, got, SnapshotLimits, newInterner())
		if err != nil || dc.ETag != fold.ETag(c.Value) {
			t.Errorf("%s read back: ETag %s, %v; want %s", got, dc.ETag, err, fold.ETag(c.Value))
		}
		// The line as earlier writers wrote it has the same ETag.
		if dc, err := decodeSnapshotCell(2, want, SnapshotLimits, newInterner()); err != nil || dc.ETag != fold.ETag(c.Value) {
			t.Errorf("%s read back: ETag %s, %v; want %s", want, dc.ETag, err, fold.ETag(c.Value))
		}
	}
}

func mustValue(t *testing.T, raw []byte) lattice.Value {
	t.Helper()
	v, err := SnapshotLimits.Decode(raw)
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return v
}
