package replica

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/fold"
)

// A snapshot file holds cells and the stream sequence they reflect, as JSON
// lines: a header, one line per cell, and a trailer with a checksum of
// everything before it:
//
//	{"dprop":"snapshot","version":1,"stream":"DPROP","prefix":"dprop","cells":">","seq":1234,...}
//	{"cell":"weather.boston.temp","type":"range","seq":17,"updates":5,"last":1201,"value":{"type":"range","min":31,"max":57}}
//	{"end":true,"count":1,"sha256":"9f86d0..."}
//
// A cell a propagator refined also says which ("propagator":"boston-f-to-c").
//
// A replica writes one to its data directory (its local snapshot); dprop
// replay writes one for a point in time; dprop restore publishes one's
// values back. The same format serves all three.

// SnapshotVersion is the version of the format written.
const SnapshotVersion = 1

// SnapshotLimits bound the values of a snapshot file. They are far wider
// than the limits of an update, because a cell's state — the join of its
// updates — may outgrow what one update may carry.
var SnapshotLimits = lattice.Limits{MaxBytes: 256 << 20, MaxDepth: 1024, MaxElems: 100_000_000}

// ErrBadSnapshot is wrapped by every refusal of a snapshot file: corrupt,
// truncated, of another version, or of another stream.
var ErrBadSnapshot = errors.New("unusable snapshot")

// SnapshotHeader is a snapshot's first line.
type SnapshotHeader struct {
	Kind    string `json:"dprop"` // "snapshot"
	Version int    `json:"version"`
	Stream  string `json:"stream"`
	Prefix  string `json:"prefix"`
	// Cells is the pattern of the cells the snapshot holds.
	Cells string `json:"cells"`
	// Seq is the stream sequence the cells reflect: every message up to it
	// (on the cells' subjects) is folded in, none after.
	Seq uint64 `json:"seq"`
	// StreamCreated identifies the stream the sequence belongs to: a
	// stream deleted and created again starts counting anew.
	StreamCreated time.Time `json:"stream_created,omitzero"`
	// Written is when the snapshot was written.
	Written time.Time `json:"written,omitzero"`
	// UntilTime, for a replay to a point in time, is that time.
	UntilTime time.Time `json:"until_time,omitzero"`
	// Trust is the hash of the trust policy the cells were folded with
	// (fold.Trust.Hash), "" for none: folded under another policy, the
	// same log gives other cells.
	Trust string `json:"trust,omitempty"`
	// Forgotten maps each forgotten cell to the sequence of its latest
	// forget marker folded (fold.Core.ForgottenAll): loaded with the
	// cells, it keeps a compaction's stale join from bringing one back.
	Forgotten map[string]uint64 `json:"forgotten,omitempty"`
	// OpKeys, in a replica's local snapshot, are the idempotency keys of
	// the operations it folded within the stream's duplicate window
	// before Seq (opkeys.go): loaded with the cells, they keep a retry
	// after a restart exactly once even where the stream has forgotten
	// the key (a compaction dropped the update, and the server restarted).
	OpKeys []SnapshotOpKey `json:"op_keys,omitempty"`
}

// SnapshotOpKey is one idempotency key of an operation folded: its hashed
// message id, the operation's hash (HeaderOpKeys), the stream sequence of
// the update and the stream's time of it (Unix nanoseconds).
type SnapshotOpKey struct {
	ID   string `json:"id"`
	Hash string `json:"hash"`
	Seq  uint64 `json:"seq"`
	At   int64  `json:"at"`
}

// snapshotCell is one cell line.
type snapshotCell struct {
	Cell    string `json:"cell"`
	Type    string `json:"type,omitempty"`
	Seq     uint64 `json:"seq"`
	Updates uint64 `json:"updates"`
	Last    uint64 `json:"last,omitempty"`
	Since   uint64 `json:"since_rollup,omitempty"`
	Rolled  bool   `json:"rolled_up,omitempty"`
	// Propagator is fold.Cell.Propagator (added in place: readers of
	// version 1 without it take it as "").
	Propagator string `json:"propagator,omitempty"`
	// At is fold.Cell.At: when an update last refined the cell (Unix
	// nanoseconds; added in place, like Propagator).
	At    int64           `json:"at,omitempty"`
	Value json.RawMessage `json:"value"`
}

