// Package purity checks, in tests, that a package keeps the promise its doc
// makes: that it does no I/O, keeps no clock and starts no goroutines. It
// walks the package's non-test source files with go/ast: every import must
// be on an allow-list, and no go statement, select or channel may appear.
//
// The lattice and the fold are pure so that every replica, given the same
// messages in the same order, computes the same cells; these checks keep
// that true as the code changes.
package purity

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// DataPackages are the standard library packages that only compute: no
// I/O (os, io, net, bufio, and fmt, whose Print functions write to
// stdout), no clock (time), no goroutine machinery (runtime), no
// reflection.
var DataPackages = []string{
	"bytes", "cmp", "errors", "iter", "maps", "math", "math/bits", "slices", "sort",
	"strconv", "strings", "sync", "unicode", "unicode/utf16", "unicode/utf8", "unsafe",
}

// Check fails t if a non-test Go file in dir imports a package outside
// allowed, or starts a goroutine, selects or uses a channel. why is the
// promise being checked, quoted in each failure. It also fails if dir
// holds fewer than minFiles source files (a test run from the wrong
// directory would otherwise pass vacuously).
func Check(t testing.TB, dir, why string, minFiles int, allowed ...string) {
	t.Helper()
	ok := make(map[string]bool, len(allowed))
	for _, a := range allowed {
		ok[a] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !ok[path] {
				t.Errorf("%s imports %q: %s", fset.Position(imp.Pos()), path, why)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: a go statement: %s", fset.Position(n.Pos()), why)
			case *ast.SelectStmt:
				t.Errorf("%s: a select statement: %s", fset.Position(n.Pos()), why)
			case *ast.ChanType:
				t.Errorf("%s: a channel type: %s", fset.Position(n.Pos()), why)
			}
			return true
		})
	}
	if files < minFiles {
		t.Fatalf("found only %d source files in %s, want at least %d: is the test running in the package directory?", files, dir, minFiles)
	}
}
