package fold

import (
	"testing"

	"github.com/dprop/dprop/internal/purity"
)

// TestPurity keeps the fold pure: standard library data packages (and fmt
// for error messages), the lattice and the cell name rules; no I/O, clock
// or goroutines.
func TestPurity(t *testing.T) {
	allowed := append([]string{"fmt", "github.com/dprop/dprop/lattice", "github.com/dprop/dprop/cellname"}, purity.DataPackages...)
	purity.Check(t, ".", "the fold is pure (see the package doc): no I/O, clock or goroutines", 3, allowed...)
}
