package replica

import (
	"time"

	"github.com/dprop/dprop/lattice"
)

// SetAwaitHook makes Await report every value it weighs to fn, until the
// returned function is called. Tests that use it must not run in parallel.
func SetAwaitHook(fn func(v lattice.Value, reached bool)) (reset func()) {
	testHookAwait = fn
	return func() { testHookAwait = nil }
}

// SetRefusalWarnings sets how many refusal warnings replicas started from
// now on write per window of every, until the returned function is called.
// Tests that use it must not run in parallel.
func SetRefusalWarnings(every time.Duration, burst int) (reset func()) {
	oldEvery, oldBurst := refusalWarnEvery, refusalWarnBurst
	refusalWarnEvery, refusalWarnBurst = every, burst
	return func() { refusalWarnEvery, refusalWarnBurst = oldEvery, oldBurst }
}

// Messages of the refusal log.
const (
	MsgRefused       = msgRefused
	MsgRefusedUnwarn = msgRefusedUnwarn
)

// SetOutboxHooks makes the outbox call taken once an update is synced and
// before it is answered, and delivered once the log acknowledged a pending
// update and before the outbox forgets it (nil: no call), until the
// returned function is called. Tests that use it must not run in parallel.
func SetOutboxHooks(taken, delivered func(cell string)) (reset func()) {
	testHookTaken, testHookDelivered = taken, delivered
	return func() { testHookTaken, testHookDelivered = nil, nil }
}

// SetPublishedHook makes Refine (and so Apply) call fn once the log
// acknowledged an update, before it waits for the fold, until the returned
// function is called. Tests that use it must not run in parallel.
func SetPublishedHook(fn func(cell string, duplicate bool)) (reset func()) {
	testHookPublished = fn
	return func() { testHookPublished = nil }
}

// SetNogoodsHook makes the nogoods recorder of every replica call fn after
// each look, with the premises withdrawn then and the nogoods it recorded,
// until the returned function is called. Tests that use it must not run in
// parallel.
func SetNogoodsHook(fn func(withdrawn []string, recorded [][]string)) (reset func()) {
	testHookNogoods = fn
	return func() { testHookNogoods = nil }
}

// CPUTime is the CPU time this process has used (0 where not measured).
var CPUTime = cpuTime

// SaveSnapshot writes the replica's local snapshot now.
func (r *Replica) SaveSnapshot() error { return r.saveSnapshot() }
