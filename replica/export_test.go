package replica

import "github.com/dprop/dprop/lattice"

// SetAwaitHook makes Await report every value it weighs to fn, until the
// returned function is called. Tests that use it must not run in parallel.
func SetAwaitHook(fn func(v lattice.Value, reached bool)) (reset func()) {
	testHookAwait = fn
	return func() { testHookAwait = nil }
}
