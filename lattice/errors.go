package lattice

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error returned by Decode or Merge wraps exactly one
// of them, so callers can classify a refusal with errors.Is; the concrete
// error is a *DecodeError (decoding) or a *MergeError (merging) that says
// where and what.
var (
	// ErrSyntax: the input is not well-formed JSON.
	ErrSyntax = errors.New("malformed JSON")
	// ErrUnknownType: the "type" field names no registered lattice type.
	ErrUnknownType = errors.New("unknown lattice type")
	// ErrMissingField: a field the type requires is absent.
	ErrMissingField = errors.New("missing field")
	// ErrUnknownField: a field the type does not define is present.
	ErrUnknownField = errors.New("unknown field")
	// ErrDuplicateField: an object names the same field twice.
	ErrDuplicateField = errors.New("duplicate field")
	// ErrFieldType: a field holds the wrong kind of JSON value.
	ErrFieldType = errors.New("wrong field type")
	// ErrNotFinite: a number is NaN, infinite or too large for a float64.
	ErrNotFinite = errors.New("number not finite")
	// ErrInvalid: the fields are well-typed but describe no valid value
	// (an interval with lo > hi, a negative count, ...).
	ErrInvalid = errors.New("invalid value")
	// ErrOverflow: an integer does not fit in 64 bits (a count, a timestamp),
	// or a counter's Total would overflow.
	ErrOverflow = errors.New("integer overflow")
	// ErrTooLarge: the payload, a set, a map or a counter exceeds a Limits bound.
	ErrTooLarge = errors.New("too large")
	// ErrTooDeep: nesting exceeds Limits.MaxDepth.
	ErrTooDeep = errors.New("nested too deeply")
	// ErrTypeMismatch: two values of different types were merged.
	ErrTypeMismatch = errors.New("type mismatch")
)

// DecodeError describes why an encoded value was refused.
type DecodeError struct {
	// Path locates the offending part inside the value, as dot-separated
	// field names and keys ("entries.k.lo"); empty for the value itself.
	Path string
	// Offset is the byte offset in the input where the problem was found.
	Offset int
	// Detail is a human-readable explanation.
	Detail string
	// Err is one of the sentinel errors of this package.
	Err error
}

func (e *DecodeError) Error() string {
	msg := e.Err.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Path != "" {
		msg = e.Path + ": " + msg
	}
	return msg + " (at byte " + strconv.Itoa(e.Offset) + ")"
}

func (e *DecodeError) Unwrap() error { return e.Err }

// MergeError describes a merge that has no defined result.
type MergeError struct {
	// Left and Right are the type names of the two operands.
	Left, Right string
	// Err is one of the sentinel errors of this package.
	Err error
}

func (e *MergeError) Error() string {
	return "cannot merge " + e.Right + " into " + e.Left + ": " + e.Err.Error()
}

func (e *MergeError) Unwrap() error { return e.Err }

// prefixPath puts a path element in front of a nested decode error's path.
func prefixPath(err error, elem string) error {
	var de *DecodeError
	if errors.As(err, &de) {
		if de.Path == "" {
			de.Path = elem
		} else {
			de.Path = elem + "." + de.Path
		}
	}
	return err
}