type snapshotEnd struct {
	End    bool   `json:"end"`
	Count  int    `json:"count"`
	SHA256 string `json:"sha256"`
}

// WriteSnapshot writes h and cells (sorted by name for a stable file).
func WriteSnapshot(w io.Writer, h SnapshotHeader, cells []fold.Cell) error {
	h.Kind, h.Version = "snapshot", SnapshotVersion
	sum := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, sum), 1<<16)
	line, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("snapshot header: %w", err)
	}
	bw.Write(append(line, '\n'))
	slices.SortFunc(cells, func(a, b fold.Cell) int { return strings.Compare(a.Name, b.Name) })
	for _, c := range cells {
		line, err := json.Marshal(snapshotCell{Cell: c.Name, Type: c.Type, Seq: c.Seq, Updates: c.Updates,
			Last: c.Last, Since: c.SinceRollup, Rolled: c.RolledUp, Propagator: c.Propagator, At: c.At, Value: lattice.Encode(c.Value)})
		if err != nil {
			return fmt.Errorf("snapshot cell %q: %w", c.Name, err)
		}
		bw.Write(append(line, '\n'))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	end, _ := json.Marshal(snapshotEnd{End: true, Count: len(cells), SHA256: hex.EncodeToString(sum.Sum(nil))})
	if _, err := w.Write(append(end, '\n')); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// ReadSnapshot reads a snapshot, checking its version, its checksum, its
// count and every value. Any problem is an error wrapping ErrBadSnapshot
// that says what and on which line; when several lines are wrong, the
// first one is named, as a reader line by line would.
//
// Cell lines are decoded in batches by as many goroutines as there are
// CPUs while this one reads on and keeps the checksum: decoding a line
// (its JSON, its name, its value, its ETag) costs several times reading
// and hashing it, and a restart from the local snapshot of a large
// replica paid it one line at a time (docs/performance.md).
func ReadSnapshot(r io.Reader, limits lattice.Limits) (SnapshotHeader, []fold.Cell, error) {
	var h SnapshotHeader
	sum := sha256.New()
	sc := bufio.NewScanner(r)
	maxLine := limits.MaxBytes
	if maxLine <= 0 {
		maxLine = lattice.DefaultLimits.MaxBytes
	}
	sc.Buffer(make([]byte, 0, 1<<16), maxLine+64<<10)
	dec := newSnapshotDecoder(limits)
	defer dec.stop()
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if n == 1 {
			if err := json.Unmarshal(line, &h); err != nil || h.Kind != "snapshot" {
				return h, nil, badSnapshot(n, "not a dprop snapshot header")
			}
			if h.Version != SnapshotVersion {
				return h, nil, badSnapshot(n, "version %d, this dprop reads version %d", h.Version, SnapshotVersion)
			}
			sum.Write(line)
			sum.Write([]byte{'\n'})
			continue
		}
		if bytes.HasPrefix(line, []byte(`{"end":`)) {
			cells, err := dec.finish()
			if err != nil {
				return h, nil, err
			}
			var end snapshotEnd
			if err := json.Unmarshal(line, &end); err != nil {
				return h, nil, badSnapshot(n, "malformed trailer: %v", err)
			}
			if got := hex.EncodeToString(sum.Sum(nil)); got != end.SHA256 {
				return h, nil, badSnapshot(n, "checksum mismatch: the file is corrupt (sha256 %s, trailer says %s)", got, end.SHA256)
			}
			if end.Count != len(cells) {
				return h, nil, badSnapshot(n, "trailer counts %d cells, file has %d", end.Count, len(cells))
			}
			if sc.Scan() {
				return h, nil, badSnapshot(n+1, "data after the trailer")
			}
			return h, cells, nil
		}
		sum.Write(line)
		sum.Write([]byte{'\n'})
		dec.add(n, line)
	}
	if _, err := dec.finish(); err != nil {
		return h, nil, err
	}
	if err := sc.Err(); err != nil {
		return h, nil, badSnapshot(n+1, "%v", err)
	}
	if n == 0 {
		return h, nil, fmt.Errorf("%w: empty file", ErrBadSnapshot)
	}
	return h, nil, badSnapshot(n, "truncated: no trailer")
}

// badSnapshot is the error of a snapshot refused at line.
func badSnapshot(line int, format string, a ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrBadSnapshot, line, fmt.Sprintf(format, a...))
}

