package network

import (
	"crypto/sha256"
	"encoding/hex"

	"cmp"
	"errors"
	"fmt"
	"go.yaml.in/yaml/v3"
	"slices"
	"strings"
	"time"

	"github.com/dprop/dprop/cellname"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
)

// builtProp is a propagator that passed the checks, with its declaration.
type builtProp struct {
	decl *PropagatorDecl
	p    propagators.Propagator
	fp   string
}

// checker validates a network, collecting every problem.
type checker struct {
	net      *Network
	problems Problems
	cells    map[string]*CellDecl
	broken   map[string]bool // declared without a usable type
	built    []builtProp
	tcells   []cellTemplate // cells declared over patterns
	tmpls    []*Template
}

func (c *checker) problem(at Pos, format string, args ...any) {
	c.problems = append(c.problems, Problem{File: c.net.File, Pos: at, Msg: fmt.Sprintf(format, args...)})
}

// Check validates the network and returns every problem at once (a
// Problems, in file order), or nil. It reports: fields of the wrong shape;
// bad, duplicate and undeclared cell names; unknown cell types; initial
// values that do not decode or whose type differs from the cell's; unknown
// kinds; wrong numbers of inputs or outputs; missing, unknown and invalid
// parameters; cells whose types a kind does not accept; duplicate
// propagator names. The result is cached.
func (n *Network) Check() error {
	if n.checked {
		return n.checkErr
	}
	c := &checker{net: n, problems: slices.Clone(n.problems), cells: map[string]*CellDecl{}, broken: map[string]bool{}}
	for _, d := range n.Cells {
		c.cell(d)
	}
	c.typeConflicts()
	names := map[string]Pos{}
	for _, d := range n.Propagators {
		c.propagator(d, names)
	}
	for _, e := range n.Expire {
		c.expire(e)
	}
	slices.SortStableFunc(c.problems, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	n.checked, n.built, n.templates = true, c.built, c.tmpls
	if len(c.problems) > 0 {
		n.checkErr = c.problems
	}
	return n.checkErr
}

// expire checks an expiry: a valid pattern and a positive duration.
func (c *checker) expire(e *ExpireDecl) {
	switch {
	case e.Cells == "" && e.cellsPos == Pos{}:
		c.problem(e.Pos, "expire: missing field \"cells\" (a cell pattern, such as sensors.>)")
	case e.Cells != "":
		if err := cellname.ValidatePattern(e.Cells); err != nil {
			c.problem(e.cellsPos, "expire: %v", err)
		}
	}
	if e.TTL == "" && e.ttlPos == (Pos{}) {
		c.problem(e.Pos, "expire %s: missing field \"ttl\" (a duration, such as 24h)", e.Cells)
		return
	}
	d, err := time.ParseDuration(e.TTL)
	if err != nil || d <= 0 {
		c.problem(e.ttlPos, "expire %s: ttl %q: want a positive duration such as 90s, 30m or 24h", e.Cells, e.TTL)
		return
	}
	e.ttl = d
}

// cellTypes are the types a cell may be declared with.
func cellTypes() []string {
	var ts []string
	for _, t := range lattice.Types() {
		if t != lattice.TypeNothing && t != lattice.TypeContradiction {
			ts = append(ts, t)
		}
	}
	return ts
}

func (c *checker) cell(d *CellDecl) {
	switch {
	case d.Name == "" && d.namePos == Pos{}:
		c.problem(d.Pos, "cell: missing field \"name\"")
	case isTemplateName(d.Name):
		c.templateCell(d)
	case d.Name != "":
		if err := cellname.Validate(d.Name); err != nil {
			c.problem(d.namePos, "%v", err)
		}
		if first, dup := c.cells[d.Name]; dup {
			c.problem(d.namePos, "duplicate cell %q (first declared at line %d)", d.Name, first.namePos.Line)
		} else {
			c.cells[d.Name] = d // even when the name is bad: one report is enough
		}
	}
	switch {
	case d.Type == "" && d.typePos == Pos{}:
		c.problem(d.Pos, "cell %q: missing field \"type\"", d.Name)
		c.broken[d.Name] = true
		return
	case !slices.Contains(cellTypes(), d.Type):
		c.problem(d.typePos, "cell %q: unknown type %q (known: %s)", d.Name, d.Type, strings.Join(cellTypes(), ", "))
		c.broken[d.Name] = true
		return
	}
	if !c.supported(d) || d.valueNode == nil {
		return
	}
	if d.Type == lattice.TypeSupported {
		c.supportedValue(d)
		return
	}
	v, err := decodeValue(d.valueNode, d.Type)
	switch {
	case err != nil:
		c.problem(pos(d.valueNode), "cell %q: initial value: %v", d.Name, err)
	case v.Type() != d.Type:
		c.problem(pos(d.valueNode), "cell %q: the initial value is %s, but the cell is declared %s", d.Name, lattice.Encode(v), d.Type)
	default:
		d.Value = v
	}
}

// supported checks the fields of a supported cell (of, premises), and that
// other cells have none; it reports whether the cell is usable.
func (c *checker) supported(d *CellDecl) bool {
	if d.Type != lattice.TypeSupported {
		if d.Of != "" || d.ofPos != (Pos{}) {
			c.problem(d.ofPos, "cell %q: \"of\" is for supported cells (type: supported), this one is %s", d.Name, d.Type)
		}
		if d.premPos != (Pos{}) {
			c.problem(d.premPos, "cell %q: \"premises\" are for supported cells (type: supported), this one is %s", d.Name, d.Type)
		}
		return true
	}
	inner := slices.DeleteFunc(cellTypes(), func(t string) bool { return t == lattice.TypeSupported })
	switch {
	case d.Of == "" && d.ofPos == Pos{}:
		c.problem(d.Pos, "cell %q: a supported cell needs \"of\", the type of its values (known: %s)", d.Name, strings.Join(inner, ", "))
		c.broken[d.Name] = true
		return false
	case !slices.Contains(inner, d.Of):
		c.problem(d.ofPos, "cell %q: unknown inner type %q (known: %s)", d.Name, d.Of, strings.Join(inner, ", "))
		c.broken[d.Name] = true
		return false
	}
	for _, p := range d.Premises {
		if err := lattice.ValidatePremise(p); err != nil {
			c.problem(d.premPos, "cell %q: %v", d.Name, decodeMessage(err))
		}
	}
	return true
}

// supportedValue decodes the initial value of a supported cell: the wire
// form of a supported value (type: supported), or a value of the inner
// type, which becomes one claim on the cell's premises.
func (c *checker) supportedValue(d *CellDecl) {
	v, err := decodeValue(d.valueNode, d.Of)
	if err == nil && v.Type() == d.Of {
		v, err = lattice.Support(v, d.Premises...)
	}
	switch {
	case err != nil:
		c.problem(pos(d.valueNode), "cell %q: initial value: %v", d.Name, decodeMessage(err))
	case v.Type() != lattice.TypeSupported:
		c.problem(pos(d.valueNode), "cell %q: the initial value is %s, but the cell holds supported %s", d.Name, lattice.Encode(v), d.Of)
	default:
		if of := v.(*lattice.Supported).Of(); of != "" && of != d.Of {
			c.problem(pos(d.valueNode), "cell %q: the initial value's claims are %s, but the cell holds supported %s", d.Name, of, d.Of)
			return
		}
		d.Value = v
	}
}

func (c *checker) propagator(d *PropagatorDecl, names map[string]Pos) {
	what := "propagator"
	if d.Name != "" {
		what = fmt.Sprintf("propagator %q", d.Name)
	}
	k := kindNamed(d.Kind)
	switch {
	case d.Kind == "" && d.kindPos == Pos{}:
		c.problem(d.Pos, "%s: missing field \"kind\"", what)
	case k == nil:
		c.problem(d.kindPos, "%s: unknown kind %q (known: %s)", what, d.Kind, strings.Join(kindNames(), ", "))
	}
	s := &spec{name: d.Name, params: map[string]any{}}
	inOK := c.refs(d.Inputs, d.inputPos, &s.in)
	outOK := c.refs(d.Outputs, d.outputPos, &s.out)
	if k == nil {
		return
	}
	arityOK := c.arity(d, k, s)
	paramsOK := c.params(d, k, s)
	if !arityOK || !inOK || !outOK || !paramsOK {
		return
	}
	var t *Template
	if slices.ContainsFunc(d.Inputs, isTemplateName) || slices.ContainsFunc(d.Outputs, isTemplateName) {
		if t = c.template(d, k); t == nil {
			return
		}
	}
	p, err := k.build(s) // of a template: over its patterns, to check its types
	if err != nil {
		c.buildErrors(d, err)
		return
	}
	if sup := c.supportedCells(s); len(sup) > 0 {
		p = propagators.OnSupported(p, sup)
	}
	if first, dup := names[p.Name()]; dup {
		at := d.namePos
		if d.Name == "" {
			at = d.Pos
		}
		c.problem(at, "duplicate propagator %q (first declared at line %d)", p.Name(), first.Line)
		return
	}
	names[p.Name()] = d.Pos
	fp := fingerprint(d, s)
	if t != nil {
		t.name, t.params, t.fp = p.Name(), s.params, fp
		c.tmpls = append(c.tmpls, t)
		return
	}
	c.built = append(c.built, builtProp{decl: d, p: p, fp: fp})
}

// supportedCells returns the supported cells among a propagator's.
func (c *checker) supportedCells(s *spec) []string {
	var out []string
	for _, cell := range append(slices.Clone(s.in), s.out...) {
		if c.isSupported(cell.Name) && !slices.Contains(out, cell.Name) {
			out = append(out, cell.Name)
		}
	}
	return out
}

// refs resolves cell names; it reports unknown ones.
func (c *checker) refs(ns []string, at []Pos, out *[]propagators.Cell) bool {
	ok := true
	for i, name := range ns {
		d, found := c.cells[name]
		if !found && isTemplateName(name) {
			if _, err := parsePattern(name, true); err != nil {
				c.problem(at[i], "%v", err)
				ok = false
				continue
			}
		}
		if !found {
			d, found = c.resolveTemplate(name)
		}
		if !found {
			c.problem(at[i], "unknown cell %q", name)
			ok = false
			continue
		}
		if c.broken[name] { // its declaration is reported already
			ok = false
			continue
		}
		typ := d.Type
		if typ == lattice.TypeSupported {
			typ = d.Of // the propagator computes on the inner values
		}
		*out = append(*out, propagators.Cell{Name: name, Type: typ})
	}
	return ok
}

func (c *checker) arity(d *PropagatorDecl, k *kind, s *spec) bool {
	in := k.in
	if k.inArity != nil {
		in = k.inArity(s.out)
	}
	ok := true
	if !in.ok(len(d.Inputs)) {
		c.problem(orPos(d.inputsPos, d.Pos), "%s takes %s input(s), got %d", k.name, in, len(d.Inputs))
		ok = false
	}
	if !k.out.ok(len(d.Outputs)) {
		c.problem(orPos(d.outputsPos, d.Pos), "%s takes %s output(s), got %d", k.name, k.out, len(d.Outputs))
		ok = false
	}
	return ok
}

func orPos(p, fallback Pos) Pos {
	if p == (Pos{}) {
		return fallback
	}
	return p
}

func (c *checker) params(d *PropagatorDecl, k *kind, s *spec) bool {
	ok := true
	for _, p := range d.params {
		i := slices.IndexFunc(k.params, func(ps paramSpec) bool { return ps.name == p.name })
		if i < 0 {
			known := "none"
			if len(k.params) > 0 {
				known = strings.Join(paramNames(k), ", ")
			}
			c.problem(p.pos, "%s: unknown parameter %q (known: %s)", k.name, p.name, known)
			ok = false
			continue
		}
		v, err := k.params[i].parse(s, p.node)
		if errors.Is(err, errNoInput) { // reported as an arity or cell problem
			ok = false
			continue
		}
		if err != nil {
			c.problem(pos(p.node), "%s: parameter %q: %v", k.name, p.name, err)
			ok = false
			continue
		}
		s.params[p.name] = v
	}
	for _, ps := range k.params {
		if _, set := s.params[ps.name]; ps.required && !set && !slices.ContainsFunc(d.params, func(p param) bool { return p.name == ps.name }) {
			c.problem(orPos(d.paramsPos, d.Pos), "%s: missing parameter %q (%s)", k.name, ps.name, ps.doc)
			ok = false
		}
	}
	return ok
}

func paramNames(k *kind) []string {
	out := make([]string, len(k.params))
	for i, p := range k.params {
		out[i] = p.name
	}
	return out
}

// buildErrors positions the errors of a constructor: a type error at the
// cell it names, anything else at the parameters (or the entry).
func (c *checker) buildErrors(d *PropagatorDecl, err error) {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var te *propagators.TypeError
		if errors.As(e, &te) {
			c.problem(cellPos(d, te.Cell), "%v", te)
			continue
		}
		c.problem(orPos(d.paramsPos, d.Pos), "%v", e)
	}
}

// cellPos finds where a propagator names a cell (outputs first: a type
// error about a cell named in both is about what may be written to it).
func cellPos(d *PropagatorDecl, cell string) Pos {
	if i := slices.Index(d.Outputs, cell); i >= 0 {
		return d.outputPos[i]
	}
	if i := slices.Index(d.Inputs, cell); i >= 0 {
		return d.inputPos[i]
	}
	return d.Pos
}

// fingerprint hashes what a propagator computes: its kind, its cells with
// their types, and its parameters as written.
func fingerprint(d *PropagatorDecl, s *spec) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", d.Kind, s.name)
	for _, cs := range [][]propagators.Cell{s.in, s.out} {
		for _, c := range cs {
			fmt.Fprintf(h, "%s:%s\x00", c.Name, c.Type)
		}
		h.Write([]byte{1})
	}
	for _, p := range d.params {
		b, _ := yaml.Marshal(p.node)
		fmt.Fprintf(h, "%s=%s\x00", p.name, b)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
