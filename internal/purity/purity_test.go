package purity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps failures instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, format)
}
func (r *recorder) Fatalf(format string, args ...any) { r.errs = append(r.errs, "fatal: "+format) }

// TestCheckCatches shows that Check fails on each thing it forbids.
func TestCheckCatches(t *testing.T) {
	dir := t.TempDir()
	src := `package p

import (
	"os"
	"strings"
)

func f() {
	c := make(chan int)
	go func() { c <- 1 }()
	select {
	case <-c:
	}
	_ = os.Args
	_ = strings.ToUpper("")
}
`
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p_test.go"), []byte("package p\nimport \"net\"\nvar _ = net.IPv4len\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &recorder{TB: t}
	Check(r, dir, "p is pure", 1, DataPackages...)
	got := strings.Join(r.errs, "\n")
	if len(r.errs) != 4 {
		t.Fatalf("want 4 failures (import os, go, select, chan), got %d:\n%s", len(r.errs), got)
	}
	r = &recorder{TB: t}
	Check(r, dir, "p is pure", 2, DataPackages...)
	if !strings.Contains(strings.Join(r.errs, "\n"), "fatal") {
		t.Error("too few files not reported")
	}
}
