package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/replica"
)

// dprop bench measures dprop against what a NATS user would use instead,
// on the same server in the same run: each figure comes with its baseline
// and the ratio between them. The measurements live in bench_*.go, one
// file per comparison; this file holds the command, the set-up (an
// embedded broker, or the server of --server) and the report.

// benchConfig holds the sizes of dprop bench's measurements.
type benchConfig struct {
	Updates        int      `json:"updates"`         // resync: updates in the stream
	Cells          int      `json:"cells"`           // resync: cells they go to
	Refines        int      `json:"refines"`         // refines (and raw publishes) per client count
	Clients        []int    `json:"clients"`         // concurrent clients of the refine comparison
	CounterOps     int      `json:"counter_ops"`     // increments of the hot counter, per contender
	CounterWriters int      `json:"counter_writers"` // concurrent writers of the hot counter
	Samples        int      `json:"samples"`         // latency samples, idle and under load each
	LoadRate       float64  `json:"load_rate"`       // background updates per second during the loaded latency
	Runs           int      `json:"runs"`            // repetitions of each throughput figure (median)
	Only           []string `json:"only,omitempty"`  // the comparisons run (all if empty)
}

// validate checks the sizes.
func (c *benchConfig) validate() error {
	for _, f := range []struct {
		name string
		n    int
	}{{"--updates", c.Updates}, {"--cells", c.Cells}, {"--refines", c.Refines}, {"--counter-ops", c.CounterOps},
		{"--counter-writers", c.CounterWriters}, {"--samples", c.Samples}, {"--runs", c.Runs}} {
		if f.n < 1 {
			return usagef("%s %d: give a positive number", f.name, f.n)
		}
	}
	if c.Cells > c.Updates {
		return usagef("--cells %d is more than --updates %d", c.Cells, c.Updates)
	}
	if len(c.Clients) == 0 {
		return usagef("--clients: give at least one number of clients")
	}
	for _, k := range c.Clients {
		if k < 1 || k > 4096 {
			return usagef("--clients %d: give numbers from 1 to 4096", k)
		}
	}
	if c.LoadRate < 0 {
		return usagef("--load-rate %v: give a rate of 0 (no loaded measurement) or more", c.LoadRate)
	}
	for _, o := range c.Only {
		if !slices.Contains(benchParts, o) {
			return usagef("--only %q: choose among %s", o, strings.Join(benchParts, ", "))
		}
	}
	return nil
}

// benchParts are the comparisons, in the order they run.
var benchParts = []string{"resync", "refine", "counter", "latency"}

func (c *benchConfig) runs(part string) bool {
	return len(c.Only) == 0 || slices.Contains(c.Only, part)
}

// benchRow is one line of the report: a dprop figure against a baseline.
type benchRow struct {
	// Part is the comparison (benchParts) and Name what was measured.
	Part string `json:"part"`
	Name string `json:"name"`
	// Dprop is dprop's figure in Unit; Baseline names what it is compared
	// with and BaselineValue is that one's figure in the same unit.
	Dprop         float64 `json:"dprop"`
	Unit          string  `json:"unit"`
	Baseline      string  `json:"baseline"`
	BaselineValue float64 `json:"baseline_value"`
	// Ratio is dprop's speed relative to the baseline's, 1 meaning as
	// fast: dprop/baseline for rates, baseline/dprop for latencies.
	Ratio float64 `json:"ratio"`
	// Target is the goal the ratio or figure should meet ("" if none);
	// Met says whether it does.
	Target string `json:"target,omitempty"`
	Met    *bool  `json:"met,omitempty"`
	// Note adds what else was measured (the other readers, retries ...).
	Note string `json:"note,omitempty"`
}

