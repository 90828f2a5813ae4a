package lattice

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"
)

// benchCases are the wire forms measured by BenchmarkDecodeMerge: the
// current value of a cell and an update that changes it.
var benchCases = []struct{ name, cur, upd string }{
	{"max", `{"type":"max","value":7}`, `{"type":"max","value":9}`},
	{"min", `{"type":"min","value":7}`, `{"type":"min","value":3}`},
	{"number", `{"type":"number","value":7}`, `{"type":"number","value":7}`},
	{"range", `{"type":"range","min":34,"max":48}`, `{"type":"range","min":31,"max":57}`},
	{"interval", `{"type":"interval","lo":0,"hi":100}`, `{"type":"interval","lo":10,"hi":90}`},
	{"flag", `{"type":"flag","value":false}`, `{"type":"flag","value":true}`},
	{"gcounter", `{"type":"gcounter","counts":{"w1":3,"w2":5,"w3":1}}`, `{"type":"gcounter","counts":{"w1":4,"w2":5,"w3":1}}`},
	{"pncounter", `{"type":"pncounter","inc":{"w1":3,"w2":5},"dec":{"w1":1}}`, `{"type":"pncounter","inc":{"w1":4,"w2":5},"dec":{"w1":2}}`},
	{"set-10", setOf(0, 10), setOf(5, 15)},
	{"lww", `{"type":"lww","value":{"temp":21.5,"unit":"C"},"ts":1,"writer":"a"}`, `{"type":"lww","value":{"temp":22,"unit":"C"},"ts":2,"writer":"b"}`},
	{"orset", `{"type":"orset","elems":[{"elem":"a","dots":[["w1",1]]}],"context":{"w1":1}}`, `{"type":"orset","elems":[{"elem":"b","dots":[["w2",1]]}]}`},
	{"map", `{"type":"map","entries":{"t":{"type":"max","value":1},"r":{"type":"range","min":1,"max":2}}}`, `{"type":"map","entries":{"t":{"type":"max","value":2}}}`},
}

func setOf(from, to int) string {
	s := `{"type":"set","elems":[`
	for i := from; i < to; i++ {
		if i > from {
			s += ","
		}
		s += `"e` + strconv.Itoa(i) + `"`
	}
	return s + "]}"
}

// BenchmarkDecodeMerge measures what a replica does per update: decode the
// payload and merge it into the cell's current value.
func BenchmarkDecodeMerge(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			cur, err := Decode([]byte(bc.cur))
			if err != nil {
				b.Fatal(err)
			}
			upd := []byte(bc.upd)
			b.ReportAllocs()
			b.SetBytes(int64(len(upd)))
			for b.Loop() {
				v, err := Decode(upd)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := Merge(cur, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeMergeEncode adds the canonical encoding of the result (what
// an ETag or a snapshot needs).
func BenchmarkDecodeMergeEncode(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			cur, _ := Decode([]byte(bc.cur))
			upd := []byte(bc.upd)
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				v, err := Decode(upd)
				if err != nil {
					b.Fatal(err)
				}
				m, _, _ := Merge(cur, v)
				buf = m.AppendJSON(buf[:0])
			}
		})
	}
}

// The same work with encoding/json, for comparison (docs/performance.md):
// decode into a struct with a type field, check it, merge. "2pass" is what a
// registry needs with encoding/json: read the type first, then decode into
// that type's struct.
type jsonMax struct {
	Type  string   `json:"type"`
	Value *float64 `json:"value"`
}

type jsonRange struct {
	Type string   `json:"type"`
	Min  *float64 `json:"min"`
	Max  *float64 `json:"max"`
}

func BenchmarkEncodingJSON(b *testing.B) {
	maxUpd := []byte(`{"type":"max","value":9}`)
	rangeUpd := []byte(`{"type":"range","min":31,"max":57}`)
	b.Run("max", func(b *testing.B) {
		cur := 7.0
		b.ReportAllocs()
		for b.Loop() {
			var m jsonMax
			if err := json.Unmarshal(maxUpd, &m); err != nil || m.Type != "max" || m.Value == nil {
				b.Fatal(err)
			}
			_ = math.Max(cur, *m.Value)
		}
	})
	b.Run("max-2pass", func(b *testing.B) {
		cur := 7.0
		b.ReportAllocs()
		for b.Loop() {
			var t struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(maxUpd, &t); err != nil || t.Type != "max" {
				b.Fatal(err)
			}
			var m jsonMax
			if err := json.Unmarshal(maxUpd, &m); err != nil || m.Value == nil {
				b.Fatal(err)
			}
			_ = math.Max(cur, *m.Value)
		}
	})
	b.Run("range", func(b *testing.B) {
		lo, hi := 34.0, 48.0
		b.ReportAllocs()
		for b.Loop() {
			var r jsonRange
			if err := json.Unmarshal(rangeUpd, &r); err != nil || r.Type != "range" || r.Min == nil || r.Max == nil || *r.Min > *r.Max {
				b.Fatal(err)
			}
			_, _ = math.Min(lo, *r.Min), math.Max(hi, *r.Max)
		}
	})
	b.Run("range-2pass", func(b *testing.B) {
		lo, hi := 34.0, 48.0
		b.ReportAllocs()
		for b.Loop() {
			var t struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(rangeUpd, &t); err != nil || t.Type != "range" {
				b.Fatal(err)
			}
			var r jsonRange
			if err := json.Unmarshal(rangeUpd, &r); err != nil || r.Min == nil || r.Max == nil || *r.Min > *r.Max {
				b.Fatal(err)
			}
			_, _ = math.Min(lo, *r.Min), math.Max(hi, *r.Max)
		}
	})
	b.Run("range+encode", func(b *testing.B) {
		lo, hi := 34.0, 48.0
		b.ReportAllocs()
		for b.Loop() {
			var r jsonRange
			if err := json.Unmarshal(rangeUpd, &r); err != nil || r.Type != "range" || r.Min == nil || r.Max == nil || *r.Min > *r.Max {
				b.Fatal(err)
			}
			mn, mx := math.Min(lo, *r.Min), math.Max(hi, *r.Max)
			if _, err := json.Marshal(jsonRange{Type: "range", Min: &mn, Max: &mx}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
