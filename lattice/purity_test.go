package lattice

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// pureImports are the packages the lattice may use: the standard library's
// data-only packages. No I/O (os, io, net, bufio), no clock (time), no
// goroutine machinery (runtime), no reflection, and nothing outside the
// standard library. Growing this list is a design decision (DESIGN.md:
// "lattice is pure").
var pureImports = map[string]bool{
	"bytes": true, "cmp": true, "errors": true, "iter": true, "maps": true,
	"math": true, "math/bits": true, "slices": true, "sort": true,
	"strconv": true, "strings": true, "sync": true, "unicode": true,
	"unicode/utf16": true, "unicode/utf8": true, "unsafe": true,
}

// TestPurity fails if a non-test file of the package imports anything
// outside pureImports or starts a goroutine.
func TestPurity(t *testing.T) {
	entries, err := os.ReadDir(".")
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
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !pureImports[path] {
				t.Errorf("%s imports %q: the lattice package is pure (standard library data packages only, no I/O, clock or goroutines)",
					fset.Position(imp.Pos()), path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: a go statement: the lattice package starts no goroutines", fset.Position(n.Pos()))
			case *ast.SelectStmt:
				t.Errorf("%s: a select statement: the lattice package does not wait on channels", fset.Position(n.Pos()))
			case *ast.ChanType:
				t.Errorf("%s: a channel type: the lattice package does not use channels", fset.Position(n.Pos()))
			}
			return true
		})
	}
	if files < 10 {
		t.Fatalf("found only %d source files: is the test running in the package directory?", files)
	}
}
