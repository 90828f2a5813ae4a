package network

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
)

// A Template is a propagator declared over patterns: one instance runs per
// binding of its captures, made when a cell that matches one of its inputs
// appears. weather.<city>.temp_f → weather.<city>.temp_c makes one linear
// propagator per city. An aggregate whose input has a wildcard
// (weather.*.temp_c → weather.hottest) has one instance per binding of its
// captures (one, with none), whose inputs grow with every matching cell.
//
// A Template is immutable and safe for concurrent use.
type Template struct {
	decl     *PropagatorDecl
	k        *kind
	name     string // the name instances are named after
	ins      []pattern
	outs     []pattern
	inTypes  []string
	outTypes []string
	params   map[string]any
	captures []string // in order of first appearance in the inputs
	fp       string
	// supIn and supOut mark the inputs and outputs over supported cells:
	// an instance computes on their inner types (inTypes, outTypes) and
	// runs under propagators.OnSupported.
	supIn, supOut []bool
}

// Name names the template: its declared name, or one derived from its kind
// and patterns.
func (t *Template) Name() string { return t.name }

// Group is the template's group ("" for none).
func (t *Template) Group() string { return t.decl.Group }

// Decl is the template's declaration.
func (t *Template) Decl() *PropagatorDecl { return t.decl }

// Kind is the template's kind.
func (t *Template) Kind() string { return t.k.name }

// Inputs and Outputs are the patterns as written.
func (t *Template) Inputs() []string { return t.decl.Inputs }

// Outputs are the output patterns as written.
func (t *Template) Outputs() []string { return t.decl.Outputs }

// Match reports whether cell matches an input of t that binds every
// capture, and if so which instance it belongs to (key: the captured
// tokens joined by dots; "" when t has no captures). grows says that cell
// is a wildcard input of the instance: an aggregate's, to add to the
// instance's inputs when the instance exists already.
func (t *Template) Match(cell string) (key string, grows, ok bool) {
	vals := make([]string, len(t.captures))
	for _, p := range t.ins {
		if p.ncaps != len(t.captures) && len(t.captures) > 0 {
			continue
		}
		if !p.match(cell, func(c, v string) { vals[slices.Index(t.captures, c)] = v }) {
			continue
		}
		if len(t.captures) == 0 && !p.hasWild() {
			continue // a concrete input of an aggregate: no instance of its own
		}
		return strings.Join(vals, "."), p.hasWild(), true
	}
	return "", false, false
}

// Instance returns the propagator of the instance key (from Match), its
// wildcard inputs being first (a cell that matches them, from Match; ""
// for none: the runtime adds them as they appear). Its name is the
// template's with the captures substituted, or followed by [values] when
// the name does not mention every capture.
func (t *Template) Instance(key, first string) (propagators.Propagator, error) {
	vals := map[string]string{}
	if len(t.captures) > 0 {
		toks := strings.Split(key, ".")
		if len(toks) != len(t.captures) {
			return nil, fmt.Errorf("template %s: instance %q: want %d captured tokens", t.name, key, len(t.captures))
		}
		for i, c := range t.captures {
			vals[c] = toks[i]
		}
	}
	s := &spec{name: t.InstanceName(key), params: t.params}
	for i, p := range t.ins {
		if p.hasWild() {
			if first != "" && p.match(first, nil) {
				s.in = append(s.in, propagators.Cell{Name: first, Type: t.inTypes[i]})
			}
			continue
		}
		s.in = append(s.in, propagators.Cell{Name: p.subst(vals), Type: t.inTypes[i]})
	}
	if len(s.in) == 0 {
		return nil, fmt.Errorf("template %s: instance %q has no input yet", t.name, key)
	}
	var sup []string
	for _, c := range s.in {
		if t.supIn[slices.IndexFunc(t.ins, func(p pattern) bool { return p.match(c.Name, nil) })] {
			sup = append(sup, c.Name)
		}
	}
	for i, p := range t.outs {
		s.out = append(s.out, propagators.Cell{Name: p.subst(vals), Type: t.outTypes[i]})
		if t.supOut[i] {
			sup = append(sup, p.subst(vals))
		}
	}
	p, err := t.k.build(s)
	if err != nil || len(sup) == 0 {
		return p, err
	}
	return propagators.OnSupported(p, sup), nil
}

// InstanceName is the name of the instance key's propagator.
func (t *Template) InstanceName(key string) string {
	if len(t.captures) == 0 {
		return t.name
	}
	toks := strings.Split(key, ".")
	name, all := t.name, true
	for i, c := range t.captures {
		if i >= len(toks) || !strings.Contains(name, "<"+c+">") {
			all = false
			break
		}
		name = strings.ReplaceAll(name, "<"+c+">", toks[i])
	}
	if all {
		return name
	}
	return t.name + "[" + strings.Join(toks, ",") + "]"
}

