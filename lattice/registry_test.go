package lattice

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// minimalWire is the smallest valid wire form of every type.
var minimalWire = map[string]string{
	TypeNothing:       `{"type":"nothing"}`,
	TypeContradiction: `{"type":"contradiction","from":["c"]}`,
	TypeNumber:        `{"type":"number","value":0}`,
	TypeMax:           `{"type":"max","value":0}`,
	TypeMin:           `{"type":"min","value":0}`,
	TypeInterval:      `{"type":"interval"}`,
	TypeRange:         `{"type":"range","min":0,"max":0}`,
	TypeFlag:          `{"type":"flag","value":false}`,
	TypeSet:           `{"type":"set","elems":[]}`,
	TypeGCounter:      `{"type":"gcounter","counts":{}}`,
	TypePNCounter:     `{"type":"pncounter"}`,
	TypeLWW:           `{"type":"lww","value":null,"ts":0}`,
	TypeORSet:         `{"type":"orset"}`,
	TypeMap:           `{"type":"map","entries":{}}`,
	TypeSupported:     `{"type":"supported","values":[]}`,
}

// wireForms are valid inputs of every type, in canonical and other forms;
// they seed the fuzzer and the aliasing test.
var wireForms = []struct{ name, wire string }{
	{"nothing", `{"type":"nothing"}`},
	{"contradiction-numbers", `{"type":"contradiction","reason":"number: 3 ≠ 4","values":[{"type":"number","value":3},{"type":"number","value":4}]}`},
	{"contradiction-interval", `{"type":"contradiction","values":[{"type":"interval","lo":7,"hi":5}]}`},
	{"contradiction-types", `{"type":"contradiction","values":[{"type":"max","value":1},{"type":"range","min":0,"max":1},{"type":"number","value":2}]}`},
	{"contradiction-from", `{"type":"contradiction","values":[{"type":"set","elems":["a"]}],"from":["weather.boston.temp","x"]}`},
	{"number", `{"type":"number","value":3.5}`},
	{"number-exp", `{"type":"number","value":-1.25E+3}`},
	{"max", `{"type":"max","value":7}`},
	{"min", `{"type":"min","value":-0}`},
	{"interval", `{"type":"interval","lo":1,"hi":2}`},
	{"interval-lo", `{"type":"interval","lo":0}`},
	{"interval-hi", `{"type":"interval","hi":1e300}`},
	{"range", `{"type":"range","min":34,"max":48}`},
	{"flag", `{"type":"flag","value":true}`},
	{"set", `{"type":"set","elems":["a",1,"b",0.5,"a","\u00e9"]}`},
	{"gcounter", `{"type":"gcounter","counts":{"w1":3,"w2":0,"w\u00e9":9223372036854775807}}`},
	{"pncounter", `{"type":"pncounter","inc":{"w1":5},"dec":{"w1":2,"w2":1}}`},
	{"lww", `{"type":"lww","value":{"temp":21.5,"unit":"C","tags":["a",null,true,1e2]},"ts":1700000000000,"writer":"sensor-1"}`},
	{"lww-scalar", `{"type":"lww","value":"\ud83d\ude00","ts":-1}`},
	{"orset", `{"type":"orset","elems":[{"elem":"a","dots":[["w1",1],["w2",3]]},{"elem":2,"dots":[["w1",2]]}],"context":{"w1":2,"w2":1},"cloud":[["w3",5]]}`},
	{"orset-add", `{"type":"orset","elems":[{"elem":"x","dots":[["w1",3]]}]}`},
	{"orset-remove", `{"type":"orset","context":{"w1":3},"cloud":[["w2",7]]}`},
	{"map", `{"type":"map","entries":{"t":{"type":"max","value":1},"r":{"type":"range","min":1,"max":2},"gone":{"type":"nothing"}}}`},
	{"map-nested", `{"type":"map","entries":{"a":{"type":"map","entries":{"b":{"type":"contradiction","values":[{"type":"number","value":1},{"type":"number","value":2}]}}}}}`},
	{"supported", `{"type":"supported","values":[{"premises":["fall-time"],"value":{"type":"interval","lo":2.9,"hi":3.1}},{"premises":[],"value":{"type":"interval","lo":0}}]}`},
	{"supported-subsumed", `{"type":"supported","values":[{"premises":["b","a"],"value":{"type":"max","value":1}},{"premises":["a"],"value":{"type":"max","value":2}},{"premises":["c"],"value":{"type":"nothing"}}]}`},
	{"whitespace", " \t\r\n{ \"type\" : \"max\" , \"value\" : 7 } \n"},
}

// TestRegistryAgreesWithDecodeType: the registry's names, the minimal wire
// forms above and the cases of decodeType's switch are the same list, every
// registered name decodes, and an unregistered one is ErrUnknownType.
func TestRegistryAgreesWithDecodeType(t *testing.T) {
	names := Types()
	if !slices.IsSorted(names) {
		t.Fatalf("Types() not sorted: %v", names)
	}
	var want []string
	for name := range minimalWire {
		want = append(want, name)
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("Types() = %v\nthe test knows %v: add the new type's minimal wire form here", names, want)
	}
	if cases := decodeTypeCases(t); !slices.Equal(cases, names) {
		t.Fatalf("decodeType handles %v\nthe registry lists %v", cases, names)
	}
	for _, name := range names {
		if !Known(name) || Doc(name) == "" {
			t.Errorf("%s: Known=%v Doc=%q", name, Known(name), Doc(name))
		}
		v, err := Decode([]byte(minimalWire[name]))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if v.Type() != name {
			t.Errorf("%s decodes to a %s", minimalWire[name], v.Type())
		}
		checkCanonical(t, v)
	}
	if Known("bogus") || Doc("bogus") != "" {
		t.Error(`"bogus" is known`)
	}
	_, err := Decode([]byte(`{"type":"bogus"}`))
	if !errors.Is(err, ErrUnknownType) || !strings.Contains(err.Error(), `"bogus"`) ||
		!strings.Contains(err.Error(), strings.Join(names, ", ")) {
		t.Fatalf("unknown type: %v", err)
	}
}

// decodeTypeCases reads the names decodeType's switch handles from the
// source, resolving the Type* constants.
func decodeTypeCases(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	consts := map[string]string{}
	var cases []string
	for _, file := range []string{"value.go", "decode.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, id := range n.Names {
					if i < len(n.Values) {
						if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[id.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			case *ast.FuncDecl:
				if n.Name.Name != "decodeType" {
					return false
				}
				ast.Inspect(n.Body, func(n ast.Node) bool {
					if cc, ok := n.(*ast.CaseClause); ok {
						for _, e := range cc.List {
							if id, ok := e.(*ast.Ident); ok {
								cases = append(cases, id.Name)
							} else {
								t.Errorf("decodeType: case %T is not a Type constant", e)
							}
						}
					}
					return true
				})
				return false
			}
			return true
		})
	}
	for i, c := range cases {
		v, ok := consts[c]
		if !ok {
			t.Fatalf("decodeType: case %s is not a string constant", c)
		}
		cases[i] = v
	}
	slices.Sort(cases)
	return cases
}
