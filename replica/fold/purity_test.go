package fold

import (
	"testing"

	"github.com/dprop/dprop/internal/purity"
)

// TestPurity keeps the fold pure: standard library data packages (and fmt
// for error messages), the lattice and the cell name rules; no I/O, clock
// or goroutines.
//
// Signatures are checked in the fold itself, so that every driver (a
// replica, a replay, a history, a compactor) decides alike with no
// verifier to plug in: crypto/ed25519 (Verify only: a pure function of
// the key, the message and the signature), crypto/sha256 and the two
// encodings (the policy's hash, the signature header), and nkeys, for
// nkeys.Decode alone (base32 and a CRC-16 of a public key string). None of
// them does I/O, reads a clock or starts a goroutine on the paths the fold
// calls; the fold never signs, so no randomness is involved either.
func TestPurity(t *testing.T) {
	allowed := append([]string{"fmt", "github.com/dprop/dprop/lattice", "github.com/dprop/dprop/cellname",
		"crypto/ed25519", "crypto/sha256", "encoding/base64", "encoding/hex", "github.com/nats-io/nkeys"},
		purity.DataPackages...)
	purity.Check(t, ".", "the fold is pure (see the package doc): no I/O, clock or goroutines", 3, allowed...)
}
