package lattice

import (
	"testing"

	"github.com/dprop/dprop/internal/purity"
)

// TestPurity fails if a non-test file of the package imports anything but
// the standard library's data-only packages, or starts a goroutine. The
// lattice is pure (see the package doc): growing its imports is a design
// decision, not a convenience.
func TestPurity(t *testing.T) {
	purity.Check(t, ".", "the lattice package is pure (standard library data packages only, no I/O, clock or goroutines)",
		10, purity.DataPackages...)
}
