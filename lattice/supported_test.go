package lattice

import (
	"errors"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

func mustSupported(t testing.TB, claims ...Claim) *Supported {
	t.Helper()
	s, err := NewSupported(claims...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func believeAllBut(out ...string) func(string) bool {
	return func(p string) bool { return !slices.Contains(out, p) }
}

// The barometer's height as three measurements give it (Radul and
// Sussman's numbers, rounded): each worldview's strongest consequence and
// its support.
func TestSupportedConsequence(t *testing.T) {
	s := mustSupported(t,
		Claim{Interval{41.16, 47.24}, []string{"fall-time"}},
		Claim{Interval{44.51, 48.97}, []string{"shadows"}},
		Claim{Interval{45, 45}, []string{"superintendent"}},
	)
	cases := []struct {
		withdrawn []string
		want      Value
		support   []string
	}{
		{nil, Interval{45, 45}, []string{"superintendent"}},
		{[]string{"superintendent"}, Interval{44.51, 47.24}, []string{"fall-time", "shadows"}},
		{[]string{"superintendent", "shadows"}, Interval{41.16, 47.24}, []string{"fall-time"}},
		{[]string{"superintendent", "shadows", "fall-time"}, Nothing{}, nil},
	}
	for _, c := range cases {
		got := s.Consequence(believeAllBut(c.withdrawn...))
		if !Equal(got.Value, c.want) || !slices.Equal(got.Support, c.support) {
			t.Errorf("without %v: %s on %v, want %s on %v", c.withdrawn, Encode(got.Value), got.Support, Encode(c.want), c.support)
		}
	}
}

func TestSupportedNogood(t *testing.T) {
	s := mustSupported(t,
		Claim{Interval{1, 2}, []string{"a"}},
		Claim{Interval{0, 10}, []string{"c"}},
		Claim{Interval{3, 4}, []string{"b", "d"}},
	)
	got := s.Consequence(nil)
	if !got.Contradicts() || !slices.Equal(got.Support, []string{"a", "b", "d"}) {
		t.Fatalf("got %s on %v, want a contradiction on [a b d]", Encode(got.Value), got.Support)
	}
	if got := s.Consequence(believeAllBut("d")); !Equal(got.Value, Interval{1, 2}) || !slices.Equal(got.Support, []string{"a"}) {
		t.Fatalf("without d: %s on %v", Encode(got.Value), got.Support)
	}
}

func TestSupportedSubsumption(t *testing.T) {
	s := mustSupported(t,
		Claim{Interval{0, 10}, []string{"a", "b"}}, // subsumed: less said, more assumed
		Claim{Interval{1, 2}, []string{"a"}},
		Claim{Interval{0, 5}, []string{"c"}}, // kept: other premises
		Claim{Nothing{}, []string{"x"}},      // says nothing: dropped
	)
	want := `{"type":"supported","values":[{"premises":["a"],"value":{"type":"interval","lo":1,"hi":2}},{"premises":["c"],"value":{"type":"interval","lo":0,"hi":5}}]}`
	if got := string(Encode(s)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// A claim resting on no premise holds in every worldview.
	u := mustSupported(t, Claim{Interval{1, 3}, nil})
	j, changed, err := Merge(s, u)
	if err != nil || !changed {
		t.Fatal(err, changed)
	}
	if got := j.(*Supported).Consequence(func(string) bool { return false }); !Equal(got.Value, Interval{1, 3}) || len(got.Support) != 0 {
		t.Fatalf("nothing believed: %s on %v", Encode(got.Value), got.Support)
	}
	if _, err := NewSupported(Claim{Interval{1, 3}, []string{"no spaces"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad premise: %v", err)
	}
}

// TestSupportedConsequenceProperties checks, for any supported value and
// worldview, that the consequence is the join of the believed claims
// (against a dumb reference), that its support is believed and suffices
// (believing only the support gives the same value, or still a
// contradiction).
func TestSupportedConsequenceProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSupported().Draw(t, "s").(*Supported)
		out := rapid.SliceOfN(rapid.SampledFrom([]string{"a", "b", "c", "fall-time", "x:y.z"}), 0, 3).Draw(t, "withdrawn")
		believed := believeAllBut(out...)
		got := s.Consequence(believed)
		var want Value = Nothing{}
		for _, c := range s.Claims() {
			if allBelieved(c.Premises, believed) {
				want, _ = merge(want, c.Value)
			}
		}
		if !Equal(got.Value, want) {
			t.Fatalf("consequence %s, reference %s", Encode(got.Value), Encode(want))
		}
		for _, p := range got.Support {
			if !believed(p) {
				t.Fatalf("support %v holds withdrawn %q", got.Support, p)
			}
		}
		only := func(ps []string) func(string) bool { return func(p string) bool { return slices.Contains(ps, p) } }
		again := s.Consequence(only(got.Support))
		if got.Contradicts() != again.Contradicts() || !got.Contradicts() && !Equal(again.Value, got.Value) {
			t.Fatalf("support %v gives %s, not %s", got.Support, Encode(again.Value), Encode(got.Value))
		}
	})
}
