package graph

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// Colours of the drawing; the web page's style sheet overrides them for
// live states (a contradiction, a failing propagator).
const (
	cellFill   = "#eef4fb"
	cellStroke = "#4f77a3"
	propFill   = "#fff6dc"
	propStroke = "#a8841f"
	edgeStroke = "#6b6b6b"
	textFill   = "#1d2633"
	mutedFill  = "#5a6472"
)

// SVG draws the graph (see the package doc for the layout). Every node is
// a <g class="node cell"> with id "cell:NAME" and data-cell="NAME", or a
// <g class="node prop"> with id "prop:I" (I its index in file order) and
// data-prop="NAME"; each holds a <rect> and three <text>s, classes name,
// type (kind for propagators) and value (stats for propagators), which the
// web page rewrites. A cell's value line shows its initial value, if
// declared; a propagator's stats line is empty. Each edge is a <line
// class="edge"> with data-from and data-to naming the ids it joins. The
// drawing uses presentation attributes only, no <style>, so that a page
// whose Content-Security-Policy forbids inline styles can show it.
func (g *Graph) SVG() []byte {
	boxes, w, h := g.layout()
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="dprop-network" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" `+
		`font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" font-size="%d">`+"\n", w, h, w, h, fontSize)
	if g.Description != "" {
		fmt.Fprintf(&b, "<title>%s</title>\n", esc(g.Description))
	}
	fmt.Fprintf(&b, `<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto">`+
		`<path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker></defs>`+"\n", edgeStroke)
	b.WriteString(`<g class="edges">` + "\n")
	for _, e := range g.edges() {
		from, to := boxes[e[0]], boxes[e[1]]
		x1, y1 := from.clip(to.x, to.y)
		x2, y2 := to.clip(from.x, from.y)
		fmt.Fprintf(&b, `<line class="edge" data-from="%s" data-to="%s" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.3" marker-end="url(#arrow)"/>`+"\n",
			esc(g.nodeID(e[0])), esc(g.nodeID(e[1])), x1, y1, x2, y2, edgeStroke)
	}
	b.WriteString("</g>\n")
	for i, c := range g.Cells {
		value := "—"
		if c.Initial != nil {
			value = shortValue(c.Initial)
		}
		title := c.Name + ": " + c.Type
		if c.Description != "" {
			title += " — " + c.Description
		}
		node(&b, "cell", g.nodeID(i), "data-cell", c.Name, title, boxes[i], 3, cellFill, cellStroke, [3]string{c.Name, c.Type, value})
	}
	for i, p := range g.Propagators {
		title := fmt.Sprintf("%s: %s(%s → %s)", p.Name, p.Kind, strings.Join(p.Inputs, ", "), strings.Join(p.Outputs, ", "))
		if p.Description != "" {
			title += " — " + p.Description
		}
		node(&b, "prop", g.nodeID(len(g.Cells)+i), "data-prop", p.Name, title, boxes[len(g.Cells)+i], 14, propFill, propStroke, [3]string{p.Name, p.label(), ""})
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// nodeID is the id of node i's <g>.
func (g *Graph) nodeID(i int) string {
	if i < len(g.Cells) {
		return "cell:" + g.Cells[i].Name
	}
	return fmt.Sprintf("prop:%d", i-len(g.Cells))
}

// node writes one node: its group, box and three lines of text.
func node(b *bytes.Buffer, class, id, dataAttr, name, title string, bx box, rx int, fill, stroke string, lines [3]string) {
	fmt.Fprintf(b, `<g class="node %s" id="%s" %s="%s"><title>%s</title>`, class, esc(id), dataAttr, esc(name), esc(title))
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="%d" fill="%s" stroke="%s" stroke-width="1.2"/>`,
		bx.x-bx.w/2, bx.y-bx.h/2, bx.w, bx.h, rx, fill, stroke)
	classes := [3]string{"name", "type", "value"}
	if class == "prop" {
		classes = [3]string{"name", "kind", "stats"}
	}
	top := bx.y - bx.h/2 + padY + lineHeight - 4
	for k, line := range lines {
		weight, color := "", mutedFill
		if k == 0 {
			weight, color = ` font-weight="bold"`, textFill
		}
		fmt.Fprintf(b, `<text class="%s" x="%.1f" y="%.1f" text-anchor="middle" fill="%s"%s>%s</text>`,
			classes[k], bx.x, top+float64(k*lineHeight), color, weight, esc(cut(line, boxChars(bx.w))))
	}
	b.WriteString("</g>\n")
}

// cut shortens s to n runes, with an ellipsis.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
