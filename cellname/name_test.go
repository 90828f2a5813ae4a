package cellname

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	good := []string{"x", "weather.boston.temp", "a-b_c.D9", strings.Repeat("a", MaxLen), "0b7f5c1e-3f7a-4f2e-9d8c-2a1b3c4d5e6f"}
	for _, n := range good {
		if err := Validate(n); err != nil {
			t.Errorf("Validate(%q) = %v", n, err)
		}
	}
	bad := map[string]string{
		"":                            "empty",
		"a..b":                        "empty token at position 2",
		".a":                          "empty token at position 1",
		"a.":                          "empty token at position 2",
		"a b":                         "whitespace",
		"a.*":                         "wildcards are for patterns",
		"a.>":                         "wildcards are for patterns",
		"a/b":                         `"/"`,
		"héllo":                       `has "é" in token "héllo"`,
		"a.\xff":                      "the byte 0xff (not UTF-8)",
		strings.Repeat("a", MaxLen+1): "limit 255",
	}
	for n, want := range bad {
		err := Validate(n)
		if !errors.Is(err, ErrBad) || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(%q) = %v, want ErrBad mentioning %q", n, err, want)
		}
	}
}

func TestPatterns(t *testing.T) {
	for _, p := range []string{">", "*", "a.*", "a.>", "*.b.>", "a.b"} {
		if err := ValidatePattern(p); err != nil {
			t.Errorf("ValidatePattern(%q) = %v", p, err)
		}
		if got, want := IsPattern(p), p != "a.b"; got != want {
			t.Errorf("IsPattern(%q) = %v", p, got)
		}
	}
	for _, p := range []string{"a.>.b", "a*", "", "a..b"} {
		if err := ValidatePattern(p); !errors.Is(err, ErrBad) {
			t.Errorf("ValidatePattern(%q) = %v, want ErrBad", p, err)
		}
	}
	cases := []struct {
		pattern, cell string
		want          bool
	}{
		{">", "a", true}, {">", "a.b.c", true}, {"a.>", "a", false}, {"a.>", "a.b", true},
		{"a.>", "a.b.c", true}, {"a.*", "a.b", true}, {"a.*", "a.b.c", false}, {"*", "a", true},
		{"*", "a.b", false}, {"a.b", "a.b", true}, {"a.b", "a.bc", false}, {"*.b.>", "x.b.y", true},
		{"*.b.>", "x.c.y", false}, {"a.b.c", "a.b", false},
	}
	for _, c := range cases {
		if got := Match(c.pattern, c.cell); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.cell, got, c.want)
		}
	}
}

func TestSubjects(t *testing.T) {
	s := NewSubjects("")
	if got := s.Subject("weather.boston.temp"); got != "dprop.cell.weather.boston.temp" {
		t.Errorf("Subject = %q", got)
	}
	if c, ok := s.Cell("dprop.cell.a.b"); !ok || c != "a.b" {
		t.Errorf("Cell = %q, %v", c, ok)
	}
	if _, ok := s.Cell("other.cell.a"); ok {
		t.Error("Cell accepted a foreign subject")
	}
	if _, ok := s.Cell("dprop.weather.a"); ok {
		t.Error("Cell accepted a subject without .cell")
	}
	if got := NewSubjects("acme.prod").All(); got != "acme.prod.cell.>" {
		t.Errorf("All = %q", got)
	}
	if got := NewSubjects("acme.prod").Prefix(); got != "acme.prod" {
		t.Errorf("Prefix = %q", got)
	}
}

func TestSubjectKinds(t *testing.T) {
	s := NewSubjects("acme.prod")
	if got := s.Forget("a.b"); got != "acme.prod.forget.a.b" {
		t.Errorf("Forget = %q", got)
	}
	if got := s.Any("weather.>"); got != "acme.prod.*.weather.>" {
		t.Errorf("Any = %q", got)
	}
	if got := s.Stream(); len(got) != 2 || got[0] != "acme.prod.cell.>" || got[1] != "acme.prod.forget.>" {
		t.Errorf("Stream = %q", got)
	}
	for subject, want := range map[string][2]string{
		"acme.prod.cell.a.b":   {KindCell, "a.b"},
		"acme.prod.forget.a.b": {KindForget, "a.b"},
		"acme.prod.other.a":    {"", ""},
		"dprop.cell.a":         {"", ""},
	} {
		kind, cell, ok := s.Parse(subject)
		if kind != want[0] || cell != want[1] || ok != (want[0] != "") {
			t.Errorf("Parse(%q) = %q, %q, %v", subject, kind, cell, ok)
		}
	}
}

// FuzzPlain holds Validate's fast path to the full check: it accepts a
// name exactly when the full check does.
func FuzzPlain(f *testing.F) {
	for _, s := range []string{"x", "a.b", "a..b", ".a", "a.", "a b", "a.*", "", strings.Repeat("a", MaxLen+1), "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := plain(name), validate(name, false) == nil; got != want {
			t.Fatalf("plain(%q) = %v, validate accepts: %v", name, got, want)
		}
	})
}
