package outbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func rec(cell string, n int) Record {
	return Record{Cell: cell, Subject: "dprop.cell." + cell, Payload: fmt.Appendf(nil, `{"type":"max","value":%d}`, n)}
}

func open(t *testing.T, path string, max int64) (*Outbox, Recovered) {
	t.Helper()
	o, r, err := Open(path, max)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o, r
}

// Appended updates survive a reopen in order; delivered ones do not.
func TestAppendDoneReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox")
	o, _ := open(t, path, 0)
	var ids []uint64
	for i := range 5 {
		id, n, err := o.Append(rec("a", i))
		if err != nil || n != i+1 {
			t.Fatalf("append %d: id %d, %d pending, %v", i, id, n, err)
		}
		ids = append(ids, id)
	}
	if err := o.Done(ids[1]); err != nil {
		t.Fatal(err)
	}
	o.Close()
	o2, r := open(t, path, 0)
	if r.Pending != 4 || r.Torn != 0 {
		t.Fatalf("recovered %+v", r)
	}
	var got []string
	for _, p := range o2.Pending() {
		got = append(got, string(p.Payload))
	}
	if fmt.Sprint(got) != `[{"type":"max","value":0} {"type":"max","value":2} {"type":"max","value":3} {"type":"max","value":4}]` {
		t.Fatalf("pending after reopen: %v", got)
	}
	// New ids go on from the old ones.
	id, _, err := o2.Append(rec("b", 9))
	if err != nil || id <= ids[4] {
		t.Fatalf("a new id %d after %d: %v", id, ids[4], err)
	}
}

// A torn tail (a write cut short, or a garbled record) is set aside and
// reported; every record before it is delivered.
func TestTornTail(t *testing.T) {
	for _, cut := range []string{"short", "garbled"} {
		t.Run(cut, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox")
			o, _ := open(t, path, 0)
			for i := range 3 {
				if _, _, err := o.Append(rec("a", i)); err != nil {
					t.Fatal(err)
				}
			}
			o.Close()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if cut == "short" {
				data = data[:len(data)-5]
			} else {
				data[len(data)-3] ^= 0xff
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			o2, r := open(t, path, 0)
			if r.Pending != 2 || r.Torn == 0 || r.TornFile == "" {
				t.Fatalf("recovered %+v, want 2 pending and a torn tail set aside", r)
			}
			if kept, err := os.ReadFile(r.TornFile); err != nil || int64(len(kept)) != r.Torn {
				t.Fatalf("torn tail kept: %d bytes, %v", len(kept), err)
			}
			if n, _, _ := o2.Stats(); n != 2 {
				t.Fatalf("%d pending", n)
			}
		})
	}
}

// Damage in the middle of the file (not a torn write) loses only the
// damaged record: the whole ones after it are found and delivered, and
// the damage is kept aside for the operator.
func TestDamageInTheMiddle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox")
	o, _ := open(t, path, 0)
	var ends []int64
	for i := range 5 {
		if _, _, err := o.Append(rec("a", i)); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(path)
		ends = append(ends, st.Size())
	}
	o.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[ends[1]+12] ^= 0xff // inside the third record's body
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	o2, r := open(t, path, 0)
	if r.Pending != 4 || r.Salvaged != 2 || r.Torn != int64(len(data))-ends[1] {
		t.Fatalf("recovered %+v, want 4 pending, 2 salvaged, the tail from the third record set aside", r)
	}
	var got []string
	for _, p := range o2.Pending() {
		got = append(got, string(p.Payload))
	}
	if fmt.Sprint(got) != `[{"type":"max","value":0} {"type":"max","value":1} {"type":"max","value":3} {"type":"max","value":4}]` {
		t.Fatalf("pending: %v", got)
	}
}

// The outbox is bounded: past MaxBytes an append is refused, and a
// delivery makes room again.
func TestBound(t *testing.T) {
	o, _ := open(t, filepath.Join(t.TempDir(), "outbox"), 3*rec("a", 1).size())
	var first uint64
	for i := range 3 {
		id, _, err := o.Append(rec("a", 1))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = id
		}
	}
	if _, n, err := o.Append(rec("a", 1)); !errors.Is(err, ErrFull) || n != 3 {
		t.Fatalf("append past the bound: %v (%d pending)", err, n)
	}
	if err := o.Done(first); err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.Append(rec("a", 1)); err != nil {
		t.Fatalf("append after a delivery: %v", err)
	}
}

// Concurrent appends are all synced (group commit), and all there after a
// reopen; once everything is delivered the file is empty again.
func TestConcurrentAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox")
	o, _ := open(t, path, 0)
	var wg sync.WaitGroup
	ids := make(chan uint64, 400)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				id, _, err := o.Append(rec(fmt.Sprintf("c%d", g), i))
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		}()
	}
	wg.Wait()
	close(ids)
	o.Close()
	o2, r := open(t, path, 0)
	if r.Pending != 400 {
		t.Fatalf("%d pending after reopen, want 400", r.Pending)
	}
	for id := range ids {
		if err := o2.Done(id); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Fatalf("file after every delivery: %v bytes, %v", fi.Size(), err)
	}
}

