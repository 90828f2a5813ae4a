package replica

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/fold"
)

// A snapshot file holds cells and the stream sequence they reflect, as JSON
// lines: a header, one line per cell, and a trailer with a checksum of
// everything before it:
//
//	{"dprop":"snapshot","version":1,"stream":"DPROP","prefix":"dprop","cells":">","seq":1234,...,"count":1}
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
	// Count is the number of cells, as the trailer says it (added in
	// place: 0 in older files). A reader may size its tables with it
	// before the cells arrive; the trailer's count is the one checked.
	Count int `json:"count,omitempty"`
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
	h.Kind, h.Version, h.Count = "snapshot", SnapshotVersion, len(cells)
	sum := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, sum), 1<<16)
	line, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("snapshot header: %w", err)
	}
	bw.Write(append(line, '\n'))
	byName := func(a, b fold.Cell) int { return strings.Compare(a.Name, b.Name) }
	if !slices.IsSortedFunc(cells, byName) {
		slices.SortFunc(cells, byName)
	}
	for _, c := range cells {
		line = appendSnapshotCell(line[:0], c)
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

// appendSnapshotCell appends c's line, as json.Marshal of its
// snapshotCell would write it but for the value, which is its canonical
// encoding as it is (json.Marshal compacted it again and escaped its
// '<', '>' and '&'): half of a snapshot's writing time went to
// encoding/json's reflection.
func appendSnapshotCell(b []byte, c fold.Cell) []byte {
	b = append(b, `{"cell":`...)
	b = appendJSONString(b, c.Name)
	if c.Type != "" {
		b = appendJSONString(append(b, `,"type":`...), c.Type)
	}
	b = strconv.AppendUint(append(b, `,"seq":`...), c.Seq, 10)
	b = strconv.AppendUint(append(b, `,"updates":`...), c.Updates, 10)
	if c.Last != 0 {
		b = strconv.AppendUint(append(b, `,"last":`...), c.Last, 10)
	}
	if c.SinceRollup != 0 {
		b = strconv.AppendUint(append(b, `,"since_rollup":`...), c.SinceRollup, 10)
	}
	if c.RolledUp {
		b = append(b, `,"rolled_up":true`...)
	}
	if c.Propagator != "" {
		b = appendJSONString(append(b, `,"propagator":`...), c.Propagator)
	}
	if c.At != 0 {
		b = strconv.AppendInt(append(b, `,"at":`...), c.At, 10)
	}
	v := c.Value
	if v == nil {
		v = lattice.Nothing{}
	}
	return append(v.AppendJSON(append(b, `,"value":`...)), '}')
}

// appendJSONString appends s as a JSON string: as it is if it needs no
// escaping, else as encoding/json writes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

// ReadSnapshot reads a snapshot, checking its version, its checksum, its
// count and every value. Any problem is an error wrapping ErrBadSnapshot
// that says what and on which line; when several lines are wrong, the
// first one is named, as a reader line by line would.
func ReadSnapshot(r io.Reader, limits lattice.Limits) (SnapshotHeader, []fold.Cell, error) {
	var all []fold.Cell
	h, err := readSnapshot(r, limits, snapshotSink{
		header: func(h SnapshotHeader) error {
			all = make([]fold.Cell, 0, min(max(h.Count, 0), 1<<20)) // the count is not checked yet
			return nil
		},
		cells: func(cells []fold.Cell) error {
			all = append(all, cells...)
			return nil
		},
	})
	if err != nil {
		return h, nil, err
	}
	return h, all, nil
}

// snapshotSink is what readSnapshot hands a snapshot to, as it reads it.
type snapshotSink struct {
	// header, if not nil, weighs the header before any cell is decoded;
	// an error ends the reading with it.
	header func(SnapshotHeader) error
	// cells takes the cells in file order, a batch at a time, on one
	// goroutine at a time, while later batches are decoded. They are
	// good only if readSnapshot returns no error: the checksum is known
	// at the end. An error ends the reading with it. The slice is used
	// again after cells returns: cells must copy what it keeps.
	cells func([]fold.Cell) error
}

// snapshotChunk is how much of a snapshot file readSnapshot reads at a
// time; a chunk's lines make one decoding batch. (A variable for tests.)
var snapshotChunk = 256 << 10

// readSnapshot reads a snapshot into sink (see ReadSnapshot).
//
// This goroutine reads the file in chunks, keeps the checksum of each and
// counts its lines; the cell lines of each chunk are decoded as a batch
// by as many goroutines as there are CPUs, and handed to sink in file
// order by one more while the next chunks are read. Decoding a line (its
// JSON, its name, its value) costs several times reading and hashing it,
// and a restart from the local snapshot of a large replica paid it one
// line at a time, and then the core's Restore after the whole file
// (docs/performance.md).
func readSnapshot(r io.Reader, limits lattice.Limits, sink snapshotSink) (SnapshotHeader, error) {
	var h SnapshotHeader
	maxLine := limits.MaxBytes
	if maxLine <= 0 {
		maxLine = lattice.DefaultLimits.MaxBytes
	}
	maxLine += 64 << 10
	rd := snapshotReader{r: r, sum: sha256.New(), maxLine: maxLine, pools: new(snapshotPools)}
	first, err := rd.header()
	if err != nil {
		return h, err
	}
	if first == nil {
		return h, fmt.Errorf("%w: empty file", ErrBadSnapshot)
	}
	if err := json.Unmarshal(first, &h); err != nil || h.Kind != "snapshot" {
		return h, badSnapshot(1, "not a dprop snapshot header")
	}
	if h.Version != SnapshotVersion {
		return h, badSnapshot(1, "version %d, this dprop reads version %d", h.Version, SnapshotVersion)
	}
	if sink.header != nil {
		if err := sink.header(h); err != nil {
			return h, err
		}
	}
	dec := newSnapshotDecoder(limits, rd.pools, sink.cells)
	trailer, readErr := rd.cells(dec)
	count, err := dec.finish()
	if err != nil {
		return h, err
	}
	if readErr != nil {
		return h, readErr
	}
	if trailer == nil {
		return h, badSnapshot(rd.lines, "truncated: no trailer")
	}
	n := rd.lines
	var end snapshotEnd
	if err := json.Unmarshal(trailer, &end); err != nil {
		return h, badSnapshot(n, "malformed trailer: %v", err)
	}
	if got := hex.EncodeToString(rd.sum.Sum(nil)); got != end.SHA256 {
		return h, badSnapshot(n, "checksum mismatch: the file is corrupt (sha256 %s, trailer says %s)", got, end.SHA256)
	}
	if end.Count != count {
		return h, badSnapshot(n, "trailer counts %d cells, file has %d", end.Count, count)
	}
	if rd.after {
		return h, badSnapshot(n+1, "data after the trailer")
	}
	return h, nil
}

// badSnapshot is the error of a snapshot refused at line.
func badSnapshot(line int, format string, a ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrBadSnapshot, line, fmt.Sprintf(format, a...))
}