// benchReport is what dprop bench prints: with --json, as it is.
type benchReport struct {
	Server  string        `json:"server"` // "embedded" or the URL given
	Config  benchConfig   `json:"config"`
	Rows    []benchRow    `json:"rows"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

func newBenchCmd(g *globals) *cobra.Command {
	var (
		nf      natsFlags
		cfg     benchConfig
		asJSON  bool
		cpuProf string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure dprop against plain NATS on the same server: resync, refines, a hot counter, latency",
		Long: `Measure dprop against what a NATS user would use instead, on the same server
in the same run, and print one table with the ratios (--json for scripts):

  resync   a fresh replica until ready, against the fastest plain reader of
           the same stream (a push ordered consumer, as a NATS KV watch
           uses, or a pull ordered consumer with large batches)
  refine   refines through NATS (a replica's Refine) and through the HTTP
           API, against raw JetStream publishes with acknowledgement, at
           each number of --clients
  counter  a hot counter incremented by --counter-writers writers: a dprop
           gcounter through a sidecar's NATS service ({"op":"inc"}), against
           a NATS KV read-modify-CAS loop, a stream of NATS counters
           (Nats-Incr) and a NATS echo service (the ceiling of any service)
  latency  publish -> Server-Sent Event at a sidecar, idle and while a
           background writer sends --load-rate updates/s to other cells,
           against a plain NATS subscriber of the same subject

The broker is embedded (in this process, on a temporary directory) unless
--server gives a NATS server (with JetStream); there, bench works in a
stream, a KV bucket and a counter stream of its own, with random names,
and deletes them at the end. Defaults finish in under a minute.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.validate(); err != nil {
				return err
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			quiet, err := g.benchLogger()
			if err != nil {
				return err
			}
			if cpuProf != "" {
				stop, err := startCPUProfile(cpuProf)
				if err != nil {
					return err
				}
				defer stop()
			}
			external := cmd.Flags().Changed("nats-url")
			rep, err := runBench(cmd.Context(), log, quiet, &nf, external, cfg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return printBench(cmd.OutOrStdout(), rep)
		},
	}
	nf.register(cmd)
	fl := cmd.Flags()
	fl.IntVar(&cfg.Updates, "updates", 200_000, "resync: updates in the stream")
	fl.IntVar(&cfg.Cells, "cells", 10_000, "resync: cells the updates go to")
	fl.IntVar(&cfg.Refines, "refines", 10_000, "refine: requests (and raw publishes) per number of clients")
	fl.IntSliceVar(&cfg.Clients, "clients", []int{1, 64}, "refine: numbers of concurrent clients, comma-separated")
	fl.IntVar(&cfg.CounterOps, "counter-ops", 5_000, "counter: increments, for each contender")
	fl.IntVar(&cfg.CounterWriters, "counter-writers", 8, "counter: concurrent writers")
	fl.IntVar(&cfg.Samples, "samples", 1_000, "latency: samples, idle and under load each")
	fl.Float64Var(&cfg.LoadRate, "load-rate", 20_000, "latency: background updates per second to other cells (0: no loaded measurement)")
	fl.IntVar(&cfg.Runs, "runs", 1, "repetitions of each throughput measurement; the median is reported")
	fl.StringSliceVar(&cfg.Only, "only", nil, "run only these comparisons: "+strings.Join(benchParts, ", "))
	fl.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fl.StringVar(&cpuProf, "cpuprofile", "", "write a CPU profile of the whole run (bench, replicas, embedded broker) to this file, for go tool pprof")
	renameFlags(cmd, map[string]string{"server": "nats-url"})
	fl.Lookup("nats-url").Usage = "NATS server to measure against (also --server); default: an embedded broker"
	return cmd
}

// startCPUProfile starts a CPU profile into path; stop ends it.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, usagef("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// benchLogger is the logger of the replicas and sidecars bench starts:
// warnings and errors only, unless --log-level debug.
func (g *globals) benchLogger() (*slog.Logger, error) {
	level := g.logLevel
	if level != "debug" {
		level = "warn"
	}
	return newLogger(os.Stderr, g.logFormat, level)
}

// benchEnv is where the measurements run: a server, and the names bench
// made on it.
type benchEnv struct {
	log   *slog.Logger // bench's progress
	quiet *slog.Logger // the replicas' and sidecars'
	conn  broker.ConnConfig
	url   string

	prefix string // subject prefix of the bench's cells
	stream string // the bench's dprop stream
	kv     string // the KV bucket of the counter comparison
	ctr    string // the counter stream (Nats-Incr)
	cfg    benchConfig
}

// subject is the subject of cell.
func (e *benchEnv) subject(cell string) string { return e.prefix + ".cell." + cell }

// connect opens a connection of its own for one part of a measurement.
func (e *benchEnv) connect(name string) (*nats.Conn, error) {
	c := e.conn
	c.Name = "dprop bench " + name
	nc, err := broker.Connect(c, e.quiet)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", e.url, err)
	}
	return nc, nil
}

// replica starts a replica of the bench's cells on a connection of its
// own; closing it closes the connection.
func (e *benchEnv) replica(ctx context.Context, name string) (*benchReplica, error) {
	nc, err := e.connect(name)
	if err != nil {
		return nil, err
	}
	r, err := replica.Start(ctx, replica.Config{Conn: nc, Prefix: e.prefix, Stream: e.stream, Logger: e.quiet})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("start a replica: %w", err)
	}
	return &benchReplica{Replica: r, nc: nc}, nil
}

// benchReplica is a replica with the connection it owns.
type benchReplica struct {
	*replica.Replica
	nc *nats.Conn
}

func (r *benchReplica) Close() {
	r.Replica.Close()
	r.nc.Close()
}

// waitReady waits for the replica to be ready.
func (r *benchReplica) waitReady(ctx context.Context) error {
	select {
	case <-r.Ready():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("replica not ready (%+v): %w", r.Progress(), ctx.Err())
	}
}

