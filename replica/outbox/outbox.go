// Package outbox is a sidecar's local, durable queue of updates the log
// has not acknowledged yet: what lets a sidecar cut off from its brokers
// keep accepting refines. An update is appended and synced to disk before
// the sidecar answers for it, and removed only once the stream has
// acknowledged it; a crash at any point re-delivers at most what was not
// acknowledged yet, which is harmless, since merges are idempotent.
//
// # The file
//
// One append-only file of records, each
//
//	length (4 bytes, big endian) | CRC-32C of the body (4 bytes) | body (JSON)
//
// where a body is an update added (kind "add", with its id, cell, payload,
// message id and headers) or one delivered (kind "done", with the id).
// Opening the file replays it: the pending updates are those added and not
// delivered, in the order they were added. A record cut short or whose
// checksum does not match is damage: from there to the end, the file is
// set aside as it was in a file of its own, reported, and cut off. A torn
// write (a power loss) damages the last record only, which no client was
// told of, since a record is acknowledged only once synced: everything
// before it is intact. Whole records found after the damage (the file
// damaged in the middle, by the disk or a hand) are taken in too, so only
// the damaged record is lost (Recovered.Salvaged). When
// nothing is pending, or when delivered records outweigh pending ones, the
// file is written anew (atomically) with the pending ones alone.
//
// Appends from concurrent callers are synced together (group commit): each
// caller returns once a sync that covers its record has completed.
package outbox

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// ErrFull is returned by Append when the pending updates already take
// MaxBytes.
var ErrFull = errors.New("the outbox is full")

// ErrClosed is returned once the outbox is closed.
var ErrClosed = errors.New("the outbox is closed")

