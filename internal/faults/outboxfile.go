package faults

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The outbox file of a sidecar (package replica/outbox), as the fault
// tests read and damage it: records of
//
//	length (4 bytes, big endian) | CRC-32C of the body (4 bytes) | body (JSON)
//
// read here independently of package outbox, so that a change to its
// format fails the test that tears a record rather than pass unseen.

// OutboxRecord is a record of an outbox file.
type OutboxRecord struct {
	Kind    string `json:"kind"` // "add" or "done"
	ID      uint64 `json:"id"`
	Cell    string `json:"cell"`
	Payload []byte `json:"payload"`
	// Offset is where the record starts in the file, Size how many bytes
	// it takes there.
	Offset, Size int `json:"-"`
}

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// ReadOutboxFile reads every record of an outbox file; damage anywhere is
// an error that says where.
func ReadOutboxFile(data []byte) ([]OutboxRecord, error) {
	var out []OutboxRecord
	for off := 0; off < len(data); {
		if len(data)-off < 8 {
			return out, fmt.Errorf("outbox file: %d bytes at offset %d, less than a record's head", len(data)-off, off)
		}
		n := int(binary.BigEndian.Uint32(data[off : off+4]))
		sum := binary.BigEndian.Uint32(data[off+4 : off+8])
		if n > len(data)-off-8 {
			return out, fmt.Errorf("outbox file: the record at offset %d says %d bytes, %d are left", off, n, len(data)-off-8)
		}
		b := data[off+8 : off+8+n]
		if crc32.Checksum(b, crc32c) != sum {
			return out, fmt.Errorf("outbox file: the record at offset %d does not match its checksum", off)
		}
		var r OutboxRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return out, fmt.Errorf("outbox file: the record at offset %d: %w", off, err)
		}
		r.Offset, r.Size = off, 8+n
		out = append(out, r)
		off += 8 + n
	}
	return out, nil
}

// TearLastRecord takes an outbox file as the tar archive `docker cp
// CONTAINER:PATH -` writes, and returns the archive of the same file (same
// name, owner and mode) with its last record cut in the middle of its
// body, as a write torn by a power loss leaves it, and that record. The
// file must hold records, all whole. mode, unless 0, replaces the file's
// mode in the archive.
func TearLastRecord(archive []byte, mode int64) ([]byte, OutboxRecord, error) {
	tr := tar.NewReader(bytes.NewReader(archive))
	hdr, err := tr.Next()
	if err != nil {
		return nil, OutboxRecord{}, fmt.Errorf("reading the archive of the outbox file: %w", err)
	}
	data, err := io.ReadAll(tr)
	if err != nil {
		return nil, OutboxRecord{}, fmt.Errorf("reading %s from its archive: %w", hdr.Name, err)
	}
	if _, err := tr.Next(); !errors.Is(err, io.EOF) {
		return nil, OutboxRecord{}, fmt.Errorf("the archive of the outbox file holds more than %s", hdr.Name)
	}
	recs, err := ReadOutboxFile(data)
	if err != nil {
		return nil, OutboxRecord{}, err
	}
	if len(recs) == 0 {
		return nil, OutboxRecord{}, fmt.Errorf("%s holds no record to tear", hdr.Name)
	}
	last := recs[len(recs)-1]
	data = data[:last.Offset+8+(last.Size-8)/2]
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	h := *hdr
	h.Size = int64(len(data))
	if mode != 0 {
		h.Mode = mode
	}
	if err := tw.WriteHeader(&h); err != nil {
		return nil, OutboxRecord{}, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, OutboxRecord{}, err
	}
	if err := tw.Close(); err != nil {
		return nil, OutboxRecord{}, err
	}
	return out.Bytes(), last, nil
}
