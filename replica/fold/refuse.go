package fold

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
)

// Reasons for refusing an update, as counted in metrics and logs.
const (
	ReasonBadSubject   = "bad_subject"    // not a valid cell subject
	ReasonMalformed    = "malformed_json" // not well-formed JSON
	ReasonUnknownType  = "unknown_type"   // "type" names no lattice type
	ReasonBadField     = "bad_field"      // missing, unknown, duplicate or ill-typed field
	ReasonNotFinite    = "not_finite"     // NaN, ±Inf or out-of-range number
	ReasonInvalid      = "invalid_value"  // e.g. interval lo > hi, negative count, overflow
	ReasonTooLarge     = "too_large"      // payload or collection past the limits
	ReasonTooDeep      = "too_deep"       // nesting past the limit
	ReasonTypeMismatch = "type_mismatch"  // another type than the cell's
	ReasonCellTooLarge = "cell_too_large" // the merge would make the cell larger than its limit

	// Refusals of the trust policy (Limits.Trust); see Trust.
	ReasonUnsigned        = "unsigned"         // no signature where the policy requires one
	ReasonBadSignature    = "bad_signature"    // a trusted signer named, but the signature does not verify
	ReasonUntrustedSigner = "untrusted_signer" // signed by a key the policy does not trust for the cell

	// ReasonForgotten: a compaction's join of a cell as it was before it
	// was forgotten, published after the forget marker.
	ReasonForgotten = "forgotten"
)

// ErrForgotten is wrapped by the refusal of a compaction's join that would
// bring a forgotten cell back (ReasonForgotten).
var ErrForgotten = errors.New("the cell was forgotten")

// Reasons returns every Reason constant, in the order above (a fresh
// slice).
func Reasons() []string {
	return []string{
		ReasonBadSubject, ReasonMalformed, ReasonUnknownType, ReasonBadField, ReasonNotFinite,
		ReasonInvalid, ReasonTooLarge, ReasonTooDeep, ReasonTypeMismatch, ReasonCellTooLarge,
		ReasonUnsigned, ReasonBadSignature, ReasonUntrustedSigner, ReasonForgotten,
	}
}

var (
	// ErrTypeMismatch is wrapped when an update's type differs from its
	// cell's.
	ErrTypeMismatch = errors.New("type differs from the cell's type")
	// ErrCellTooLarge is wrapped when merging an update would make its
	// cell's encoding larger than Limits.MaxCellBytes.
	ErrCellTooLarge = errors.New("the cell would outgrow its size limit")
)

// RefusedError says why an update was refused. It wraps the lattice error
// (or ErrTypeMismatch, ErrCellTooLarge, cellname.ErrBad, or one of the
// trust policy's: ErrUnsigned, ErrBadSignature, ErrUntrustedSigner), so errors.Is
// works through it.
type RefusedError struct {
	Cell   string // the cell, or the raw subject when it names no cell
	Seq    uint64 // stream sequence; 0 before publishing
	Reason string // one of the Reason constants
	Err    error
}

func (e *RefusedError) Error() string {
	where := ""
	if e.Seq != 0 {
		where = " at stream sequence " + strconv.FormatUint(e.Seq, 10)
	}
	return fmt.Sprintf("cell %q: update%s refused (%s): %v", e.Cell, where, e.Reason, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// ReasonOf classifies a decode, name or merge error as one of the Reason
// constants.
func ReasonOf(err error) string {
	switch {
	case errors.Is(err, ErrUnsigned):
		return ReasonUnsigned
	case errors.Is(err, ErrBadSignature):
		return ReasonBadSignature
	case errors.Is(err, ErrUntrustedSigner):
		return ReasonUntrustedSigner
	case errors.Is(err, ErrCellTooLarge):
		return ReasonCellTooLarge
	case errors.Is(err, ErrForgotten):
		return ReasonForgotten
	case errors.Is(err, lattice.ErrSyntax):
		return ReasonMalformed
	case errors.Is(err, lattice.ErrUnknownType):
		return ReasonUnknownType
	case errors.Is(err, lattice.ErrNotFinite):
		return ReasonNotFinite
	case errors.Is(err, lattice.ErrTooLarge):
		return ReasonTooLarge
	case errors.Is(err, lattice.ErrTooDeep):
		return ReasonTooDeep
	case errors.Is(err, lattice.ErrMissingField), errors.Is(err, lattice.ErrUnknownField),
		errors.Is(err, lattice.ErrDuplicateField), errors.Is(err, lattice.ErrFieldType):
		return ReasonBadField
	case errors.Is(err, ErrTypeMismatch), errors.Is(err, lattice.ErrTypeMismatch):
		return ReasonTypeMismatch
	case errors.Is(err, cellname.ErrBad):
		return ReasonBadSubject
	}
	return ReasonInvalid
}
