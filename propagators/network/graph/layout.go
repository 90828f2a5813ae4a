package graph

import (
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/iterator"
	"gonum.org/v1/gonum/graph/layout"
	"gonum.org/v1/gonum/graph/simple"
)

// Sizes of the drawing, in SVG user units (pixels at 100%).
const (
	fontSize   = 12
	charWidth  = 7.3 // of a 12px monospace font, a little generous
	lineHeight = 16
	padX       = 10
	padY       = 7
	minChars   = 22  // room for a value or counters, whatever the name
	maxChars   = 40  // longer names are cut (the tooltip has them whole)
	gapX       = 28  // between boxes
	gapY       = 18  //
	partGap    = 48  // between the parts of a graph
	margin     = 12  // around the drawing
	edgeLength = 0.7 // the median edge, in average box widths
)

// box is a node as drawn: its centre and size.
type box struct{ x, y, w, h float64 }

// overlap is how far b and o would have to move apart, along each axis,
// to be gapX and gapY apart; both positive means they are too close.
func (b box) overlap(o box) (dx, dy float64) {
	dx = (b.w+o.w)/2 + gapX - math.Abs(b.x-o.x)
	dy = (b.h+o.h)/2 + gapY - math.Abs(b.y-o.y)
	return dx, dy
}

// sizes returns each node's box, cells first, at the origin.
func (g *Graph) sizes() []box {
	out := make([]box, 0, len(g.Cells)+len(g.Propagators))
	for _, c := range g.Cells {
		out = append(out, box{w: boxWidth(c.Name, c.Type), h: 3*lineHeight + 2*padY})
	}
	for _, p := range g.Propagators {
		out = append(out, box{w: boxWidth(p.Name, p.label()), h: 3*lineHeight + 2*padY})
	}
	return out
}

// boxWidth fits the longest text, within minChars and maxChars.
func boxWidth(texts ...string) float64 {
	n := minChars
	for _, t := range texts {
		n = max(n, min(len([]rune(t)), maxChars))
	}
	return float64(n)*charWidth + 2*padX
}

// boxChars is how many characters fit on a line of a box w wide.
func boxChars(w float64) int { return int((w - 2*padX) / charWidth) }

// layout places every node: each connected part of the graph is laid out
// by gonum's EadesR2, turned so that its edges run left to right on the
// whole, scaled to a readable edge length and pushed apart until no boxes
// overlap; the parts are then packed in rows, largest first, and the nodes
// without edges follow in rows. It returns the boxes and the drawing's
// size. The same graph is always drawn the same.
func (g *Graph) layout() ([]box, float64, float64) {
	boxes := g.sizes()
	edges := g.edges()
	var parts [][]int
	for _, nodes := range components(len(boxes), edges) {
		if len(nodes) > 1 {
			layoutPart(boxes, edges, nodes)
		}
		parts = append(parts, nodes)
	}
	w, h := pack(boxes, parts)
	return boxes, w + 2*margin, h + 2*margin
}

// components returns the connected parts of the graph (node indexes,
// ascending), larger parts first, then by their first node.
func components(n int, edges [][2]int) [][]int {
	parent := make([]int, n)
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	for _, e := range edges {
		a, b := find(e[0]), find(e[1])
		if a != b {
			parent[max(a, b)] = min(a, b)
		}
	}
	byRoot := map[int][]int{}
	var roots []int
	for i := range n {
		r := find(i)
		if byRoot[r] == nil {
			roots = append(roots, r)
		}
		byRoot[r] = append(byRoot[r], i)
	}
	parts := make([][]int, 0, len(roots))
	for _, r := range roots {
		parts = append(parts, byRoot[r])
	}
	slices.SortStableFunc(parts, func(a, b []int) int { return len(b) - len(a) })
	return parts
}

