package replica_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
)

// fastChecks makes a replica check its stream often, so that these tests
// see an incident quickly.
func fastChecks(c *replica.Config) { c.StreamCheckEvery = 50 * time.Millisecond }

// A stream deleted under a running replica: the replica notices, says so
// (status, stale reads, refusing refines rather than publishing into the
// void), keeps serving what it knew; when a stream of that name is created
// again it sets its old state aside (next to its snapshot, for dprop
// restore), replays the new stream, and refines work again with
// read-your-writes.
func TestStreamDeletedThenCreatedAnew(t *testing.T) {
	srv := runBroker(t)
	snap := filepath.Join(t.TempDir(), "snapshot.jsonl")
	r := startReplica(t, srv.ClientURL(), fastChecks, func(c *replica.Config) { c.SnapshotPath = snap })
	ctx := ctxT(t)
	if _, err := r.Refine(ctx, "a", lattice.Max{Value: 5}); err != nil {
		t.Fatal(err)
	}
	js := brokertest.JetStream(t, connect(t, srv.ClientURL()))
	if err := js.DeleteStream(ctx, cellname.DefaultStream); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica to notice the deletion", func() bool {
		st := r.StreamStatus()
		return !st.Attached && st.Incidents[replica.IncidentDeleted] == 1
	})
	st := r.StreamStatus()
	if !strings.Contains(st.Problem, "deleted") || st.Since.IsZero() {
		t.Errorf("status problem = %q since %v, want a deletion with its time", st.Problem, st.Since)
	}
	if !r.Stale() {
		t.Error("a replica without its stream is not stale")
	}
	if c, ok := r.Get("a"); !ok || enc(c.Value) != `{"type":"max","value":5}` {
		t.Errorf("the last known value is not served: %v %v", c, ok)
	}
	if _, err := r.Refine(ctx, "a", lattice.Max{Value: 6}); !errors.Is(err, replica.ErrStreamLost) {
		t.Errorf("refine without a stream: %v, want ErrStreamLost", err)
	}

	provision(t, srv.ClientURL(), 1)
	waitFor(t, "the replica to re-attach to the new stream", func() bool {
		st := r.StreamStatus()
		return st.Attached && st.Incidents[replica.IncidentReplaced] == 1 && !r.Stale()
	})
	if _, ok := r.Get("a"); ok {
		t.Error("the old stream's cell is still served after the stream was created anew")
	}
	c, err := r.Refine(ctx, "a", lattice.Max{Value: 2})
	if err != nil || enc(c.Value) != `{"type":"max","value":2}` {
		t.Fatalf("refine on the new stream = %s, %v; want exactly the new update", enc(c.Value), err)
	}
	kept, _ := filepath.Glob(snap + ".replaced-*")
	if len(kept) != 1 {
		t.Fatalf("old state set aside as %v, want one file", kept)
	}
	_, cells, err := replica.ReadSnapshotFile(kept[0], replica.SnapshotLimits)
	if err != nil || len(cells) != 1 || enc(cells[0].Value) != `{"type":"max","value":5}` {
		t.Errorf("set-aside snapshot holds %v, %v; want the old cell a = max 5", cells, err)
	}
	if _, err := os.Stat(kept[0]); err != nil {
		t.Error(err)
	}
}

// A purge behind a replica's back is reported; the replica keeps its cells
// and keeps working.
func TestStreamPurged(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL(), fastChecks)
	ctx := ctxT(t)
	for i := range 5 {
		if _, err := r.Refine(ctx, "p", lattice.Max{Value: float64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	js := brokertest.JetStream(t, connect(t, srv.ClientURL()))
	s, err := js.Stream(ctx, cellname.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the purge to be reported", func() bool { return r.StreamStatus().Incidents[replica.IncidentPurged] == 1 })
	if !strings.Contains(r.StreamStatus().LastIncident, "purged") {
		t.Errorf("last incident = %q", r.StreamStatus().LastIncident)
	}
	if c, err := r.Refine(ctx, "p", lattice.Max{Value: 9}); err != nil || enc(c.Value) != `{"type":"max","value":9}` {
		t.Errorf("refine after the purge: %s %v", enc(c.Value), err)
	}
	// A compaction removes messages too, but says what they held: no
	// incident.
	if _, err := r.Compact(ctx, replica.CompactOptions{Mode: replica.CompactCheckpoint}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Refine(ctx, "p", lattice.Max{Value: 10}); err != nil {
		t.Fatal(err)
	}
	from := r.StreamStatus().Checks
	waitFor(t, "three more checks of the stream", func() bool { return r.StreamStatus().Checks >= from+3 })
	if n := r.StreamStatus().Incidents[replica.IncidentPurged]; n != 1 {
		t.Errorf("a compaction was reported as a purge (%d purges)", n)
	}
}

// A consumer deleted alone (its stream stays) is re-created where it was:
// nothing is missed and no incident is reported.
func TestConsumerDeletedAlone(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL(), fastChecks)
	ctx := ctxT(t)
	if _, err := r.Refine(ctx, "c", lattice.Max{Value: 1}); err != nil {
		t.Fatal(err)
	}
	js := brokertest.JetStream(t, connect(t, srv.ClientURL()))
	s, err := js.Stream(ctx, cellname.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	names := s.ConsumerNames(ctx)
	var deleted int
	for name := range names.Name() {
		if err := s.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Fatal(err)
		}
		deleted++
	}
	if deleted == 0 {
		t.Fatal("no consumer to delete")
	}
	if c, err := r.Refine(ctx, "c", lattice.Max{Value: 2}); err != nil || enc(c.Value) != `{"type":"max","value":2}` {
		t.Fatalf("refine after the consumer's deletion: %s %v", enc(c.Value), err)
	}
	for _, k := range replica.IncidentKinds {
		if n := r.StreamStatus().Incidents[k]; n != 0 {
			t.Errorf("%d %s incidents after a consumer deletion", n, k)
		}
	}
}
