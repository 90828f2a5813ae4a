package main

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
)

// tinyBench are sizes that make dprop bench finish in seconds.
var tinyBench = []string{"--updates", "3000", "--cells", "100", "--refines", "200", "--clients", "1,4",
	"--counter-ops", "200", "--counter-writers", "4", "--samples", "50", "--load-rate", "2000"}

// dprop bench, tiny, against its embedded broker: every comparison gives
// a figure, a baseline and their ratio, as JSON.
func TestBenchEmbedded(t *testing.T) {
	out, errOut, code := runCmd(t, dpropBin, append([]string{"bench", "--json"}, tinyBench...)...)
	if code != 0 {
		t.Fatalf("dprop bench: exit %d:\n%s", code, errOut)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("dprop bench --json: %v\n%s", err, out)
	}
	if rep.Server != "embedded" || rep.Config.Updates != 3000 {
		t.Errorf("report of server %q, config %+v", rep.Server, rep.Config)
	}
	checkBenchRows(t, rep.Rows)
}

// checkBenchRows checks that the report has the rows of every comparison,
// each with positive figures and a ratio that agrees with them.
func checkBenchRows(t *testing.T, rows []benchRow) {
	t.Helper()
	want := []string{
		"resync, 3000 updates over 100 cells",
		"refine nats, 1 clients", "refine http, 1 clients", "refine nats, 4 clients", "refine http, 4 clients",
		"hot counter, 4 writers vs KV", "hot counter, 4 writers vs Nats-Incr", "hot counter, 4 writers vs echo",
		"publish -> SSE p50, idle", "publish -> SSE p99, idle", "publish -> SSE p50, load", "publish -> SSE p99, load",
	}
	var names []string
	for _, r := range rows {
		names = append(names, r.Name)
		if r.Dprop <= 0 || r.BaselineValue <= 0 || r.Baseline == "" || r.Unit == "" {
			t.Errorf("row %q: figures missing: %+v", r.Name, r)
			continue
		}
		ratio := r.Dprop / r.BaselineValue
		if r.Unit == "µs" {
			ratio = 1 / ratio
		}
		if math.Abs(ratio-r.Ratio) > 1e-9*ratio {
			t.Errorf("row %q: ratio %v, but the figures say %v", r.Name, r.Ratio, ratio)
		}
	}
	if !slices.Equal(names, want) {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	if rows[0].Met == nil || !strings.HasPrefix(rows[0].Baseline, "pu") {
		t.Errorf("resync row: %+v: want a target and one of the plain readers as its baseline", rows[0])
	}
	if !strings.Contains(rows[0].Note, "push ordered consumer") || !strings.Contains(rows[0].Note, "pull ordered, default batches") {
		t.Errorf("resync row's note does not give every reader: %q", rows[0].Note)
	}
}

// dprop bench against an external server (a dprop broker process): the
// table, and nothing of the bench's left on the server, as the nats CLI
// sees it.
func TestBenchExternal(t *testing.T) {
	natsAddr := freePort(t)
	url := "nats://" + natsAddr
	startDprop(t, "broker", "--data", t.TempDir(), "--nats-listen", natsAddr)
	brokertest.WaitFor(t, "the broker's stream", func() bool {
		out, _, code := runCmd(t, natsBin, "-s", url, "stream", "ls", "--names")
		return code == 0 && strings.Contains(out, "DPROP")
	})
	out, errOut, code := runCmd(t, dpropBin, append([]string{"bench", "--server", url, "--only", "resync,counter"}, tinyBench...)...)
	if code != 0 {
		t.Fatalf("dprop bench --server: exit %d:\n%s", code, errOut)
	}
	for _, want := range []string{"WHAT", "BASELINE", "resync, 3000 updates over 100 cells", "hot counter, 4 writers vs KV",
		"NATS counter (Nats-Incr)", "server " + url} {
		if !strings.Contains(out, want) {
			t.Errorf("dprop bench --server: no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "refine") || strings.Contains(out, "SSE") {
		t.Errorf("dprop bench --only resync,counter ran more:\n%s", out)
	}
	streams, _, _ := runCmd(t, natsBin, "-s", url, "stream", "ls", "--names")
	if strings.TrimSpace(streams) != "DPROP" {
		t.Errorf("streams on the server after dprop bench: %q, want DPROP alone", streams)
	}
}

// Bad sizes are usage errors that name the flag.
func TestBenchBadFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--updates", "0"}, "--updates 0"},
		{[]string{"--cells", "10", "--updates", "5"}, "--cells 10"},
		{[]string{"--clients", "0"}, "--clients 0"},
		{[]string{"--only", "everything"}, `--only "everything"`},
		{[]string{"--load-rate", "-1"}, "--load-rate -1"},
	} {
		_, errOut, code := runCmd(t, dpropBin, append([]string{"bench"}, tt.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("dprop bench %v: exit %d, %q: want %d naming %s", tt.args, code, errOut, exitUsage, tt.want)
		}
	}
}
