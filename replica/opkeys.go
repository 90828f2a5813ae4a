package replica

import (
	"strings"
	"time"
)

// opKeyIndex remembers the idempotency keys of the operations folded
// (HeaderOpKeys) for the stream's duplicate window, by the time the stream
// stored them: a retry that finds its key here is a duplicate, answered
// without publishing. It is guarded by Replica.mu, written by the fold,
// and kept in the local snapshot (export, restore): a replica restarted
// from its snapshot folds only what came after, and the stream itself
// forgets a key whose update a compaction dropped once its server
// restarts (JetStream rebuilds its duplicate ids from the messages it
// still holds).
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
// at time at, and forgets those stored more than window before it, or
// before keep if that is earlier (keep, when not 0, is a time from which
// keys are kept whatever the window: see keysKeptSince).
func (x *opKeyIndex) record(hdr string, seq uint64, at int64, window time.Duration, keep int64) {
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
	cutoff := at
	if keep > 0 && keep < cutoff {
		cutoff = keep
	}
	cutoff -= int64(window)
	n := 0
	for n < len(x.order) && x.order[n].at < cutoff {
		delete(x.byID, x.order[n].id)
		n++
	}
	if n > 0 {
		x.order = append(x.order[:0], x.order[n:]...)
	}
}

// maxSnapshotKeys bounds the keys a local snapshot keeps, the newest: at
// about 100 bytes each, its header line then stays well within what
// ReadSnapshot reads (SnapshotLimits), even at a sustained 8,000 keyed
// operations a second through one sidecar for a two-minute window.
const maxSnapshotKeys = 1 << 20

// export returns the keys of the index, oldest first, for the local
// snapshot (nil if none): the newest maxSnapshotKeys.
func (x *opKeyIndex) export() []SnapshotOpKey {
	if len(x.order) == 0 {
		return nil
	}
	order := x.order[max(0, len(x.order)-maxSnapshotKeys):]
	out := make([]SnapshotOpKey, 0, len(order))
	for _, o := range order {
		if k, ok := x.byID[o.id]; ok {
			out = append(out, SnapshotOpKey{ID: o.id, Hash: k.hash, Seq: k.seq, At: o.at})
		}
	}
	return out
}

// restore takes in keys from a local snapshot (export), before anything
// is folded. They expire as the ones folded do: once the stream's time of
// the updates folded after them is a duplicate window past theirs.
func (x *opKeyIndex) restore(keys []SnapshotOpKey) {
	for _, k := range keys {
		if k.ID == "" || len(k.ID)+len(k.Hash) > 128 {
			continue
		}
		if x.byID == nil {
			x.byID = map[string]opKey{}
		}
		if _, seen := x.byID[k.ID]; seen {
			continue
		}
		x.byID[k.ID] = opKey{seq: k.Seq, hash: k.Hash}
		x.order = append(x.order, opKeyAt{k.ID, k.At})
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
