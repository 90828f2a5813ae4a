package replica

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/uuid"
)

// This file is the replica's writer identity. Operations (Apply) become
// lattice updates written under it: a counter's count, an orset's dots
// and an lww register's writer all belong to one writer, which must be
// one process at a time and must keep its id across restarts, or its
// earlier counts and dots would be another writer's (still correct, but
// the state would grow with every start).

// WriterIDFile is the file under a data directory that keeps the writer id
// (LoadWriterID).
const WriterIDFile = "writer-id"

// LoadWriterID returns the writer id kept in dir (WriterIDFile), creating
// dir and the file with a fresh UUID the first time. Two processes must
// never share a data directory: they would count under one writer id and
// overwrite each other's counts.
func LoadWriterID(dir string) (string, error) {
	path := filepath.Join(dir, WriterIDFile)
	if id, err := readWriterID(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("writer id: %w", err)
	}
	id := uuid.NewString()
	// Written aside and linked into place: a crash leaves either no file
	// or a whole one, and of two processes starting at once one wins and
	// the other reads its id.
	tmp, err := os.CreateTemp(dir, WriterIDFile+".*")
	if err != nil {
		return "", fmt.Errorf("writer id: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(id + "\n"); err != nil {
		tmp.Close()
		return "", fmt.Errorf("writer id: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("writer id: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("writer id: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("writer id: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return readWriterID(path)
}

// readWriterID reads and checks the writer id file at path.
func readWriterID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("writer id: %w", err)
	}
	id := string(bytes.TrimSpace(b))
	if _, err := uuid.Parse(id); err != nil {
		return "", fmt.Errorf("writer id: %s holds %q, not a UUID (remove it only if no update was ever written under it: "+
			"a new id starts counting afresh): %w", path, id, err)
	}
	return id, nil
}

// WriterID returns the replica's writer id (Config.WriterID): the writer
// its operations' counts, dots and registers are written under.
func (r *Replica) WriterID() string { return r.cfg.WriterID }
