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
	for _, name := range names[start:] {
		if !strings.HasPrefix(name, prefix) {
			break // names with the prefix are contiguous, and they are behind
		}
		if pattern != "" && !cellname.Match(pattern, name) {
			continue
		}
		if len(page) == limit {
			return page, true
		}
		if c, ok := r.core.Get(name); ok {
			page = append(page, c)
		}
	}
	return page, false
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
