package op

import (
	"reflect"
	"testing"

	"github.com/dprop/dprop/lattice"
)

// parseShort takes the short forms without encoding/json, and leaves
// everything else, valid or not, to parse.
func TestParseShort(t *testing.T) {
	for in, want := range map[string]Op{
		`{"op":"inc"}`:               {Name: Inc, By: 1},
		`{"op":"dec"}`:               {Name: Dec, By: 1},
		`{"op":"inc","by":0}`:        {Name: Inc},
		`{"op":"dec","by":42}`:       {Name: Dec, By: 42},
		`{"op":"clear"}`:             {Name: Clear},
		`{"op":"enable"}`:            {Name: Enable},
		`{"op":"inc","by":12345678}`: {Name: Inc, By: 12345678},
	} {
		got, ok := parseShort([]byte(in))
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("parseShort(%s) = %+v, %v; want %+v", in, got, ok, want)
		}
	}
	for _, in := range []string{
		`{"op":"inc","by":01}`, `{"op":"inc","by":-1}`, `{"op":"inc","by":1.5}`, `{"op":"inc","by":}`,
		`{"op":"inc","by":1234567890123456789}`, `{"op":"enable","by":1}`, `{"op":"inc"} `, `{"op":"inc"}}`,
		`{"op":"in\u0063"}`, `{"op":"add","elem":"x"}`, `{"op":"inc","by":1,"by":2}`, `{ "op":"inc"}`, `{"op":"inc`,
	} {
		if o, ok := parseShort([]byte(in)); ok {
			t.Errorf("parseShort(%s) = %+v, want it left to parse", in, o)
		}
	}
}

// FuzzParseShort checks that whatever parseShort takes, parse reads the
// same.
func FuzzParseShort(f *testing.F) {
	for _, s := range []string{`{"op":"inc"}`, `{"op":"dec","by":7}`, `{"op":"clear"}`, `{"op":"enable"}`, `{"op":"inc","by":0}`, `{"op":"inc","by":09}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		short, ok := parseShort(data)
		if !ok {
			return
		}
		full, err := parse(data, lattice.DefaultLimits, 0)
		if err != nil || !reflect.DeepEqual(short, full) {
			t.Fatalf("%q: parseShort %+v, parse %+v, %v", data, short, full, err)
		}
	})
}

func BenchmarkParseInc(b *testing.B) {
	for _, in := range []string{`{"op":"inc"}`, `{"op": "inc"}`} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse([]byte(in), lattice.Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
