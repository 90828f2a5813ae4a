package propagators

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	good := []string{"x", "weather.boston.temp", "a-b_c.D9", strings.Repeat("a", MaxNameLen), "0b7f5c1e-3f7a-4f2e-9d8c-2a1b3c4d5e6f"}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q) = %v", n, err)
		}
	}
	bad := map[string]string{
		"":                                "empty",
		"a..b":                            "empty token at position 2",
		".a":                              "empty token at position 1",
		"a.":                              "empty token at position 2",
		"a b":                             "whitespace",
		"a.*":                             "wildcards are for patterns",
		"a.>":                             "wildcards are for patterns",
		"a/b":                             `"/"`,
		strings.Repeat("a", MaxNameLen+1): "limit 255",
	}
	for n, want := range bad {
		err := ValidateName(n)
		if !errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateName(%q) = %v, want ErrBadName mentioning %q", n, err, want)
		}
	}
}

func TestPatterns(t *testing.T) {
	for _, p := range []string{">", "*", "a.*", "a.>", "*.b.>", "a.b"} {
		if err := ValidatePattern(p); err != nil {
			t.Errorf("ValidatePattern(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"a.>.b", "a*", "", "a..b"} {
		if err := ValidatePattern(p); !errors.Is(err, ErrBadName) {
			t.Errorf("ValidatePattern(%q) = %v, want ErrBadName", p, err)
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
