package faults

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dprop/dprop/replica/outbox"
)

// TearLastRecord, on a file the outbox wrote, cuts its last record so that
// the outbox, opening it again, sets that record aside as a torn tail and
// keeps the others: what scenario 10 relies on.
func TestTearLastRecord(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.log")
	ob, _, err := outbox.Open(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		r := outbox.Record{Cell: "w.s", Subject: "dprop.cell.w.s", Payload: fmt.Appendf(nil, `{"type":"set","elems":["e%d"]}`, i), MsgID: fmt.Sprint("m", i)}
		if _, _, err := ob.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ReadOutboxFile(data)
	if err != nil || len(recs) != 3 || recs[2].Kind != "add" || recs[2].Cell != "w.s" || !strings.Contains(string(recs[2].Payload), "e2") {
		t.Fatalf("read %+v, %v; want the three records added", recs, err)
	}
	// As docker cp gives it: one file, its owner and mode.
	var arch bytes.Buffer
	tw := tar.NewWriter(&arch)
	if err := tw.WriteHeader(&tar.Header{Name: "outbox.log", Mode: 0o600, Uid: 65534, Gid: 65534, Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	tw.Write(data)
	tw.Close()

	torn, last, err := TearLastRecord(arch.Bytes(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if last.ID != recs[2].ID || string(last.Payload) != string(recs[2].Payload) {
		t.Errorf("tore %+v, want the last record %+v", last, recs[2])
	}
	tr := tar.NewReader(bytes.NewReader(torn))
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "outbox.log" || h.Uid != 65534 || h.Gid != 65534 || h.Mode != 0o600 {
		t.Errorf("the torn file's header is %+v: name, owner or mode changed", h)
	}
	cut, _ := io.ReadAll(tr)
	if again, _, err := TearLastRecord(arch.Bytes(), 0o666); err != nil {
		t.Fatal(err)
	} else if h, err := tar.NewReader(bytes.NewReader(again)).Next(); err != nil || h.Mode != 0o666 {
		t.Errorf("the mode asked for was not given: %+v, %v", h, err)
	}
	if len(cut) <= recs[2].Offset+8 || len(cut) >= len(data) {
		t.Fatalf("the torn file has %d bytes; the last record spans %d to %d", len(cut), recs[2].Offset, len(data))
	}
	if _, err := ReadOutboxFile(cut); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", recs[2].Offset)) {
		t.Errorf("reading the torn file: %v, want damage at offset %d", err, recs[2].Offset)
	}

	if err := os.WriteFile(path, cut, 0o600); err != nil {
		t.Fatal(err)
	}
	ob, rec, err := outbox.Open(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if rec.Torn == 0 || rec.TornFile == "" || rec.Salvaged != 0 {
		t.Errorf("the outbox found %+v in the torn file, want a torn tail set aside", rec)
	}
	if p := ob.Pending(); len(p) != 2 || p[0].ID != recs[0].ID || p[1].ID != recs[1].ID {
		t.Errorf("pending after the tear: %+v, want the first two records", p)
	}
}