// snapshotReader cuts a snapshot file into its header, chunks of whole
// cell lines, and its trailer, as bufio.ScanLines would cut it into lines
// (a final line may lack its newline; a line's trailing '\r' is not
// part of it), keeping the checksum of the lines before the trailer.
type snapshotReader struct {
	r       io.Reader
	sum     hash.Hash
	maxLine int
	rest    []byte // read, not yet taken: the start of the next line
	buf     []byte // the whole buffer rest lies in
	pools   *snapshotPools
	eof     bool
	lines   int  // lines taken so far
	after   bool // a line follows the trailer
}

// fill reads more of the file after rest, into a buffer of its own, at
// least a chunk. It reports false at the end of the file.
func (rd *snapshotReader) fill() (bool, error) {
	if rd.eof {
		return false, nil
	}
	size := max(snapshotChunk, 2*len(rd.rest))
	var buf []byte
	if p, ok := rd.pools.chunks.Get().(*[]byte); ok && cap(*p) >= size {
		buf = (*p)[:len(rd.rest)]
	} else {
		buf = make([]byte, len(rd.rest), size)
	}
	copy(buf, rd.rest) // rest may lie in buf itself (see snapshotPools): copy is a memmove
	rd.buf = buf[:cap(buf)]
	n, err := io.ReadAtLeast(rd.r, buf[len(buf):cap(buf)], 1)
	rd.rest = buf[:len(buf)+n]
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		rd.eof = true
		return n > 0, nil
	}
	if err != nil {
		return false, badSnapshot(rd.lines+1, "%v", err)
	}
	return true, nil
}

