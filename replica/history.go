package replica

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/replica/fold"
)

// HistoryEntry is one update of a cell as the log keeps it.
type HistoryEntry struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Origin is the Dprop-Origin header, when the writer set one.
	Origin string `json:"origin,omitempty"`
	// Propagator is the Dprop-Propagator header: the propagator whose
	// refinement this is, if one's.
	Propagator string `json:"propagator,omitempty"`
	// Writer is who wrote the update: the signer when it is signed, else
	// the origin ("" for an update that names neither, such as a plain
	// nats pub).
	Writer string `json:"writer,omitempty"`
	// Inputs are the Dprop-Inputs header: the inputs the propagator read,
	// each with the sequence of the value it read.
	Inputs []propagators.InputRef `json:"inputs,omitempty"`
	// Signer is the Dprop-Signer header, when the update names one:
	// whether its signature counted is the trust policy's business (see
	// Refused).
	Signer string `json:"signer,omitempty"`
	// Update is the payload as published: JSON when it parses, else a
	// JSON string holding the raw bytes.
	Update json.RawMessage `json:"update"`
	// Changed reports whether the update added information.
	Changed bool `json:"changed"`
	// Value is the cell's value after the update (absent when refused).
	Value json.RawMessage `json:"value,omitempty"`
	// Refused is the reason the update was refused, and Error the detail.
	Refused string `json:"refused,omitempty"`
	Error   string `json:"error,omitempty"`
	// Rollup marks a compaction's message: the join of everything before.
	Rollup bool `json:"rollup,omitempty"`
	// Forgotten marks a forget marker: the cell was forgotten there (Update
	// is the marker's body: who asked and why, or the TTL of an expiry),
	// and what follows starts it afresh.
	Forgotten bool `json:"forgotten,omitempty"`
}

// HistoryQuery selects the part of a cell's history to return.
type HistoryQuery struct {
	// Since drops entries older than this (zero: from the start).
	Since time.Time
	// Limit bounds the number of entries (0: no bound).
	Limit int
}

// History returns the updates of cell from the log, oldest first: each with
// its sequence, time, origin and signer, whether it changed the cell and
// the value after it, and refused updates with the reason (folded under
// the replica's trust policy, as the replica folds). Values after are computed
// by folding the whole log of the cell, so entries past Since are exact.
// After compaction the log starts with the rollup.
func (r *Replica) History(ctx context.Context, cell string, q HistoryQuery) ([]HistoryEntry, error) {
	if err := cellname.Validate(cell); err != nil {
		return nil, err
	}
	var declared map[string]string
	if t := r.cfg.Declared[cell]; t != "" {
		declared = map[string]string{cell: t}
	}
	core := fold.NewCore(r.cfg.Prefix, declared, r.cfg.foldLimits())
	var out []HistoryEntry
	_, err := scan(ctx, r.js, r.cfg.Stream, r.subjects.Any(cell), func(m jetstream.Msg, meta *jetstream.MsgMetadata) bool {
		msg := messageOf(m, meta)
		h := m.Headers()
		res := core.ApplyMessage(msg)
		if meta.Timestamp.Before(q.Since) {
			return true
		}
		e := HistoryEntry{Seq: msg.Seq, Time: meta.Timestamp, Update: rawOrString(m.Data()), Changed: res.Changed, Rollup: msg.Rollup,
			Propagator: msg.Propagator, Signer: short(msg.Signer, maxPropagatorHeader), Forgotten: res.Forgotten}
		if h != nil {
			e.Origin = short(h.Get(HeaderOrigin), maxPropagatorHeader)
			e.Inputs, _ = propagators.ParseInputs(short(h.Get(HeaderInputs), maxInputsHeader))
		}
		e.Writer = cmp.Or(e.Signer, e.Origin)
		var re *fold.RefusedError
		if errors.As(res.Err, &re) {
			e.Refused, e.Error = re.Reason, re.Err.Error()
		} else {
			e.Value = lattice.Encode(res.Value)
		}
		out = append(out, e)
		return q.Limit <= 0 || len(out) < q.Limit
	})
	return out, err
}

// maxInputsHeader bounds the Dprop-Inputs header a history reads (a
// longer one did not come from dprop; it is cut, and ParseInputs then
// likely refuses it, leaving no inputs).
const maxInputsHeader = 64 << 10

// rawOrString returns b when it is valid JSON, else b as a JSON string.
func rawOrString(b []byte) json.RawMessage {
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	s, _ := json.Marshal(string(b))
	return s
}

// short cuts s to at most n bytes (a header kept for people to read).
func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
