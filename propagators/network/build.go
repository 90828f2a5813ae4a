package network

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
)

// Built is what a replica needs to run (part of) a network.
type Built struct {
	// Propagators are the selected propagators, in file order.
	Propagators []propagators.Propagator
	// Types maps every declared cell (selected or not) to its type, for the
	// replica to enforce; with supported cells, the worldview and nogoods
	// cells too (propagators.WorldviewCell, NogoodsCell).
	Types map[string]string
	// Initial maps the cells declared with a value to that value, for the
	// replica to refine them with at start (merging makes it harmless for
	// several replicas to do so).
	Initial map[string]lattice.Value
	// Expire are the expiries, in file order (the first that matches a
	// cell decides).
	Expire []Expiry
	// Templates are the selected propagators declared over patterns, in
	// file order: each makes an instance per matching cell (see Template).
	Templates []*Template
	// Patterns are the cells declared over patterns, with their types.
	Patterns []CellPattern
	// Fingerprints identify the definition of each selected propagator
	// and template, by name: its kind, cells with their types, and
	// parameters. Two networks give a propagator the same fingerprint
	// when it would compute the same.
	Fingerprints map[string]string
}

// CellPattern is a cell declaration over a pattern, such as
// weather.<city>.temp_c.
type CellPattern struct {
	Pattern, Type string
	pat           pattern
}

// Match reports whether cell matches the pattern.
func (p CellPattern) Match(cell string) bool { return p.pat.match(cell, nil) }

// TypeOf returns the declared type of cell: its own declaration's, or that
// of the first cell pattern that matches it.
func (b *Built) TypeOf(cell string) (string, bool) {
	if t, ok := b.Types[cell]; ok {
		return t, true
	}
	for _, p := range b.Patterns {
		if p.Match(cell) {
			return p.Type, true
		}
	}
	return "", false
}

// Expiry forgets the cells matching Cells that no update has refined for
// TTL.
type Expiry struct {
	Cells string
	TTL   time.Duration
}

// Build checks the network (returning its Problems if any) and returns its
// propagators. With no selectors, all of them; otherwise those whose group or
// name equals one of the selectors, so that two hosts can split one network
// (a propagator without a group is selected only by name). A selector that
// matches nothing is an error, to catch typos.
func (n *Network) Build(selectors ...string) (*Built, error) {
	if err := n.Check(); err != nil {
		return nil, err
	}
	b := &Built{Types: map[string]string{}, Initial: map[string]lattice.Value{}, Fingerprints: map[string]string{}}
	for _, c := range n.Cells {
		if isTemplateName(c.Name) {
			p, _ := parsePattern(c.Name, false) // checked
			b.Patterns = append(b.Patterns, CellPattern{Pattern: c.Name, Type: c.Type, pat: p})
			continue
		}
		b.Types[c.Name] = c.Type
		if c.Value != nil {
			b.Initial[c.Name] = c.Value
		}
		if c.Type == lattice.TypeSupported {
			// The cells of truth maintenance get their types declared
			// too, so that no stray update can decide them first.
			b.Types[propagators.WorldviewCell] = lattice.TypeMap
			b.Types[propagators.NogoodsCell] = lattice.TypeSet
		}
	}
	for _, e := range n.Expire {
		b.Expire = append(b.Expire, Expiry{Cells: e.Cells, TTL: e.ttl})
	}
	used := map[string]bool{}
	for _, bp := range n.built {
		if len(selectors) == 0 {
			b.Propagators = append(b.Propagators, bp.p)
			b.Fingerprints[bp.p.Name()] = bp.fp
			continue
		}
		for _, s := range selectors {
			if s == bp.p.Name() || (bp.decl.Group != "" && s == bp.decl.Group) {
				used[s] = true
				b.Propagators = append(b.Propagators, bp.p)
				b.Fingerprints[bp.p.Name()] = bp.fp
				break
			}
		}
	}
	for _, t := range n.templates {
		if len(selectors) == 0 {
			b.Templates = append(b.Templates, t)
			b.Fingerprints[t.name] = t.fp
			continue
		}
		for _, s := range selectors {
			if s == t.name || (t.decl.Group != "" && s == t.decl.Group) {
				used[s] = true
				b.Templates = append(b.Templates, t)
				b.Fingerprints[t.name] = t.fp
				break
			}
		}
	}
	for _, s := range selectors {
		if !used[s] {
			return nil, fmt.Errorf("network %s: selector %q names no group or propagator (groups: %v)", n.File, s, n.Groups())
		}
	}
	return b, nil
}

// Groups returns the groups the propagators are labelled with, sorted.
func (n *Network) Groups() []string {
	set := map[string]bool{}
	for _, d := range n.Propagators {
		if d.Group != "" {
			set[d.Group] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}
