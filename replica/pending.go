package replica

import (
	"slices"
	"strings"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/fold"
)

// This file keeps the replica's pending updates: those taken into its
// outbox (outbox.go) that it has not folded from the log yet, and those
// the log acknowledged that the fold had not passed within
// Config.OutboxAfter (held, see Refine). Reads see the log's state merged
// with them, so a sidecar cut off from its brokers, or whose fold lags,
// still reads its own writes; once the log has acknowledged an update and
// the fold has passed it, the log's value includes it and it leaves the
// set.

// pendingSet is the pending updates by cell. It is guarded by the
// replica's fold lock (r.mu), like the fold itself, so that a watcher sees
// a pending change and the log's changes in one order.
type pendingSet struct {
	cells map[string]*pendingCell
	ids   map[uint64]string // outbox id → cell
	msgs  map[string]uint64 // message id → outbox id
	// acked are the updates the log has acknowledged, in the order
	// acknowledged, waiting for the fold to pass their sequence;
	// isAcked the same by id.
	acked   []ackedUpdate
	isAcked map[uint64]bool
	// nextHeld numbers the held updates, from heldIDBase.
	nextHeld uint64
}

// heldIDBase is the first id of a held update: the outbox numbers its
// updates from 1, so the two never meet.
const heldIDBase = 1 << 63

type pendingCell struct {
	updates []pendingUpdate
	value   lattice.Value // the join of the updates' values
	nAcked  int           // how many of updates the log has acknowledged
}

type pendingUpdate struct {
	id    uint64
	msgID string
	v     lattice.Value
	// keys is the Dprop-Op-Keys header of a held update, seq its stream
	// sequence (heldKey).
	keys string
	seq  uint64
}

type ackedUpdate struct{ id, seq uint64 }

func newPendingSet() *pendingSet {
	return &pendingSet{cells: map[string]*pendingCell{}, ids: map[uint64]string{}, msgs: map[string]uint64{}, isAcked: map[uint64]bool{}}
}

// ackedSeq returns the stream sequence of the pending update with message
// id msgID if the log has acknowledged it.
func (p *pendingSet) ackedSeq(msgID string) (uint64, bool) {
	id, ok := p.msgs[msgID]
	if !ok || !p.isAcked[id] {
		return 0, false
	}
	for _, a := range p.acked {
		if a.id == id {
			return a.seq, true
		}
	}
	return 0, false
}

// hasMsgID says whether an update with message id msgID is pending.
func (p *pendingSet) hasMsgID(msgID string) bool {
	_, ok := p.msgs[msgID]
	return ok
}

// add records an update of cell taken into the outbox under id, published
// with message id msgID.
func (p *pendingSet) add(cell string, id uint64, msgID string, v lattice.Value) {
	pc := p.cells[cell]
	if pc == nil {
		pc = &pendingCell{value: lattice.Nothing{}}
		p.cells[cell] = pc
	}
	pc.updates = append(pc.updates, pendingUpdate{id: id, msgID: msgID, v: v})
	if merged, _, err := lattice.Merge(pc.value, v); err == nil {
		pc.value = merged
	}
	p.ids[id] = cell
	if _, ok := p.msgs[msgID]; msgID != "" && !ok {
		p.msgs[msgID] = id
	}
}

// hold adds an update of cell that the log acknowledged at stream
// sequence seq and the fold has not passed yet, published with message id
// msgID and Dprop-Op-Keys keys: it leaves the set once the fold passes
// seq (folded), as an update of the outbox does once delivered.
func (p *pendingSet) hold(cell, msgID, keys string, v lattice.Value, seq uint64) {
	id := heldIDBase + p.nextHeld
	p.nextHeld++
	p.add(cell, id, msgID, v)
	pc := p.cells[cell]
	u := &pc.updates[len(pc.updates)-1]
	u.keys, u.seq = keys, seq
	p.ack(id, seq)
}

// heldKey returns the idempotency key id (a key's message id without its
// prefix, see HeaderOpKeys) as a held update of operations carries it,
// like the index of keys does once the update is folded.
func (p *pendingSet) heldKey(id string) (opKey, bool) {
	oid, ok := p.msgs[keyIDPrefix+id]
	if !ok || oid < heldIDBase {
		return opKey{}, false
	}
	pc := p.cells[p.ids[oid]]
	if pc == nil {
		return opKey{}, false
	}
	for _, u := range pc.updates {
		if u.id != oid {
			continue
		}
		for _, k := range strings.Split(u.keys, ",") {
			if kid, hash, ok := strings.Cut(k, ":"); ok && kid == id {
				return opKey{seq: u.seq, hash: hash}, true
			}
		}
	}
	return opKey{}, false
}

