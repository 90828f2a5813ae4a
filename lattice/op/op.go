package op

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/dprop/dprop/lattice"
)

// Errors of Parse and Delta; each error returned wraps one of them.
var (
	// ErrBad: the operation is malformed (not JSON, an unknown operation,
	// a missing or ill-typed argument, a negative "by"). Nothing is
	// published.
	ErrBad = errors.New("bad operation")
	// ErrNotApplicable: the operation makes no sense for the cell's type
	// (dec on a gcounter, add on a max) or its state (anything but set or
	// refine on a contradiction). Nothing is published.
	ErrNotApplicable = errors.New("operation not applicable to the cell")
)

// Names of the operations.
const (
	Inc    = "inc"
	Dec    = "dec"
	Add    = "add"
	Remove = "remove"
	Clear  = "clear"
	Set    = "set"
	Enable = "enable"
	Update = "update"
	Refine = "refine"
)

// maxNesting bounds how deep update operations nest.
const maxNesting = 8

// Op is one operation.
type Op struct {
	// Name is one of the operation names (Inc, Dec, ...).
	Name string
	// By is the amount of an inc or dec (≥ 0; 1 when not given).
	By int64
	// Value is the argument of set and refine as it was sent: a number, a
	// lattice value in wire form, or (for an lww register) any JSON.
	Value json.RawMessage
	// Elems are the elements of add and remove on a set or orset.
	Elems []lattice.Elem
	// Key is the map key of update and of remove on a map.
	Key string
	// With is the operation update applies at Key.
	With *Op
}

// wire is the JSON form of an operation.
type wire struct {
	Op    string            `json:"op"`
	By    *json.Number      `json:"by,omitempty"`
	Value json.RawMessage   `json:"value,omitempty"`
	Elems []json.RawMessage `json:"elems,omitempty"`
	Elem  json.RawMessage   `json:"elem,omitempty"`
	Key   *string           `json:"key,omitempty"`
	With  json.RawMessage   `json:"with,omitempty"`
}

// Parse reads an operation. lim bounds the number of elements (MaxElems)
// and the size (MaxBytes); its zero fields mean lattice.DefaultLimits'.
// A refusal wraps ErrBad.
func Parse(data []byte, lim lattice.Limits) (Op, error) {
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = lattice.DefaultLimits.MaxBytes
	}
	if lim.MaxElems <= 0 {
		lim.MaxElems = lattice.DefaultLimits.MaxElems
	}
	if len(data) > lim.MaxBytes {
		return Op{}, fmt.Errorf("%w: %d bytes, limit %d", ErrBad, len(data), lim.MaxBytes)
	}
	if o, ok := parseShort(data); ok {
		return o, nil
	}
	return parse(data, lim, 0)
}

// parseShort reads the forms MarshalJSON writes for the operations that
// take no argument but "by" — {"op":"inc"}, {"op":"inc","by":5},
// {"op":"enable"} — exactly, and reports false for anything else, which
// parse reads in full. A hot counter's increments then cost no
// encoding/json decoder: parse took 2 µs and 10 allocations for
// {"op":"inc"}, and a seventh of the CPU of a sidecar serving increments
// over NATS. FuzzParseShort holds the two to the same answers.
func parseShort(data []byte) (Op, bool) {
	rest, ok := bytes.CutPrefix(data, []byte(`{"op":"`))
	if !ok {
		return Op{}, false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return Op{}, false
	}
	o := Op{}
	switch string(rest[:end]) {
	case Inc:
		o = Op{Name: Inc, By: 1}
	case Dec:
		o = Op{Name: Dec, By: 1}
	case Clear:
		o.Name = Clear
	case Enable:
		o.Name = Enable
	default:
		return Op{}, false
	}
	rest = rest[end+1:]
	if string(rest) == "}" {
		return o, true
	}
	digits, ok := bytes.CutPrefix(rest, []byte(`,"by":`))
	if !ok || o.By == 0 {
		return Op{}, false
	}
	digits, ok = bytes.CutSuffix(digits, []byte("}"))
	// At most 18 digits fit an int64; a leading zero is not JSON.
	if !ok || len(digits) == 0 || len(digits) > 18 || (digits[0] == '0' && len(digits) > 1) {
		return Op{}, false
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return Op{}, false
		}
		n = 10*n + int64(c-'0')
	}
	o.By = n
	return o, true
}

