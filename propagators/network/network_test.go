package network_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/propagators/network"
)

var update = flag.Bool("update", false, "rewrite the .want files of testdata/networks/invalid")

const dir = "../../testdata/networks"

// TestValidNetworks checks that every example network is valid and builds.
func TestValidNetworks(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("want the example networks, got %v, %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			n, err := network.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			b, err := n.Build()
			if err != nil {
				t.Fatal(err)
			}
			cells := len(n.Cells)
			if slices.ContainsFunc(n.Cells, func(c *network.CellDecl) bool { return c.Type == lattice.TypeSupported }) {
				cells += 2 // the worldview and nogoods cells
				if b.Types[propagators.WorldviewCell] != lattice.TypeMap || b.Types[propagators.NogoodsCell] != lattice.TypeSet {
					t.Errorf("worldview and nogoods undeclared: %v", b.Types)
				}
			}
			if len(b.Propagators)+len(b.Templates) != len(n.Propagators) || len(b.Types)+len(b.Patterns) != cells {
				t.Fatalf("built %d propagators and %d templates over %d cells and %d patterns, declared %d over %d",
					len(b.Propagators), len(b.Templates), len(b.Types), len(b.Patterns), len(n.Propagators), cells)
			}
		})
	}
}

// TestInvalidNetworks runs the checker over testdata/networks/invalid/*.yaml
// and compares every problem (file:line:col: message) with the .want file
// beside it; go test -update rewrites those.
func TestInvalidNetworks(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(dir, "invalid", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid networks: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			got := problems(t, f)
			wantFile := strings.TrimSuffix(f, ".yaml") + ".want"
			if *update {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("problems differ\n got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// problems loads and checks a file; the names in positions are made
// relative to the invalid directory.
func problems(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := network.Parse(filepath.Base(path), data)
	if err == nil {
		err = n.Check()
	}
	var ps network.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want Problems, got %v", err)
	}
	return ps.Error() + "\n"
}

// TestCheckReportsEveryProblem spot-checks positions on one file, so that a
// careless -update cannot hide a regression in them.
func TestCheckReportsEveryProblem(t *testing.T) {
	got := problems(t, filepath.Join(dir, "invalid", "types.yaml"))
	for _, want := range []string{
		`types.yaml:9:42: cell "reading": the initial value is {"type":"interval","lo":1,"hi":2}, but the cell is declared number`,
		`types.yaml:14:29: linear: cell "tags" is a set, want number, interval or range`,
		`types.yaml:16:46: hull: cell "temp.max" is a max, want range`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}

func TestBuildSelectsGroupsAndNames(t *testing.T) {
	src := `
cells:
  - {name: a, type: max}
  - {name: b, type: max}
  - {name: c, type: max, value: 3}
propagators:
  - {kind: copy, name: ab, inputs: [a], outputs: [b], group: east}
  - {kind: copy, name: bc, inputs: [b], outputs: [c], group: west}
  - {kind: copy, inputs: [c], outputs: [a]}
`
	n, err := network.Parse("split.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sel  []string
		want []string
	}{
		{nil, []string{"ab", "bc", "copy(c->a)"}},
		{[]string{"east"}, []string{"ab"}},
		{[]string{"west", "copy(c->a)"}, []string{"bc", "copy(c->a)"}},
	} {
		b, err := n.Build(tc.sel...)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range b.Propagators {
			got = append(got, p.Name())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Build(%v) = %v, want %v", tc.sel, got, tc.want)
		}
		if len(b.Types) != 3 || !lattice.Equal(b.Initial["c"], lattice.Max{Value: 3}) {
			t.Errorf("Build(%v): types %v, initial %v", tc.sel, b.Types, b.Initial)
		}
	}
	if _, err := n.Build("north"); err == nil || !strings.Contains(err.Error(), `selector "north"`) {
		t.Errorf("unknown selector: %v", err)
	}
	if got := n.Groups(); !slices.Equal(got, []string{"east", "west"}) {
		t.Errorf("Groups() = %v", got)
	}
}

func TestInitialValueForms(t *testing.T) {
	src := `
cells:
  - {name: wire, type: range, value: '{"type":"range","min":1,"max":2}'}
  - {name: yaml, type: range, value: {type: range, min: 1, max: 2}}
  - {name: short, type: range, value: {min: 1, max: 2}}
  - {name: bare, type: number, value: 2.5}
  - {name: flag, type: flag, value: true}
  - {name: set, type: set, value: [b, 1, a]}
  - {name: open, type: interval, value: {lo: 0}}
`
	n, err := network.Parse("values.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Build()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"wire":  `{"type":"range","min":1,"max":2}`,
		"yaml":  `{"type":"range","min":1,"max":2}`,
		"short": `{"type":"range","min":1,"max":2}`,
		"bare":  `{"type":"number","value":2.5}`,
		"flag":  `{"type":"flag","value":true}`,
		"set":   `{"type":"set","elems":[1,"a","b"]}`,
		"open":  `{"type":"interval","lo":0}`,
	}
	for cell, w := range want {
		if got := string(lattice.Encode(b.Initial[cell])); got != w {
			t.Errorf("%s = %s, want %s", cell, got, w)
		}
	}
}

func TestParseRefusesNonNetworks(t *testing.T) {
	for src, want := range map[string]string{
		"":              "x.yaml:1:1: empty network file",
		"- a\n- b\n":    "x.yaml:1:1: a network file is a mapping",
		"a: [\n":        "x.yaml:1: invalid YAML",
		"cells: 3\n":    "", // a shape problem, reported by Check
		"cells: []\n\n": "",
	} {
		_, err := network.Parse("x.yaml", []byte(src))
		switch {
		case want == "" && err != nil:
			t.Errorf("Parse(%q) = %v, want no error", src, err)
		case want != "" && (err == nil || !strings.HasPrefix(err.Error(), want)):
			t.Errorf("Parse(%q) = %v, want %q...", src, err, want)
		}
	}
}

// TestKindsAreDocumented checks that docs/networks.md has a section for
// every built-in kind.
func TestKindsAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/networks.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range network.Kinds() {
		if !strings.Contains(string(doc), "### `"+k.Name+"`") {
			t.Errorf("docs/networks.md has no section ### `%s`", k.Name)
		}
	}
}

// Expiries: parsed, checked with positions, built in file order.
func TestExpire(t *testing.T) {
	n, err := network.Parse("x.yaml", []byte("expire:\n  - {cells: sensors.>, ttl: 24h}\n  - {cells: \"a b\", ttl: soon}\n  - {ttl: 1h}\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = n.Check()
	for _, want := range []string{"x.yaml:3:", `ttl "soon": want a positive duration`, "x.yaml:4:", `missing field "cells"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("check: %v, want it to mention %q", err, want)
		}
	}
	n, err = network.Parse("y.yaml", []byte("expire:\n  - {cells: sensors.>, ttl: 24h}\n  - {cells: \">\", ttl: 90s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Build()
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Expire) != 2 || b.Expire[0].Cells != "sensors.>" || b.Expire[0].TTL != 24*time.Hour || b.Expire[1].TTL != 90*time.Second {
		t.Errorf("built expiries: %+v", b.Expire)
	}
}
