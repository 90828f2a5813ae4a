package replica_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators/network"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

// tempDeclYAML declares the temperatures in Fahrenheit as ranges, over a
// pattern.
const tempDeclYAML = `
cells:
  - {name: weather.<city>.temp_f, type: range}
`

// withLogDeclarations folds with the declarations of the networks in the
// log, as every dprop sidecar does.
func withLogDeclarations(c *replica.Config) {
	c.NetworkDeclarations = func(v lattice.Value) fold.Declarations { return network.LogDeclarations(v) }
}

// applyNetwork publishes a network's definition into its cell, as
// `dprop network apply` does.
func applyNetwork(t testing.TB, r *replica.Replica, name, text string, ts int64) {
	t.Helper()
	raw, err := json.Marshal(network.LogDef{Name: name, File: name + ".yaml", Source: text})
	if err != nil {
		t.Fatal(err)
	}
	v, err := lattice.NewLWW(raw, ts, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Refine(ctxT(t), fold.NetworkCells+name, v); err != nil {
		t.Fatal(err)
	}
}

// A network applied while replicas run types the cells not yet typed, the
// same way at every replica, decided in the log's order: a first update of
// another type than the declared one is refused by the replicas that ran
// when it came, by one started later from the log and by one restarted
// from its snapshot; a cell typed before the network keeps its type and
// the conflict is reported.
func TestLogNetworkDeclarationsTypeNewCells(t *testing.T) {
	s := runBroker(t)
	url := s.ClientURL()
	nc := connect(t, url)
	js := brokertest.JetStream(t, nc)
	ctx := ctxT(t)
	publish := func(cell, body string) uint64 {
		t.Helper()
		ack, err := js.Publish(ctx, "dprop.cell."+cell, []byte(body)) // raw, past any replica's checks
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	snap := filepath.Join(t.TempDir(), "snapshot.jsonl")
	a := startReplica(t, url, withLogDeclarations, func(c *replica.Config) { c.LiveNetworks = true })
	b := startReplica(t, url, withLogDeclarations, withSnapshot(snap))

	publish("weather.paris.temp_f", `{"type":"max","value":70}`) // typed before the network
	applyNetwork(t, a, "weather", tempDeclYAML, 1)
	maxSeq := publish("weather.oslo.temp_f", `{"type":"max","value":50}`)
	rangeSeq := publish("weather.oslo.temp_f", `{"type":"range","min":30,"max":40}`)
	parisSeq := publish("weather.paris.temp_f", `{"type":"max","value":80}`)

	wantOslo := lattice.Range{Min: 30, Max: 40}
	check := func(who string, r *replica.Replica) {
		t.Helper()
		waitFor(t, who+" folded the updates", func() bool { return r.Progress().Applied >= parisSeq })
		if c, ok := r.Get("weather.oslo.temp_f"); !ok || c.Type != "range" || !lattice.Equal(c.Value, wantOslo) || c.Seq != rangeSeq {
			t.Errorf("%s: weather.oslo.temp_f = %+v, want the range %s (seq %d), the max at seq %d refused", who, c, enc(wantOslo), rangeSeq, maxSeq)
		}
		if c, ok := r.Get("weather.paris.temp_f"); !ok || c.Type != "max" || !lattice.Equal(c.Value, lattice.Max{Value: 80}) {
			t.Errorf("%s: weather.paris.temp_f = %+v, want the max 80 it was typed with before the network", who, c)
		}
		if got := r.Type("weather.bergen.temp_f"); got != "range" {
			t.Errorf("%s: a cell with no update yet is declared %q, want range", who, got)
		}
	}
	check("a", a)
	check("b", b)
	late := startReplica(t, url, withLogDeclarations)
	check("a replica started later", late)

	// A refine through a replica is refused before it is published.
	if _, err := a.Refine(ctx, "weather.rome.temp_f", lattice.Max{Value: 1}); err == nil {
		t.Error("a refined a max into a cell the network declares range")
	}

	// b restarted from its snapshot has the network's declarations
	// without replaying its cell.
	at := b.Progress().Applied
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = startReplica(t, url, withLogDeclarations, withSnapshot(snap))
	if p := b.Progress(); p.Start != at {
		t.Fatalf("b restarted after seq %d, want its snapshot's %d", p.Start, at)
	}
	check("b restarted from its snapshot", b)
	bergen := publish("weather.bergen.temp_f", `{"type":"max","value":3}`)
	publish("weather.bergen.temp_f", `{"type":"range","min":1,"max":2}`)
	for who, r := range map[string]*replica.Replica{"a": a, "b restarted": b, "late": late} {
		waitFor(t, who+" folded bergen", func() bool { _, ok := r.Get("weather.bergen.temp_f"); return ok })
		if c, _ := r.Get("weather.bergen.temp_f"); c.Type != "range" || !lattice.Equal(c.Value, lattice.Range{Min: 1, Max: 2}) {
			t.Errorf("%s: weather.bergen.temp_f = %+v, want the range, the max at seq %d refused", who, c, bergen)
		}
	}

	// Compacted (the network's cell to one rollup, the log of oslo with
	// its refused max to its join), the log types cells as before.
	if st, err := a.Compact(ctx, replica.CompactOptions{Mode: replica.CompactRollup}); err != nil || st.RolledUp == 0 {
		t.Fatalf("compact: %+v, %v", st, err)
	}
	if c, _ := a.Get(fold.NetworkCells + "weather"); c.LogLen() != 1 {
		t.Fatalf("the network's cell has %d messages after compaction, want 1", c.LogLen())
	}
	compacted := startReplica(t, url, withLogDeclarations)
	if got := compacted.Type("weather.lima.temp_f"); got != "range" {
		t.Errorf("after compaction a new replica declares weather.lima.temp_f %q, want range", got)
	}
	if c, _ := compacted.Get("weather.oslo.temp_f"); c.Type != "range" || !lattice.Equal(c.Value, wantOslo) {
		t.Errorf("after compaction: weather.oslo.temp_f = %+v", c)
	}

	// A replica that runs the network reports the cell typed otherwise
	// before it came.
	if err := a.SetNetwork(liveNetwork(t, "weather", tempDeclYAML, false)); err != nil {
		t.Fatal(err)
	}
	if ns := a.Networks(); len(ns) != 1 || ns[0].Conflicts != 1 {
		t.Errorf("networks = %+v, want one with the one conflict of weather.paris.temp_f", ns)
	}

	// Without the declarations (a replica that does not fold with them)
	// the max would have typed the cell: what the others refused counts.
	plain := startReplica(t, url)
	if c, _ := plain.Get("weather.oslo.temp_f"); c.Type != "max" {
		t.Errorf("a replica without the declarations typed oslo %q: the test proves nothing", c.Type)
	}
}
