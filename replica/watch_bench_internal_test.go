package replica

import (
	"fmt"
	"testing"
)

// BenchmarkNotify measures what telling the watchers of one change costs
// the fold (which does it under its lock), with 0, 100 and 2,000 watchers
// of the same pattern (the event streams of a dashboard's browsers) and
// of 100 distinct patterns. Each watcher is drained as it goes, as a
// reader would. The cost is the push to each watcher (its lock, its map of
// pending events, its signal: about 75 ns), not the matching: indexing the
// watchers by pattern, tried, saved nothing measurable. 2,000 event
// streams cost the fold 150 µs a change.
func BenchmarkNotify(b *testing.B) {
	for _, tt := range []struct {
		name     string
		n        int
		distinct bool
	}{{"watchers=0", 0, false}, {"same-pattern=100", 100, false}, {"same-pattern=2000", 2000, false}, {"distinct-patterns=100", 100, true}} {
		b.Run(tt.name, func(b *testing.B) {
			var ws watchers
			all := make([]*Watcher, tt.n)
			for i := range all {
				pattern := "sensors.>"
				if tt.distinct {
					pattern = fmt.Sprintf("sensors.s%d.*", i)
				}
				all[i] = newWatcher(pattern)
				ws.add(all[i])
			}
			ev := Event{Cell: "sensors.s1.temp"}
			for b.Loop() {
				ws.notify(ev)
				for _, w := range all {
					w.mu.Lock()
					clear(w.pending)
					w.order, w.head = w.order[:0], 0
					w.mu.Unlock()
				}
			}
		})
	}
}
