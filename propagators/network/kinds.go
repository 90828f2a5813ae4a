package network

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"go.yaml.in/yaml/v3"
)

// arity bounds how many cells a kind takes; max < 0 is unbounded.
type arity struct{ min, max int }

func (a arity) ok(n int) bool { return n >= a.min && (a.max < 0 || n <= a.max) }

func (a arity) String() string {
	switch {
	case a.max < 0:
		return "at least " + strconv.Itoa(a.min)
	case a.min == a.max:
		return "exactly " + strconv.Itoa(a.min)
	}
	return strconv.Itoa(a.min) + " to " + strconv.Itoa(a.max)
}

var (
	one       = arity{1, 1}
	two       = arity{2, 2}
	oneOrMore = arity{1, -1}
)

// kind is a built-in propagator kind of network files.
type kind struct {
	name, doc string
	in, out   arity
	params    []paramSpec
	// inArity, when set, overrides in given the output cells (the sum of
	// counters takes any number of inputs, the sum constraint two).
	inArity func(outs []propagators.Cell) arity
	build   func(s *spec) (propagators.Propagator, error)
	// agg: the kind reads only the inputs that changed (an aggregate), so
	// a template may give it a wildcard input that grows with the cells.
	agg bool
}

// paramSpec describes one parameter of a kind.
type paramSpec struct {
	name     string
	required bool
	doc      string
	parse    func(s *spec, n *yaml.Node) (any, error)
}

// spec is a propagator declaration resolved against the cells.
type spec struct {
	name    string
	in, out []propagators.Cell
	params  map[string]any
}

func isCounter(outs []propagators.Cell) bool {
	return len(outs) == 1 && (outs[0].Type == lattice.TypeGCounter || outs[0].Type == lattice.TypePNCounter)
}

// kinds lists the built-in kinds, in the order the documentation gives them.
var kinds = []*kind{
	{name: "sum", in: two, out: one,
		doc: "c = a + b over number/interval cells, refining all three; or, into a gcounter/pncounter, the sum of counters",
		inArity: func(outs []propagators.Cell) arity {
			if isCounter(outs) {
				return oneOrMore
			}
			return two
		},
		build: func(s *spec) (propagators.Propagator, error) {
			if isCounter(s.out) {
				return propagators.CounterSum(s.name, s.in, s.out[0])
			}
			return propagators.Sum(s.name, s.in[0], s.in[1], s.out[0])
		}},
	{name: "product", in: two, out: one, doc: "c = a × b over number/interval cells, refining all three",
		build: func(s *spec) (propagators.Propagator, error) {
			return propagators.Product(s.name, s.in[0], s.in[1], s.out[0])
		}},
	{name: "square", in: one, out: one, doc: "b = a² over number/interval cells, refining both",
		build: func(s *spec) (propagators.Propagator, error) {
			return propagators.Square(s.name, s.in[0], s.out[0])
		}},
	{name: "linear", in: one, out: one, doc: "y = k·x + m; both ways over number/interval cells, x to y over range cells",
		params: []paramSpec{
			{name: "k", required: true, doc: "the slope, non-zero: a number or a fraction such as \"5/9\"", parse: parseRatio(true)},
			{name: "m", doc: "the offset (default 0): a number or a fraction such as \"-160/9\"", parse: parseRatio(false)},
		},
		build: func(s *spec) (propagators.Propagator, error) {
			k, _ := s.params["k"].(propagators.Ratio)
			m, _ := s.params["m"].(propagators.Ratio)
			return propagators.Linear(s.name, s.in[0], s.out[0], k, m)
		}},
	aggregate("hull", "the hull of range (and number) cells, into a range cell", propagators.Hull),
	aggregate("max", "the largest of number, max and range cells, into a max cell", propagators.Max),
	aggregate("min", "the smallest of number, min and range cells, into a min cell", propagators.Min),
	aggregate("union", "the union of set (and orset) cells, into a set cell", propagators.Union),
	{name: "threshold", in: one, out: one, doc: "a flag cell becomes true once the input is at least as informative as a value",
		params: []paramSpec{{name: "value", required: true, doc: "the threshold, a value of the input's type", parse: parseThreshold}},
		build: func(s *spec) (propagators.Propagator, error) {
			return propagators.Threshold(s.name, s.in[0], s.params["value"].(lattice.Value), s.out[0])
		}},
	{name: "copy", in: one, out: oneOrMore, doc: "refine every output with the input (any type; outputs of the same type)",
		build: func(s *spec) (propagators.Propagator, error) {
			return propagators.Copy(s.name, s.in[0], s.out...)
		}},
	elementwise("filter", "the elements of a set (or orset) for which expr is true, into a set", propagators.Filter),
	elementwise("map", "the image of every element of a set (or orset) under expr, into a set", propagators.Map),
	{name: "heron", in: one, out: one, doc: "one step of Heron's square root of a number cell x, refining a min cell guess g to (g + x/g)/2",
		build: func(s *spec) (propagators.Propagator, error) {
			return propagators.Heron(s.name, s.in[0], s.out[0])
		}},
}

