package network

import (
	"encoding/json"
	"fmt"

	"github.com/dprop/dprop/lattice"
)

// LogDef is a network kept in the log: the value of its last-writer-wins
// cell _dprop.network.<name> (fold.NetworkCells), whose register holds
// this as JSON, or null once the network is removed.
type LogDef struct {
	Name   string `json:"name"`
	File   string `json:"file,omitempty"` // where it was applied from, for messages
	Source string `json:"source"`         // the network file's text
}

// DecodeLogDef reads a network's cell: its definition, or nil once
// removed (or never applied).
func DecodeLogDef(v lattice.Value) (*LogDef, error) {
	l, ok := v.(*lattice.LWW)
	if !ok {
		if lattice.IsNothing(v) {
			return nil, nil
		}
		return nil, fmt.Errorf("a network cell holds %s, want an lww register", v.Type())
	}
	if string(l.Raw()) == "null" {
		return nil, nil
	}
	var d LogDef
	if err := json.Unmarshal(l.Raw(), &d); err != nil {
		return nil, fmt.Errorf("a network cell's value: %w", err)
	}
	return &d, nil
}

// Build parses and checks a definition; name is what positions refer to.
func (d *LogDef) Build(name string) (*Network, *Built, error) {
	n, err := Parse(name, []byte(d.Source))
	if err != nil {
		return nil, nil, err
	}
	b, err := n.Build()
	return n, b, err
}

// LogDeclarations returns the cell declarations (exact names, then cell
// patterns in file order) of the network a network cell's value holds,
// for a replica's fold (fold.Limits.Networks); nil when the cell holds no
// network, or one that does not check (such a network declares nothing).
// It depends only on v, as the fold needs.
func LogDeclarations(v lattice.Value) func(cell string) (string, bool) {
	d, err := DecodeLogDef(v)
	if err != nil || d == nil {
		return nil
	}
	_, b, err := d.Build(d.Name)
	if err != nil || (len(b.Types) == 0 && len(b.Patterns) == 0) {
		return nil
	}
	return b.TypeOf
}
