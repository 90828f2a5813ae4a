package op

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/dprop/dprop/lattice"
)

// NaturalType is the type an operation gives a cell that has none yet
// (neither declared nor fixed by an earlier update): inc → gcounter,
// dec → pncounter, add, remove and clear → orset, enable → flag,
// update → map, set and refine → the type of a value in wire form, and
// set of any other JSON → lww.
func (o Op) NaturalType() string {
	switch o.Name {
	case Inc:
		return lattice.TypeGCounter
	case Dec:
		return lattice.TypePNCounter
	case Add, Remove, Clear:
		if o.Name == Remove && o.Key != "" {
			return lattice.TypeMap
		}
		return lattice.TypeORSet
	case Enable:
		return lattice.TypeFlag
	case Update:
		return lattice.TypeMap
	case Set, Refine:
		if t := wireType(o.Value); t != "" {
			return t
		}
		if o.Name == Set {
			return lattice.TypeLWW
		}
	}
	return ""
}

// wireType is the "type" of a value in wire form, or "".
func wireType(raw json.RawMessage) string {
	var probe struct {
		Type string `json:"type"`
	}
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) && json.Unmarshal(raw, &probe) == nil && lattice.Known(probe.Type) {
		return probe.Type
	}
	return ""
}

// Delta returns the update that has o's effect on a cell of type typ
// ("" if it has none yet: o's NaturalType then) whose value, as writer
// sees it, is cur (nil or Nothing for none). now is the writer's clock in
// Unix milliseconds, used by set on an lww register. lim bounds the
// decoding of a value argument.
//
// The delta is the smallest update with the effect: inc is the writer's
// new count alone, add the new dots alone, remove the observed dots of the
// removed elements (as a causal context, with no elements). Merging it into
// cur gives the cell after the operation. A delta that adds nothing to cur
// (inc by 0, removing an absent element) is returned all the same: merging
// it changes nothing.
//
// Errors wrap ErrBad or ErrNotApplicable.
func (o Op) Delta(typ string, cur lattice.Value, writer string, now int64, lim lattice.Limits) (lattice.Value, error) {
	if cur == nil {
		cur = lattice.Nothing{}
	}
	if typ == "" {
		typ = o.NaturalType()
		if typ == "" {
			return nil, fmt.Errorf("%w: %q on a cell without a type: give the value in wire form", ErrBad, o.Name)
		}
	}
	if lattice.IsContradiction(cur) && o.Name != Set && o.Name != Refine {
		return nil, o.notFor(typ, "the cell is a contradiction: only set and refine apply")
	}
	if !lattice.IsNothing(cur) && !lattice.IsContradiction(cur) && cur.Type() != typ {
		return nil, fmt.Errorf("%w: the cell holds a %s, not a %s", ErrNotApplicable, cur.Type(), typ)
	}
	switch o.Name {
	case Inc, Dec:
		return o.count(typ, cur, writer)
	case Add, Remove, Clear:
		return o.membership(typ, cur, writer, now, lim)
	case Enable:
		if typ != lattice.TypeFlag {
			return nil, o.notFor(typ, "enable applies to a flag")
		}
		return lattice.Flag{Value: true}, nil
	case Update:
		if typ != lattice.TypeMap {
			return nil, o.notFor(typ, "update applies to a map")
		}
		inner := entry(cur, o.Key)
		d, err := o.With.Delta(typeOf(inner), inner, writer, now, lim)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", o.Key, err)
		}
		return lattice.NewMap(map[string]lattice.Value{o.Key: d}), nil
	case Set, Refine:
		return o.assign(typ, cur, writer, now, lim)
	}
	return nil, fmt.Errorf("%w: no such operation %q", ErrBad, o.Name)
}

func (o Op) notFor(typ, why string) error {
	return fmt.Errorf("%w: %s on a %s: %s", ErrNotApplicable, o.Name, typ, why)
}

// typeOf is v's type, "" for Nothing.
func typeOf(v lattice.Value) string {
	if lattice.IsNothing(v) {
		return ""
	}
	return v.Type()
}

// entry is the value at key of a map (Nothing when absent).
func entry(cur lattice.Value, key string) lattice.Value {
	if m, ok := cur.(*lattice.Map); ok {
		return m.Get(key)
	}
	return lattice.Nothing{}
}

// own is writer's count in cs.
func own(cs []lattice.Count, writer string) int64 {
	for _, c := range cs {
		if c.Writer == writer {
			return c.N
		}
	}
	return 0
}

// count is the delta of inc or dec: the writer's new total.
func (o Op) count(typ string, cur lattice.Value, writer string) (lattice.Value, error) {
	var mine []lattice.Count
	switch typ {
	case lattice.TypeGCounter:
		if o.Name == Dec {
			return nil, o.notFor(typ, "a gcounter only grows; declare the cell a pncounter to count down")
		}
		if g, ok := cur.(*lattice.GCounter); ok {
			mine = g.Counts()
		}
	case lattice.TypePNCounter:
		if p, ok := cur.(*lattice.PNCounter); ok {
			mine = p.Inc()
			if o.Name == Dec {
				mine = p.Dec()
			}
		}
	default:
		return nil, o.notFor(typ, "inc and dec apply to a gcounter or a pncounter")
	}
	n := own(mine, writer)
	if n > math.MaxInt64-o.By {
		return nil, fmt.Errorf("%w: %s by %d: this writer's count %d would pass 2^63-1: %w", ErrNotApplicable, o.Name, o.By, n, lattice.ErrOverflow)
	}
	counts := map[string]int64{writer: n + o.By}
	if typ == lattice.TypeGCounter {
		return lattice.NewGCounter(counts), nil
	}
	if o.Name == Dec {
		return lattice.NewPNCounter(nil, counts), nil
	}
	return lattice.NewPNCounter(counts, nil), nil
}

