package replica

import (
	"strings"
	"time"
)

// opKeyIndex remembers the idempotency keys of the operations folded
// (HeaderOpKeys) for the stream's duplicate window, by the time the stream
// stored them: a retry that finds its key here is a duplicate, answered
// without publishing. It is guarded by Replica.mu, written by the fold.
type opKeyIndex struct {
	byID  map[string]opKey
	order []opKeyAt // in fold order, for expiry
}

type opKey struct {
	seq  uint64
	hash string
}

type opKeyAt struct {
	id string
	at int64 // the stream's time of the update, Unix nanoseconds
}

// record notes the keys of header hdr, on the update folded at seq, stored
// at time at, and forgets those stored more than window before it.
func (x *opKeyIndex) record(hdr string, seq uint64, at int64, window time.Duration) {
	if x.byID == nil {
		x.byID = map[string]opKey{}
	}
	for _, kv := range strings.Split(hdr, ",") {
		id, hash, ok := strings.Cut(kv, ":")
		if !ok || id == "" || len(kv) > 128 {
			continue // not dprop's: ignored
		}
		if _, seen := x.byID[id]; seen {
			continue // the first update under a key is the one it names
		}
		x.byID[id] = opKey{seq: seq, hash: hash}
		x.order = append(x.order, opKeyAt{id, at})
	}
	n := 0
	for n < len(x.order) && x.order[n].at < at-int64(window) {
		delete(x.byID, x.order[n].id)
		n++
	}
	if n > 0 {
		x.order = append(x.order[:0], x.order[n:]...)
	}
}

// get returns what the index knows of key id.
func (x *opKeyIndex) get(id string) (opKey, bool) {
	k, ok := x.byID[id]
	return k, ok
}

// dupWindow is the stream's duplicate window, as of the latest attach.
func (r *Replica) dupWindow() time.Duration {
	if d := time.Duration(r.dupWin.Load()); d > 0 {
		return d
	}
	return defaultDupWindow
}