func parse(data []byte, lim lattice.Limits, depth int) (Op, error) {
	if depth > maxNesting {
		return Op{}, fmt.Errorf("%w: update operations nested more than %d deep", ErrBad, maxNesting)
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return Op{}, fmt.Errorf("%w: %v (want an object such as {\"op\":\"inc\",\"by\":1})", ErrBad, err)
	}
	if dec.More() {
		return Op{}, fmt.Errorf("%w: more than one JSON value", ErrBad)
	}
	o := Op{Name: w.Op, Value: w.Value}
	bad := func(format string, args ...any) (Op, error) {
		return Op{}, fmt.Errorf("%w: %s: %s", ErrBad, strconv.Quote(o.Name), fmt.Sprintf(format, args...))
	}
	// only checks that no argument but those allowed was given.
	only := func(allowed ...string) error {
		given := map[string]bool{"by": w.By != nil, "value": w.Value != nil, "elems": w.Elems != nil || w.Elem != nil,
			"key": w.Key != nil, "with": w.With != nil}
		for name, ok := range given {
			if ok && !contains(allowed, name) {
				_, err := bad("takes no %q", name)
				return err
			}
		}
		return nil
	}
	var err error
	switch o.Name {
	case Inc, Dec:
		if err = only("by"); err != nil {
			return Op{}, err
		}
		o.By = 1
		if w.By != nil {
			n, perr := strconv.ParseInt(w.By.String(), 10, 64)
			if perr != nil || n < 0 {
				return bad("by must be an integer from 0 to %d, not %s (to count down, use dec on a pncounter)", int64(math.MaxInt64), w.By.String())
			}
			o.By = n
		}
	case Add:
		if err = only("elems"); err != nil {
			return Op{}, err
		}
		if o.Elems, err = elems(w, lim); err != nil {
			return bad("%v", err)
		}
	case Remove:
		if w.Key != nil {
			if err = only("key"); err != nil {
				return Op{}, err
			}
			o.Key = *w.Key
			break
		}
		if err = only("elems"); err != nil {
			return Op{}, err
		}
		if o.Elems, err = elems(w, lim); err != nil {
			return bad("%v", err)
		}
	case Clear, Enable:
		if err = only(); err != nil {
			return Op{}, err
		}
	case Set, Refine:
		if err = only("value"); err != nil {
			return Op{}, err
		}
		if w.Value == nil {
			return bad("needs a value")
		}
	case Update:
		if err = only("key", "with"); err != nil {
			return Op{}, err
		}
		if w.Key == nil || w.With == nil {
			return bad(`needs a key and an operation: {"op":"update","key":"k","with":{"op":"inc"}}`)
		}
		inner, err := parse(w.With, lim, depth+1)
		if err != nil {
			return Op{}, fmt.Errorf("with: %w", err)
		}
		o.Key, o.With = *w.Key, &inner
	case "":
		return Op{}, fmt.Errorf(`%w: no "op" (want one of inc, dec, add, remove, clear, set, enable, update, refine)`, ErrBad)
	default:
		return bad("no such operation (want one of inc, dec, add, remove, clear, set, enable, update, refine)")
	}
	return o, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// elems reads the elements of add or remove: "elems" (an array) or
// "elem" (one), each a string or a finite number.
func elems(w wire, lim lattice.Limits) ([]lattice.Elem, error) {
	raw := w.Elems
	if w.Elem != nil {
		if w.Elems != nil {
			return nil, errors.New(`give "elem" or "elems", not both`)
		}
		raw = []json.RawMessage{w.Elem}
	}
	if len(raw) == 0 {
		return nil, errors.New(`needs elements: "elems":["a","b"]`)
	}
	if len(raw) > lim.MaxElems {
		return nil, fmt.Errorf("%d elements, limit %d", len(raw), lim.MaxElems)
	}
	out := make([]lattice.Elem, 0, len(raw))
	for i, r := range raw {
		e, err := elem(r)
		if err != nil {
			return nil, fmt.Errorf("elems[%d]: %w", i, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func elem(r json.RawMessage) (lattice.Elem, error) {
	var s string
	if json.Unmarshal(r, &s) == nil {
		return lattice.Str(s), nil
	}
	var n json.Number
	if json.Unmarshal(r, &n) == nil {
		f, err := strconv.ParseFloat(n.String(), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return lattice.Elem{}, fmt.Errorf("%s is not a finite number", n)
		}
		return lattice.Num(f), nil
	}
	return lattice.Elem{}, fmt.Errorf("%s: an element is a string or a number", bytes.TrimSpace(r))
}

// MarshalJSON encodes the operation canonically: the same operation gives
// the same bytes, whatever spacing or field order it was sent with, so a
// hash of it tells a retry from another operation.
func (o Op) MarshalJSON() ([]byte, error) {
	b := []byte(`{"op":`)
	b = strconv.AppendQuote(b, o.Name)
	switch o.Name {
	case Inc, Dec:
		b = append(b, `,"by":`...)
		b = strconv.AppendInt(b, o.By, 10)
	case Set, Refine:
		var buf bytes.Buffer
		if err := json.Compact(&buf, o.Value); err != nil {
			return nil, fmt.Errorf("op: value: %w", err)
		}
		b = append(b, `,"value":`...)
		b = append(b, buf.Bytes()...)
	case Update:
		inner, err := o.With.MarshalJSON()
		if err != nil {
			return nil, err
		}
		b = append(b, `,"key":`...)
		b = strconv.AppendQuote(b, o.Key)
		b = append(b, `,"with":`...)
		b = append(b, inner...)
	}
	if o.Name == Remove && o.Key != "" {
		b = append(b, `,"key":`...)
		b = strconv.AppendQuote(b, o.Key)
	}
	if len(o.Elems) > 0 {
		b = append(b, `,"elems":[`...)
		for i, e := range o.Elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.AppendJSON(b)
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}
