package network

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dprop/dprop/lattice"
	"go.yaml.in/yaml/v3"
)

// Network is a parsed network file: cells and propagators as declared.
// Parse fills it; Check validates it; Build turns it into propagators.
// A Network is not safe for concurrent use until Check has returned.
type Network struct {
	// File is the name positions refer to.
	File string
	// Description is the file's optional description.
	Description string
	Cells       []*CellDecl
	Propagators []*PropagatorDecl
	// Expire gives patterns of cells a time to live: a cell no update has
	// refined for that long is forgotten (see docs/networks.md).
	Expire []*ExpireDecl

	problems  []Problem // found by Parse
	checked   bool
	built     []builtProp
	templates []*Template
	checkErr  error
}

// Pos is a position in a network file (1-based; Col 0 when unknown).
type Pos struct{ Line, Col int }

// CellDecl declares a cell.
type CellDecl struct {
	Name        string
	Type        string
	Description string
	// Value is the initial value, nil when none. Check decodes it.
	Value lattice.Value
	Pos   Pos // of the entry
	// Of is the inner type of a supported cell (type: supported), and
	// Premises the premises its initial value rests on: a value written
	// in the inner type is one claim on them (see docs/provenance.md).
	Of       string
	Premises []string

	namePos, typePos Pos
	valueNode        *yaml.Node
	ofPos, premPos   Pos
}

// PropagatorDecl declares a propagator.
type PropagatorDecl struct {
	Kind        string
	Name        string // as written; "" when the name is derived
	Group       string
	Description string
	Inputs      []string
	Outputs     []string
	Pos         Pos // of the entry

	kindPos, namePos, inputsPos, outputsPos, paramsPos Pos
	inputPos, outputPos                                []Pos
	params                                             []param
}

// ExpireDecl gives the cells matching a pattern a time to live.
type ExpireDecl struct {
	Cells string
	TTL   string // as written, a Go duration such as 24h; Check parses it
	Pos   Pos    // of the entry

	cellsPos, ttlPos Pos
	ttl              time.Duration
}

// param is one entry of a propagator's params mapping.
type param struct {
	name string
	pos  Pos // of the key
	node *yaml.Node
}

// Problem is one thing wrong with a network file.
type Problem struct {
	File string
	Pos  Pos
	Msg  string
}

func (p Problem) String() string {
	if p.Pos.Col > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Pos.Line, p.Pos.Col, p.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Pos.Line, p.Msg)
}

// Problems is every problem found in a network file, in file order. It is
// the error Parse, Check and Build return.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads and parses a network file. See Parse.
func Load(path string) (*Network, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses a network file. It returns an error (Problems) only when the
// data is not a YAML mapping; every other problem, including fields of the
// wrong shape, is reported by Check, all at once. name is the file name
// positions refer to.
func Parse(name string, data []byte) (*Network, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Problems{syntaxProblem(name, err)}
	}
	n := &Network{File: name}
	p := &parser{net: n}
	if len(doc.Content) == 0 {
		return nil, Problems{{File: name, Pos: Pos{1, 1}, Msg: "empty network file: want a mapping with cells and propagators"}}
	}
	root := deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, Problems{{File: name, Pos: pos(root), Msg: "a network file is a mapping with cells and propagators, got " + kindName(root)}}
	}
	p.top(root)
	return n, nil
}