// layoutPart lays out one connected part (two nodes or more) around the
// origin.
func layoutPart(boxes []box, edges [][2]int, nodes []int) {
	in := map[int]bool{}
	for _, i := range nodes {
		in[i] = true
	}
	sg := simple.NewUndirectedGraph()
	var own [][2]int
	for _, e := range edges {
		if !in[e[0]] || e[0] == e[1] {
			continue
		}
		own = append(own, e)
		if !sg.HasEdgeBetween(int64(e[0]), int64(e[1])) {
			sg.SetEdge(simple.Edge{F: simple.Node(e[0]), T: simple.Node(e[1])})
		}
	}
	if !eades(boxes, sg, nodes) {
		circle(boxes, nodes)
	}
	orient(boxes, own, nodes)
	scale(boxes, own, nodes)
	separate(boxes, nodes)
}

// eades places a part's nodes with gonum's EadesR2, and reports whether
// it could. Its gradient descent starts from random places in the unit
// square, and two nodes that start very close repel each other so hard
// that it may diverge (coordinates of 1e19 and more, seen with 37 nodes):
// then it tries again from other places with a smaller step, a few times.
func eades(boxes []box, g *simple.UndirectedGraph, nodes []int) bool {
	for attempt := range 6 {
		e := layout.EadesR2{Updates: 200, Repulsion: 1, Rate: 0.05 / float64(1+attempt), Theta: 0.2,
			Src: rand.NewPCG(17+uint64(attempt), uint64(nodes[0]))}
		opt := layout.NewOptimizerR2(ordered{g}, e.Update)
		for opt.Update() {
		}
		bound := 10 * float64(len(nodes)+10) // sane runs stay within a few units per node
		ok := true
		for _, i := range nodes {
			c := opt.Coord2(int64(i))
			if math.IsNaN(c.X) || math.IsNaN(c.Y) || math.Abs(c.X) > bound || math.Abs(c.Y) > bound {
				ok = false
				break
			}
			boxes[i].x, boxes[i].y = c.X, c.Y
		}
		if ok {
			return true
		}
	}
	return false
}

// circle places a part's nodes on a circle, in order: the drawing of last
// resort, should EadesR2 diverge every time.
func circle(boxes []box, nodes []int) {
	for k, i := range nodes {
		a := 2 * math.Pi * float64(k) / float64(len(nodes))
		boxes[i].x, boxes[i].y = math.Cos(a)*float64(len(nodes)), math.Sin(a)*float64(len(nodes))
	}
}

// orient turns a part so that its edges' mean direction points right.
func orient(boxes []box, edges [][2]int, nodes []int) {
	var sx, sy float64
	for _, e := range edges {
		dx, dy := boxes[e[1]].x-boxes[e[0]].x, boxes[e[1]].y-boxes[e[0]].y
		if d := math.Hypot(dx, dy); d > 0 {
			sx, sy = sx+dx/d, sy+dy/d
		}
	}
	if sx == 0 && sy == 0 {
		return
	}
	a := -math.Atan2(sy, sx)
	sin, cos := math.Sin(a), math.Cos(a)
	for _, i := range nodes {
		x, y := boxes[i].x, boxes[i].y
		boxes[i].x, boxes[i].y = x*cos-y*sin, x*sin+y*cos
	}
}

// scale makes a part's median edge about edgeLength average box widths.
func scale(boxes []box, edges [][2]int, nodes []int) {
	var lengths []float64
	var w float64
	for _, i := range nodes {
		w += boxes[i].w
	}
	w /= float64(len(nodes))
	for _, e := range edges {
		if d := math.Hypot(boxes[e[1]].x-boxes[e[0]].x, boxes[e[1]].y-boxes[e[0]].y); d > 0 {
			lengths = append(lengths, d)
		}
	}
	if len(lengths) == 0 {
		return
	}
	slices.Sort(lengths)
	f := edgeLength * w / lengths[len(lengths)/2]
	for _, i := range nodes {
		boxes[i].x *= f
		boxes[i].y *= f
	}
}

