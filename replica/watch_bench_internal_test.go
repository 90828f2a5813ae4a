package replica

import (
	"fmt"
	"testing"
)

// BenchmarkNotify measures what telling the watchers of one change costs:
// the fold's share (notify, under its lock) and the dispatcher's (deliver,
// without it), with 0, 100 and 2,000 watchers of the same pattern (the
// event streams of a dashboard's browsers), of 2,000 distinct patterns and
// of 2,000 other cells. The watchers of the cell are drained as they go,
// as a reader would. The fold's share is one queued change, whoever
// watches; the dispatcher's is the push to each watcher of the cell (its
// lock, its map of pending events, its signal), and finding them costs
// the same with 10 patterns or 2,000 (cellname.Index).
func BenchmarkNotify(b *testing.B) {
	for _, tt := range []struct {
		name    string
		n       int
		pattern func(i int) string
	}{
		{"watchers=0", 0, nil},
		{"same-pattern=100", 100, func(int) string { return "sensors.>" }},
		{"same-pattern=2000", 2000, func(int) string { return "sensors.>" }},
		{"distinct-patterns=2000", 2000, func(i int) string { return fmt.Sprintf("sensors.s%d.*", i) }},
		{"other-cells=2000", 2000, func(i int) string { return fmt.Sprintf("sensors.s%d.humidity", i) }},
	} {
		var ws watchers
		ev := Event{Cell: "sensors.s1.temp"}
		var matched []*Watcher // drained as a reader would
		for i := range tt.n {
			w := newWatcher(tt.pattern(i))
			ws.add(w)
			if w.matches(ev.Cell) {
				matched = append(matched, w)
			}
		}
		drain := func() {
			for _, w := range matched {
				w.mu.Lock()
				clear(w.pending)
				w.order, w.head = w.order[:0], 0
				w.mu.Unlock()
			}
		}
		var batch []queued
		take := func() []queued {
			batch = ws.take(batch)
			return batch
		}
		b.Run("fold/"+tt.name, func(b *testing.B) {
			for b.Loop() {
				ws.notify(ev)
				take()
			}
		})
		b.Run("dispatch/"+tt.name, func(b *testing.B) {
			for b.Loop() {
				ws.notify(ev)
				ws.deliver(take())
				drain()
			}
		})
	}
}
