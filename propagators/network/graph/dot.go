package graph

import (
	"bytes"
	"fmt"
	"strings"
)

// DOT returns the graph in Graphviz's DOT language, laid out left to right
// (dot -Tsvg draws it): cells are boxes named after themselves,
// propagators rounded boxes named p0, p1, ... in file order.
func (g *Graph) DOT() []byte {
	var b bytes.Buffer
	b.WriteString("digraph network {\n  rankdir=LR;\n  node [fontname=\"monospace\", fontsize=10];\n")
	if g.Description != "" {
		fmt.Fprintf(&b, "  label=%s; labelloc=t;\n", dotQuote(g.Description))
	}
	for _, c := range g.Cells {
		fmt.Fprintf(&b, "  %s [shape=box, style=filled, fillcolor=%q, label=%s];\n",
			dotQuote(c.Name), cellFill, dotQuote(c.Name+"\n"+c.Type))
	}
	for i, p := range g.Propagators {
		fmt.Fprintf(&b, "  p%d [shape=box, style=\"rounded,filled\", fillcolor=%q, label=%s];\n",
			i, propFill, dotQuote(p.Name+"\n"+p.label()))
	}
	for _, e := range g.edges() {
		fmt.Fprintf(&b, "  %s -> %s;\n", g.dotID(e[0]), g.dotID(e[1]))
	}
	b.WriteString("}\n")
	return b.Bytes()
}

func (g *Graph) dotID(node int) string {
	if node < len(g.Cells) {
		return dotQuote(g.Cells[node].Name)
	}
	return fmt.Sprintf("p%d", node-len(g.Cells))
}

// dotQuote quotes s as a DOT string; a newline becomes a centred line
// break.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", "")
	return `"` + r.Replace(s) + `"`
}
