package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/dprop/dprop/cellname"
)

// Bounds of a Why.
const (
	DefaultWhyDepth   = 3
	MaxWhyDepth       = 16
	DefaultWhyChanges = 10  // changes listed per cell
	MaxWhyChanges     = 100 // the most a query may ask per cell
	maxWhyNodes       = 500 // changes in one answer, all levels together
)

// ErrBadWhyQuery is wrapped by Why's refusal of a depth or a number of
// changes out of bounds.
var ErrBadWhyQuery = errors.New("bad why query")

// WhyQuery bounds an explanation.
type WhyQuery struct {
	// Depth is how many levels of derivation to follow: 1 lists the
	// cell's changes and the values of the inputs each was derived from;
	// 2 also explains those inputs, and so on. Default DefaultWhyDepth, at
	// most MaxWhyDepth.
	Depth int
	// Changes bounds the changes listed per cell, newest first (default
	// DefaultWhyChanges, at most MaxWhyChanges).
	Changes int
}

func (q *WhyQuery) validate() error {
	switch {
	case q.Depth == 0:
		q.Depth = DefaultWhyDepth
	case q.Depth < 0 || q.Depth > MaxWhyDepth:
		return fmt.Errorf("%w: depth %d: want 1 to %d", ErrBadWhyQuery, q.Depth, MaxWhyDepth)
	}
	switch {
	case q.Changes == 0:
		q.Changes = DefaultWhyChanges
	case q.Changes < 0 || q.Changes > MaxWhyChanges:
		return fmt.Errorf("%w: changes %d: want 1 to %d", ErrBadWhyQuery, q.Changes, MaxWhyChanges)
	}
	return nil
}

// Why explains a cell's value from the log: the changes that made it what
// it is, newest first, and for each change a propagator derived, the inputs
// it read with their values then, each explained in turn down to the
// query's depth. The tree ends at updates written from outside (no
// propagator), at a compaction's rollup (which joins what came before), or
// at the depth.
type Why struct {
	Cell string `json:"cell"`
	// AsOf is the stream sequence the explanation is as of: the sequence
	// of the input's value its derivation read (0 for the cell as it is
	// now).
	AsOf uint64 `json:"as_of,omitempty"`
	// Value is the cell's value as of AsOf.
	Value   json.RawMessage `json:"value"`
	Changes []WhyChange     `json:"changes"`
	// More says that older changes were left out (Changes, or the bound
	// of 500 changes in one answer).
	More bool `json:"more,omitempty"`
}

// WhyChange is one update that changed the cell.
type WhyChange struct {
	Seq        uint64          `json:"seq"`
	Time       time.Time       `json:"time"`
	Writer     string          `json:"writer,omitempty"`
	Propagator string          `json:"propagator,omitempty"`
	Rollup     bool            `json:"rollup,omitempty"`
	Update     json.RawMessage `json:"update"`
	Value      json.RawMessage `json:"value"` // the cell's value after it
	Inputs     []WhyInput      `json:"inputs,omitempty"`
}

// WhyInput is one input a propagator read: its value as of the sequence
// it read, and (within the depth) why it held that. Seq 0 means the input
// was empty when read: its value is Nothing, and Why is nil.
type WhyInput struct {
	Cell  string          `json:"cell"`
	Seq   uint64          `json:"seq"`
	Value json.RawMessage `json:"value"`
	Why   *Why            `json:"why,omitempty"`
}

// Why explains cell from the log (see the type Why). It reads the log of
// every cell it explains once, so it works the same on any replica of the
// stream, whichever ran the propagators.
func (r *Replica) Why(ctx context.Context, cell string, q WhyQuery) (*Why, error) {
	if err := cellname.Validate(cell); err != nil {
		return nil, err
	}
	if err := q.validate(); err != nil {
		return nil, err
	}
	w := &whyBuilder{r: r, ctx: ctx, q: q, logs: map[string][]HistoryEntry{}}
	return w.explain(cell, 0, q.Depth)
}

type whyBuilder struct {
	r     *Replica
	ctx   context.Context
	q     WhyQuery
	logs  map[string][]HistoryEntry // a cell's history, oldest first
	nodes int
}

func (w *whyBuilder) history(cell string) ([]HistoryEntry, error) {
	if h, ok := w.logs[cell]; ok {
		return h, nil
	}
	h, err := w.r.History(w.ctx, cell, HistoryQuery{})
	if err != nil {
		return nil, fmt.Errorf("why %q: reading the log of %q: %w", cell, cell, err)
	}
	w.logs[cell] = h
	return h, nil
}

// explain explains cell as of sequence asOf (0: now), depth levels deep.
func (w *whyBuilder) explain(cell string, asOf uint64, depth int) (*Why, error) {
	h, err := w.history(cell)
	if err != nil {
		return nil, err
	}
	limit := asOf
	if limit == 0 {
		limit = math.MaxUint64
	}
	out := &Why{Cell: cell, AsOf: asOf, Value: json.RawMessage(`{"type":"nothing"}`), Changes: []WhyChange{}}
	end := len(h)
	for end > 0 && h[end-1].Seq > limit {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if h[i].Value != nil {
			out.Value = h[i].Value
			break
		}
	}
	for i := end - 1; i >= 0; i-- {
		e := h[i]
		if !e.Changed {
			continue
		}
		if len(out.Changes) == w.q.Changes || w.nodes >= maxWhyNodes {
			out.More = true
			break
		}
		w.nodes++
		c := WhyChange{Seq: e.Seq, Time: e.Time, Writer: e.Writer, Propagator: e.Propagator, Rollup: e.Rollup, Update: e.Update, Value: e.Value}
		for _, in := range e.Inputs {
			wi := WhyInput{Cell: in.Cell, Seq: in.Seq}
			switch {
			case in.Seq == 0: // the input was empty when read: nothing to explain
				wi.Value = json.RawMessage(`{"type":"nothing"}`)
			case depth > 1:
				if wi.Why, err = w.explain(in.Cell, in.Seq, depth-1); err != nil {
					return nil, err
				}
				wi.Value = wi.Why.Value
			default:
				if wi.Value, err = w.valueAt(in.Cell, in.Seq); err != nil {
					return nil, err
				}
			}
			c.Inputs = append(c.Inputs, wi)
		}
		out.Changes = append(out.Changes, c)
	}
	return out, nil
}

// valueAt returns cell's value after the last update at or before seq.
func (w *whyBuilder) valueAt(cell string, seq uint64) (json.RawMessage, error) {
	h, err := w.history(cell)
	if err != nil {
		return nil, err
	}
	i, _ := slices.BinarySearchFunc(h, seq+1, func(e HistoryEntry, s uint64) int {
		switch {
		case e.Seq < s:
			return -1
		case e.Seq > s:
			return 1
		}
		return 0
	})
	for i--; i >= 0; i-- {
		if h[i].Value != nil {
			return h[i].Value, nil
		}
	}
	return json.RawMessage(`{"type":"nothing"}`), nil
}