// header takes the first line (nil for an empty file).
func (rd *snapshotReader) header() ([]byte, error) {
	for {
		if i := bytes.IndexByte(rd.rest, '\n'); i >= 0 {
			line := rd.rest[:i+1]
			rd.rest = rd.rest[i+1:]
			return rd.take(line), nil
		}
		if len(rd.rest) > rd.maxLine {
			return nil, badSnapshot(rd.lines+1, "line longer than %d bytes", rd.maxLine)
		}
		more, err := rd.fill()
		if err != nil {
			return nil, err
		}
		if !more {
			if len(rd.rest) == 0 {
				return nil, nil
			}
			line := rd.rest
			rd.rest = nil
			return rd.take(line), nil
		}
	}
}

// take counts and hashes one line (its newline included, if any) and
// returns it without its end of line.
func (rd *snapshotReader) take(line []byte) []byte {
	rd.lines++
	rd.hash(line)
	line = bytes.TrimSuffix(line, []byte{'\n'})
	return bytes.TrimSuffix(line, []byte{'\r'})
}

// hash adds whole lines to the checksum as bufio.ScanLines gives them,
// each followed by a newline: a file written with CRLF line ends (by an
// editor) is hashed without its '\r's.
func (rd *snapshotReader) hash(lines []byte) {
	if bytes.IndexByte(lines, '\r') < 0 {
		rd.sum.Write(lines)
		if len(lines) > 0 && lines[len(lines)-1] != '\n' {
			rd.sum.Write([]byte{'\n'})
		}
		return
	}
	for len(lines) > 0 {
		line := lines
		if i := bytes.IndexByte(lines, '\n'); i >= 0 {
			line, lines = lines[:i], lines[i+1:]
		} else {
			lines = nil
		}
		rd.sum.Write(bytes.TrimSuffix(line, []byte{'\r'}))
		rd.sum.Write([]byte{'\n'})
	}
}

// trailerStart is how a trailer line starts.
var trailerStart = []byte(`{"end":`)

// cells hands the cell lines to dec, a chunk at a time, and returns the
// trailer (nil if there is none).
func (rd *snapshotReader) cells(dec *snapshotDecoder) ([]byte, error) {
	for !dec.failed() {
		// The whole lines read so far: up to the last newline, or all
		// of the file's end.
		whole := rd.rest
		if i := bytes.LastIndexByte(rd.rest, '\n'); i >= 0 {
			whole = rd.rest[:i+1]
		} else if !rd.eof {
			whole = nil
		}
		if len(whole) > 0 {
			if t := trailerAt(whole); t >= 0 {
				rd.send(dec, whole[:t])
				rd.rest = rd.rest[t:]
				return rd.trailer()
			}
			rd.send(dec, whole)
			rd.rest = rd.rest[len(whole):]
		}
		if len(rd.rest) > rd.maxLine {
			return nil, badSnapshot(rd.lines+1, "line longer than %d bytes", rd.maxLine)
		}
		more, err := rd.fill()
		if err != nil {
			return nil, err
		}
		if !more && len(rd.rest) == 0 {
			return nil, nil
		}
	}
	return nil, nil
}

// trailerAt returns where the first line of lines that starts as a
// trailer starts, or -1.
func trailerAt(lines []byte) int {
	if bytes.HasPrefix(lines, trailerStart) {
		return 0
	}
	if i := bytes.Index(lines, []byte("\n"+string(trailerStart))); i >= 0 {
		return i + 1
	}
	return -1
}

// send hands whole lines to dec as one batch, numbered on from the lines
// taken so far.
func (rd *snapshotReader) send(dec *snapshotDecoder, lines []byte) {
	if len(lines) == 0 {
		return
	}
	n := bytes.Count(lines, []byte{'\n'})
	if lines[len(lines)-1] != '\n' {
		n++
	}
	rd.hash(lines)
	dec.add(rd.lines+1, lines, rd.buf)
	rd.lines += n
}

