// Package graph draws a network of cells and propagators: as DOT, for
// people who have Graphviz, and as SVG laid out here, for the sidecar's web
// page and for docs (dprop network graph).
//
// Cells are boxes (name, type, value), propagators rounded boxes (name,
// kind and group, and a line the web page fills with run counts), and an
// edge goes from each input cell to its propagator and from the
// propagator to each output cell. Every element the page updates live has
// an id and a class (see SVG), so the drawing is made once per network and
// only its texts change.
//
// The layout is gonum's force-directed EadesR2 (gonum.org/v1/gonum/graph/
// layout), made deterministic by a fixed seed, then turned so that edges
// run left to right on the whole and spread so that no two boxes overlap.
// Graphviz's dot would draw layered pictures, but its pure-Go binding
// (github.com/goccy/go-graphviz, Graphviz compiled to WebAssembly) costs
// every dprop process, whatever the command, about 2.7 s of compiling at
// start and 50 MB, adds 9.6 MB to the binary, and caches native code in a
// shared temporary directory that any local user could write first: see
// docs/ui.md.
package graph

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators/network"
)

// Graph is a network as drawn: its cells and propagators. It is immutable
// once made, and safe for concurrent use.
type Graph struct {
	// File is the network file's name, Description its description.
	File, Description string
	Cells             []Cell
	Propagators       []Propagator
}

// Cell is a declared cell.
type Cell struct {
	Name        string          `json:"cell"`
	Type        string          `json:"type"`
	Description string          `json:"description,omitempty"`
	Initial     json.RawMessage `json:"initial,omitempty"` // the initial value in wire form, if declared
}

// Propagator is a declared propagator.
type Propagator struct {
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	Group       string   `json:"group,omitempty"`
	Description string   `json:"description,omitempty"`
	Inputs      []string `json:"inputs"`
	Outputs     []string `json:"outputs"`
}

// FromNetwork returns the graph of a network that checks (its Problems
// otherwise).
func FromNetwork(n *network.Network) (*Graph, error) {
	b, err := n.Build()
	if err != nil {
		return nil, err
	}
	if len(b.Propagators)+len(b.Templates) != len(n.Propagators) {
		return nil, errors.New("graph: the built network does not match its declarations") // unreachable once checked
	}
	g := &Graph{File: n.File, Description: n.Description}
	for _, c := range n.Cells {
		gc := Cell{Name: c.Name, Type: c.Type, Description: c.Description}
		if c.Value != nil {
			gc.Initial = lattice.Encode(c.Value)
		}
		g.Cells = append(g.Cells, gc)
	}
	// Templates are drawn over their patterns, as written.
	ps, ts := b.Propagators, b.Templates
	for _, d := range n.Propagators {
		var name string
		if len(ts) > 0 && ts[0].Decl() == d {
			name, ts = ts[0].Name(), ts[1:]
		} else {
			name, ps = ps[0].Name(), ps[1:]
		}
		g.Propagators = append(g.Propagators, Propagator{Name: name, Kind: d.Kind, Group: d.Group,
			Description: d.Description, Inputs: d.Inputs, Outputs: d.Outputs})
	}
	return g, nil
}

// cellIndex maps each cell's name to its index.
func (g *Graph) cellIndex() map[string]int {
	idx := make(map[string]int, len(g.Cells))
	for i, c := range g.Cells {
		idx[c.Name] = i
	}
	return idx
}

// edges returns the edges as pairs of node indexes: cells are 0..len(Cells)-1,
// propagator i is len(Cells)+i. An edge a cell names twice is drawn once.
func (g *Graph) edges() [][2]int {
	idx := g.cellIndex()
	seen := map[[2]int]bool{}
	var out [][2]int
	add := func(e [2]int) {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	for i, p := range g.Propagators {
		pi := len(g.Cells) + i
		for _, in := range p.Inputs {
			if c, ok := idx[in]; ok {
				add([2]int{c, pi})
			}
		}
		for _, o := range p.Outputs {
			if c, ok := idx[o]; ok {
				add([2]int{pi, c})
			}
		}
	}
	return out
}

// label is the second line of a propagator: its kind and group.
func (p Propagator) label() string {
	if p.Group == "" {
		return p.Kind
	}
	return fmt.Sprintf("%s · %s", p.Kind, p.Group)
}
