package propagators

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dprop/dprop/lattice"
)

// The cells of truth maintenance, shared by every network of a stream.
const (
	// WorldviewCell holds which premises are withdrawn: a map of premise
	// → lww register of a JSON boolean (false: withdrawn, true: believed
	// again). A premise it does not name is believed. Being a lattice
	// value in the log like any cell, every replica ends with the same
	// worldview.
	WorldviewCell = "_dprop.worldview"
	// NogoodsCell holds the nogoods found so far: a grow-only set of
	// premise sets (each written lattice.PremiseSetKey: "a,b"), each a set
	// of premises that cannot all hold.
	NogoodsCell = "_dprop.nogoods"
)

// Worldview says which premises are believed: all but the withdrawn ones.
// The zero value believes every premise.
type Worldview struct {
	withdrawn []string // sorted, distinct
}

// WorldviewOf reads the value of WorldviewCell (Nothing: every premise is
// believed). An entry whose register holds false withdraws its premise;
// anything else (true, or a value that is not a boolean) leaves it
// believed.
func WorldviewOf(v lattice.Value) Worldview {
	m, ok := v.(*lattice.Map)
	if !ok {
		return Worldview{}
	}
	var w Worldview
	for _, e := range m.Entries() {
		if r, ok := e.Value.(*lattice.LWW); ok && string(r.Raw()) == "false" {
			w.withdrawn = append(w.withdrawn, e.Key)
		}
	}
	return w
}

// NewWorldview returns the worldview that withdraws the given premises.
func NewWorldview(withdrawn ...string) Worldview {
	w := slices.Clone(withdrawn)
	slices.Sort(w)
	return Worldview{withdrawn: slices.Compact(w)}
}

// Believes reports whether premise p is believed.
func (w Worldview) Believes(p string) bool {
	_, found := slices.BinarySearch(w.withdrawn, p)
	return !found
}

// Withdrawn returns the withdrawn premises, sorted (caller must not modify).
func (w Worldview) Withdrawn() []string { return w.withdrawn }

// With returns the worldview that also withdraws out and believes in: a
// hypothetical one, for a "what if" read.
func (w Worldview) With(out, in []string) Worldview {
	var ws []string
	for _, p := range w.withdrawn {
		if !slices.Contains(in, p) {
			ws = append(ws, p)
		}
	}
	return NewWorldview(append(ws, out...)...)
}

// Consequence returns the strongest consequence of a cell's value under w:
// for a supported value, lattice.Supported.Consequence; any other value is
// its own consequence, resting on no premise.
func (w Worldview) Consequence(v lattice.Value) lattice.Consequence {
	if s, ok := v.(*lattice.Supported); ok {
		return s.Consequence(w.Believes)
	}
	if v == nil {
		v = lattice.Nothing{}
	}
	return lattice.Consequence{Value: v}
}

// Inconsistent returns the nogoods w believes wholly: if any, the worldview
// holds premises that cannot all be true.
func (w Worldview) Inconsistent(nogoods [][]string) [][]string {
	var out [][]string
	for _, ng := range nogoods {
		if !slices.ContainsFunc(ng, func(p string) bool { return !w.Believes(p) }) {
			out = append(out, ng)
		}
	}
	return out
}

// ParseWorldview reads a "what if" change of a worldview: a comma-separated
// list of premises, each prefixed with "-" (withdraw it) or "+" (believe it
// again), as in "-superintendent,+fall-time"; a premise without a sign is
// believed (in a URL's query a "+" arrives as a space). It returns what to
// withdraw and what to believe; a bad premise name is an error naming it.
func ParseWorldview(s string) (out, in []string, err error) {
	if s == "" {
		return nil, nil, nil
	}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		sign, p := item[0], item[1:]
		if sign != '-' && sign != '+' {
			// A "+" in a URL's query decodes to a space, trimmed above.
			sign, p = '+', item
		}
		if err := lattice.ValidatePremise(p); err != nil {
			return nil, nil, fmt.Errorf("worldview %q: %w", s, err)
		}
		if sign == '-' {
			out = append(out, p)
		} else {
			in = append(in, p)
		}
	}
	return out, in, nil
}

// PremiseUpdate returns the refinement of WorldviewCell that withdraws
// premise p (believed false) or believes it again (true), written at ts
// (Unix milliseconds, customarily) by writer: the later write wins.
func PremiseUpdate(p string, believed bool, ts int64, writer string) (lattice.Value, error) {
	if err := lattice.ValidatePremise(p); err != nil {
		return nil, err
	}
	raw := []byte("false")
	if believed {
		raw = []byte("true")
	}
	r, err := lattice.NewLWW(raw, ts, writer)
	if err != nil {
		return nil, err
	}
	return lattice.NewMap(map[string]lattice.Value{p: r}), nil
}

// PremiseState is what the worldview cell says of one premise.
type PremiseState struct {
	Premise  string `json:"premise"`
	Believed bool   `json:"believed"`
	// TS and Writer are those of the last withdrawal or restoration (0
	// and "" when the premise was never withdrawn).
	TS     int64  `json:"ts,omitempty"`
	Writer string `json:"writer,omitempty"`
}

// PremiseStates lists what the worldview cell's value v says of each
// premise it names, plus the premises of known that it does not name
// (believed), sorted by premise.
func PremiseStates(v lattice.Value, known []string) []PremiseState {
	var out []PremiseState
	seen := map[string]bool{}
	if m, ok := v.(*lattice.Map); ok {
		for _, e := range m.Entries() {
			st := PremiseState{Premise: e.Key, Believed: true}
			if r, ok := e.Value.(*lattice.LWW); ok {
				st.Believed = string(r.Raw()) != "false"
				st.TS, st.Writer = r.TS(), r.Writer()
			}
			seen[e.Key] = true
			out = append(out, st)
		}
	}
	for _, p := range known {
		if !seen[p] {
			seen[p] = true
			out = append(out, PremiseState{Premise: p, Believed: true})
		}
	}
	slices.SortFunc(out, func(a, b PremiseState) int { return strings.Compare(a.Premise, b.Premise) })
	return out
}

// NogoodsOf reads the value of NogoodsCell: the premise sets recorded as
// nogoods, each sorted, in the set's order.
func NogoodsOf(v lattice.Value) [][]string {
	s, ok := v.(*lattice.Set)
	if !ok {
		return nil
	}
	var out [][]string
	for _, e := range s.Elems() {
		if e.IsString() && e.String() != "" {
			out = append(out, lattice.ParsePremiseSetKey(e.String()))
		}
	}
	return out
}

// NogoodUpdate returns the refinement of NogoodsCell that records premises
// as a nogood.
func NogoodUpdate(premises []string) lattice.Value {
	return lattice.NewSet(lattice.Str(lattice.PremiseSetKey(premises)))
}
