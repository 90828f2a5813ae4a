package cellname

import "strings"

// Index holds values under cell patterns and finds those whose pattern
// matches a cell by walking the cell's tokens down a tree of the patterns'
// tokens (the idea of nats-server's sublist), instead of trying every
// pattern: a match costs about the same with 10 patterns or 10,000, as long
// as few of them match. A pattern without wildcards is a cell name, and
// matches that cell only.
//
// The zero Index is empty and ready. An Index is not safe for concurrent
// use: its user guards it.
type Index[V comparable] struct {
	root node[V]
	n    int
}

type node[V comparable] struct {
	next map[string]*node[V] // the next token, a literal
	star *node[V]            // the next token, "*"
	here []V                 // patterns that end at this node
	rest []V                 // patterns whose next token is the last, ">"
}

// Add puts v under pattern, which must be a valid pattern (ValidatePattern)
// or cell name. A value may be added under several patterns, and one
// pattern may hold several values; adding the same value twice under one
// pattern makes Match report it twice.
func (x *Index[V]) Add(pattern string, v V) {
	n := &x.root
	for {
		tok, rest, more := strings.Cut(pattern, ".")
		switch {
		case tok == ">":
			n.rest = append(n.rest, v)
			x.n++
			return
		case tok == "*":
			if n.star == nil {
				n.star = &node[V]{}
			}
			n = n.star
		default:
			c := n.next[tok]
			if c == nil {
				if n.next == nil {
					n.next = make(map[string]*node[V])
				}
				c = &node[V]{}
				n.next[tok] = c
			}
			n = c
		}
		if !more {
			n.here = append(n.here, v)
			x.n++
			return
		}
		pattern = rest
	}
}

// Remove takes v from under pattern and reports whether it was there. The
// branches it leaves empty are pruned, so an Index does not grow with the
// patterns that come and go.
func (x *Index[V]) Remove(pattern string, v V) bool {
	ok := x.root.remove(pattern, v)
	if ok {
		x.n--
	}
	return ok
}

func (n *node[V]) remove(pattern string, v V) bool {
	tok, rest, more := strings.Cut(pattern, ".")
	if tok == ">" {
		var ok bool
		n.rest, ok = without(n.rest, v)
		return ok
	}
	c := n.star
	if tok != "*" {
		c = n.next[tok]
	}
	if c == nil {
		return false
	}
	var ok bool
	if more {
		ok = c.remove(rest, v)
	} else {
		c.here, ok = without(c.here, v)
	}
	if ok && c.empty() {
		if tok == "*" {
			n.star = nil
		} else {
			delete(n.next, tok)
		}
	}
	return ok
}

func (n *node[V]) empty() bool {
	return len(n.next) == 0 && n.star == nil && len(n.here) == 0 && len(n.rest) == 0
}

// without removes one v from list, keeping the order of the rest.
func without[V comparable](list []V, v V) ([]V, bool) {
	for i, x := range list {
		if x == v {
			var zero V
			copy(list[i:], list[i+1:])
			list[len(list)-1] = zero
			return list[:len(list)-1], true
		}
	}
	return list, false
}

// Match calls fn with every value whose pattern matches cell, a valid cell
// name, once for each pattern it was added under. fn must not change the
// Index.
func (x *Index[V]) Match(cell string, fn func(V)) {
	if x.n > 0 {
		x.root.match(cell, fn)
	}
}

// match visits the values of the patterns below n that match cell, the
// tokens still to match (at least one).
func (n *node[V]) match(cell string, fn func(V)) {
	for _, v := range n.rest {
		fn(v)
	}
	tok, rest, more := strings.Cut(cell, ".")
	if c := n.next[tok]; c != nil {
		c.step(rest, more, fn)
	}
	if n.star != nil {
		n.star.step(rest, more, fn)
	}
}

func (n *node[V]) step(rest string, more bool, fn func(V)) {
	if !more {
		for _, v := range n.here {
			fn(v)
		}
		return
	}
	n.match(rest, fn)
}

// Len returns how many values the Index holds.
func (x *Index[V]) Len() int { return x.n }