func aggregate(name, doc string, ctor func(string, []propagators.Cell, propagators.Cell) (*propagators.Func, error)) *kind {
	return &kind{name: name, in: oneOrMore, out: one, doc: doc, agg: true,
		build: func(s *spec) (propagators.Propagator, error) { return ctor(s.name, s.in, s.out[0]) }}
}

func elementwise(name, doc string, ctor func(string, propagators.Cell, propagators.Cell, string) (*propagators.Func, error)) *kind {
	return &kind{name: name, in: one, out: one, doc: doc,
		params: []paramSpec{{name: "expr", required: true, doc: "an expr-lang expression over elem", parse: parseExpr}},
		build: func(s *spec) (propagators.Propagator, error) {
			return ctor(s.name, s.in[0], s.out[0], s.params["expr"].(string))
		}}
}

func kindNamed(name string) *kind {
	i := slices.IndexFunc(kinds, func(k *kind) bool { return k.name == name })
	if i < 0 {
		return nil
	}
	return kinds[i]
}

func kindNames() []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.name
	}
	return out
}

// KindInfo describes a built-in kind, for listings and documentation.
type KindInfo struct {
	Name    string
	Doc     string
	Inputs  string // arity, e.g. "exactly 2"
	Outputs string
	Params  []ParamInfo
}

// ParamInfo describes a parameter of a kind.
type ParamInfo struct {
	Name     string
	Required bool
	Doc      string
}

// Kinds describes the built-in kinds a network file may use.
func Kinds() []KindInfo {
	out := make([]KindInfo, len(kinds))
	for i, k := range kinds {
		out[i] = KindInfo{Name: k.name, Doc: k.doc, Inputs: k.in.String(), Outputs: k.out.String()}
		if k.name == "sum" {
			out[i].Inputs += " (at least 1 into a counter)"
		}
		for _, p := range k.params {
			out[i].Params = append(out[i].Params, ParamInfo{Name: p.name, Required: p.required, Doc: p.doc})
		}
	}
	return out
}

func parseRatio(nonZero bool) func(*spec, *yaml.Node) (any, error) {
	return func(_ *spec, n *yaml.Node) (any, error) {
		if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" || n.ShortTag() == "!!bool" {
			return nil, fmt.Errorf("want a number or a fraction such as \"5/9\", got %s", kindName(n))
		}
		r, err := propagators.ParseRatio(n.Value)
		if err != nil {
			return nil, err
		}
		if nonZero && r.Num == 0 {
			return nil, errors.New("must not be 0")
		}
		return r, nil
	}
}

// errNoInput says that a parameter cannot be checked because the input it
// depends on is missing or unknown (which is reported on its own).
var errNoInput = errors.New("no input cell")

func parseThreshold(s *spec, n *yaml.Node) (any, error) {
	if len(s.in) != 1 {
		return nil, errNoInput
	}
	return decodeValue(n, s.in[0].Type)
}

func parseExpr(_ *spec, n *yaml.Node) (any, error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return nil, fmt.Errorf("want an expression string, got %s", kindName(n))
	}
	return n.Value, nil
}
