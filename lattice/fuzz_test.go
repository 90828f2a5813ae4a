package lattice

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The fuzz targets. Their seed corpus is testdata/fuzz/<target>/: one file
// per wire form and per bad input of this package's tables, written by
//
//	go test ./lattice -run TestFuzzCorpus -update-corpus
//
// plus any crasher the fuzzer found (named crash-*; keep them).

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the fuzz seed corpus in testdata/fuzz from the test tables")

// closureLimits decode the encoding of a merge result. A merge may exceed
// the default limits (a union of two large sets, a contradiction wrapping
// values nested near MaxDepth), so closure is checked under generous ones.
var closureLimits = Limits{MaxBytes: 1 << 30, MaxDepth: 1 << 12, MaxElems: 1 << 30}

// FuzzDecode: Decode never panics; a refusal is a *DecodeError wrapping
// exactly one sentinel; an accepted value encodes canonically and stably,
// and merging it with itself or with its decoded encoding adds nothing.
// Differentially, against the standard library: whatever Decode accepts,
// encoding/json accepts too (the hand-written reader is no more lenient
// than JSON), and so is the canonical encoding.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lim := range []Limits{{}, {MaxDepth: 5, MaxElems: 3, MaxBytes: 200}} {
			v, err := lim.Decode(data)
			if err != nil {
				if v != nil {
					t.Fatalf("a value and an error: %v", err)
				}
				checkDecodeError(t, err, len(data))
				continue
			}
			if !json.Valid(data) {
				t.Fatalf("Decode accepted what encoding/json refuses as JSON: %q", data)
			}
			if b := Encode(v); !json.Valid(b) {
				t.Fatalf("the canonical encoding is not JSON to encoding/json: %q", b)
			}
			checkDecoded(t, v)
		}
	})
}

// checkDecoded checks a value that Decode accepted.
func checkDecoded(t *testing.T, v Value) {
	t.Helper()
	b := Encode(v)
	w, err := closureLimits.Decode(b)
	if err != nil {
		t.Fatalf("the encoding of a decoded value is refused: %v\n%s", err, b)
	}
	if b2 := Encode(w); !bytes.Equal(b, b2) {
		t.Fatalf("encoding not stable:\n%s\n%s", b, b2)
	}
	for _, o := range []Value{v, w, Nothing{}} {
		m, changed, err := Merge(v, o)
		if err != nil || changed || !bytes.Equal(Encode(m), b) {
			t.Fatalf("merging %s into its own value: changed=%v err=%v\n%s", Encode(o), changed, err, b)
		}
	}
	if !Leq(v, w) || !Leq(w, v) || !Equal(v, w) {
		t.Fatalf("a value and its decoded encoding are not equal: %s", b)
	}
}

// FuzzMerge: for two inputs that decode, the merge commutes, is idempotent,
// is an upper bound of both, reports a change exactly when the bytes differ
// from the left operand's, and encodes to something Decode accepts. Values
// of different types are refused by Merge and contradict under the total
// merge of a map key.
func FuzzMerge(f *testing.F) {
	for _, w := range wireForms {
		f.Add([]byte(w.wire), []byte(w.wire))
	}
	for _, bc := range benchCases {
		f.Add([]byte(bc.cur), []byte(bc.upd))
	}
	f.Add([]byte(`{"type":"interval","lo":1,"hi":5}`), []byte(`{"type":"interval","lo":7}`))
	f.Add([]byte(`{"type":"number","value":3}`), []byte(`{"type":"number","value":4}`))
	f.Add([]byte(`{"type":"map","entries":{"k":{"type":"max","value":1}}}`), []byte(`{"type":"map","entries":{"k":{"type":"set","elems":[1]}}}`))
	f.Add([]byte(`{"type":"orset","elems":[{"elem":"a","dots":[["w1",1]]}]}`), []byte(`{"type":"orset","context":{"w1":1}}`))
	f.Fuzz(func(t *testing.T, x, y []byte) {
		a, err := Decode(x)
		if err != nil {
			return
		}
		b, err := Decode(y)
		if err != nil {
			return
		}
		ab, abChanged := join(t, a, b)
		ba, _ := join(t, b, a)
		if !Equal(ab, ba) {
			t.Fatalf("not commutative:\n%s\n%s", Encode(ab), Encode(ba))
		}
		if changed := !bytes.Equal(Encode(ab), Encode(a)); changed != abChanged {
			t.Fatalf("changed=%v but the bytes changed: %v", abChanged, changed)
		}
		for _, v := range []Value{a, b, ab} {
			if m, changed := join(t, ab, v); changed || !Equal(m, ab) {
				t.Fatalf("(a ⊔ b) ⊔ %s changed it", Encode(v))
			}
		}
		aab, _ := join(t, a, ab)
		if !Equal(aab, ab) {
			t.Fatalf("a ⊔ (a ⊔ b) ≠ a ⊔ b")
		}
		w, err := closureLimits.Decode(Encode(ab))
		if err != nil {
			t.Fatalf("the encoding of a merge is refused: %v\n%s", err, Encode(ab))
		}
		if !Equal(w, ab) {
			t.Fatalf("merge result not canonical: %s", Encode(ab))
		}
	})
}

// corpusName makes a file name of a test case name.
var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

func corpusFile(data []byte) string {
	return fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
}

// TestFuzzCorpus keeps testdata/fuzz/FuzzDecode in step with the tables of
// wire forms and bad inputs: every case has its file (rewritten with
// -update-corpus).
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	want := map[string][]byte{}
	add := func(name string, data string) {
		name = strings.TrimRight(unsafeName.ReplaceAllString(name, "-"), "-")
		if _, dup := want[name]; dup {
			t.Fatalf("two seeds named %s", name)
		}
		want[name] = []byte(data)
	}
	for _, w := range wireForms {
		add("wire-"+w.name, w.wire)
	}
	for name, wire := range minimalWire {
		add("minimal-"+name, wire)
	}
	for _, bc := range benchCases {
		add("bench-"+bc.name, bc.upd)
	}
	for _, b := range badInputs {
		if len(b.in) > 4096 { // the fuzzer finds size limits by itself
			continue
		}
		add("bad-"+b.name, b.in)
	}
	if *updateCorpus {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range want {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(corpusFile(data)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: missing from %s (run with -update-corpus)", name, dir)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != corpusFile(data) {
			t.Errorf("%s: out of date (run with -update-corpus)", name)
		}
	}
}