// snapshotBatchLines is how many cell lines a decoding batch holds.
const snapshotBatchLines = 1024

// snapshotBatch is a run of consecutive cell lines, decoded together.
type snapshotBatch struct {
	first int    // line number of the first line
	buf   []byte // the lines, one after the other
	ends  []int  // where each line ends in buf
	cells []fold.Cell
	err   error // the first bad line's, if any
}

// snapshotDecoder decodes the cell lines of a snapshot in batches, on
// several goroutines, keeping the batches in file order.
type snapshotDecoder struct {
	limits  lattice.Limits
	cur     *snapshotBatch
	batches []*snapshotBatch
	work    chan *snapshotBatch
	wg      sync.WaitGroup
	stopped bool
}

func newSnapshotDecoder(limits lattice.Limits) *snapshotDecoder {
	workers := runtime.GOMAXPROCS(0)
	d := &snapshotDecoder{limits: limits, work: make(chan *snapshotBatch, 2*workers)}
	for range workers {
		d.wg.Go(func() {
			for b := range d.work {
				b.decode(d.limits)
			}
		})
	}
	return d
}

// add queues cell line n (copied: the caller may reuse line).
func (d *snapshotDecoder) add(n int, line []byte) {
	if d.cur == nil {
		d.cur = &snapshotBatch{first: n, ends: make([]int, 0, snapshotBatchLines)}
	}
	d.cur.buf = append(d.cur.buf, line...)
	d.cur.ends = append(d.cur.ends, len(d.cur.buf))
	if len(d.cur.ends) == snapshotBatchLines {
		d.flush()
	}
}

func (d *snapshotDecoder) flush() {
	if d.cur != nil {
		d.batches = append(d.batches, d.cur)
		d.work <- d.cur
		d.cur = nil
	}
}

// stop ends the workers (once); the batches are decoded when it returns.
func (d *snapshotDecoder) stop() {
	if !d.stopped {
		d.stopped = true
		close(d.work)
		d.wg.Wait()
	}
}

// finish waits for every batch and returns the cells in file order, or
// the error of the first bad line.
func (d *snapshotDecoder) finish() ([]fold.Cell, error) {
	d.flush()
	d.stop()
	total := 0
	for _, b := range d.batches {
		if b.err != nil {
			return nil, b.err
		}
		total += len(b.cells)
	}
	cells := make([]fold.Cell, 0, total)
	for _, b := range d.batches {
		cells = append(cells, b.cells...)
	}
	return cells, nil
}

// decode decodes the batch's lines, up to the first bad one.
func (b *snapshotBatch) decode(limits lattice.Limits) {
	b.cells = make([]fold.Cell, 0, len(b.ends))
	start := 0
	for i, end := range b.ends {
		c, err := decodeSnapshotCell(b.first+i, b.buf[start:end], limits)
		if err != nil {
			b.err = err
			return
		}
		b.cells = append(b.cells, c)
		start = end
	}
	b.buf, b.ends = nil, nil
}

// decodeSnapshotCell decodes cell line n.
func decodeSnapshotCell(n int, line []byte, limits lattice.Limits) (fold.Cell, error) {
	var cl snapshotCell
	if parseSnapshotCell(line, &cl) {
		if v, err := limits.Decode(cl.Value); err == nil && cellname.Validate(cl.Cell) == nil {
			return fold.Cell{Name: cl.Cell, Value: v, Type: cl.Type, Seq: cl.Seq, Updates: cl.Updates,
				Last: cl.Last, SinceRollup: cl.Since, RolledUp: cl.Rolled, Propagator: cl.Propagator, At: cl.At, ETag: fold.ETag(v)}, nil
		}
		cl = snapshotCell{} // the slow path says what is wrong
	}
	if err := json.Unmarshal(line, &cl); err != nil {
		return fold.Cell{}, badSnapshot(n, "malformed cell line: %v", err)
	}
	if err := cellname.Validate(cl.Cell); err != nil {
		return fold.Cell{}, badSnapshot(n, "%v", err)
	}
	v, err := limits.Decode(cl.Value)
	if err != nil {
		return fold.Cell{}, badSnapshot(n, "cell %q: %v", cl.Cell, err)
	}
	return fold.Cell{Name: cl.Cell, Value: v, Type: cl.Type, Seq: cl.Seq, Updates: cl.Updates,
		Last: cl.Last, SinceRollup: cl.Since, RolledUp: cl.Rolled, Propagator: cl.Propagator, At: cl.At, ETag: fold.ETag(v)}, nil
}