// Record is one pending update.
type Record struct {
	ID      uint64            `json:"id"`
	Cell    string            `json:"cell"`
	Subject string            `json:"subject"`
	Payload []byte            `json:"payload"`
	MsgID   string            `json:"msg_id,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Ops, for an update of operations, are the operations it was
	// computed from (JSON, as the replica wrote them): never published,
	// kept so that the replica can compute the update again on delivery.
	Ops   json.RawMessage `json:"ops,omitempty"`
	Added time.Time       `json:"added"`
}

// size is what a record counts against MaxBytes.
func (r Record) size() int64 {
	return int64(len(r.Payload) + len(r.Cell) + len(r.Subject) + len(r.MsgID) + len(r.Ops) + 64)
}

// body is a record in the file.
type body struct {
	Kind string `json:"kind"` // "add" or "done"
	Record
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Recovered says what Open found in the file.
type Recovered struct {
	// Pending is the number of updates still to deliver.
	Pending int
	// Torn is the number of bytes of a torn tail set aside (0 if none),
	// and TornFile where: the file from the first record that does not
	// read back whole to its end, as it was.
	Torn     int64
	TornFile string
	// Salvaged counts the records found whole after the damage and taken
	// in all the same. A torn write (a power loss) damages only the last
	// record, which was never acknowledged, and leaves none after it;
	// records after a damaged one mean the file was damaged in the middle
	// (the disk, a hand), and the damaged record itself may have been
	// acknowledged: compare the torn file with what the cells hold.
	Salvaged int
}

// Outbox is a durable queue of pending updates. Its methods are safe for
// concurrent use.
type Outbox struct {
	path     string
	maxBytes int64

	mu sync.Mutex // guards what follows
	f  *os.File
	w  *bufio.Writer
	// pending are the records in the order added, with holes (ID 0)
	// where delivered ones were; index maps an id to its position plus
	// base (the positions trimmed off the front), so that removing from
	// the front, the usual order, costs O(1).
	pending []Record
	index   map[uint64]int
	base    int
	holes   int
	bytes   int64 // of the pending records (size)
	fileLen int64 // bytes in the file
	nextID  uint64
	closed  bool
	// Group commit: appends wait for a sync that covers them.
	written uint64     // records written to the buffer
	synced  uint64     // records known synced
	syncing bool       // a sync is under way
	cond    *sync.Cond // signalled when synced grows or the outbox closes
	syncErr error

	// oldest is when the oldest pending record was added, in Unix
	// nanoseconds (0: none): written under mu, read without it
	// (OldestAdded).
	oldest atomic.Int64
}

// noteOldest updates oldest. o.mu is held.
func (o *Outbox) noteOldest() {
	if len(o.pending) > 0 {
		o.oldest.Store(o.pending[0].Added.UnixNano()) // the front is never a hole
		return
	}
	o.oldest.Store(0)
}

// OldestAdded is when the oldest pending update was added (zero when
// none), as Stats says, but without waiting for an append's sync or a
// rewrite under way.
func (o *Outbox) OldestAdded() time.Time {
	if n := o.oldest.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Open opens (creating it if need be) the outbox at path, bounded to
// maxBytes of pending updates (0: unbounded).
func Open(path string, maxBytes int64) (*Outbox, Recovered, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, Recovered{}, fmt.Errorf("outbox: %w", err)
	}
	o := &Outbox{path: path, maxBytes: maxBytes, index: map[uint64]int{}, nextID: 1}
	o.cond = sync.NewCond(&o.mu)
	rec, err := o.replay()
	if err != nil {
		return nil, rec, err
	}
	if err := o.rewrite(); err != nil { // a fresh file of the pending records alone
		return nil, rec, err
	}
	o.noteOldest()
	rec.Pending = o.count()
	return o, rec, nil
}

// replay reads the file, keeping the pending records, and sets aside a
// torn tail.
func (o *Outbox) replay() (Recovered, error) {
	var rec Recovered
	data, err := os.ReadFile(o.path)
	if errors.Is(err, fs.ErrNotExist) {
		return rec, nil
	}
	if err != nil {
		return rec, fmt.Errorf("outbox: %w", err)
	}
	off, salvaged := o.load(data)
	rec.Salvaged = salvaged
	if off < len(data) {
		rec.Torn = int64(len(data) - off)
		rec.TornFile = o.path + ".torn-" + time.Now().UTC().Format("20060102T150405.000000000Z")
		if err := os.WriteFile(rec.TornFile, data[off:], 0o600); err != nil {
			return rec, fmt.Errorf("outbox: setting aside a torn tail of %d bytes: %w", rec.Torn, err)
		}
	}
	o.compactIndex(true)
	return rec, nil
}

// load takes in the records of data. At the first that does not read
// back whole it looks further for records that do (a frame whose length,
// checksum and body hold), and takes those in too. It returns where the
// damage starts (len(data) if there is none) and how many records it
// took in after it.
func (o *Outbox) load(data []byte) (damaged, salvaged int) {
	damaged = len(data)
	off := 0
	for off < len(data) {
		b, n, ok := readRecord(data[off:])
		if !ok || (b.Kind == "add" && b.ID == 0) { // ids start at 1
			if damaged == len(data) {
				damaged = off
			}
			off++
			continue
		}
		if damaged < off {
			salvaged++
		}
		off += n
		switch b.Kind {
		case "add":
			if _, dup := o.index[b.ID]; dup {
				break // added twice: keep the first
			}
			o.index[b.ID] = o.base + len(o.pending)
			o.pending = append(o.pending, b.Record)
			o.bytes += b.size()
		case "done":
			o.drop(b.ID)
		}
		o.nextID = max(o.nextID, b.ID+1)
	}
	o.compactIndex(true)
	return damaged, salvaged
}

// readRecord reads one record at the start of data: the body, its length
// in the file, and false if it is cut short or its checksum fails.
func readRecord(data []byte) (body, int, bool) {
	var b body
	if len(data) < 8 {
		return b, 0, false
	}
	n := int(binary.BigEndian.Uint32(data[0:4]))
	sum := binary.BigEndian.Uint32(data[4:8])
	if n > len(data)-8 || n < 2 || data[8] != '{' || crc32.Checksum(data[8:8+n], castagnoli) != sum {
		return b, 0, false
	}
	if err := json.Unmarshal(data[8:8+n], &b); err != nil || (b.Kind != "add" && b.Kind != "done") {
		return b, 0, false
	}
	return b, 8 + n, true
}

// drop removes a pending record, leaving a hole: holes at the front are
// trimmed at once, the others by compactIndex once they are half the
// slice.
func (o *Outbox) drop(id uint64) bool {
	a, ok := o.index[id]
	if !ok {
		return false
	}
	delete(o.index, id)
	i := a - o.base
	o.bytes -= o.pending[i].size()
	o.pending[i] = Record{} // a hole
	o.holes++
	for len(o.pending) > 0 && o.pending[0].ID == 0 {
		o.pending = o.pending[1:]
		o.base++
		o.holes--
	}
	if len(o.pending) == 0 {
		o.pending, o.base = nil, 0
	}
	return true
}

// compactIndex removes the holes drop left, once they are half the
// records (always, with all).
func (o *Outbox) compactIndex(all bool) {
	if o.holes == 0 || (!all && 2*o.holes < len(o.pending)) {
		return
	}
	kept := make([]Record, 0, len(o.pending)-o.holes)
	for _, r := range o.pending {
		if r.ID != 0 {
			o.index[r.ID] = len(kept)
			kept = append(kept, r)
		}
	}
	o.pending, o.base, o.holes = kept, 0, 0
}

// rewrite writes the pending records to a fresh file, atomically, and
// opens it for appending: everything pending is synced then. o.mu is held
// (or o is not shared yet).
func (o *Outbox) rewrite() error {
	for o.syncing { // a sync of the old file is under way: let it end
		o.cond.Wait()
	}
	tmp := o.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	w := bufio.NewWriter(f)
	var n int64
	for _, r := range o.pending {
		if r.ID == 0 {
			continue // a hole
		}
		m, err := writeRecord(w, body{Kind: "add", Record: r})
		if err != nil {
			f.Close()
			return fmt.Errorf("outbox: %w", err)
		}
		n += m
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("outbox: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("outbox: %w", err)
	}
	if err := os.Rename(tmp, o.path); err != nil {
		f.Close()
		return fmt.Errorf("outbox: %w", err)
	}
	if d, err := os.Open(filepath.Dir(o.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	if o.f != nil {
		o.f.Close()
	}
	o.f, o.w, o.fileLen = f, bufio.NewWriter(f), n
	o.synced = o.written
	o.cond.Broadcast()
	return nil
}

// writeRecord writes b framed, and returns the bytes written.
func writeRecord(w io.Writer, b body) (int64, error) {
	data, err := json.Marshal(b)
	if err != nil {
		return 0, err
	}
	var head [8]byte
	binary.BigEndian.PutUint32(head[0:4], uint32(len(data)))
	binary.BigEndian.PutUint32(head[4:8], crc32.Checksum(data, castagnoli))
	if _, err := w.Write(head[:]); err != nil {
		return 0, err
	}
	if _, err := w.Write(data); err != nil {
		return 0, err
	}
	return int64(8 + len(data)), nil
}

// Append adds an update and returns once it is synced to disk: its ID, and
// the number of updates pending with it. It fails with ErrFull when the
// pending updates take MaxBytes already.
func (o *Outbox) Append(r Record) (uint64, int, error) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return 0, 0, ErrClosed
	}
	if o.maxBytes > 0 && o.bytes+r.size() > o.maxBytes {
		n := o.count()
		o.mu.Unlock()
		return 0, n, fmt.Errorf("%w: %d updates pending take %d bytes, the limit is %d", ErrFull, n, o.bytes, o.maxBytes)
	}
	r.ID = o.nextID
	o.nextID++
	if r.Added.IsZero() {
		r.Added = time.Now().UTC()
	}
	n, err := writeRecord(o.w, body{Kind: "add", Record: r})
	if err != nil {
		o.mu.Unlock()
		return 0, 0, fmt.Errorf("outbox: %w", err)
	}
	o.fileLen += n
	o.index[r.ID] = o.base + len(o.pending)
	o.pending = append(o.pending, r)
	o.noteOldest()
	o.bytes += r.size()
	o.written++
	mine := o.written
	err = o.syncUpTo(mine)
	pending := o.count()
	o.mu.Unlock()
	if err != nil {
		return 0, 0, err
	}
	return r.ID, pending, nil
}

// syncUpTo returns once the records up to mine are synced: the first
// caller to find no sync under way syncs everything written so far, and
// the others wait for it (group commit). o.mu is held.
func (o *Outbox) syncUpTo(mine uint64) error {
	for o.synced < mine {
		if o.closed {
			return ErrClosed
		}
		if o.syncing {
			o.cond.Wait()
			continue
		}
		o.syncing = true
		upTo := o.written
		err := o.w.Flush()
		f := o.f
		o.mu.Unlock()
		if err == nil {
			err = f.Sync()
		}
		o.mu.Lock()
		o.syncing = false
		if err != nil {
			o.syncErr = fmt.Errorf("outbox: sync: %w", err)
			o.cond.Broadcast()
			return o.syncErr
		}
		o.synced = max(o.synced, upTo)
		o.cond.Broadcast()
	}
	return nil
}

// Done removes delivered updates. The removal need not be synced at once:
// lost in a crash, an update is delivered again, which is harmless.
func (o *Outbox) Done(ids ...uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	var dropped []uint64
	for _, id := range ids {
		if o.drop(id) {
			dropped = append(dropped, id)
		}
	}
	if len(dropped) == 0 {
		return nil
	}
	o.compactIndex(false)
	o.noteOldest()
	if o.count() == 0 || o.fileLen > 4*o.bytes+64<<10 {
		return o.rewrite() // nothing pending, or mostly delivered records
	}
	for _, id := range dropped {
		n, err := writeRecord(o.w, body{Kind: "done", Record: Record{ID: id}})
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		o.fileLen += n
	}
	return o.w.Flush()
}

// count is the number of pending updates. o.mu is held.
func (o *Outbox) count() int { return len(o.pending) - o.holes }

// Pending returns the pending updates, oldest first (a copy).
func (o *Outbox) Pending() []Record { return o.Oldest(-1) }

// Oldest returns the n oldest pending updates (all for n < 0), oldest
// first (a copy).
func (o *Outbox) Oldest(n int) []Record {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n < 0 {
		n = o.count()
	}
	out := make([]Record, 0, min(n, o.count()))
	for _, r := range o.pending {
		if len(out) == n {
			break
		}
		if r.ID != 0 {
			out = append(out, r)
		}
	}
	return out
}

// After returns up to n pending updates added after the one with id
// after (0: from the oldest), in the order added (a copy).
func (o *Outbox) After(after uint64, n int) []Record {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Record
	for _, r := range o.pending {
		if len(out) == n {
			break
		}
		if r.ID > after { // ids grow in the order added; holes are 0
			out = append(out, r)
		}
	}
	return out
}

// Len is the number of pending updates.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count()
}

// Stats says how many updates are pending, their bytes, and when the
// oldest was added (zero when none).
func (o *Outbox) Stats() (count int, bytes int64, oldest time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.pending) > 0 {
		oldest = o.pending[0].Added // the front is never a hole
	}
	return o.count(), o.bytes, oldest
}

// Close syncs and closes the file.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	o.cond.Broadcast()
	err := o.w.Flush()
	if err == nil {
		err = o.f.Sync()
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	return err
}
