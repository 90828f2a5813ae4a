package graph

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dprop/dprop/propagators/network"
	"gonum.org/v1/gonum/graph/simple"
)

func load(t *testing.T, file string) *Graph {
	t.Helper()
	n, err := network.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	g, err := FromNetwork(n)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// fifty is a network of 49 nodes in three parts, as a sensor farm might be.
func fifty(t *testing.T) *Graph {
	t.Helper()
	var b strings.Builder
	b.WriteString("cells:\n")
	cities := []string{"boston", "paris", "tokyo", "lima", "oslo", "cairo"}
	for _, c := range cities {
		fmt.Fprintf(&b, "  - {name: w.%s.f, type: range}\n  - {name: w.%s.c, type: range}\n  - {name: w.%s.max, type: max}\n", c, c, c)
	}
	b.WriteString("  - {name: world.hull, type: range}\n  - {name: world.max, type: max}\n  - {name: world.hot, type: flag}\n" +
		"  - {name: a.x, type: interval}\n  - {name: a.y, type: interval}\n  - {name: a.sum, type: interval}\n  - {name: a.sq, type: interval}\n" +
		"  - {name: tags, type: set}\n  - {name: tags.long, type: set}\n  - {name: tags.upper, type: set}\n  - {name: tags.all, type: set}\npropagators:\n")
	var cs []string
	for _, c := range cities {
		fmt.Fprintf(&b, "  - {kind: linear, name: %s-f-to-c, inputs: [w.%s.f], outputs: [w.%s.c], params: {k: 5/9, m: -160/9}, group: celsius}\n", c, c, c)
		fmt.Fprintf(&b, "  - {kind: max, name: %s-max, inputs: [w.%s.c], outputs: [w.%s.max], group: stats}\n", c, c, c)
		cs = append(cs, "w."+c+".c")
	}
	fmt.Fprintf(&b, "  - {kind: hull, inputs: [%s], outputs: [world.hull]}\n", strings.Join(cs, ", "))
	b.WriteString("  - {kind: max, inputs: [world.hull], outputs: [world.max]}\n" +
		"  - {kind: threshold, inputs: [world.max], outputs: [world.hot], params: {value: 30}}\n" +
		"  - {kind: sum, inputs: [a.x, a.y], outputs: [a.sum]}\n  - {kind: square, inputs: [a.sum], outputs: [a.sq]}\n" +
		"  - {kind: filter, inputs: [tags], outputs: [tags.long], params: {expr: 'len(elem) > 3'}}\n" +
		"  - {kind: map, inputs: [tags], outputs: [tags.upper], params: {expr: 'upper(elem)'}}\n" +
		"  - {kind: union, inputs: [tags.long, tags.upper], outputs: [tags.all]}\n")
	n, err := network.Parse("fifty.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	g, err := FromNetwork(n)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// The drawing is the same every time, and no two boxes overlap.
func TestLayoutDeterministicWithoutOverlaps(t *testing.T) {
	for _, g := range []*Graph{load(t, "../../../testdata/networks/temperature.yaml"), load(t, "../../../testdata/networks/constraints.yaml"), fifty(t)} {
		if a, b := g.SVG(), g.SVG(); !bytes.Equal(a, b) {
			t.Errorf("%s: two drawings differ", g.File)
		}
		boxes, w, h := g.layout()
		for i, a := range boxes {
			if a.x-a.w/2 < 0 || a.y-a.h/2 < 0 || a.x+a.w/2 > w || a.y+a.h/2 > h {
				t.Errorf("%s: node %d outside the drawing (%+v in %.0f×%.0f)", g.File, i, a, w, h)
			}
			for j := i + 1; j < len(boxes); j++ {
				b := boxes[j]
				if dx, dy := (a.w+b.w)/2-abs(a.x-b.x), (a.h+b.h)/2-abs(a.y-b.y); dx > 0 && dy > 0 {
					t.Errorf("%s: nodes %d and %d overlap", g.File, i, j)
				}
			}
		}
		if len(g.Cells)+len(g.Propagators) > 40 && (w > 4000 || h > 4000 || w > 4*h || h > 4*w) {
			t.Errorf("%s: %.0f×%.0f is too large or too thin to read", g.File, w, h)
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// The SVG is well-formed XML, with the ids and classes the web page
// updates, and escapes what it quotes.
func TestSVG(t *testing.T) {
	g := load(t, "../../../testdata/networks/temperature.yaml")
	g.Propagators[0].Description = `<script>alert("x")</script>`
	svg := g.SVG()
	if err := xml.Unmarshal(svg, new(struct{})); err != nil {
		t.Fatalf("not XML: %v\n%s", err, svg)
	}
	for _, want := range []string{
		`id="cell:weather.boston.temp_f" data-cell="weather.boston.temp_f"`,
		`id="prop:0" data-prop="boston-f-to-c"`,
		`data-from="cell:weather.boston.temp_f" data-to="prop:0"`,
		`data-from="prop:0" data-to="cell:weather.boston.temp_c"`,
		`<text class="kind"`, `>linear · celsius</text>`, `<text class="value"`, `<text class="stats"`,
		`&lt;script&gt;`,
	} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("SVG lacks %s:\n%s", want, svg)
		}
	}
	if bytes.Contains(svg, []byte("<style")) || bytes.Contains(svg, []byte("<script")) {
		t.Errorf("SVG has a style or script element:\n%s", svg)
	}
}

func TestDOT(t *testing.T) {
	g := load(t, "../../../testdata/networks/temperature.yaml")
	dot := string(g.DOT())
	for _, want := range []string{"digraph network {", "rankdir=LR;",
		`"weather.boston.temp_f" [shape=box`, `p0 [shape=box, style="rounded,filled"`, `label="boston-f-to-c\nlinear · celsius"`,
		`"weather.boston.temp_f" -> p0;`, `p0 -> "weather.boston.temp_c";`} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %s:\n%s", want, dot)
		}
	}
	if got := dotQuote("a\"b\\c\nd"); got != `"a\"b\\c\nd"` {
		t.Errorf("dotQuote = %s", got)
	}
}

func TestShortValue(t *testing.T) {
	for in, want := range map[string]string{
		`{"type":"number","value":2}`:            "2",
		`{"type":"interval","lo":0.3,"hi":0.32}`: "[0.3, 0.32]",
		`{"type":"interval","lo":0}`:             "[0, ∞)",
		`{"type":"range","min":31,"max":57}`:     "31 … 57",
		`{"type":"set","elems":["a"]}`:           `{"type":"set","elems":["a"]}`,
	} {
		if got := shortValue([]byte(in)); got != want {
			t.Errorf("shortValue(%s) = %q, want %q", in, got, want)
		}
	}
}

// EadesR2 may diverge from some starting places: eades then tries others,
// and the drawing of a part is never a line of boxes.
func TestEadesRecovers(t *testing.T) {
	g := fifty(t)
	edges := g.edges()
	for _, nodes := range components(len(g.sizes()), edges) {
		if len(nodes) < 2 {
			continue
		}
		boxes := g.sizes()
		layoutPart(boxes, edges, nodes)
		minY, maxY := boxes[nodes[0]].y, boxes[nodes[0]].y
		for _, i := range nodes {
			minY, maxY = min(minY, boxes[i].y), max(maxY, boxes[i].y)
		}
		if len(nodes) > 10 && maxY-minY < 200 {
			t.Errorf("a part of %d nodes drawn %.0f high: collapsed", len(nodes), maxY-minY)
		}
	}
	sg := simple.NewUndirectedGraph()
	sg.SetEdge(simple.Edge{F: simple.Node(0), T: simple.Node(1)})
	boxes := make([]box, 2)
	if !eades(boxes, sg, []int{0, 1}) || boxes[0] == boxes[1] {
		t.Errorf("two nodes: %+v", boxes)
	}
}

// Random networks of 4 to 120 nodes: every drawing is readable, none a
// line of boxes, none with boxes on top of each other.
func TestLayoutRandomNetworks(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		g := &Graph{File: fmt.Sprintf("random-%d", round)}
		cells := 2 + rnd.IntN(60)
		for i := range cells {
			g.Cells = append(g.Cells, Cell{Name: fmt.Sprintf("c%d", i), Type: "max"})
		}
		for i := range 1 + rnd.IntN(cells) {
			p := Propagator{Name: fmt.Sprintf("p%d", i), Kind: "max"}
			for range 1 + rnd.IntN(3) {
				p.Inputs = append(p.Inputs, fmt.Sprintf("c%d", rnd.IntN(cells)))
			}
			p.Outputs = []string{fmt.Sprintf("c%d", rnd.IntN(cells))}
			g.Propagators = append(g.Propagators, p)
		}
		boxes, w, h := g.layout()
		for i, a := range boxes {
			for j := i + 1; j < len(boxes); j++ {
				b := boxes[j]
				if dx, dy := (a.w+b.w)/2-abs(a.x-b.x), (a.h+b.h)/2-abs(a.y-b.y); dx > 0 && dy > 0 {
					t.Errorf("%s: nodes %d and %d overlap", g.File, i, j)
				}
			}
		}
		if n := len(boxes); n > 20 && (w > 12*h || h > 12*w) {
			t.Errorf("%s: %d nodes drawn %.0f×%.0f", g.File, n, w, h)
		}
	}
}
