package replica_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
)

// Every refinement a replica's propagators publish names its propagator
// (Dprop-Propagator); any replica that reads the log learns which
// propagators derived its cells, whether it read the updates themselves, a
// compaction of them, or its local snapshot. Updates without the header,
// and refused ones, name nothing.
func TestLogPropagators(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	ctx := ctxT(t)
	want := func(r *replica.Replica, who string, names ...string) {
		t.Helper()
		if got := r.LogPropagators(); !slices.Equal(got, names) {
			t.Errorf("%s: LogPropagators() = %q, want %q", who, got, names)
		}
	}

	celsius := startReplica(t, url, withNetwork(t, "temperature.yaml", "celsius"))
	if _, err := celsius.Refine(ctx, "weather.boston.temp_f", lattice.Range{Min: 34, Max: 48}); err != nil {
		t.Fatal(err)
	}
	settle(t, celsius)
	if got := celsius.Value("weather.boston.temp_c"); lattice.IsNothing(got) {
		t.Fatal("the propagator did not run")
	}
	h, err := celsius.History(ctx, "weather.boston.temp_c", replica.HistoryQuery{})
	if err != nil || len(h) != 1 || h[0].Propagator != "boston-f-to-c" {
		t.Fatalf("history of the derived cell: %+v %v", h, err)
	}
	want(celsius, "the replica running the propagator", "boston-f-to-c")

	// A hand-made update with the header counts; plain ones and refused
	// ones name nothing.
	nc := connect(t, url)
	pub := func(cell, by, payload string) {
		t.Helper()
		m := nats.NewMsg("dprop.cell." + cell)
		m.Data = []byte(payload)
		if by != "" {
			m.Header.Set(replica.HeaderPropagator, by)
		}
		if _, err := brokertest.JetStream(t, nc).PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	pub("jobs.done", "", `{"type":"max","value":1}`)
	pub("jobs.done", "refused-one", `{"type":"range","min":1,"max":2}`)
	pub("jobs.total", "by-hand", `{"type":"max","value":1}`)
	plain := startReplica(t, url)
	want(plain, "a replica without the network", "boston-f-to-c", "by-hand")

	// Through a local snapshot: the restarted replica reads only what came
	// after it, yet knows.
	snap := filepath.Join(t.TempDir(), "snapshot.jsonl")
	first := startReplica(t, url, func(c *replica.Config) { c.SnapshotPath = snap })
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	pub("jobs.done", "", `{"type":"max","value":2}`)
	again := startReplica(t, url, func(c *replica.Config) { c.SnapshotPath = snap })
	if p := again.Progress(); p.Start == 0 {
		t.Fatalf("the replica did not start from its snapshot: %+v", p)
	}
	want(again, "a replica restarted from its snapshot", "boston-f-to-c", "by-hand")

	// Through a compaction: the log keeps one message per cell, which
	// names the propagator of a derived cell.
	if st, err := plain.Compact(ctx, replica.CompactOptions{Mode: replica.CompactCheckpoint}); err != nil || st.RolledUp != 4 {
		t.Fatalf("compaction: %+v %v", st, err)
	}
	fresh := startReplica(t, url)
	if c, _ := fresh.Get("weather.boston.temp_c"); c.LogLen() != 1 {
		t.Fatalf("derived cell after compaction: %+v", c)
	}
	want(fresh, "a replica of the compacted log", "boston-f-to-c", "by-hand")
}
