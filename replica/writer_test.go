package replica_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/dprop/dprop/replica"
)

func TestLoadWriterIDKeepsOneID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	id, err := replica.LoadWriterID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := uuid.Parse(id); err != nil {
		t.Fatalf("writer id %q is not a UUID: %v", id, err)
	}
	again, err := replica.LoadWriterID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again != id {
		t.Fatalf("second load gave %q, first %q: the id must be kept", again, id)
	}
	other, err := replica.LoadWriterID(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if other == id {
		t.Fatal("two data directories gave the same writer id")
	}
}

func TestLoadWriterIDRefusesDamage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, replica.WriterIDFile), []byte("not-a-uuid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := replica.LoadWriterID(dir)
	if err == nil || !strings.Contains(err.Error(), "not a UUID") {
		t.Fatalf("damaged writer id: got %v, want an error saying it is not a UUID", err)
	}
}
