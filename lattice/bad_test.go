package lattice

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// badInput is one input Decode must refuse: the sentinel it must wrap and
// words the message must contain (what was wrong, and where).
type badInput struct {
	name  string
	in    string
	lim   Limits // zero: DefaultLimits
	err   error
	words []string
	path  string // the DecodeError's Path, when not empty
}

// decodeSentinels are the errors a DecodeError may wrap.
var decodeSentinels = []error{ErrSyntax, ErrUnknownType, ErrMissingField, ErrUnknownField, ErrDuplicateField,
	ErrFieldType, ErrNotFinite, ErrInvalid, ErrOverflow, ErrTooLarge, ErrTooDeep}

// nestMaps nests n maps: {"type":"map","entries":{"k":...}} around a max.
func nestMaps(n int) string {
	return strings.Repeat(`{"type":"map","entries":{"k":`, n) + `{"type":"max","value":1}` + strings.Repeat(`}}`, n)
}

// lwwArrays is a register whose value is n nested arrays.
func lwwArrays(n int) string {
	return `{"type":"lww","ts":1,"value":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
}

func manyPremises(n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = strconv.Quote("p" + strconv.Itoa(i))
	}
	return `{"type":"supported","values":[{"premises":[` + strings.Join(ps, ",") + `],"value":{"type":"max","value":1}}]}`
}

func manyElems(n int) string {
	return setOf(0, n)
}

var small = Limits{MaxElems: 3}

var badInputs = []badInput{
	// Malformed JSON.
	{name: "empty", in: ``, err: ErrSyntax, words: []string{"unexpected end of input"}},
	{name: "only whitespace", in: " \n", err: ErrSyntax, words: []string{"end of input"}},
	{name: "unclosed object", in: `{"type":"max","value":7`, err: ErrSyntax, words: []string{"end of input", "expected ',' or '}'"}},
	{name: "trailing comma", in: `{"type":"max","value":7,}`, err: ErrSyntax, words: []string{"expected a field name"}},
	{name: "single quotes", in: `{'type':'max'}`, err: ErrSyntax, words: []string{`'\''`, "field name"}},
	{name: "missing colon", in: `{"type" "max"}`, err: ErrSyntax, words: []string{"expected ':'"}},
	{name: "leading zero", in: `{"type":"max","value":07}`, err: ErrSyntax, words: []string{`'7'`}},
	{name: "plus sign", in: `{"type":"max","value":+1}`, err: ErrSyntax, words: []string{"expected a value"}},
	{name: "bare dot", in: `{"type":"max","value":1.}`, err: ErrSyntax, words: []string{"digit after '.'"}},
	{name: "leading dot", in: `{"type":"max","value":.5}`, err: ErrSyntax, words: []string{"expected a value"}},
	{name: "empty exponent", in: `{"type":"max","value":1e}`, err: ErrSyntax, words: []string{"exponent"}},
	{name: "bad escape", in: `{"type":"set","elems":["a\x"]}`, err: ErrSyntax, words: []string{"invalid escape"}},
	{name: "short unicode escape", in: `{"type":"set","elems":["\u12"]}`, err: ErrSyntax, words: []string{"four hex digits"}},
	{name: "raw newline in string", in: "{\"type\":\"set\",\"elems\":[\"a\nb\"]}", err: ErrSyntax, words: []string{"control character"}},
	{name: "unterminated string", in: `{"type":"set","elems":["abc`, err: ErrSyntax, words: []string{"unterminated string"}},
	{name: "misspelled literal", in: `{"type":"flag","value":tru}`, err: ErrSyntax, words: []string{"expected true"}},
	{name: "comment", in: `/*x*/{"type":"nothing"}`, err: ErrSyntax, words: []string{"'/'"}},
	{name: "byte order mark", in: "\ufeff{\"type\":\"nothing\"}", err: ErrSyntax},
	{name: "top-level array", in: `[{"type":"nothing"}]`, err: ErrFieldType, words: []string{"expected an object, got array"}},
	{name: "top-level null", in: `null`, err: ErrFieldType, words: []string{"got null"}},
	{name: "top-level string", in: `"max"`, err: ErrFieldType, words: []string{"got string"}},

	// Trailing garbage.
	{name: "trailing garbage", in: `{"type":"max","value":1}x`, err: ErrSyntax, words: []string{"end of input after the value", "'x'"}},
	{name: "two values", in: `{"type":"max","value":1} {"type":"max","value":2}`, err: ErrSyntax, words: []string{"end of input after the value"}},
	{name: "trailing NUL", in: "{\"type\":\"nothing\"}\x00", err: ErrSyntax, words: []string{"end of input after the value"}},

	// Unknown type.
	{name: "unknown type", in: `{"type":"maxx","value":1}`, err: ErrUnknownType, words: []string{`"maxx"`, "known: contradiction, flag"}},
	{name: "type is case-sensitive", in: `{"type":"MAX","value":1}`, err: ErrUnknownType, words: []string{`"MAX"`}},
	{name: "empty type", in: `{"type":"","value":1}`, err: ErrUnknownType, words: []string{`""`}},
	{name: "unknown type in map", in: `{"type":"map","entries":{"k":{"type":"bogus"}}}`, err: ErrUnknownType, words: []string{`"bogus"`}, path: "entries.k"},

	// Missing fields.
	{name: "no type", in: `{"value":1}`, err: ErrMissingField, words: []string{`"type"`}},
	{name: "empty object", in: `{}`, err: ErrMissingField, words: []string{`"type"`}},
	{name: "number without value", in: `{"type":"number"}`, err: ErrMissingField, words: []string{`"value"`}},
	{name: "max without value", in: `{"type":"max"}`, err: ErrMissingField, words: []string{`"value"`}},
	{name: "flag without value", in: `{"type":"flag"}`, err: ErrMissingField, words: []string{`"value"`}},
	{name: "range without max", in: `{"type":"range","min":1}`, err: ErrMissingField, words: []string{`"max"`}},
	{name: "range without min", in: `{"type":"range","max":1}`, err: ErrMissingField, words: []string{`"min"`}},
	{name: "set without elems", in: `{"type":"set"}`, err: ErrMissingField, words: []string{`"elems"`}},
	{name: "gcounter without counts", in: `{"type":"gcounter"}`, err: ErrMissingField, words: []string{`"counts"`}},
	{name: "lww without value", in: `{"type":"lww","ts":1}`, err: ErrMissingField, words: []string{`"value"`}},
	{name: "lww without ts", in: `{"type":"lww","value":1}`, err: ErrMissingField, words: []string{`"ts"`}},
	{name: "map without entries", in: `{"type":"map"}`, err: ErrMissingField, words: []string{`"entries"`}},
	{name: "orset entry without dots", in: `{"type":"orset","elems":[{"elem":"a"}]}`, err: ErrMissingField, words: []string{`"dots"`}, path: "elems[0]"},
	{name: "orset entry without elem", in: `{"type":"orset","elems":[{"dots":[["w",1]]}]}`, err: ErrMissingField, words: []string{`"elem"`}, path: "elems[0]"},
	{name: "nested missing field", in: `{"type":"map","entries":{"a.b":{"type":"range","min":1}}}`, err: ErrMissingField, words: []string{`"max"`, `entries."a.b"`}, path: `entries."a.b"`},

	// Ill-typed fields.
	{name: "type not a string", in: `{"type":7}`, err: ErrFieldType, words: []string{`"type" must be a string, got number`}},
	{name: "number as string", in: `{"type":"max","value":"7"}`, err: ErrFieldType, words: []string{`"value" must be a number, got string`}},
	{name: "number as null", in: `{"type":"interval","lo":null}`, err: ErrFieldType, words: []string{`"lo" must be a number, got null`}},
	{name: "flag as number", in: `{"type":"flag","value":1}`, err: ErrFieldType, words: []string{`"value" must be a boolean, got number`}},
	{name: "elems as object", in: `{"type":"set","elems":{}}`, err: ErrFieldType, words: []string{`"elems" must be an array, got object`}},
	{name: "element a boolean", in: `{"type":"set","elems":["a",true]}`, err: ErrFieldType, words: []string{`elems[1] must be a string or a number, got boolean`}},
	{name: "element an array", in: `{"type":"set","elems":[[1]]}`, err: ErrFieldType, words: []string{"got array"}},
	{name: "counts as array", in: `{"type":"gcounter","counts":[]}`, err: ErrFieldType, words: []string{`"counts" must be an object`}},
	{name: "count as string", in: `{"type":"gcounter","counts":{"w":"3"}}`, err: ErrFieldType, words: []string{`counts."w" must be an integer, got string`}},
	{name: "dec as number", in: `{"type":"pncounter","dec":5}`, err: ErrFieldType, words: []string{`"dec" must be an object`}},
	{name: "ts as string", in: `{"type":"lww","value":1,"ts":"1"}`, err: ErrFieldType, words: []string{`"ts" must be an integer, got string`}},
	{name: "writer as number", in: `{"type":"lww","value":1,"ts":1,"writer":3}`, err: ErrFieldType, words: []string{`"writer" must be a string`}},
	{name: "entries as array", in: `{"type":"map","entries":[]}`, err: ErrFieldType, words: []string{`"entries" must be an object`}},
	{name: "map value not an object", in: `{"type":"map","entries":{"k":3}}`, err: ErrFieldType, words: []string{"expected an object, got number"}, path: "entries.k"},
	{name: "orset entry a string", in: `{"type":"orset","elems":["a"]}`, err: ErrFieldType, words: []string{"expected an object, got string"}, path: "elems[0]"},
	{name: "dot n as string", in: `{"type":"orset","elems":[{"elem":"a","dots":[["w","1"]]}]}`, err: ErrFieldType, words: []string{`dot ["writer", n]`}, path: "elems[0].dots"},
	{name: "dot of three", in: `{"type":"orset","cloud":[["w",1,2]]}`, err: ErrFieldType, words: []string{`[0] must be a dot`}, path: "cloud"},
	{name: "dot n zero", in: `{"type":"orset","cloud":[["w",0]]}`, err: ErrFieldType, words: []string{"n >= 1"}},
	{name: "evidence not an object", in: `{"type":"contradiction","values":[3]}`, err: ErrFieldType, words: []string{"expected an object, got number"}, path: "values[0]"},
	{name: "reason not a string", in: `{"type":"contradiction","reason":1,"from":["x"]}`, err: ErrFieldType, words: []string{`"reason" must be a string`}},
	{name: "from not strings", in: `{"type":"contradiction","from":[1]}`, err: ErrFieldType, words: []string{`"from"[0] must be a string, got number`}},

	// Unknown fields.
	{name: "unknown field", in: `{"type":"max","value":1,"extra":2}`, err: ErrUnknownField, words: []string{`"extra"`, `this type has "value"`}},
	{name: "field of another type", in: `{"type":"range","min":1,"max":2,"lo":0}`, err: ErrUnknownField, words: []string{`"lo"`, `"min", "max"`}},
	{name: "nothing with a field", in: `{"type":"nothing","value":1}`, err: ErrUnknownField, words: []string{`"value"`, "no other fields"}},
	{name: "orset entry extra field", in: `{"type":"orset","elems":[{"elem":"a","dots":[["w",1]],"x":1}]}`, err: ErrUnknownField, words: []string{`"x"`, `"elem", "dots"`}},
	{name: "unknown field deep in a map", in: `{"type":"map","entries":{"a":{"type":"map","entries":{"b":{"type":"flag","value":true,"v":1}}}}}`, err: ErrUnknownField, words: []string{`"v"`}, path: "entries.a.entries.b"},

	// Duplicate fields.
	{name: "duplicate field", in: `{"type":"max","value":1,"value":2}`, err: ErrDuplicateField, words: []string{`"value"`}},
	{name: "duplicate type", in: `{"type":"max","type":"min","value":1}`, err: ErrDuplicateField, words: []string{`"type"`}},
	{name: "duplicate writer", in: `{"type":"gcounter","counts":{"w":1,"w":2}}`, err: ErrDuplicateField, words: []string{`"w"`}, path: "counts"},
	{name: "duplicate writer escaped", in: `{"type":"gcounter","counts":{"w":1,"\u0077":2}}`, err: ErrDuplicateField, words: []string{`"w"`}},
	{name: "duplicate map key", in: `{"type":"map","entries":{"k":{"type":"nothing"},"k":{"type":"nothing"}}}`, err: ErrDuplicateField, words: []string{`"k"`}, path: "entries"},
	{name: "duplicate key in lww value", in: `{"type":"lww","ts":1,"value":{"a":1,"b":{"c":1,"c":2}}}`, err: ErrDuplicateField, words: []string{`"c"`}, path: "value"},
	{name: "duplicate key in a large object", in: `{"type":"gcounter","counts":{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1,"j":1,"k":1,"l":1,"m":1,"n":1,"o":1,"p":1,"q":1,"r":1,"s":1,"t":1,"e":2}}`, err: ErrDuplicateField, words: []string{`"e"`}},

	// NaN, infinities, numbers too large for a float64.
	{name: "NaN", in: `{"type":"max","value":NaN}`, err: ErrSyntax, words: []string{"'N'"}},
	{name: "Infinity", in: `{"type":"max","value":Infinity}`, err: ErrSyntax, words: []string{"'I'"}},
	{name: "-Infinity", in: `{"type":"max","value":-Infinity}`, err: ErrSyntax, words: []string{"expected a digit"}},
	{name: "inf", in: `{"type":"number","value":inf}`, err: ErrSyntax},
	{name: "NaN as string", in: `{"type":"max","value":"NaN"}`, err: ErrFieldType, words: []string{"got string"}},
	{name: "1e400", in: `{"type":"max","value":1e400}`, err: ErrNotFinite, words: []string{"1e400 does not fit a float64"}, path: "value"},
	{name: "-1e400", in: `{"type":"range","min":-1e400,"max":0}`, err: ErrNotFinite, words: []string{"-1e400"}, path: "min"},
	{name: "huge integer", in: `{"type":"number","value":` + strings.Repeat("9", 400) + `}`, err: ErrNotFinite, words: []string{"does not fit a float64"}},
	{name: "1e400 in interval", in: `{"type":"interval","hi":1e400}`, err: ErrNotFinite, words: []string{"1e400"}, path: "hi"},
	{name: "1e400 in a set", in: `{"type":"set","elems":[1,1e400]}`, err: ErrNotFinite, words: []string{"1e400"}, path: "elems[1]"},
	{name: "1e400 in an lww value", in: `{"type":"lww","ts":1,"value":{"x":[1e400]}}`, err: ErrNotFinite, words: []string{"1e400"}, path: "value"},
	{name: "400-digit integer in an lww value", in: `{"type":"lww","ts":1,"value":[1` + strings.Repeat("0", 400) + `]}`, err: ErrNotFinite, words: []string{"does not fit a float64"}, path: "value"},
	{name: "1e400 as evidence", in: `{"type":"contradiction","values":[{"type":"number","value":1e400}]}`, err: ErrNotFinite, words: []string{"1e400"}, path: "values[0].value"},

	// Values that do not exist.
	{name: "interval lo > hi", in: `{"type":"interval","lo":2,"hi":1}`, err: ErrInvalid, words: []string{"interval lo 2 > hi 1"}},
	{name: "range min > max", in: `{"type":"range","min":5,"max":-1.5}`, err: ErrInvalid, words: []string{"range min 5 > max -1.5"}},
	{name: "negative count", in: `{"type":"gcounter","counts":{"w1":-1}}`, err: ErrInvalid, words: []string{`counts."w1" is negative`}},
	{name: "negative dec", in: `{"type":"pncounter","dec":{"w1":-3}}`, err: ErrInvalid, words: []string{`dec."w1" is negative`}},
	{name: "negative context", in: `{"type":"orset","context":{"w1":-3}}`, err: ErrInvalid, words: []string{`context."w1" is negative`}},
	{name: "orset entry with no dots", in: `{"type":"orset","elems":[{"elem":"a","dots":[]}]}`, err: ErrInvalid, words: []string{"at least one dot"}},
	{name: "contradiction of nothing", in: `{"type":"contradiction"}`, err: ErrInvalid, words: []string{"lists no disagreement"}},
	{name: "contradiction of one number", in: `{"type":"contradiction","values":[{"type":"number","value":1}]}`, err: ErrInvalid, words: []string{"lists no disagreement"}},
	{name: "contradiction of agreeing values", in: `{"type":"contradiction","reason":"number: 1 ≠ 2","values":[{"type":"max","value":1},{"type":"max","value":2}],"from":[]}`, err: ErrInvalid, words: []string{"lists no disagreement"}},
	{name: "contradiction of a nonempty interval", in: `{"type":"contradiction","values":[{"type":"interval","lo":1,"hi":2}]}`, err: ErrInvalid, words: []string{"lists no disagreement"}},
	{name: "invalid evidence", in: `{"type":"contradiction","values":[{"type":"range","min":2,"max":1},{"type":"max","value":1}]}`, err: ErrInvalid, words: []string{"range min 2 > max 1"}, path: "values[0]"},

	// Integers.
	{name: "count overflow", in: `{"type":"gcounter","counts":{"w":9223372036854775808}}`, err: ErrOverflow, words: []string{"9223372036854775808 does not fit a 64-bit integer"}, path: "counts.w"},
	{name: "ts overflow", in: `{"type":"lww","value":1,"ts":-9223372036854775809}`, err: ErrOverflow, words: []string{"does not fit a 64-bit integer"}, path: "ts"},
	{name: "dot overflow", in: `{"type":"orset","cloud":[["w",9223372036854775808]]}`, err: ErrFieldType, words: []string{"must be a dot"}},
	{name: "count with a fraction", in: `{"type":"gcounter","counts":{"w":1.5}}`, err: ErrFieldType, words: []string{"1.5 is not an integer"}},
	{name: "count with .0", in: `{"type":"gcounter","counts":{"w":1.0}}`, err: ErrFieldType, words: []string{"1.0 is not an integer"}},
	{name: "count with an exponent", in: `{"type":"pncounter","inc":{"w":1e2}}`, err: ErrFieldType, words: []string{"1e2 is not an integer"}, path: "inc.w"},
	{name: "ts with a fraction", in: `{"type":"lww","value":1,"ts":1.5}`, err: ErrFieldType, words: []string{"1.5 is not an integer"}, path: "ts"},
	{name: "dot with a fraction", in: `{"type":"orset","elems":[{"elem":"a","dots":[["w",1.5]]}]}`, err: ErrFieldType, words: []string{"must be a dot"}},

	// Limits.
	{name: "set past MaxElems", in: manyElems(4), lim: small, err: ErrTooLarge, words: []string{`"elems" has 4 elements, limit 3`}},
	{name: "map past MaxElems", in: `{"type":"map","entries":{"a":{"type":"nothing"},"b":{"type":"nothing"},"c":{"type":"nothing"},"d":{"type":"nothing"}}}`, lim: small, err: ErrTooLarge, words: []string{`"entries" has 4 elements, limit 3`}},
	{name: "gcounter past MaxElems", in: `{"type":"gcounter","counts":{"a":1,"b":1,"c":1,"d":0}}`, lim: small, err: ErrTooLarge, words: []string{`"counts" has 4 elements`}},
	{name: "pncounter past MaxElems", in: `{"type":"pncounter","inc":{"a":1},"dec":{"a":1,"b":1,"c":1,"d":1}}`, lim: small, err: ErrTooLarge, words: []string{`"dec" has 4 elements`}},
	{name: "orset entries past MaxElems", in: `{"type":"orset","elems":[{"elem":1,"dots":[["w",1]]},{"elem":2,"dots":[["w",2]]},{"elem":3,"dots":[["w",3]]},{"elem":4,"dots":[["w",4]]}]}`, lim: small, err: ErrTooLarge, words: []string{`"elems" has 4 elements`}},
	{name: "orset dots past MaxElems", in: `{"type":"orset","elems":[{"elem":1,"dots":[["w",1],["w",2]]},{"elem":2,"dots":[["w",3],["w",4]]}]}`, lim: small, err: ErrTooLarge, words: []string{"more than 3 dots"}},
	{name: "orset cloud past MaxElems", in: `{"type":"orset","cloud":[["w",2],["w",4],["w",6],["w",8]]}`, lim: small, err: ErrTooLarge, words: []string{"more than 3 dots"}},
	{name: "orset context past MaxElems", in: `{"type":"orset","context":{"a":1,"b":1,"c":1,"d":1}}`, lim: small, err: ErrTooLarge, words: []string{`"context" has 4 elements`}},
	{name: "evidence past MaxElems", in: `{"type":"contradiction","values":[{"type":"number","value":1},{"type":"number","value":2},{"type":"number","value":3},{"type":"number","value":4}]}`, lim: small, err: ErrTooLarge, words: []string{`"values" has 4 elements`}},
	{name: "from past MaxElems", in: `{"type":"contradiction","from":["a","b","c","d"]}`, lim: small, err: ErrTooLarge, words: []string{`"from" has 4 elements`}},
	{name: "set in a map past MaxElems", in: `{"type":"map","entries":{"s":` + manyElems(4) + `}}`, lim: small, err: ErrTooLarge, words: []string{"limit 3"}, path: "entries.s"},
	{name: "payload past MaxBytes", in: `{"type":"max","value":12345}`, lim: Limits{MaxBytes: 20}, err: ErrTooLarge, words: []string{"28 bytes, limit 20"}},
	{name: "payload past 1 MiB", in: `{"type":"lww","ts":1,"value":"` + strings.Repeat("x", 1<<20) + `"}`, err: ErrTooLarge, words: []string{"limit 1048576"}},
	{name: "maps past MaxDepth", in: nestMaps(16), err: ErrTooDeep, words: []string{"more than 32 levels"}},
	{name: "maps past a small MaxDepth", in: nestMaps(2), lim: Limits{MaxDepth: 4}, err: ErrTooDeep, words: []string{"more than 4 levels"}},

	// Supported values.
	{name: "supported without values", in: `{"type":"supported"}`, err: ErrMissingField, words: []string{`"values"`}},
	{name: "supported claim not an object", in: `{"type":"supported","values":[1]}`, err: ErrFieldType, words: []string{"values[0]", "claim must be an object"}},
	{name: "supported claim without premises", in: `{"type":"supported","values":[{"value":{"type":"max","value":1}}]}`, err: ErrMissingField, words: []string{"values[0]", `"premises"`}},
	{name: "supported claim with extra field", in: `{"type":"supported","values":[{"premises":[],"value":{"type":"max","value":1},"why":1}]}`, err: ErrUnknownField, words: []string{`"why"`}},
	{name: "supported bad premise", in: `{"type":"supported","values":[{"premises":["a b"],"value":{"type":"max","value":1}}]}`, err: ErrInvalid, words: []string{"values[0]", `premise name "a b"`, "' '"}},
	{name: "supported premise with a comma", in: `{"type":"supported","values":[{"premises":["a,b"],"value":{"type":"max","value":1}}]}`, err: ErrInvalid, words: []string{`"a,b"`}},
	{name: "supported empty premise", in: `{"type":"supported","values":[{"premises":[""],"value":{"type":"max","value":1}}]}`, err: ErrInvalid, words: []string{`premise name ""`}},
	{name: "supported of supported", in: `{"type":"supported","values":[{"premises":[],"value":{"type":"supported","values":[]}}]}`, err: ErrInvalid, words: []string{"cannot be a supported"}},
	{name: "supported of contradiction", in: `{"type":"supported","values":[{"premises":[],"value":{"type":"contradiction","from":["x"]}}]}`, err: ErrInvalid, words: []string{"cannot be a contradiction"}},
	{name: "supported bad inner value", in: `{"type":"supported","values":[{"premises":["p"],"value":{"type":"interval","lo":3,"hi":1}}]}`, err: ErrInvalid, words: []string{"values[0].value", "lo 3 > hi 1"}},
	{name: "supported too many claims", in: `{"type":"supported","values":[` + strings.Repeat(`{"premises":[],"value":{"type":"max","value":1}},`, 64) + `{"premises":[],"value":{"type":"max","value":1}}]}`, err: ErrTooLarge, words: []string{"65 claims, limit 64"}},
	{name: "supported too many premises", in: manyPremises(33), err: ErrTooLarge, words: []string{"premises, limit 32"}},
	{name: "arrays in lww past MaxDepth", in: lwwArrays(32), err: ErrTooDeep, words: []string{"more than 32 levels"}},
	{name: "objects in lww past MaxDepth", in: `{"type":"lww","ts":1,"value":` + strings.Repeat(`{"a":`, 32) + "1" + strings.Repeat("}", 32) + `}`, err: ErrTooDeep, words: []string{"more than 32 levels"}},
	{name: "deep array at the top", in: strings.Repeat("[", 100000), err: ErrSyntax, words: []string{"expected an object (at byte 0)"}},

	// Text that is not UTF-8, and lone surrogates.
	{name: "invalid UTF-8", in: "{\"type\":\"set\",\"elems\":[\"\xff\"]}", err: ErrSyntax, words: []string{"invalid UTF-8"}},
	{name: "overlong UTF-8", in: "{\"type\":\"set\",\"elems\":[\"\xc0\xaf\"]}", err: ErrSyntax, words: []string{"invalid UTF-8"}},
	{name: "surrogate in UTF-8", in: "{\"type\":\"set\",\"elems\":[\"\xed\xa0\x80\"]}", err: ErrSyntax, words: []string{"invalid UTF-8"}},
	{name: "truncated UTF-8", in: "{\"type\":\"set\",\"elems\":[\"\xe6\x97\"]}", err: ErrSyntax, words: []string{"invalid UTF-8"}},
	{name: "invalid UTF-8 in a key", in: "{\"type\":\"gcounter\",\"counts\":{\"\xff\":1}}", err: ErrSyntax, words: []string{"invalid UTF-8"}},
	{name: "lone high surrogate", in: `{"type":"set","elems":["\ud800"]}`, err: ErrSyntax, words: []string{`lone UTF-16 surrogate \ud800`}},
	{name: "lone low surrogate", in: `{"type":"set","elems":["\uDC00x"]}`, err: ErrSyntax, words: []string{`surrogate \uDC00`}},
	{name: "high surrogate then letter", in: `{"type":"lww","ts":1,"value":"\ud83d\u0041"}`, err: ErrSyntax, words: []string{`surrogate \ud83d`}},
	{name: "two high surrogates", in: `{"type":"lww","ts":1,"value":"\ud83d\ud83d"}`, err: ErrSyntax, words: []string{"surrogate"}},
	{name: "lone surrogate in a key", in: `{"type":"gcounter","counts":{"\udfff":1}}`, err: ErrSyntax, words: []string{"surrogate"}},
	{name: "lone surrogate in type", in: `{"type":"\ud800"}`, err: ErrSyntax, words: []string{"surrogate"}},
}

func TestDecodeBadInput(t *testing.T) {
	for _, tc := range badInputs {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.lim.Decode([]byte(tc.in))
			if err == nil {
				t.Fatalf("Decode accepted %q as %s", short(tc.in), enc(v))
			}
			if v != nil {
				t.Errorf("Decode returned a value with its error: %v", v)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %q does not wrap %q", err, tc.err)
			}
			checkDecodeError(t, err, len(tc.in))
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not say %q", err, w)
				}
			}
			if tc.path != "" {
				var de *DecodeError
				errors.As(err, &de)
				if de.Path != tc.path {
					t.Errorf("path %q, want %q", de.Path, tc.path)
				}
			}
		})
	}
}

