package propagators

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/dprop/dprop/lattice"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// Limits of the expressions of Filter and Map.
const (
	// MaxExprLen bounds an expression's source, in bytes.
	MaxExprLen = 1024
	// MaxExprNodes bounds an expression's syntax tree (expr.MaxNodes).
	MaxExprNodes = 256
	// ExprMemoryBudget bounds what one evaluation may allocate, in expr's
	// units (array elements, chiefly): ranges such as 1..n count against it.
	ExprMemoryBudget = 10_000
	// MaxMappedLen bounds the length of a string that Map produces.
	MaxMappedLen = 4096
)

// exprBuiltins are the builtins an expression may call: pure functions of
// their arguments over strings, numbers and small arrays. Left out: clocks
// (now, date, duration, timezone: not deterministic), and functions whose
// output can dwarf their input (repeat, replace, join, ...).
var exprBuiltins = []string{
	"len", "abs", "ceil", "floor", "round", "int", "float", "string", "type",
	"trim", "trimPrefix", "trimSuffix", "upper", "lower", "split",
	"indexOf", "lastIndexOf", "hasPrefix", "hasSuffix", "max", "min",
	"all", "any", "none", "one", "filter", "map", "count", "sum", "first", "last",
}

// exprEnv is all an expression sees: the element, a string or a number.
type exprEnv struct {
	Elem any `expr:"elem"`
}

// compileExpr compiles a filter or map expression once.
//
// Safety: the expression sees only `elem`; it is at most MaxExprLen bytes and
// MaxExprNodes nodes; it may call only exprBuiltins; it may not declare
// variables (`let` would let a string double at every step). expr has no
// unbounded loops: it iterates only over arrays, every array it builds counts
// against ExprMemoryBudget, and so an evaluation's work is bounded by the
// expression's size and the element's.
func compileExpr(kind, src string, asBool bool) (*vm.Program, error) {
	if len(src) > MaxExprLen {
		return nil, fmt.Errorf("%s: expression is %d bytes, limit %d", kind, len(src), MaxExprLen)
	}
	if src == "" {
		return nil, fmt.Errorf("%s: empty expression", kind)
	}
	opts := []expr.Option{expr.Env(exprEnv{}), expr.MaxNodes(MaxExprNodes), expr.DisableAllBuiltins()}
	for _, b := range exprBuiltins {
		opts = append(opts, expr.EnableBuiltin(b))
	}
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid expression %q: %s", kind, src, firstLine(err))
	}
	root := prog.Node()
	var v noLet
	ast.Walk(&root, &v)
	if v.found {
		return nil, fmt.Errorf("%s: expressions may not declare variables (let)", kind)
	}
	return prog, nil
}

// firstLine returns the first line of an expr error: the rest draws the
// source with a caret, and the first line has the line:column already.
func firstLine(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}

type noLet struct{ found bool }

func (v *noLet) Visit(n *ast.Node) {
	if _, ok := (*n).(*ast.VariableDeclaratorNode); ok {
		v.found = true
	}
}

// elemValue is what an expression sees of an element.
func elemValue(e lattice.Elem) any {
	if e.IsString() {
		return e.String()
	}
	return e.Float()
}

// toElem turns a map expression's result into a set element.
func toElem(r any) (lattice.Elem, error) {
	var f float64
	switch x := r.(type) {
	case string:
		if len(x) > MaxMappedLen {
			return lattice.Elem{}, fmt.Errorf("result is %d bytes, limit %d", len(x), MaxMappedLen)
		}
		return lattice.Str(x), nil
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	default:
		return lattice.Elem{}, fmt.Errorf("result is %T, want a string or a number", r)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return lattice.Elem{}, fmt.Errorf("result %v is not finite", f)
	}
	return lattice.Num(f), nil
}

// Filter returns the propagator that refines the output set with the
// elements of the input set (or orset) for which the expression is true,
// e.g. `elem > 10` or `hasPrefix(elem, "a")`. It is monotone because a
// grow-only set only grows and the predicate is a pure function of the
// element. From an orset it yields a grow-only set: an element removed from
// the orset stays in the output (removals are not propagated).
//
// An element on which the expression fails (a type error, the memory
// budget) is left out and reported; the other elements are still published.
func Filter(name string, in, out Cell, src string) (*Func, error) {
	return elementwise("filter", name, in, out, src, true)
}

// Map returns the propagator that refines the output set with the image of
// every element of the input set (or orset) under the expression, e.g.
// `elem * 2` or `upper(elem)`; a result must be a string or a finite
// number. Monotone for the reasons Filter is; from an orset it yields a
// grow-only set.
func Map(name string, in, out Cell, src string) (*Func, error) {
	return elementwise("map", name, in, out, src, false)
}

func elementwise(kind, name string, in, out Cell, src string, filter bool) (*Func, error) {
	if err := checkCells(kind, in, out); err != nil {
		return nil, err
	}
	if err := errors.Join(needType(kind, in, lattice.TypeSet, lattice.TypeORSet), needType(kind, out, lattice.TypeSet)); err != nil {
		return nil, err
	}
	prog, err := compileExpr(kind, src, filter)
	if err != nil {
		return nil, err
	}
	name = defaultName(name, kind, []Cell{in}, []Cell{out})
	return NewFunc(name, []string{in.Name}, []string{out.Name}, func(ctx context.Context, ins *Inputs) ([]Refinement, error) {
		v := ins.Value(in.Name)
		if lattice.IsNothing(v) || lattice.IsContradiction(v) {
			return nil, nil
		}
		elems, err := setElems(in.Name, v)
		if err != nil {
			return nil, err
		}
		res, err := evalElems(ctx, kind, prog, elems, filter)
		var refs []Refinement
		if len(res) > 0 {
			refs = []Refinement{{out.Name, lattice.NewSet(res...)}}
		}
		return refs, err
	}), nil
}

// evalElems runs the expression over every element, checking ctx as it
// goes. Failing elements are left out; the first failure and their count are
// returned as the error.
func evalElems(ctx context.Context, kind string, prog *vm.Program, elems []lattice.Elem, filter bool) ([]lattice.Elem, error) {
	machine := vm.VM{MemoryBudget: ExprMemoryBudget}
	var out []lattice.Elem
	var first error
	failed := 0
	for i, e := range elems {
		if i%256 == 0 && ctx.Err() != nil {
			return out, ctx.Err()
		}
		r, err := machine.Run(prog, exprEnv{Elem: elemValue(e)})
		var m lattice.Elem
		if err == nil && !filter {
			m, err = toElem(r)
		}
		if err != nil {
			if failed == 0 {
				first = fmt.Errorf("%s: element %s: %s", kind, e.AppendJSON(nil), firstLine(err))
			}
			failed++
			continue
		}
		switch {
		case !filter:
			out = append(out, m)
		case r == true:
			out = append(out, e)
		}
	}
	if failed > 1 {
		first = fmt.Errorf("%w (and %d more elements failed)", first, failed-1)
	}
	return out, first
}
