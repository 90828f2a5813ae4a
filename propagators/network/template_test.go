package network_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/propagators/network"
)

func weather(t *testing.T) *network.Built {
	t.Helper()
	n, err := network.Load(filepath.Join(dir, "weather.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Build()
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Templates) != 2 || len(b.Propagators) != 0 {
		t.Fatalf("want 2 templates and no concrete propagator, got %d and %d", len(b.Templates), len(b.Propagators))
	}
	return b
}

// TestTemplateMatch checks which cells make which instances.
func TestTemplateMatch(t *testing.T) {
	b := weather(t)
	conv, hottest := b.Templates[0], b.Templates[1]
	for _, c := range []struct {
		tmpl        *network.Template
		cell, key   string
		grows, want bool
	}{
		{conv, "weather.boston.temp_f", "boston", false, true},
		{conv, "weather.boston.temp_c", "", false, false}, // an output, not an input
		{conv, "weather.boston.temp_f.x", "", false, false},
		{conv, "weather.temp_f", "", false, false},
		{conv, "news.boston.temp_f", "", false, false},
		{hottest, "weather.paris.temp_c", "", true, true},
		{hottest, "weather.paris.temp_f", "", false, false},
	} {
		key, grows, ok := c.tmpl.Match(c.cell)
		if ok != c.want || key != c.key || grows != c.grows {
			t.Errorf("%s.Match(%q) = %q, %v, %v; want %q, %v, %v", c.tmpl.Name(), c.cell, key, grows, ok, c.key, c.grows, c.want)
		}
	}
	if typ, ok := b.TypeOf("weather.lima.temp_c"); !ok || typ != lattice.TypeRange {
		t.Errorf("TypeOf(weather.lima.temp_c) = %q, %v; want range", typ, ok)
	}
	if typ, ok := b.TypeOf("weather.hottest"); !ok || typ != lattice.TypeMax {
		t.Errorf("TypeOf(weather.hottest) = %q, %v; want max", typ, ok)
	}
}

// TestTemplateInstance runs instances over real values: the conversion of
// one city, and the aggregate over the cell it was made for.
func TestTemplateInstance(t *testing.T) {
	b := weather(t)
	conv, hottest := b.Templates[0], b.Templates[1]
	p, err := conv.Instance("boston", "")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "f-to-c.boston" || !slices.Equal(p.Inputs(), []string{"weather.boston.temp_f"}) ||
		!slices.Contains(p.Outputs(), "weather.boston.temp_c") {
		t.Fatalf("instance %s: %v -> %v", p.Name(), p.Inputs(), p.Outputs())
	}
	refs, err := propagators.Evaluate(context.Background(), p, map[string]lattice.Value{
		"weather.boston.temp_f": lattice.Range{Min: 32, Max: 212}})
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(refs, func(r propagators.Refinement) bool { return r.Cell == "weather.boston.temp_c" }); i < 0 ||
		!lattice.Equal(refs[i].Value, lattice.Range{Min: 0, Max: 100}) {
		t.Fatalf("refinements %v, want weather.boston.temp_c [0, 100]", refs)
	}
	if _, err := conv.Instance("boston.x", ""); err == nil {
		t.Error("an instance key of two tokens for one capture was accepted")
	}
	agg, err := hottest.Instance("", "weather.paris.temp_c")
	if err != nil {
		t.Fatal(err)
	}
	if agg.Name() != "hottest" || !slices.Equal(agg.Inputs(), []string{"weather.paris.temp_c"}) {
		t.Fatalf("aggregate %s over %v", agg.Name(), agg.Inputs())
	}
	refs, err = propagators.Evaluate(context.Background(), agg, map[string]lattice.Value{
		"weather.paris.temp_c": lattice.Range{Min: 5, Max: 15}})
	if err != nil || len(refs) != 1 || !lattice.Equal(refs[0].Value, lattice.Max{Value: 15}) {
		t.Fatalf("aggregate refinements %v, %v; want weather.hottest 15", refs, err)
	}
}

// TestTemplateNames checks the names of instances of unnamed templates and
// of templates whose name does not mention their captures.
func TestTemplateNames(t *testing.T) {
	n, err := network.Parse("t.yaml", []byte(`
cells:
  - {name: s.<room>.<id>.r, type: range}
  - {name: c.<room>.<id>.r, type: range}
propagators:
  - {kind: copy, inputs: [s.<room>.<id>.r], outputs: [c.<room>.<id>.r]}
  - {kind: copy, name: named, inputs: [c.<room>.<id>.r], outputs: [s.<room>.<id>.r]}
`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Build()
	if err != nil {
		t.Fatal(err)
	}
	key, _, ok := b.Templates[0].Match("s.hall.7.r")
	if !ok || key != "hall.7" {
		t.Fatalf("Match = %q, %v", key, ok)
	}
	if got := b.Templates[0].InstanceName(key); got != "copy(s.hall.7.r->c.hall.7.r)" {
		t.Errorf("unnamed instance: %q", got)
	}
	if got := b.Templates[1].InstanceName(key); got != "named[hall,7]" {
		t.Errorf("named instance: %q", got)
	}
}

// BenchmarkTemplateMatch measures what every new cell costs a replica
// running the weather templates: matching it against both.
func BenchmarkTemplateMatch(b *testing.B) {
	n, err := network.Load(filepath.Join(dir, "weather.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	built, err := n.Build()
	if err != nil {
		b.Fatal(err)
	}
	cells := []string{"weather.boston.temp_f", "weather.boston.temp_c", "news.today"}
	i := 0
	for b.Loop() {
		for _, t := range built.Templates {
			t.Match(cells[i%len(cells)])
		}
		i++
	}
}

// A template over supported cells makes instances that compute on the
// inner values and publish claims on the premises of what they read.
func TestTemplateSupported(t *testing.T) {
	n, err := network.Parse("supported.yaml", []byte(`
cells:
  - {name: "sensor.<id>.raw", type: supported, of: interval}
  - {name: "sensor.<id>.copy", type: supported, of: interval}
propagators:
  - {kind: copy, name: "copy.<id>", inputs: ["sensor.<id>.raw"], outputs: ["sensor.<id>.copy"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Build()
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Templates[0].Instance("s1", "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(p.Inputs(), propagators.WorldviewCell) || !slices.Contains(p.Outputs(), propagators.NogoodsCell) {
		t.Fatalf("instance not run on supported cells: %v -> %v", p.Inputs(), p.Outputs())
	}
	raw, _ := lattice.Support(lattice.Interval{Lo: 1, Hi: 2}, "calibrated")
	refs, err := propagators.Evaluate(context.Background(), p, map[string]lattice.Value{"sensor.s1.raw": raw})
	if err != nil || len(refs) != 1 || refs[0].Cell != "sensor.s1.copy" || !lattice.Equal(refs[0].Value, raw) {
		t.Fatalf("refinements %v, %v; want sensor.s1.copy ⊒ the claim on calibrated", refs, err)
	}
}