// trailer takes the trailer, which starts rest, and notes whether
// anything follows it.
func (rd *snapshotReader) trailer() ([]byte, error) {
	for bytes.IndexByte(rd.rest, '\n') < 0 && !rd.eof {
		if len(rd.rest) > rd.maxLine {
			return nil, badSnapshot(rd.lines+1, "line longer than %d bytes", rd.maxLine)
		}
		if _, err := rd.fill(); err != nil {
			return nil, err
		}
	}
	line := rd.rest
	if i := bytes.IndexByte(rd.rest, '\n'); i >= 0 {
		line, rd.rest = rd.rest[:i+1], rd.rest[i+1:]
	} else {
		rd.rest = nil
	}
	rd.lines++
	// A clone: the buffer goes back to the pool with the last batch.
	line = bytes.Clone(bytes.TrimSuffix(bytes.TrimSuffix(line, []byte{'\n'}), []byte{'\r'}))
	if len(rd.rest) == 0 && !rd.eof {
		if _, err := rd.fill(); err != nil {
			return nil, err
		}
	}
	rd.after = len(rd.rest) > 0
	return line, nil
}

// snapshotBatch is a run of consecutive cell lines, decoded together.
type snapshotBatch struct {
	first int    // line number of the first line
	lines []byte // the lines, each ending in a newline but maybe the last
	buf   []byte // the chunk the lines lie in, for the pool
	cells []fold.Cell
	err   error         // the first bad line's, if any
	done  chan struct{} // closed once decoded
}

// snapshotDecoder decodes the cell lines of a snapshot in batches, on
// several goroutines, and hands the batches' cells to a sink in file
// order.
type snapshotDecoder struct {
	limits  lattice.Limits
	pools   *snapshotPools
	work    chan *snapshotBatch // to the decoders
	ordered chan *snapshotBatch // to the sink, in file order
	wg      sync.WaitGroup
	stopped bool
	// Set by the goroutine that feeds the sink, read after wg.Wait.
	count int
	err   error
	fail  atomic.Bool // err is set: reading more is useless
}

func newSnapshotDecoder(limits lattice.Limits, pools *snapshotPools, sink func([]fold.Cell) error) *snapshotDecoder {
	workers := runtime.GOMAXPROCS(0)
	d := &snapshotDecoder{limits: limits, pools: pools, work: make(chan *snapshotBatch, 2*workers), ordered: make(chan *snapshotBatch, 4*workers)}
	for range workers {
		d.wg.Go(func() {
			names := newInterner()
			for b := range d.work {
				b.decode(d.limits, names, d.pools)
				close(b.done)
			}
		})
	}
	d.wg.Go(func() {
		for b := range d.ordered {
			<-b.done
			if d.err != nil {
				continue
			}
			d.err = b.err
			if d.err == nil && sink != nil {
				d.err = sink(b.cells)
			}
			if d.err != nil {
				d.fail.Store(true)
			}
			d.count += len(b.cells)
			clear(b.cells) // no references kept from the pool
			cells := b.cells[:0]
			d.pools.cells.Put(&cells)
			b.cells = nil
		}
	})
	return d
}

// failed reports whether a batch was bad or refused by the sink.
func (d *snapshotDecoder) failed() bool { return d.fail.Load() }

// add queues the cell lines that start at line n, which lie in buf: the
// caller must not reuse buf; the decoder puts it in the pool once it has
// decoded the lines.
func (d *snapshotDecoder) add(n int, lines, buf []byte) {
	b := &snapshotBatch{first: n, lines: lines, buf: buf, done: make(chan struct{})}
	d.ordered <- b
	d.work <- b
}

// finish waits for every batch and returns how many cells the sink took,
// or the error of the first bad line or of the sink.
func (d *snapshotDecoder) finish() (int, error) {
	if !d.stopped {
		d.stopped = true
		close(d.work)
		close(d.ordered)
		d.wg.Wait()
	}
	return d.count, d.err
}