// runBench sets the server up (embedded unless external), provisions the
// bench's stream, runs the comparisons and cleans up.
func runBench(ctx context.Context, log, quiet *slog.Logger, nf *natsFlags, external bool, cfg benchConfig, progress io.Writer) (*benchReport, error) {
	start := time.Now()
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	tag := hex.EncodeToString(id)
	e := &benchEnv{log: log, quiet: quiet, cfg: cfg,
		prefix: "dpropbench" + tag, stream: "DPROP_BENCH_" + tag, kv: "dprop_bench_" + tag, ctr: "DPROP_BENCH_CTR_" + tag}
	rep := &benchReport{Server: "embedded", Config: cfg}
	if external {
		if err := nf.conn.CheckFiles(); err != nil {
			return nil, usageError{err}
		}
		e.conn = nf.conn
		e.url = strings.Join(nf.conn.URLs, ",")
		rep.Server = e.url
	} else {
		dir, err := os.MkdirTemp("", "dprop-bench-")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(dir)
		srv, err := broker.Start(broker.Config{StoreDir: dir, Listen: "127.0.0.1:0", Logger: quiet.With("component", "broker")})
		if err != nil {
			return nil, fmt.Errorf("bench: embedded broker: %w", err)
		}
		defer srv.Shutdown()
		e.url = srv.ClientURL()
		e.conn = broker.ConnConfig{URLs: []string{e.url}}
	}
	nc, err := e.connect("admin")
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("bench: jetstream: %w", err)
	}
	if _, err := broker.EnsureStream(ctx, js, broker.StreamConfig{Prefix: e.prefix, Name: e.stream}); err != nil {
		return nil, fmt.Errorf("bench: provision stream %s: %w", e.stream, err)
	}
	defer e.cleanup(js)
	fmt.Fprintf(progress, "dprop bench against %s (stream %s)\n", rep.Server, e.stream)
	parts := []struct {
		name string
		fn   func(context.Context, *benchEnv, jetstream.JetStream) ([]benchRow, error)
	}{{"resync", benchResync}, {"refine", benchRefine}, {"counter", benchCounter}, {"latency", benchLatency}}
	for _, p := range parts {
		if !cfg.runs(p.name) {
			continue
		}
		t := time.Now()
		fmt.Fprintf(progress, "  %s ...", p.name)
		rows, err := p.fn(ctx, e, js)
		if err != nil {
			fmt.Fprintln(progress, " failed")
			return nil, fmt.Errorf("bench %s: %w", p.name, err)
		}
		fmt.Fprintf(progress, " %v\n", time.Since(t).Round(100*time.Millisecond))
		for i := range rows {
			rows[i].Part = p.name
			rows[i].check()
		}
		rep.Rows = append(rep.Rows, rows...)
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// cleanup deletes what bench made on the server, with a context of its
// own (the command's may be cancelled already).
func (e *benchEnv) cleanup(js jetstream.JetStream) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range []string{e.stream, e.ctr, "KV_" + e.kv} {
		if err := js.DeleteStream(ctx, s); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			e.log.Warn("bench: cannot delete its stream; delete it by hand", "stream", s, "err", err)
		}
	}
}

// benchTargets are the goals, by row name prefix: a ratio at
// least (ratio) or a figure at most (max, in the row's unit).
var benchTargets = map[string]struct {
	ratio, max float64
	text       string
}{
	"resync":                   {ratio: 0.8, text: "ratio >= 0.8"},
	"refine http, 64 clients":  {ratio: 0.5, text: "ratio >= 0.5"},
	"publish -> SSE p99, load": {max: 2000, text: "p99 < 2 ms"},
}

// check fills the row's target and whether it is met.
func (r *benchRow) check() {
	for prefix, t := range benchTargets {
		if !strings.HasPrefix(r.Name, prefix) {
			continue
		}
		met := (t.ratio > 0 && r.Ratio >= t.ratio) || (t.max > 0 && r.Dprop < t.max)
		r.Target, r.Met = t.text, &met
	}
}

// printBench writes the report as a table.
func printBench(w io.Writer, rep *benchReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WHAT\tDPROP\tBASELINE\t\tRATIO\tTARGET")
	for _, r := range rep.Rows {
		target := r.Target
		if r.Met != nil {
			target += map[bool]string{true: " (met)", false: " (not met)"}[*r.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f\t%s\n", r.Name, benchFigure(r.Dprop, r.Unit), r.Baseline, benchFigure(r.BaselineValue, r.Unit), r.Ratio, target)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rep.Rows {
		if r.Note != "" {
			fmt.Fprintf(w, "  %s: %s\n", r.Name, r.Note)
		}
	}
	fmt.Fprintf(w, "server %s, %d run(s) per throughput figure (median), %v in all; ratio: dprop's speed over the baseline's (1 = as fast)\n",
		rep.Server, rep.Config.Runs, rep.Elapsed.Round(100*time.Millisecond))
	return nil
}

// benchFigure writes a figure with its unit, in thousands when large.
func benchFigure(v float64, unit string) string {
	switch {
	case unit == "µs" && v >= 1_000_000:
		return fmt.Sprintf("%.2f s", v/1_000_000)
	case unit == "µs" && v >= 1000:
		return fmt.Sprintf("%.2f ms", v/1000)
	case v >= 10_000:
		return fmt.Sprintf("%.0fk %s", v/1000, unit)
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}

// medianOf runs fn runs times and returns the median duration.
func medianOf(runs int, fn func() (time.Duration, error)) (time.Duration, error) {
	ds := make([]time.Duration, 0, runs)
	for range runs {
		d, err := fn()
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

// rate is n per d, per second.
func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }
