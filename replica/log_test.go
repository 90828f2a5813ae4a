package replica_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

// History lists every update of a cell, oldest first, with what it did.
func TestHistory(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	r := startReplica(t, url)
	ctx := ctxT(t)
	nc := connect(t, url)
	r.Refine(ctx, "h.x", lattice.Range{Min: 34, Max: 48}, replica.WithOrigin("scraper"))
	r.Refine(ctx, "h.x", lattice.Range{Min: 36, Max: 43})
	nc.Publish("dprop.cell.h.x", []byte(`{"type":"max","value":1}`))
	nc.Publish("dprop.cell.h.x", []byte(`not json`))
	// Publishes on two connections have no order between them: wait for
	// the raw ones before refining again.
	waitFor(t, "the raw updates", func() bool {
		n := uint64(0)
		for _, k := range r.Stats().Refused["h.x"] {
			n += k
		}
		return n == 2
	})
	r.Refine(ctx, "h.other", lattice.Flag{Value: true})
	r.Refine(ctx, "h.x", lattice.Range{Min: 31, Max: 57})
	hist, err := r.History(ctx, "h.x", replica.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		changed bool
		value   string
		refused string
	}
	want := []row{
		{true, `{"type":"range","min":34,"max":48}`, ""},
		{false, `{"type":"range","min":34,"max":48}`, ""},
		{false, "", fold.ReasonTypeMismatch},
		{false, "", fold.ReasonMalformed},
		{true, `{"type":"range","min":31,"max":57}`, ""},
	}
	if len(hist) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(hist), len(want), hist)
	}
	for i, e := range hist {
		if e.Changed != want[i].changed || string(e.Value) != want[i].value || e.Refused != want[i].refused {
			t.Errorf("entry %d: %+v, want %+v", i, e, want[i])
		}
		if i > 0 && e.Seq <= hist[i-1].Seq {
			t.Errorf("entry %d out of order", i)
		}
	}
	if hist[0].Origin != "scraper" || string(hist[3].Update) != `"not json"` {
		t.Errorf("origin %q, raw update %s", hist[0].Origin, hist[3].Update)
	}
	if _, err := json.Marshal(hist); err != nil {
		t.Fatal(err)
	}
	limited, _ := r.History(ctx, "h.x", replica.HistoryQuery{Limit: 2})
	if len(limited) != 2 || limited[1].Seq != hist[1].Seq {
		t.Errorf("limit 2: %+v", limited)
	}
	since, _ := r.History(ctx, "h.x", replica.HistoryQuery{Since: hist[4].Time})
	if len(since) == 0 || since[len(since)-1].Seq != hist[4].Seq || string(since[len(since)-1].Value) != want[4].value {
		t.Errorf("since: %+v", since)
	}
	if none, err := r.History(ctx, "h.never", replica.HistoryQuery{}); err != nil || len(none) != 0 {
		t.Errorf("history of an unknown cell: %v %v", none, err)
	}
}

// Replay rebuilds the cells as they were at a sequence or a time.
func TestReplay(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	r := startReplica(t, url)
	fill(t, r, 0, 60, 6)
	mid := r.Progress().Applied
	atMid := map[string]string{}
	for _, c := range r.Cells("") {
		atMid[c.Name] = enc(c.Value)
	}
	fill(t, r, 60, 60, 12)
	nc := connect(t, url)
	check := func(h replica.SnapshotHeader, cells []fold.Cell) {
		t.Helper()
		if h.Seq != mid || len(cells) != len(atMid) {
			t.Fatalf("replay reflects seq %d with %d cells, want %d with %d", h.Seq, len(cells), mid, len(atMid))
		}
		for _, c := range cells {
			if enc(c.Value) != atMid[c.Name] {
				t.Errorf("%s = %s, want %s", c.Name, enc(c.Value), atMid[c.Name])
			}
		}
	}
	h, cells, err := replica.Replay(ctxT(t), nc, replica.ReplayOptions{UntilSeq: mid})
	if err != nil {
		t.Fatal(err)
	}
	check(h, cells)
	// The same point by time: the stored time of message mid.
	s, _ := brokertest.JetStream(t, nc).Stream(ctxT(t), "DPROP")
	m, err := s.GetMsg(ctxT(t), mid)
	if err != nil {
		t.Fatal(err)
	}
	h, cells, err = replica.Replay(ctxT(t), nc, replica.ReplayOptions{UntilTime: m.Time})
	if err != nil {
		t.Fatal(err)
	}
	check(h, cells)
	// A snapshot file round trip keeps everything.
	var buf bytes.Buffer
	if err := replica.WriteSnapshot(&buf, h, cells); err != nil {
		t.Fatal(err)
	}
	h2, cells2, err := replica.ReadSnapshot(&buf, lattice.Limits{})
	if err != nil || h2.Seq != h.Seq || len(cells2) != len(cells) {
		t.Fatalf("round trip: %v %+v", err, h2)
	}
	// The whole log, and a pattern.
	_, all, _ := replica.Replay(ctxT(t), nc, replica.ReplayOptions{})
	if len(all) != 12 {
		t.Errorf("full replay: %d cells", len(all))
	}
	_, some, _ := replica.Replay(ctxT(t), nc, replica.ReplayOptions{Cells: "snap.c1"})
	if len(some) != 1 || enc(some[0].Value) != enc(r.Value("snap.c1")) {
		t.Errorf("pattern replay: %v", some)
	}
}

// The worked recovery of docs/recovery.md: the stream is lost; the cells
// come back from a replay file and from a replica's local snapshot, and
// nothing acknowledged before the snapshot point is missing.
func TestRecoveryAfterStreamLoss(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	nc := connect(t, url)
	dir := t.TempDir()
	sidecarSnap := filepath.Join(dir, "sidecar.jsonl")
	sidecar := startReplica(t, url, withSnapshot(sidecarSnap))
	beforePoint := newLedger()
	stop := make(chan struct{})
	wg := runWriters(t, 3, stop, beforePoint, func(int) func(context.Context, string, lattice.Value) error { return refinePublish(sidecar) })
	waitFor(t, "writes", func() bool { beforePoint.mu.Lock(); defer beforePoint.mu.Unlock(); return beforePoint.nAcked > 300 })
	close(stop)
	wg.Wait()
	// The point: a replay file of everything so far.
	h, cells, err := replica.Replay(ctxT(t), nc, replica.ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	replayFile := filepath.Join(dir, "point.jsonl")
	if err := replica.WriteSnapshotFile(replayFile, h, cells); err != nil {
		t.Fatal(err)
	}
	// More writes after the point, which the sidecar folds and keeps in its
	// local snapshot when it stops.
	after := newLedger()
	stop = make(chan struct{})
	wg = runWriters(t, 2, stop, after, func(int) func(context.Context, string, lattice.Value) error { return refinePublish(sidecar) })
	waitFor(t, "more writes", func() bool { after.mu.Lock(); defer after.mu.Unlock(); return after.nAcked > 100 })
	close(stop)
	wg.Wait()
	if err := sidecar.Close(); err != nil {
		t.Fatal(err)
	}

	// Disaster: the stream is gone.
	js := brokertest.JetStream(t, nc)
	if err := js.DeleteStream(ctxT(t), "DPROP"); err != nil {
		t.Fatal(err)
	}
	provision(t, url, 1)

	// Recovery: restore the replay file and the sidecar's local snapshot.
	for _, f := range []string{replayFile, sidecarSnap} {
		_, cells, err := replica.ReadSnapshotFile(f, lattice.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		st, err := replica.Restore(ctxT(t), nc, "", cells, "", nil)
		if err != nil || st.Failed != 0 || st.Published != st.Cells {
			t.Fatalf("restore %s: %+v %v", f, st, err)
		}
	}
	fresh := startReplica(t, url)
	for cell, v := range beforePoint.acked {
		if got := fresh.Value(cell); !lattice.Leq(v, got) {
			t.Errorf("%s: lost acknowledged information: %s, acked %s", cell, enc(got), enc(v))
		}
	}
	// The sidecar's local snapshot also brought back what came after the
	// point.
	for cell, v := range after.acked {
		if got := fresh.Value(cell); !lattice.Leq(v, got) {
			t.Errorf("%s: lost information after the point: %s, acked %s", cell, enc(got), enc(v))
		}
	}
	// Restoring again adds nothing.
	_, cells, _ = replica.ReadSnapshotFile(replayFile, lattice.Limits{})
	before := fresh.Cells("")
	replica.Restore(ctxT(t), nc, "", cells, "", nil)
	waitFor(t, "restore folded", func() bool { return fresh.Progress().Pending == 0 })
	for i, c := range fresh.Cells("") {
		if c.ETag != before[i].ETag {
			t.Errorf("a second restore changed %s", c.Name)
		}
	}
}

func streamMsgs(t testing.TB, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(ctxT(t), "DPROP")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

var compactModes = []replica.CompactMode{replica.CompactRollup, replica.CompactCheckpoint}

// Compaction leaves about one message per cell, and a fresh replica holds
// the same cells, in both modes.
func TestCompaction(t *testing.T) {
	for _, mode := range compactModes {
		t.Run(string(mode), func(t *testing.T) {
			srv := runBroker(t)
			url := srv.ClientURL()
			nc := connect(t, url)
			js := brokertest.JetStream(t, nc)
			publishBulk(t, nc, 5000, func(i int) (string, lattice.Value) {
				return fmt.Sprintf("k.c%d", i%50), lattice.Max{Value: float64(i)}
			})
			nc.Publish("dprop.cell.k.c7", []byte(`{"bad":`)) // refused garbage goes too
			r := startReplica(t, url)
			waitFor(t, "garbage folded", func() bool { return r.Progress().Applied == 5001 })
			st, err := r.Compact(ctxT(t), replica.CompactOptions{Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			if st.RolledUp != 50 || st.Conflicts != 0 || st.Failed != 0 || st.Mode != mode {
				t.Errorf("compaction %+v", st)
			}
			if n := streamMsgs(t, js); n != 50 {
				t.Errorf("stream holds %d messages after compaction, want 50", n)
			}
			fresh := startReplica(t, url)
			sameValues(t, fresh, r)
			waitFor(t, "rollups folded", func() bool { return r.Progress().Applied == fresh.Progress().Applied })
			if c, _ := fresh.Get("k.c7"); c.LogLen() != 1 || !c.RolledUp {
				t.Errorf("cell after compaction: %+v", c)
			}
			if mode == replica.CompactRollup {
				// A second compaction has nothing to do.
				st, _ = r.Compact(ctxT(t), replica.CompactOptions{Mode: mode})
				if st.RolledUp != 0 || st.Skipped != 50 {
					t.Errorf("second compaction %+v", st)
				}
			}
		})
	}
	// A checkpoint needs a replica of every cell.
	srv := runBroker(t)
	sub := startReplica(t, srv.ClientURL(), func(c *replica.Config) { c.Cells = "k.>" })
	if _, err := sub.Compact(ctxT(t), replica.CompactOptions{Mode: replica.CompactCheckpoint}); err == nil {
		t.Error("checkpoint from a subset replica accepted")
	}
	if st, err := sub.Compact(ctxT(t), replica.CompactOptions{}); err != nil || st.Mode != replica.CompactRollup {
		t.Errorf("auto mode on a subset replica: %+v %v", st, err)
	}
}

func sameValues(t testing.TB, got, want *replica.Replica) {
	t.Helper()
	g, w := got.Cells(""), want.Cells("")
	if len(g) != len(w) {
		t.Fatalf("%d cells, want %d", len(g), len(w))
	}
	for i := range g {
		if g[i].Name != w[i].Name || g[i].ETag != w[i].ETag {
			t.Errorf("%s = %s, want %s", g[i].Name, enc(g[i].Value), enc(w[i].Value))
		}
	}
}

// Compaction while writers write, by two compactors at once, loses nothing
// acknowledged: every replica ends ⊒ every acknowledged update, and equal.
func TestCompactionDuringWrites(t *testing.T) {
	for _, mode := range compactModes {
		t.Run(string(mode), func(t *testing.T) {
			srv := runBroker(t)
			testCompactionDuringWrites(t, []string{srv.ClientURL()}, 1, mode)
		})
	}
}

// The same on a three-node cluster with the stream at three replicas.
func TestCompactionDuringWritesCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	for _, mode := range compactModes {
		t.Run(string(mode), func(t *testing.T) {
			c := brokertest.RunCluster(t, 3)
			testCompactionDuringWrites(t, c.URLs(), 3, mode)
		})
	}
}

func testCompactionDuringWrites(t *testing.T, urls []string, replicas int, mode replica.CompactMode) {
	nc := connect(t, urls[0])
	if _, err := broker.EnsureStream(ctxT(t), brokertest.JetStream(t, nc), broker.StreamConfig{Replicas: replicas}); err != nil {
		t.Fatal(err)
	}
	url := func(i int) string { return urls[i%len(urls)] }
	rs := []*replica.Replica{startReplica(t, url(0)), startReplica(t, url(1))}
	l := newLedger()
	stop := make(chan struct{})
	wg := runWriters(t, 4, stop, l, func(i int) func(context.Context, string, lattice.Value) error {
		if i%2 == 0 {
			return refinePublish(rs[i/2])
		}
		return jsPublish(t, connect(t, url(i)))
	})
	var compactions sync.WaitGroup
	var mu sync.Mutex
	total := replica.CompactStats{}
	for _, r := range rs {
		compactions.Add(1)
		go func() {
			defer compactions.Done()
			acked := func() int { l.mu.Lock(); defer l.mu.Unlock(); return l.nAcked }
			for range 8 {
				prev := acked()
				waitFor(t, "new writes", func() bool { return acked() > prev+150 })
				st, err := r.Compact(context.Background(), replica.CompactOptions{Mode: mode})
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				total.RolledUp += st.RolledUp
				total.Conflicts += st.Conflicts
				mu.Unlock()
			}
		}()
	}
	compactions.Wait()
	close(stop)
	wg.Wait()
	t.Logf("compactions rolled up %d cells, %d conflicts", total.RolledUp, total.Conflicts)
	if total.RolledUp == 0 {
		t.Error("no rollup happened")
	}
	late := startReplica(t, url(2))
	checkConverged(t, brokertest.JetStream(t, connect(t, url(0))), l, append(rs, late)...)
}

// A join that outgrew the limits of one update is not compacted: published
// as a rollup it would be refused by every replica after the server had
// dropped what it replaces.
func TestCompactionLeavesOversizeJoins(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	small := func(c *replica.Config) { c.Limits = lattice.Limits{MaxElems: 10} }
	r := startReplica(t, url, small)
	ctx := ctxT(t)
	for i := range 2 {
		var es []lattice.Elem
		for j := range 8 {
			es = append(es, lattice.Num(float64(10*i+j)))
		}
		if _, err := r.Refine(ctx, "big", lattice.NewSet(es...)); err != nil {
			t.Fatal(err)
		}
	}
	r.Refine(ctx, "fine", lattice.Max{Value: 1})
	r.Refine(ctx, "fine", lattice.Max{Value: 2})
	for i, mode := range compactModes {
		// The compaction says what it left and why, and that it is
		// incomplete. (The replica first folds the previous one's
		// rollups, or it would take fine for written meanwhile.)
		last, err := brokertestStream(t, connect(t, url))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the log folded", func() bool { return r.Progress().Applied == last })
		st, err := r.Compact(ctx, replica.CompactOptions{Mode: mode})
		if !errors.Is(err, replica.ErrIncomplete) {
			t.Errorf("%s: %v, want ErrIncomplete", mode, err)
		}
		if st.TooLarge != 1 || st.Mode != replica.CompactRollup || st.Cells != 2 || st.RolledUp+st.Skipped != 1 {
			t.Errorf("%s: %+v, want the oversize cell left and rollups for the rest", mode, st)
		}
		if want := fmt.Sprintf("rollup: 2 cells, %d compacted; left as they were: %d with nothing to compact, 1 too large", 1-i, i); !strings.HasPrefix(st.String(), want) {
			t.Errorf("%s: summary %q, want it to start with %q", mode, st, want)
		}
	}
	fresh := startReplica(t, url, small)
	if got := fresh.Value("big").(*lattice.Set).Len(); got != 16 {
		t.Errorf("a fresh replica holds %d elements of big, want 16", got)
	}
	if enc(fresh.Value("fine")) != `{"type":"max","value":2}` {
		t.Errorf("fine = %s", enc(fresh.Value("fine")))
	}
}
