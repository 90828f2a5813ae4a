package network

import "github.com/dprop/dprop/propagators"

// ValidateName checks a cell name by the rule every layer shares (see
// propagators.ValidateName); refusals wrap propagators.ErrBadName.
func ValidateName(name string) error { return propagators.ValidateName(name) }

// ErrBadName is wrapped by ValidateName's refusals.
var ErrBadName = propagators.ErrBadName