// decode decodes the batch's lines, up to the first bad one.
func (b *snapshotBatch) decode(limits lattice.Limits, names *interner, pools *snapshotPools) {
	defer func() {
		buf := b.buf[:0]
		pools.chunks.Put(&buf)
		b.lines, b.buf = nil, nil
	}()
	n := bytes.Count(b.lines, []byte{'\n'}) + 1
	if p, ok := pools.cells.Get().(*[]fold.Cell); ok && cap(*p) >= n {
		b.cells = *p
	} else {
		b.cells = make([]fold.Cell, 0, n)
	}
	rest := b.lines
	for i := 0; len(rest) > 0; i++ {
		line := rest
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			line, rest = rest[:j], rest[j+1:]
		} else {
			rest = nil
		}
		c, err := decodeSnapshotCell(b.first+i, bytes.TrimSuffix(line, []byte{'\r'}), limits, names)
		if err != nil {
			b.err = err
			return
		}
		b.cells = append(b.cells, c)
	}
}

// snapshotPools keep the buffers of one snapshot's reading for its next
// chunk and batch: a million cells read into fresh buffers allocated
// about 300 MB that the collector then ran for. A chunk may return to its
// pool while the reader still holds the start of a line in its tail, and
// come back to it as the next chunk: the reader moves that line to the
// front (fill). So a pool serves one reading, never two.
type snapshotPools struct {
	chunks sync.Pool // of *[]byte
	cells  sync.Pool // of *[]fold.Cell
}

// interner keeps one copy of the strings many cells share (their types,
// the propagators that refined them), so that a million cells of one
// type do not hold a million copies of its name.
type interner map[string]string

func newInterner() *interner { m := make(interner); return &m }

// get returns b as a string, shared while the interner is small.
func (in *interner) get(b []byte) string {
	if s, ok := (*in)[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(*in) < 1024 {
		(*in)[s] = s
	}
	return s
}

// decodeSnapshotCell decodes cell line n. names (nil for none) shares the
// strings of types and propagators.
func decodeSnapshotCell(n int, line []byte, limits lattice.Limits, names *interner) (fold.Cell, error) {
	var cl snapshotCell
	if parseSnapshotCell(line, &cl, names) {
		if v, err := limits.Decode(cl.Value); err == nil && cellname.Validate(cl.Cell) == nil {
			// WriteSnapshot wrote the value's canonical encoding, whose
			// hash is the ETag: no need to encode it again. (Earlier
			// writers escaped '<', '>' and '&': a value with an escape
			// is encoded again.)
			var etag string
			if bytes.IndexByte(cl.Value, '\\') < 0 {
				etag = fold.ETagOfEncoding(cl.Value)
			} else {
				etag = fold.ETag(v)
			}
			return fold.Cell{Name: cl.Cell, Value: v, Type: cl.Type, Seq: cl.Seq, Updates: cl.Updates,
				Last: cl.Last, SinceRollup: cl.Since, RolledUp: cl.Rolled, Propagator: cl.Propagator, At: cl.At,
				ETag: etag}, nil
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
func parseSnapshotCell(line []byte, cl *snapshotCell, names *interner) bool {
	p := snapshotParser{rest: line, names: names}
	if !p.lit(`{"cell":`) {
		return false
	}
	var ok bool
	if cl.Cell, ok = p.str(); !ok {
		return false
	}
	if p.lit(`,"type":`) {
		if cl.Type, ok = p.shared(); !ok {
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
		if cl.Propagator, ok = p.shared(); !ok {
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
type snapshotParser struct {
	rest  []byte
	names *interner // nil: every string its own
}

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
	b, ok := p.strBytes()
	return string(b), ok
}

// shared is str for a string many lines share (see interner).
func (p *snapshotParser) shared() (string, bool) {
	b, ok := p.strBytes()
	if !ok || p.names == nil {
		return string(b), ok
	}
	return p.names.get(b), true
}

func (p *snapshotParser) strBytes() ([]byte, bool) {
	if len(p.rest) == 0 || p.rest[0] != '"' {
		return nil, false
	}
	for i := 1; i < len(p.rest); i++ {
		switch c := p.rest[i]; {
		case c == '"':
			b := p.rest[1:i]
			p.rest = p.rest[i+1:]
			return b, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
	}
	return nil, false
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
	// By hand: strconv.ParseUint was two thirds of the parsing of a
	// line's counts.
	var n uint64
	for _, c := range p.rest[:i] {
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	p.rest = p.rest[i:]
	return n, true
}