// ack notes that the log acknowledged update id at stream sequence seq.
// acked stays in the order of sequences: a refine held (hold) may be
// acknowledged after the outbox's drain acknowledged later sequences.
func (p *pendingSet) ack(id, seq uint64) {
	cell, ok := p.ids[id]
	if !ok || p.isAcked[id] {
		return
	}
	p.acked = append(p.acked, ackedUpdate{id: id, seq: seq})
	for i := len(p.acked) - 1; i > 0 && p.acked[i-1].seq > seq; i-- {
		p.acked[i-1], p.acked[i] = p.acked[i], p.acked[i-1]
	}
	p.isAcked[id] = true
	if pc := p.cells[cell]; pc != nil {
		pc.nAcked++
	}
}

// undelivered says whether cell has pending updates the log has not
// acknowledged yet.
func (p *pendingSet) undelivered(cell string) bool {
	pc := p.cells[cell]
	return pc != nil && len(pc.updates) > pc.nAcked
}

// replace makes v the value of pending update id: the update was
// computed again when it was delivered (rebase.go).
func (p *pendingSet) replace(id uint64, v lattice.Value) {
	pc := p.cells[p.ids[id]]
	if pc == nil {
		return
	}
	for i := range pc.updates {
		if pc.updates[i].id == id {
			pc.updates[i].v = v
		}
	}
	pc.rejoin()
}

// folded drops the acknowledged updates the fold has passed (done is the
// last sequence folded) and returns the cells they were of. Cheap when
// there are none: it is called after every fold.
func (p *pendingSet) folded(done uint64) (cells []string) {
	for len(p.acked) > 0 && p.acked[0].seq <= done {
		if c, ok := p.ids[p.acked[0].id]; ok && !slices.Contains(cells, c) {
			cells = append(cells, c)
		}
		p.drop(p.acked[0].id)
		p.acked = p.acked[1:]
	}
	if len(p.acked) == 0 {
		p.acked = nil
	}
	return cells
}

// drop removes update id.
func (p *pendingSet) drop(id uint64) {
	cell, ok := p.ids[id]
	if !ok {
		return
	}
	delete(p.ids, id)
	pc := p.cells[cell]
	if pc == nil {
		return
	}
	if p.isAcked[id] {
		delete(p.isAcked, id)
		pc.nAcked--
	}
	pc.updates = slices.DeleteFunc(pc.updates, func(u pendingUpdate) bool {
		if u.id == id && p.msgs[u.msgID] == id {
			delete(p.msgs, u.msgID)
		}
		return u.id == id
	})
	if len(pc.updates) == 0 {
		delete(p.cells, cell)
		return
	}
	pc.rejoin()
}

// rejoin makes the cell's value the join of its updates again.
func (pc *pendingCell) rejoin() {
	var joined lattice.Value = lattice.Nothing{}
	for _, u := range pc.updates {
		if merged, _, err := lattice.Merge(joined, u.v); err == nil {
			joined = merged
		}
	}
	pc.value = joined
}

// forget drops every pending update of cell: the cell was forgotten, and
// what the outbox still delivers starts it afresh in the log.
func (p *pendingSet) forget(cell string) {
	pc := p.cells[cell]
	if pc == nil {
		return
	}
	for _, u := range pc.updates {
		delete(p.ids, u.id)
		delete(p.msgs, u.msgID)
		delete(p.isAcked, u.id)
	}
	delete(p.cells, cell)
}

// view returns the cell as the log has it (c, ok from the fold) merged
// with its pending updates, and whether it exists in either. A pending
// value that does not fit the log's type (another replica typed the cell
// first; the log will refuse the update) is left out.
func (p *pendingSet) view(name string, c fold.Cell, ok bool) (fold.Cell, bool) {
	pc := p.cells[name]
	if pc == nil {
		return c, ok
	}
	if !ok {
		c = fold.Cell{Name: name, Value: lattice.Nothing{}}
	}
	merged, _, err := lattice.Merge(c.Value, pc.value)
	if err != nil {
		return c, ok
	}
	c.Value = merged
	if c.Type == "" {
		c.Type = merged.Type()
	}
	c.Pending = len(pc.updates)
	c.ETag = fold.ETag(merged)
	return c, true
}

// check refuses v for cell when it does not fit the cell's pending value
// (a type the pending updates did not give it): the pending view could not
// show it.
func (p *pendingSet) check(cell string, v lattice.Value) error {
	pc := p.cells[cell]
	if pc == nil {
		return nil
	}
	if _, _, err := lattice.Merge(pc.value, v); err != nil {
		return &fold.RefusedError{Cell: cell, Reason: fold.ReasonOf(err), Err: err}
	}
	return nil
}

// only returns, sorted, the names of the cells with pending updates that
// the log has none of yet (core has no such cell), that start with prefix
// and sort after after.
func (p *pendingSet) only(core *fold.Core, prefix, after string) []string {
	var out []string
	for name := range p.cells {
		if name > after && strings.HasPrefix(name, prefix) {
			if _, ok := core.Get(name); !ok {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out
}
