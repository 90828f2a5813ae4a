package fold

import (
	"slices"
	"strings"
	"sync"
)

// nameIndex is a sorted index of a Core's cell names, for listings in name
// order. It is built by the first SortedNames and kept up to date from then
// on: a fold that creates a cell appends its name to added, and the next
// SortedNames merges what was added. Until a listing asks, it costs
// nothing; once built, 16 bytes a cell (the names' bytes are the map's).
//
// Listing a page by scanning every name instead, keeping the smallest in a
// bounded heap, took ~40 ms a page on 200k cells (a cache miss per name);
// with the index a page is a binary search and the page's own cells.
type nameIndex struct {
	// mu serializes the readers that bring the index up to date (a Core's
	// readers may run concurrently with one another). Writers (Apply,
	// Restore), which run alone, append to added without it.
	mu     sync.Mutex
	built  bool
	sorted []string // never changed in place: readers keep slices of it
	added  []string // names of the cells created since the last merge
}

// minDrop: an index whose unmerged additions outgrow both this and the
// sorted names is dropped (and rebuilt by the next listing), so that a
// replica that listed once and then creates cells for ever does not keep
// their names twice.
const minDrop = 4096

// add records a new cell's name. Called by writers only.
func (ix *nameIndex) add(name string) {
	if !ix.built {
		return
	}
	ix.added = append(ix.added, name)
	if len(ix.added) > max(len(ix.sorted), minDrop) {
		ix.built, ix.sorted, ix.added = false, nil, nil
	}
}

// drop forgets the index (a cell was removed): the next listing rebuilds
// it. Called by writers only; forgetting is rare.
func (ix *nameIndex) drop() { ix.built, ix.sorted, ix.added = false, nil, nil }

// SortedNames returns the names of every cell, sorted. The caller must not
// modify the slice; it stays valid (it does not change) after further
// folds. Unlike the other read methods, which only read, it may update the
// Core's index: it is safe to call concurrently with other read methods
// (Get, Each, SortedNames) but, as they are, never concurrently
// with Apply or Restore.
func (c *Core) SortedNames() []string {
	ix := &c.names
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if !ix.built {
		ix.sorted = make([]string, 0, len(c.cells))
		for name := range c.cells {
			ix.sorted = append(ix.sorted, name)
		}
		slices.Sort(ix.sorted)
		ix.built, ix.added = true, nil
		return ix.sorted
	}
	if len(ix.added) > 0 {
		slices.Sort(ix.added)
		merged := make([]string, 0, len(ix.sorted)+len(ix.added))
		a, b := ix.sorted, ix.added
		for len(a) > 0 && len(b) > 0 {
			if strings.Compare(a[0], b[0]) <= 0 {
				merged, a = append(merged, a[0]), a[1:]
			} else {
				merged, b = append(merged, b[0]), b[1:]
			}
		}
		merged = append(append(merged, a...), b...)
		ix.sorted, ix.added = merged, ix.added[:0]
	}
	return ix.sorted
}
