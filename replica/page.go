package replica

import (
	"slices"
	"strings"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/replica/fold"
)

// CellsPage returns, sorted by name, the first limit cells matching
// pattern ("" for all) whose names sort after after ("" to start at the
// beginning), and whether more cells follow. Pages walked with the last
// name of each as the next after list every cell that existed throughout
// the walk, once; a cell created meanwhile appears if its name sorts after
// the page being read. limit < 1 is taken as 1.
//
// A page costs a binary search in the core's sorted index of names and the
// page's own cells, under the read lock: its time and memory are O(limit)
// whatever the replica's size, once the index exists (the first listing
// builds it: about 0.1 s for 200k cells). A pattern is searched only among
// the names that start with its literal prefix (weather. for weather.>).
// (Cells, which copies and sorts every cell, made one HTTP listing of 200k
// cells with their values allocate 224 MB.)
func (r *Replica) CellsPage(pattern, after string, limit int) (page []fold.Cell, more bool) {
	page, next := r.CellsPageFunc(pattern, after, limit, nil, 0)
	return page, next != ""
}

// CellsPageFunc is CellsPage for a caller that may see only some cells:
// it keeps the cells whose names keep accepts (nil keeps every one), and
// passes over at most skip names that keep refuses (skip < 1: no bound),
// so that a page of the few cells a caller may see among many does not
// hold the read lock for a walk of the whole index. next is the after of
// the following page, "" when no cell follows: the last name of a full
// page, or the last name refused when the bound stopped the walk (the page
// may then hold fewer than limit cells, or none, and the next page may be
// empty). keep is called under the replica's read lock: it must not call
// the replica.
func (r *Replica) CellsPageFunc(pattern, after string, limit int, keep func(name string) bool, skip int) (page []fold.Cell, next string) {
	limit = max(limit, 1)
	prefix := literalPrefix(pattern)
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := r.core.SortedNames()
	start, found := slices.BinarySearch(names, max(after, prefix))
	if found && after >= prefix {
		start++ // after itself is not listed
	}
	page = make([]fold.Cell, 0, min(limit, len(names)-start))
	skipped := 0
	walk := names[start:]
	// Cells only the outbox knows of yet are listed among the others.
	if extra := r.pend.only(r.core, prefix, max(after, prefix)); len(extra) > 0 {
		walk = mergeSorted(walk, extra)
	}
	for _, name := range walk {
		if !strings.HasPrefix(name, prefix) {
			break // names with the prefix are contiguous, and they are behind
		}
		if pattern != "" && !cellname.Match(pattern, name) {
			continue
		}
		if keep != nil && !keep(name) {
			if skipped++; skip > 0 && skipped >= skip {
				return page, name
			}
			continue
		}
		if len(page) == limit {
			return page, page[len(page)-1].Name
		}
		if c, ok := r.viewLocked(name); ok {
			page = append(page, c)
		}
	}
	return page, ""
}

// mergeSorted merges two sorted lists of distinct names.
func mergeSorted(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0] < b[0] {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// literalPrefix is what every name matching pattern starts with: its tokens
// before the first wildcard, each followed by a dot; the pattern itself if
// it has no wildcard; "" for "" and patterns that start with a wildcard.
func literalPrefix(pattern string) string {
	if !cellname.IsPattern(pattern) {
		return pattern
	}
	var b strings.Builder
	for tok := range strings.SplitSeq(pattern, ".") {
		if tok == "*" || tok == ">" {
			break
		}
		b.WriteString(tok)
		b.WriteByte('.')
	}
	return b.String()
}
