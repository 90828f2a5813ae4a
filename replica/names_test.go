package replica

import "testing"

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
	if got := NewSubjects("acme.prod").All(); got != "acme.prod.cell.>" {
		t.Errorf("All = %q", got)
	}
}