// membership is the delta of add, remove and clear.
func (o Op) membership(typ string, cur lattice.Value, writer string, now int64, lim lattice.Limits) (lattice.Value, error) {
	switch typ {
	case lattice.TypeSet:
		if o.Name != Add {
			return nil, o.notFor(typ, "a set only grows; declare the cell an orset to remove")
		}
		return lattice.NewSet(o.Elems...), nil
	case lattice.TypeORSet:
		s, _ := cur.(*lattice.ORSet)
		var delta lattice.Value = lattice.Nothing{}
		base := lattice.Value(lattice.Nothing{})
		if s != nil {
			base = s
		}
		els := o.Elems
		if o.Name == Clear {
			if s != nil {
				els = s.Elems()
			}
		}
		for _, e := range els {
			var d *lattice.ORSet
			bs, _ := base.(*lattice.ORSet)
			if o.Name == Add {
				d = bs.AddDelta(writer, e)
			} else {
				if bs == nil {
					continue
				}
				d = bs.RemoveDelta(e)
			}
			// Each element's delta builds on the previous ones: the next
			// add takes the next dot.
			base, _, _ = lattice.Merge(base, d)
			delta, _, _ = lattice.Merge(delta, d)
		}
		if lattice.IsNothing(delta) {
			return &lattice.ORSet{}, nil
		}
		return delta, nil
	case lattice.TypeMap:
		if o.Name != Remove || o.Key == "" {
			return nil, o.notFor(typ, "a map takes update and remove of a key")
		}
		inner := entry(cur, o.Key)
		if lattice.IsNothing(inner) {
			return lattice.NewMap(nil), nil
		}
		if inner.Type() != lattice.TypeORSet {
			return nil, o.notFor(typ, fmt.Sprintf("key %q holds a %s, which cannot be removed (a map keeps what it learnt; only an orset's elements can be, by clearing it)", o.Key, inner.Type()))
		}
		d, err := Op{Name: Clear}.membership(lattice.TypeORSet, inner, writer, now, lim)
		if err != nil {
			return nil, err
		}
		return lattice.NewMap(map[string]lattice.Value{o.Key: d}), nil
	}
	return nil, o.notFor(typ, "add applies to a set or an orset; remove and clear to an orset (remove of a key, to a map)")
}

// assign is the delta of set and refine.
func (o Op) assign(typ string, cur lattice.Value, writer string, now int64, lim lattice.Limits) (lattice.Value, error) {
	if typ == lattice.TypeLWW && o.Name == Set {
		// A hybrid logical clock: the wall clock, but always past the
		// register's timestamp, so that a later set here wins over every
		// earlier one, even if the clock stepped back.
		ts := now
		if l, ok := cur.(*lattice.LWW); ok && l.TS() >= ts {
			if l.TS() == math.MaxInt64 {
				return nil, fmt.Errorf("%w: the register's timestamp is at its largest: %w", ErrNotApplicable, lattice.ErrOverflow)
			}
			ts = l.TS() + 1
		}
		v, err := lattice.NewLWW(o.Value, ts, writer)
		if err != nil {
			return nil, fmt.Errorf("%w: set: value: %w", ErrBad, err)
		}
		return v, nil
	}
	if o.Name == Set {
		switch typ {
		case lattice.TypeMax, lattice.TypeMin, lattice.TypeNumber:
			if f, ok := number(o.Value); ok {
				switch typ {
				case lattice.TypeMax:
					return lattice.Max{Value: f}, nil
				case lattice.TypeMin:
					return lattice.Min{Value: f}, nil
				}
				return lattice.Number{Value: f}, nil
			}
		case lattice.TypeInterval, lattice.TypeRange:
		default:
			if wireType(o.Value) == "" {
				return nil, o.notFor(typ, "set applies to max, min, number, interval, range and lww (give a value in wire form to refine any cell)")
			}
		}
	}
	v, err := lim.Decode(o.Value)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: value: %w (want a lattice value in wire form%s)", ErrBad, o.Name, err, plainHint(typ))
	}
	if !lattice.IsNothing(v) && v.Type() != typ {
		return nil, fmt.Errorf("%w: %s: the value is a %s, the cell a %s", ErrNotApplicable, o.Name, v.Type(), typ)
	}
	return v, nil
}

func plainHint(typ string) string {
	switch typ {
	case lattice.TypeMax, lattice.TypeMin, lattice.TypeNumber:
		return ", or a plain number"
	}
	return ""
}

// number reads a plain JSON number.
func number(raw json.RawMessage) (float64, bool) {
	var n json.Number
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}
