package network

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// parser walks the YAML tree of a network file into a Network, recording
// every shape problem instead of stopping at the first.
type parser struct{ net *Network }

func (p *parser) problem(at Pos, format string, args ...any) {
	p.net.problems = append(p.net.problems, Problem{File: p.net.File, Pos: at, Msg: fmt.Sprintf(format, args...)})
}

func pos(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a string"
	}
	return "a document"
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// syntaxProblem turns a YAML decoding error into a positioned problem.
func syntaxProblem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.TrimPrefix(strings.Replace(msg, m[0], "", 1), ": ")
	}
	return Problem{File: file, Pos: Pos{Line: line}, Msg: "invalid YAML: " + msg}
}

// fields calls fn for each entry of mapping m, reporting non-string keys,
// duplicate keys and keys not in known (what names the mapping in messages).
func (p *parser) fields(m *yaml.Node, what string, known []string, fn func(key string, k, v *yaml.Node)) {
	seen := map[string]Pos{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := deref(m.Content[i]), deref(m.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.problem(pos(k), "%s: a field name must be a string, got %s", what, kindName(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.problem(pos(k), "%s: duplicate field %q (first at line %d)", what, k.Value, first.Line)
			continue
		}
		seen[k.Value] = pos(k)
		if !slices.Contains(known, k.Value) {
			p.problem(pos(k), "%s: unknown field %q (known: %s)", what, k.Value, strings.Join(known, ", "))
			continue
		}
		fn(k.Value, k, v)
	}
}

// str returns a scalar's text; it reports anything else.
func (p *parser) str(v *yaml.Node, what string) (string, bool) {
	if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
		p.problem(pos(v), "%s must be a string, got %s", what, kindName(v))
		return "", false
	}
	return v.Value, true
}

// list returns the strings of a list, or of a single string.
func (p *parser) list(v *yaml.Node, what string) ([]string, []Pos) {
	if v.Kind == yaml.ScalarNode && v.ShortTag() != "!!null" {
		return []string{v.Value}, []Pos{pos(v)}
	}
	if v.Kind != yaml.SequenceNode {
		p.problem(pos(v), "%s must be a list of cell names, got %s", what, kindName(v))
		return nil, nil
	}
	var out []string
	var at []Pos
	for _, item := range v.Content {
		item = deref(item)
		if s, ok := p.str(item, what+" entry"); ok {
			out = append(out, s)
			at = append(at, pos(item))
		}
	}
	return out, at
}

// top reads the file's top-level mapping.
func (p *parser) top(root *yaml.Node) {
	p.fields(root, "network", []string{"description", "cells", "propagators", "expire"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "description":
			p.net.Description, _ = p.str(v, "description")
		case "cells":
			p.each(v, "cells", p.cell)
		case "propagators":
			p.each(v, "propagators", p.propagator)
		case "expire":
			p.each(v, "expire", p.expire)
		}
	})
}

func (p *parser) expire(m *yaml.Node) {
	e := &ExpireDecl{Pos: pos(m)}
	p.fields(m, "expire", []string{"cells", "ttl"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "cells":
			e.Cells, _ = p.str(v, "expire cells")
			e.cellsPos = pos(v)
		case "ttl":
			e.TTL, _ = p.str(v, "ttl")
			e.ttlPos = pos(v)
		}
	})
	p.net.Expire = append(p.net.Expire, e)
}

// each calls fn on every mapping of the list v.
func (p *parser) each(v *yaml.Node, what string, fn func(*yaml.Node)) {
	if v.Kind != yaml.SequenceNode {
		p.problem(pos(v), "%s must be a list, got %s", what, kindName(v))
		return
	}
	for _, item := range v.Content {
		item = deref(item)
		if item.Kind != yaml.MappingNode {
			p.problem(pos(item), "%s: each entry must be a mapping, got %s", what, kindName(item))
			continue
		}
		fn(item)
	}
}

var cellFields = []string{"name", "type", "value", "description", "of", "premises"}

func (p *parser) cell(m *yaml.Node) {
	c := &CellDecl{Pos: pos(m)}
	p.fields(m, "cell", cellFields, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			c.Name, _ = p.str(v, "cell name")
			c.namePos = pos(v)
		case "type":
			c.Type, _ = p.str(v, "cell type")
			c.typePos = pos(v)
		case "value":
			c.valueNode = v
		case "description":
			c.Description, _ = p.str(v, "description")
		case "of":
			c.Of, _ = p.str(v, "cell inner type (of)")
			c.ofPos = pos(v)
		case "premises":
			c.Premises, _ = p.list(v, "premises")
			c.premPos = pos(v)
		}
	})
	p.net.Cells = append(p.net.Cells, c)
}

var propagatorFields = []string{"kind", "name", "group", "description", "inputs", "outputs", "params"}

func (p *parser) propagator(m *yaml.Node) {
	d := &PropagatorDecl{Pos: pos(m)}
	p.fields(m, "propagator", propagatorFields, func(key string, k, v *yaml.Node) {
		switch key {
		case "kind":
			d.Kind, _ = p.str(v, "kind")
			d.kindPos = pos(v)
		case "name":
			d.Name, _ = p.str(v, "propagator name")
			d.namePos = pos(v)
		case "group":
			d.Group, _ = p.str(v, "group")
		case "description":
			d.Description, _ = p.str(v, "description")
		case "inputs":
			d.Inputs, d.inputPos = p.list(v, "inputs")
			d.inputsPos = pos(k)
		case "outputs":
			d.Outputs, d.outputPos = p.list(v, "outputs")
			d.outputsPos = pos(k)
		case "params":
			d.paramsPos = pos(k)
			p.params(d, v)
		}
	})
	p.net.Propagators = append(p.net.Propagators, d)
}

func (p *parser) params(d *PropagatorDecl, v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		p.problem(pos(v), "params must be a mapping, got %s", kindName(v))
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := deref(v.Content[i]), deref(v.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.problem(pos(k), "params: a parameter name must be a string, got %s", kindName(k))
			continue
		}
		if i := slices.IndexFunc(d.params, func(q param) bool { return q.name == k.Value }); i >= 0 {
			p.problem(pos(k), "params: duplicate parameter %q (first at line %d)", k.Value, d.params[i].pos.Line)
			continue
		}
		d.params = append(d.params, param{name: k.Value, pos: pos(k), node: val})
	}
}