// separate pushes a part's overlapping boxes apart, along the axis where
// they overlap least, until none overlap (or enough rounds have passed).
func separate(boxes []box, nodes []int) {
	for range 500 {
		moved := false
		for a, i := range nodes {
			for _, j := range nodes[a+1:] {
				dx, dy := boxes[i].overlap(boxes[j])
				if dx <= 0 || dy <= 0 {
					continue
				}
				moved = true
				if dx/boxes[i].w <= dy/boxes[i].h {
					s := direction(boxes[j].x - boxes[i].x)
					boxes[i].x -= s * dx / 2
					boxes[j].x += s * dx / 2
				} else {
					s := direction(boxes[j].y - boxes[i].y)
					boxes[i].y -= s * dy / 2
					boxes[j].y += s * dy / 2
				}
			}
		}
		if !moved {
			return
		}
	}
}

// direction is the sign of d; boxes at the same place part to the right.
func direction(d float64) float64 {
	if d < 0 {
		return -1
	}
	return 1
}

// pack places the parts in rows, in order, each part's boxes moved
// together, and returns the size they take. A row is as wide as the widest
// part, or as a square of their total area, whichever is wider.
func pack(boxes []box, parts [][]int) (width, height float64) {
	type bounds struct{ x0, y0, x1, y1 float64 }
	bs := make([]bounds, len(parts))
	var area, widest float64
	for k, nodes := range parts {
		b := bounds{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
		for _, i := range nodes {
			bx := boxes[i]
			b = bounds{min(b.x0, bx.x-bx.w/2), min(b.y0, bx.y-bx.h/2), max(b.x1, bx.x+bx.w/2), max(b.y1, bx.y+bx.h/2)}
		}
		bs[k] = b
		area += (b.x1 - b.x0 + partGap) * (b.y1 - b.y0 + partGap)
		widest = max(widest, b.x1-b.x0)
	}
	rowWidth := max(widest, math.Sqrt(area)*1.2)
	x, y, rowH := 0.0, 0.0, 0.0
	for k, nodes := range parts {
		b := bs[k]
		w, h := b.x1-b.x0, b.y1-b.y0
		gap := float64(partGap)
		if len(nodes) == 1 {
			gap = gapX
		}
		if x > 0 && x+w > rowWidth {
			x, y, rowH = 0, y+rowH+partGap, 0
		}
		for _, i := range nodes {
			boxes[i].x += margin + x - b.x0
			boxes[i].y += margin + y - b.y0
		}
		width, height = max(width, x+w), max(height, y+h)
		x += w + gap
		rowH = max(rowH, h)
	}
	return width, height
}

// clip returns where the segment from b's centre towards (x, y) leaves b.
func (b box) clip(x, y float64) (float64, float64) {
	dx, dy := x-b.x, y-b.y
	if dx == 0 && dy == 0 {
		return b.x, b.y
	}
	t := math.Inf(1)
	if dx != 0 {
		t = min(t, b.w/2/math.Abs(dx))
	}
	if dy != 0 {
		t = min(t, b.h/2/math.Abs(dy))
	}
	return b.x + dx*t, b.y + dy*t
}

// ordered is an undirected graph whose nodes iterate by ID: gonum's simple
// graphs iterate over maps, and EadesR2 places the nodes at random in the
// order it meets them, so without this the same graph came out different
// each time.
type ordered struct{ *simple.UndirectedGraph }

func (g ordered) Nodes() graph.Nodes        { return sortedNodes(g.UndirectedGraph.Nodes()) }
func (g ordered) From(id int64) graph.Nodes { return sortedNodes(g.UndirectedGraph.From(id)) }

func sortedNodes(it graph.Nodes) graph.Nodes {
	ns := graph.NodesOf(it)
	slices.SortFunc(ns, func(a, b graph.Node) int { return int(a.ID() - b.ID()) })
	return iterator.NewOrderedNodes(ns)
}