// WriteSnapshotFile writes a snapshot atomically: to a temporary file in the
// same directory, synced, then renamed over path, and the directory synced.
// A crash leaves either the old file or the new one, never a mix.
func WriteSnapshotFile(path string, h SnapshotHeader, cells []fold.Cell) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := WriteSnapshot(f, h, cells); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("snapshot: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// ReadSnapshotFile reads the snapshot at path.
func ReadSnapshotFile(path string, limits lattice.Limits) (SnapshotHeader, []fold.Cell, error) {
	f, err := os.Open(path)
	if err != nil {
		return SnapshotHeader{}, nil, err
	}
	defer f.Close()
	h, cells, err := ReadSnapshot(f, limits)
	if err != nil {
		return h, nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, cells, nil
}

// parseSnapshotCell reads a cell line written by WriteSnapshot — its
// fields in their order, names and types of plain characters, counts in
// plain digits, the value last — without encoding/json, which took most
// of a snapshot's reading time (reflection over the struct for every
// line). It reports false for any line not in exactly that form, which
// the caller then reads with encoding/json: the fast path decides
// nothing that the slow one would decide otherwise.
func parseSnapshotCell(line []byte, cl *snapshotCell) bool {
	p := snapshotParser{rest: line}
	if !p.lit(`{"cell":`) {
		return false
	}
	var ok bool
	if cl.Cell, ok = p.str(); !ok {
		return false
	}
	if p.lit(`,"type":`) {
		if cl.Type, ok = p.str(); !ok {
			return false
		}
	}
	if !p.lit(`,"seq":`) {
		return false
	}
	if cl.Seq, ok = p.uint(); !ok || !p.lit(`,"updates":`) {
		return false
	}
	if cl.Updates, ok = p.uint(); !ok {
		return false
	}
	for _, f := range []struct {
		key string
		n   *uint64
	}{{`,"last":`, &cl.Last}, {`,"since_rollup":`, &cl.Since}} {
		if p.lit(f.key) {
			if *f.n, ok = p.uint(); !ok {
				return false
			}
		}
	}
	if p.lit(`,"rolled_up":`) {
		if !p.lit("true") {
			return false
		}
		cl.Rolled = true
	}
	if p.lit(`,"propagator":`) {
		if cl.Propagator, ok = p.str(); !ok {
			return false
		}
	}
	if p.lit(`,"at":`) {
		at, ok := p.uint()
		if !ok || at > math.MaxInt64 {
			return false
		}
		cl.At = int64(at)
	}
	if !p.lit(`,"value":`) || len(p.rest) < 2 || p.rest[len(p.rest)-1] != '}' {
		return false
	}
	cl.Value = p.rest[:len(p.rest)-1]
	return true
}

// snapshotParser reads the front of a cell line.
type snapshotParser struct{ rest []byte }

// lit consumes s if the line goes on with it.
func (p *snapshotParser) lit(s string) bool {
	if !bytes.HasPrefix(p.rest, []byte(s)) {
		return false
	}
	p.rest = p.rest[len(s):]
	return true
}

// str consumes a string of characters that need no escaping in JSON
// and mean the same in any decoding: printable ASCII but '"' and '\\'.
func (p *snapshotParser) str() (string, bool) {
	if len(p.rest) == 0 || p.rest[0] != '"' {
		return "", false
	}
	for i := 1; i < len(p.rest); i++ {
		switch c := p.rest[i]; {
		case c == '"':
			s := string(p.rest[1:i])
			p.rest = p.rest[i+1:]
			return s, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", false
		}
	}
	return "", false
}

// uint consumes a count in plain digits, without a leading zero, that
// fits in a uint64.
func (p *snapshotParser) uint() (uint64, bool) {
	i := 0
	for i < len(p.rest) && p.rest[i] >= '0' && p.rest[i] <= '9' {
		i++
	}
	if i == 0 || (i > 1 && p.rest[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.rest[:i]), 10, 64)
	if err != nil {
		return 0, false
	}
	p.rest = p.rest[i:]
	return n, true
}