// template checks what a propagator declared over patterns must obey,
// beyond what a concrete one must: captures bound by the inputs, outputs
// that tell instances apart, wildcards only into aggregates. It returns
// the template, without its name and parameters, or nil.
func (c *checker) template(d *PropagatorDecl, k *kind) *Template {
	t := &Template{decl: d, k: k}
	ok := true
	for i, name := range d.Inputs {
		p, err := parsePattern(name, true)
		if err != nil {
			return nil // reported by refs
		}
		if p.hasWild() && !k.agg {
			c.problem(d.inputPos[i], "%s cannot take the wildcard input %q: only the aggregates hull, max, min and union follow every matching cell", k.name, name)
			ok = false
		}
		for _, cp := range p.captures() {
			if !slices.Contains(t.captures, cp) {
				t.captures = append(t.captures, cp)
			}
		}
		t.ins = append(t.ins, p)
		t.inTypes = append(t.inTypes, c.typeOf(name))
		t.supIn = append(t.supIn, c.isSupported(name))
	}
	for i, p := range t.ins {
		if caps := p.captures(); len(caps) > 0 && len(caps) < len(t.captures) {
			missing := slices.DeleteFunc(slices.Clone(t.captures), func(x string) bool { return slices.Contains(caps, x) })
			c.problem(d.inputPos[i], "input %q does not capture <%s>: every input with captures must capture all of the propagator's (%s), or it could not tell which instance a cell belongs to",
				p.text, missing[0], captureList(t.captures))
			ok = false
		}
	}
	for i, name := range d.Outputs {
		p, err := parsePattern(name, false)
		if err != nil {
			c.problem(d.outputPos[i], "output: %v", err)
			ok = false
			continue
		}
		caps := p.captures()
		for _, cp := range caps {
			if !slices.Contains(t.captures, cp) {
				c.problem(d.outputPos[i], "output %q uses <%s>, which no input captures: an output may use only captured names", name, cp)
				ok = false
			}
		}
		for _, cp := range t.captures {
			if !slices.Contains(caps, cp) {
				c.problem(d.outputPos[i], "output %q does not use <%s>: the instances for different values of <%s> would collide on it (to aggregate them, write * in the input instead)", name, cp, cp)
				ok = false
			}
		}
		t.outs = append(t.outs, p)
		t.outTypes = append(t.outTypes, c.typeOf(name))
		t.supOut = append(t.supOut, c.isSupported(name))
	}
	if ok && len(t.captures) == 0 && !slices.ContainsFunc(t.ins, pattern.hasWild) {
		c.problem(d.Pos, "propagator: no input has a capture or a wildcard, so no cell would make an instance")
		ok = false
	}
	if !ok {
		return nil
	}
	return t
}

func captureList(caps []string) string {
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = "<" + c + ">"
	}
	return strings.Join(out, ", ")
}

// cellTemplate is a cell declaration over a pattern: the type of every
// cell it matches.
type cellTemplate struct {
	pat  pattern
	decl *CellDecl
}

// templateCell checks a cell declared over a pattern.
func (c *checker) templateCell(d *CellDecl) bool {
	p, err := parsePattern(d.Name, false)
	if err != nil {
		c.problem(d.namePos, "%v", err)
		return false
	}
	if i := slices.IndexFunc(c.tcells, func(t cellTemplate) bool { return t.pat.text == d.Name }); i >= 0 {
		c.problem(d.namePos, "duplicate cell %q (first declared at line %d)", d.Name, c.tcells[i].decl.namePos.Line)
		return false
	}
	if d.valueNode != nil {
		c.problem(pos(d.valueNode), "cell %q: a cell declared over a pattern takes no initial value", d.Name)
	}
	c.tcells = append(c.tcells, cellTemplate{pat: p, decl: d})
	return true
}

// typeConflicts reports declarations that give one cell two types: a
// concrete cell a pattern matches, or two patterns that overlap.
func (c *checker) typeConflicts() {
	for i, t := range c.tcells {
		if c.broken[t.decl.Name] {
			continue
		}
		for _, d := range c.net.Cells {
			if isTemplateName(d.Name) || c.broken[d.Name] || d.Type == t.decl.Type || !t.pat.match(d.Name, nil) {
				continue
			}
			c.problem(d.typePos, "type conflict: cell %q is declared %s, but %q (line %d) declares every cell it matches %s",
				d.Name, d.Type, t.decl.Name, t.decl.namePos.Line, t.decl.Type)
		}
		for _, u := range c.tcells[:i] {
			if !c.broken[u.decl.Name] && u.decl.Type != t.decl.Type && u.pat.overlaps(t.pat) {
				c.problem(t.decl.typePos, "type conflict: %q (%s) and %q (line %d, %s) can match the same cell",
					t.decl.Name, t.decl.Type, u.decl.Name, u.decl.namePos.Line, u.decl.Type)
			}
		}
	}
}

// resolveTemplate finds the declaration of the cells a name matches: the
// first cell pattern that covers it ("" if none).
func (c *checker) resolveTemplate(name string) (*CellDecl, bool) {
	p, err := parsePattern(name, true)
	if err != nil {
		return nil, false
	}
	for _, t := range c.tcells {
		if p.covers(t.pat) {
			return t.decl, true
		}
	}
	return nil, false
}

// typeOf is the declared type of a cell or pattern ("" if unknown).
func (c *checker) typeOf(name string) string {
	d, ok := c.cells[name]
	if !ok {
		d, ok = c.resolveTemplate(name)
	}
	switch {
	case !ok:
		return ""
	case d.Type == lattice.TypeSupported:
		return d.Of // an instance computes on the inner values
	}
	return d.Type
}

// isSupported reports whether the cell or pattern name is declared
// supported.
func (c *checker) isSupported(name string) bool {
	d, ok := c.cells[name]
	if !ok {
		d, ok = c.resolveTemplate(name)
	}
	return ok && d.Type == lattice.TypeSupported
}