// checkDecodeError checks the shape of every refusal: a *DecodeError that
// wraps exactly one sentinel, with an offset inside the input.
func checkDecodeError(t tb, err error, n int) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("%T is not a *DecodeError: %v", err, err)
	}
	matched := 0
	for _, s := range decodeSentinels {
		if errors.Is(err, s) {
			matched++
		}
	}
	if matched != 1 || !errors.Is(err, de.Err) {
		t.Fatalf("%q wraps %d sentinels", err, matched)
	}
	if de.Offset < 0 || de.Offset > n {
		t.Fatalf("offset %d outside the input (%d bytes): %v", de.Offset, n, err)
	}
	if de.Error() == "" || strings.ToLower(de.Error()[:1]) != de.Error()[:1] {
		t.Fatalf("message should be lowercase and say something: %q", de.Error())
	}
}

func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// TestDecodeAtTheLimits: inputs just inside every limit decode.
func TestDecodeAtTheLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		lim  Limits
	}{
		{"maps at MaxDepth", nestMaps(15), Limits{}},
		{"arrays in lww at MaxDepth", lwwArrays(31), Limits{}},
		{"set at MaxElems", manyElems(3), small},
		{"payload at MaxBytes", `{"type":"max","value":1234}`, Limits{MaxBytes: 27}},
		{"negative limits mean the defaults", nestMaps(15), Limits{MaxBytes: -1, MaxDepth: -1, MaxElems: -1}},
		{"evidence at MaxDepth", `{"type":"map","entries":{"k":{"type":"contradiction","values":[` + nestMaps(13) + `],"from":["x"]}}}`, Limits{}},
		{"one number underflows to 0", `{"type":"max","value":1e-400}`, Limits{}},
		{"a 309-digit integer in an lww value", `{"type":"lww","ts":1,"value":1` + strings.Repeat("0", 308) + `}`, Limits{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.lim.Decode([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			checkCanonical(t, v)
		})
	}
}

// TestMergeTypeMismatch: Merge refuses two values of different types with a
// *MergeError that names both, and returns its first operand unchanged.
func TestMergeTypeMismatch(t *testing.T) {
	a, b := Max{1}, Min{1}
	v, changed, err := Merge(a, b)
	var me *MergeError
	if !errors.As(err, &me) || !errors.Is(err, ErrTypeMismatch) {
		t.Fatalf("Merge(max, min) = %v", err)
	}
	if me.Left != "max" || me.Right != "min" || err.Error() != "cannot merge min into max: type mismatch" {
		t.Fatalf("MergeError %+v: %q", me, err)
	}
	if changed || v != Value(a) {
		t.Fatalf("Merge returned %v, changed=%v", v, changed)
	}
	if Leq(a, b) || Leq(b, a) {
		t.Fatal("values of different types should be incomparable")
	}
	// Nothing and contradictions merge with every type.
	for _, other := range []Value{Nothing{}, NewContradiction([]string{"x"}), nil} {
		if _, _, err := Merge(a, other); err != nil {
			t.Fatalf("Merge(max, %v): %v", other, err)
		}
		if _, _, err := Merge(other, a); err != nil {
			t.Fatalf("Merge(%v, max): %v", other, err)
		}
	}
}

// TestNewLWWBadInput: the constructor checks its JSON like Decode.
func TestNewLWWBadInput(t *testing.T) {
	for _, tc := range []struct {
		in  string
		err error
	}{
		{``, ErrSyntax},
		{`{"a":1,"a":2}`, ErrDuplicateField},
		{`[1e400]`, ErrNotFinite},
		{`1 2`, ErrSyntax},
		{`"\udc00"`, ErrSyntax},
		{strings.Repeat("[", 40) + strings.Repeat("]", 40), ErrTooDeep},
	} {
		if _, err := NewLWW([]byte(tc.in), 1, "w"); !errors.Is(err, tc.err) {
			t.Errorf("NewLWW(%q) = %v, want %v", tc.in, err, tc.err)
		} else {
			checkDecodeError(t, err, len(tc.in))
		}
	}
}