// Removing in batches, out of order and from the front keeps the order of
// what is left, in memory and across a reopen, and Oldest reads the front.
func TestDoneBatchesAndHoles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox")
	o, _ := open(t, path, 0)
	var ids []uint64
	for i := range 100 {
		id, _, err := o.Append(rec("a", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// From the front, a batch in the middle, single ones out of order.
	if err := o.Done(ids[:10]...); err != nil {
		t.Fatal(err)
	}
	if err := o.Done(ids[50:90]...); err != nil {
		t.Fatal(err)
	}
	if err := o.Done(ids[95], ids[11], ids[95]); err != nil { // a repeat is ignored
		t.Fatal(err)
	}
	want := func(o *Outbox) {
		t.Helper()
		var got []uint64
		for _, p := range o.Pending() {
			got = append(got, p.ID)
		}
		var exp []uint64
		for i, id := range ids {
			if i >= 10 && i != 11 && (i < 50 || i >= 90) && i != 95 {
				exp = append(exp, id)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(exp) || o.Len() != len(exp) {
			t.Fatalf("pending %v (len %d), want %v", got, o.Len(), exp)
		}
		if first := o.Oldest(2); len(first) != 2 || first[0].ID != ids[10] || first[1].ID != ids[12] {
			t.Fatalf("oldest two: %+v", first)
		}
		if _, _, oldest := o.Stats(); !oldest.Equal(o.Pending()[0].Added) {
			t.Fatalf("oldest %v", oldest)
		}
	}
	want(o)
	o.Close()
	o2, _ := open(t, path, 0)
	want(o2)
}

// Whatever the file holds, reading it back does not panic: the records
// that read back whole are kept, in order, the rest is the torn tail.
func FuzzLoad(f *testing.F) {
	seed := filepath.Join(f.TempDir(), "seed")
	o, _, err := Open(seed, 0)
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		if _, _, err := o.Append(rec("a", i)); err != nil {
			f.Fatal(err)
		}
	}
	if err := o.Done(1); err != nil {
		f.Fatal(err)
	}
	o.Close()
	good, err := os.ReadFile(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0, 0, '{', '}'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		o := &Outbox{index: map[uint64]int{}, nextID: 1}
		off, _ := o.load(data)
		if off < 0 || off > len(data) {
			t.Fatalf("torn tail at %d of %d bytes", off, len(data))
		}
		if o.holes != 0 || len(o.index) != o.count() {
			t.Fatalf("%d holes, %d indexed, %d pending", o.holes, len(o.index), o.count())
		}
		for i, p := range o.Pending() {
			if p.ID == 0 || p.ID >= o.nextID || o.index[p.ID]-o.base != i {
				t.Fatalf("pending record %d: %+v (next id %d)", i, p, o.nextID)
			}
		}
		// What loaded reads back the same once written anew.
		var buf bytes.Buffer
		for _, p := range o.Pending() {
			if _, err := writeRecord(&buf, body{Kind: "add", Record: p}); err != nil {
				t.Fatal(err)
			}
		}
		o2 := &Outbox{index: map[uint64]int{}, nextID: 1}
		if n, _ := o2.load(buf.Bytes()); n != buf.Len() || o2.count() != o.count() {
			t.Fatalf("rewritten: %d of %d bytes read, %d records, want %d", n, buf.Len(), o2.count(), o.count())
		}
	})
}

// OldestAdded follows the oldest pending record through appends,
// deliveries and a reopening.
func TestOldestAdded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.log")
	o, _, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !o.OldestAdded().IsZero() {
		t.Fatalf("empty outbox: oldest %v", o.OldestAdded())
	}
	t1, t2 := time.Unix(100, 0), time.Unix(200, 0)
	id1, _, err := o.Append(Record{Cell: "a", Subject: "s.a", Payload: []byte("1"), Added: t1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.Append(Record{Cell: "b", Subject: "s.b", Payload: []byte("2"), Added: t2}); err != nil {
		t.Fatal(err)
	}
	if got := o.OldestAdded(); !got.Equal(t1) {
		t.Fatalf("oldest %v, want %v", got, t1)
	}
	if err := o.Done(id1); err != nil {
		t.Fatal(err)
	}
	if got := o.OldestAdded(); !got.Equal(t2) {
		t.Fatalf("after the first's delivery: oldest %v, want %v", got, t2)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o, _, err = Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if got := o.OldestAdded(); !got.Equal(t2) {
		t.Fatalf("reopened: oldest %v, want %v", got, t2)
	}
}
