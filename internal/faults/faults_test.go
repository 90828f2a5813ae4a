package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dprop/dprop/lattice"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// defaultProject is the compose project of the fault tests: not the
	// demo's (DPROP_FAULTS_PROJECT chooses another).
	defaultProject = "dpropfaults"
	// writeEvery is the pause of each writer between two updates.
	writeEvery = 250 * time.Millisecond
	// compactEvery is how often the compactor compacts during the test.
	compactEvery = "2s"
	// report is where a passing run writes its measurements when
	// DPROP_FAULTS_REPORT=1 asks it to (.ci/faults does); otherwise they
	// are only logged, so that a test run never dirties the tree.
	report = "../../docs/faults.md"
)

// composeFiles are the demo's compose file and what the test adds to it.
var composeFiles = []string{"../../docker-compose.yml", "faults.override.yml"}

// harness is one run of the fault tests: the cluster, the ledger, and the
// rows measured so far.
type harness struct {
	t      *testing.T
	ctx    context.Context
	cl     *Cluster
	led    *Ledger
	serial atomic.Int64
	rows   []Row
}

// scenario is a fault with writes going on throughout.
type scenario struct {
	name string
	// fault injects the fault and returns once it has lasted long enough.
	fault func(h *harness, load *Load) *fault
	// brokers makes the stream's full strength (a leader and two current
	// followers) part of the recovery.
	brokers bool
}

// fault is a fault injected: how to heal it, and what was seen of it.
type fault struct {
	heal  func() error
	notes string
	// detected is how long the sidecars it concerned took to notice it
	// (0: not measured).
	detected time.Duration
	// after, if set, runs once every replica has converged, and adds what
	// it measured since the heal to the scenario's row.
	after func(row *Row)
	// noUnavailable: no writer may have been answered 503 (every sidecar
	// has an outbox to keep what the log cannot take).
	noUnavailable bool
}

func TestFaults(t *testing.T) {
	if os.Getenv("DPROP_FAULTS") != "1" {
		t.Skip("SKIPPED: the fault tests drive docker compose; run .ci/faults, or DPROP_FAULTS=1 go test ./internal/faults with a Docker engine and the image of scripts/build-image.sh")
	}
	only := selected(os.Getenv("DPROP_FAULTS_ONLY"))
	start := time.Now()
	h := setUp(t)
	compactFrom := time.Now()
	firstSeq := h.stream().State.FirstSeq
	ran := h.runAll(only,
		scenario{name: "1. a broker node killed, then restarted", fault: (*harness).killBroker, brokers: true},
		scenario{name: "2. a sidecar cut off the network for 30 s while it takes writes, then reconnected", fault: (*harness).cutSidecar},
		scenario{name: "3. a partition leaves one broker node alone", fault: (*harness).isolateBroker, brokers: true},
		scenario{name: "4. a broker node paused, then resumed", fault: (*harness).pauseBroker, brokers: true},
	)
	var compaction Row
	if ran > 0 {
		compaction = h.compaction(compactFrom, firstSeq)
	}
	ran += h.runAll(only,
		scenario{name: "5. every broker node restarted", fault: (*harness).restartBrokers, brokers: true},
		scenario{name: "6a. a sidecar killed, restarted with its data volume", fault: (*harness).killSidecar},
		scenario{name: "6b. a sidecar killed, restarted without its data volume", fault: (*harness).wipeSidecar},
	)
	if compaction.Scenario != "" {
		h.rows = append(h.rows, compaction)
	}
	// The outbox under faults (issue 15; scenario 2 is its first).
	ran += h.runAll(only,
		scenario{name: "8. two of the three broker nodes stopped for 30 s (the stream without a quorum)", fault: (*harness).stopTwoBrokers, brokers: true},
		scenario{name: "9. a cut-off sidecar with pending updates killed (SIGKILL), restarted still cut off, then reconnected", fault: func(h *harness, l *Load) *fault { return h.killCutOff(l, false) }},
		scenario{name: "10. a cut-off sidecar killed, the last record of its outbox torn by hand, restarted, then reconnected", fault: func(h *harness, l *Load) *fault { return h.killCutOff(l, true) }},
	)
	m := DescribeMachine(h.ctx, h.cl.Compose)
	m.Total, m.WriteInterval, m.Deployment = time.Since(start), writeEvery, h.deployment()
	var b bytes.Buffer
	if err := WriteReport(&b, m, h.rows); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", b.String())
	switch {
	case os.Getenv("DPROP_FAULTS_REPORT") != "1":
		t.Logf("not writing %s (set DPROP_FAULTS_REPORT=1 to)", report)
	case only != nil:
		t.Logf("not writing %s: DPROP_FAULTS_ONLY ran some scenarios only", report)
	default:
		if err := os.WriteFile(report, b.Bytes(), 0o644); err != nil {
			t.Fatalf("writing the report: %v", err)
		}
	}
}

// selected parses DPROP_FAULTS_ONLY, a comma-separated list of scenario
// numbers ("2,4", "6a"); nil runs them all.
func selected(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		out = append(out, strings.TrimSpace(f))
	}
	return out
}

// runAll runs the scenarios selected by only (every one if nil), and
// returns how many ran.
func (h *harness) runAll(only []string, scs ...scenario) int {
	n := 0
	for _, sc := range scs {
		num, _, _ := strings.Cut(sc.name, ".")
		if only != nil && !slices.Contains(only, num) && !slices.Contains(only, strings.TrimRight(num, "ab")) {
			continue
		}
		h.rows = append(h.rows, h.run(sc))
		n++
	}
	return n
}

// setUp starts the cluster, waits until it serves, and arranges for it to
// be removed, volumes and all, whatever happens.
func setUp(t *testing.T) *harness {
	ctx := context.Background()
	image := os.Getenv("DPROP_IMAGE")
	if image == "" {
		image = "dprop:dev"
	}
	if _, err := Docker(ctx, "image", "inspect", image); err != nil {
		t.Fatalf("image %s not found: build it with scripts/build-image.sh (.ci/faults does)\n%v", image, err)
	}
	project := os.Getenv("DPROP_FAULTS_PROJECT")
	if project == "" {
		project = defaultProject
	}
	services := append(slices.Clone(brokers), sidecars...)
	ports, err := freePorts(len(services))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"DPROP_IMAGE=" + image, "DPROP_COMPACT_EVERY=" + compactEvery}
	published := map[string]int{}
	for i, s := range services {
		published[s] = ports[i]
		env = append(env, fmt.Sprintf("%s=%d", PortVariable(s), ports[i]))
	}
	c, err := NewCompose(ctx, project, composeFiles, env)
	if err != nil {
		t.Fatal(err)
	}
	down := func() {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if out, err := c.Run(dctx, "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
			t.Logf("compose down: %v\n%s", err, out)
		}
	}
	down() // what an interrupted run may have left
	h := &harness{t: t, ctx: ctx, led: NewLedger()}
	t.Cleanup(func() {
		if t.Failed() {
			h.dumpLogs(c)
		}
		if os.Getenv("DPROP_FAULTS_KEEP") == "" {
			down()
		}
	})
	t.Logf("%s up (project %s, image %s, files %v, published on 127.0.0.1: %v)", c.Command(), project, image, composeFiles, published)
	uctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	// The brokers and sidecars, not the apps: see doc.go.
	if _, err := c.Run(uctx, append([]string{"up", "-d"}, services...)...); err != nil {
		t.Fatalf("compose up: %v", err)
	}
	if h.cl, err = NewCluster(ctx, c, published); err != nil {
		t.Fatal(err)
	}
	d := h.waitFor("every sidecar ready and the stream at full strength", 2*time.Minute, h.allReady)
	t.Logf("cluster ready in %v", d.Round(time.Millisecond))
	h.must(h.cl.Describe(ctx))
	for _, b := range h.cl.Brokers {
		var health struct{ Status string }
		if err := h.cl.Monitor(ctx, b, "/healthz?js-enabled-only=true", &health); err != nil {
			t.Fatalf("%s's monitoring, published on 127.0.0.1:%d: %v", b, published[b], err)
		}
	}
	t.Logf("sidecars hold %v", h.cl.Held)
	return h
}

// freePorts returns n ports of 127.0.0.1 that nothing listens on now.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (h *harness) dumpLogs(c *Compose) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ps, _ := c.Run(ctx, "ps")
	logs, _ := c.Run(ctx, "logs", "--no-color", "--tail", "60")
	h.t.Logf("containers:\n%s\n\nlast lines of every container's log (%s logs --tail 60):\n%s", ps, c.Command(), logs)
}

func (h *harness) must(err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
}

// waitFor polls cond until it reports nothing left to wait for, and
// returns how long that took. cond returns what it still waits for, or an
// error that no waiting will cure. Past limit (or close to the test's own
// deadline) the test fails, saying what it waited for last.
func (h *harness) waitFor(what string, limit time.Duration, cond func() (string, error)) time.Duration {
	h.t.Helper()
	start := time.Now()
	deadline := start.Add(limit)
	if d, ok := h.t.Deadline(); ok && d.Add(-45*time.Second).Before(deadline) {
		deadline = d.Add(-45 * time.Second)
	}
	told := start
	for {
		why, err := cond()
		if err != nil {
			h.t.Fatalf("%s: %v", what, err)
		}
		if why == "" {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: still not so after %v: %s", what, time.Since(start).Round(time.Second), why)
		}
		if time.Since(told) >= 5*time.Second {
			told = time.Now()
			h.t.Logf("%s: waiting for %v: %s", what, time.Since(start).Round(time.Second), why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// allReady waits for every sidecar's /readyz and the stream's full strength.
func (h *harness) allReady() (string, error) {
	for _, s := range h.cl.Sidecars {
		rd, err := h.cl.Client(s).Ready(h.ctx)
		if err != nil {
			return fmt.Sprintf("%s: %v", s, err), nil
		}
		if !rd.Ready {
			return fmt.Sprintf("%s not ready: %+v", s, rd), nil
		}
	}
	return h.streamHealthy()
}

func (h *harness) streamHealthy() (string, error) {
	info, err := h.cl.Stream(h.ctx, h.cl.Brokers...)
	if err != nil {
		return err.Error(), nil
	}
	return StreamHealthy(info), nil
}

// run runs one scenario: writes start, the fault comes and is healed, the
// writes stop, and every replica must converge to the acknowledged join.
func (h *harness) run(sc scenario) Row {
	t := h.t
	t.Logf("== %s", sc.name)
	load := StartLoad(h.cl, h.led, fmt.Sprintf("k%d", len(h.rows)+1), writeEvery, &h.serial)
	stopped := false
	defer func() {
		if !stopped {
			load.Stop()
		}
	}()
	begin := time.Now()
	h.waitFor("writes acknowledged through every sidecar", time.Minute, func() (string, error) {
		return everyAcked(load.AcksSince(begin), h.cl.Sidecars, 3), nil
	})
	f := sc.fault(h, load)
	recovery, how := h.heal(load, f.heal, sc.brokers)
	more := time.Now()
	h.waitFor("writes acknowledged after the recovery", time.Minute, func() (string, error) {
		if n := total(load.AcksSince(more)); n < 20 {
			return fmt.Sprintf("%d writes acknowledged since the recovery, want 20", n), nil
		}
		return "", nil
	})
	st := load.Stop()
	stopped = true
	if len(st.Refused) > 0 {
		t.Fatalf("sidecars refused updates the test thought valid:\n%s", strings.Join(st.Refused, "\n"))
	}
	converge, final := h.converge()
	lost := Lost(final, st.Acked)
	if lost > 0 {
		t.Fatalf("%d acknowledged updates are missing from the converged state", lost)
	}
	row := Row{Scenario: sc.name, Attempted: st.Attempted, Acked: len(st.Acked), ByLog: st.ByLog, ByOutbox: st.ByOutbox,
		Lost: lost, Unavailable: st.Unavailable, Detected: f.detected, Recovery: recovery, Converge: converge, Notes: f.notes + how}
	if f.noUnavailable && st.Unavailable > 0 {
		t.Fatalf("%d refines were answered 503; with an outbox on every sidecar, none may be", st.Unavailable)
	}
	if f.after != nil {
		f.after(&row)
	}
	t.Logf("%s: %d attempted, %d acknowledged (%d by the log, %d by an outbox), %d lost, %d answered 503, detected in %v, recovery %v, catch-up %v, converged in %v; %s", sc.name,
		row.Attempted, row.Acked, row.ByLog, row.ByOutbox, row.Lost, row.Unavailable, row.Detected.Round(time.Millisecond), recovery.Round(time.Millisecond),
		row.CatchUp.Round(time.Millisecond), converge.Round(time.Millisecond), row.Notes)
	return row
}

// heal heals the fault and waits for the cluster to recover; it returns
// how long that took from the heal's end, and notes on it.
func (h *harness) heal(load *Load, heal func() error, brokers bool) (time.Duration, string) {
	before, healing := h.led.Acked(), time.Now()
	h.must(heal())
	rec := &recovery{healed: time.Now(), before: before, brokers: brokers, writes: map[string]time.Duration{}, drain: make(chan struct{}),
		waiting: "the outboxes not read yet"}
	h.t.Logf("healed (%v)", rec.healed.Sub(healing).Round(time.Millisecond))
	go h.watchDrain(rec)
	h.waitFor("recovery after the heal", 2*time.Minute, func() (string, error) {
		return h.recovered(load, rec)
	})
	d := time.Since(rec.healed)
	h.t.Logf("recovered %v after the heal", d.Round(time.Millisecond))
	return d, rec.String()
}

func total(acks map[string]int) int {
	n := 0
	for _, k := range acks {
		n += k
	}
	return n
}

// everyAcked says which sidecar has acknowledged fewer than n writes.
func everyAcked(acks map[string]int, sidecars []string, n int) string {
	for _, s := range sidecars {
		if acks[s] < n {
			return fmt.Sprintf("%s has acknowledged %d writes, want %d", s, acks[s], n)
		}
	}
	return ""
}

// recovery follows the cluster's recovery from a heal.
type recovery struct {
	healed  time.Time
	before  map[string]lattice.Value // acknowledged before the heal
	brokers bool                     // the stream's full strength is part of it
	stream  time.Duration            // when the stream was seen at full strength
	writes  map[string]time.Duration // when the log acknowledged a probe write through each sidecar
	// drain is closed once every sidecar's outbox has been seen empty
	// (watchDrain); then drained is when, and pending the most updates
	// they held together after the heal, and waiting, before, why they
	// were not empty.
	drain   chan struct{}
	drained time.Duration
	pending int
	mu      sync.Mutex
	waiting string
}

// watchDrain polls the sidecars' outboxes from the heal until all are
// empty, and closes rec.drain then (or when the test's time is out).
func (h *harness) watchDrain(rec *recovery) {
	defer close(rec.drain)
	for time.Since(rec.healed) < 3*time.Minute {
		n, why := h.pending()
		rec.mu.Lock()
		rec.pending, rec.waiting = max(rec.pending, n), why
		if why == "" {
			rec.drained = time.Since(rec.healed)
		}
		rec.mu.Unlock()
		if why == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *recovery) String() string {
	last := time.Duration(0)
	for _, d := range r.writes {
		last = max(last, d)
	}
	s := fmt.Sprintf("; every sidecar took writes again %.1f s after the heal", last.Seconds())
	if r.pending > 0 {
		s += fmt.Sprintf("; the outboxes, holding %s after the heal, were empty %.1f s after it", plural(r.pending, "update"), r.drained.Seconds())
	} else {
		s += "; the outboxes were empty at the heal"
	}
	if r.brokers {
		s = fmt.Sprintf("; the stream had a leader and two current followers again %.1f s after the heal", r.stream.Seconds()) + s
	}
	return s
}

// recovered says what keeps the cluster from having recovered from a
// heal: every sidecar must acknowledge a probe write and hold everything
// acknowledged before the heal; with brokers, the stream must be at full
// strength.
func (h *harness) recovered(load *Load, rec *recovery) (string, error) {
	if rec.brokers && rec.stream == 0 {
		if why, _ := h.streamHealthy(); why != "" {
			return why, nil
		}
		rec.stream = time.Since(rec.healed)
		h.t.Logf("the stream is at full strength %v after the heal", rec.stream.Round(time.Millisecond))
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		probe = slices.DeleteFunc(slices.Clone(h.cl.Sidecars), func(s string) bool { return rec.writes[s] > 0 })
	)
	for _, s := range probe {
		wg.Go(func() {
			if load.Probe(s, 3*time.Second) {
				mu.Lock()
				rec.writes[s] = time.Since(rec.healed)
				mu.Unlock()
				h.t.Logf("%s acknowledged a probe write %v after the heal", s, time.Since(rec.healed).Round(time.Millisecond))
			}
		})
	}
	wg.Wait()
	for _, s := range probe {
		if rec.writes[s] == 0 {
			return s + " has not acknowledged a probe write yet", nil
		}
	}
	select {
	case <-rec.drain:
	default:
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.waiting, nil
	}
	if rec.drained == 0 {
		return "", fmt.Errorf("the outboxes were still not empty %v after the heal: %s", time.Since(rec.healed).Round(time.Second), rec.waiting)
	}
	states, err := h.cl.States(h.ctx, h.cl.Sidecars...)
	if err != nil {
		return err.Error(), nil
	}
	if v := Judge(states, h.cl.Held, nil, h.led.Attempted()); len(v.Violations) > 0 {
		return "", errors.New(strings.Join(v.Violations, "\n"))
	}
	if lag := Covers(states, h.cl.Held, rec.before); len(lag) > 0 {
		return fmt.Sprintf("%d cells behind, e.g. %s", len(lag), lag[0]), nil
	}
	return "", nil
}

// pending returns how many updates the sidecars' outboxes hold, and what
// keeps them from being empty.
func (h *harness) pending() (int, string) {
	n, why := 0, ""
	for _, s := range h.cl.Sidecars {
		ctx, cancel := context.WithTimeout(h.ctx, 3*time.Second)
		o, err := h.cl.Client(s).Outbox(ctx, 0)
		cancel()
		switch {
		case err != nil:
			why = fmt.Sprintf("%s's outbox: %v", s, err)
		case o.Pending > 0:
			n += o.Pending
			why = fmt.Sprintf("%s's outbox holds %s (oldest %.0f s old; last error %q)", s, plural(o.Pending, "update"), o.OldestAge, o.LastError)
		}
	}
	return n, why
}

// converge waits until every sidecar holds the same state on the cells
// it holds, between the acknowledged and the attempted joins, and returns
// how long that took. A fresh fold of the stream must then agree with
// them; its state, which holds every cell, is returned.
func (h *harness) converge() (time.Duration, map[string]lattice.Value) {
	judge := func(states States) (string, error) {
		v := Judge(states, h.cl.Held, h.led.Acked(), h.led.Attempted())
		if len(v.Violations) > 0 {
			return "", errors.New(strings.Join(v.Violations, "\n"))
		}
		if len(v.Lagging) > 0 {
			return fmt.Sprintf("%d differences, e.g. %s", len(v.Lagging), v.Lagging[0]), nil
		}
		return "", nil
	}
	d := h.waitFor("every sidecar converged to the acknowledged writes", 90*time.Second, func() (string, error) {
		states, err := h.cl.States(h.ctx, h.cl.Sidecars...)
		if err != nil {
			return err.Error(), nil
		}
		return judge(states)
	})
	var final map[string]lattice.Value
	h.waitFor("a fresh fold of the stream equal to the sidecars", 30*time.Second, func() (string, error) {
		fold, err := h.cl.Fold(h.ctx, h.cl.Brokers...)
		if err != nil {
			return "fold: " + err.Error(), nil
		}
		states, err := h.cl.States(h.ctx, h.cl.Sidecars...)
		if err != nil {
			return err.Error(), nil
		}
		states["stream"] = fold
		final = fold
		return judge(states)
	})
	return d, final
}

// stream returns the stream's info, waiting for it to answer.
func (h *harness) stream() *jetstream.StreamInfo {
	var info *jetstream.StreamInfo
	h.waitFor("the stream's info", time.Minute, func() (string, error) {
		i, err := h.cl.Stream(h.ctx, h.cl.Brokers...)
		if err != nil {
			return err.Error(), nil
		}
		info = i
		return "", nil
	})
	return info
}

// compactionDone is the compactor's log line of a compaction that
// compacted cells.
var compactionDone = regexp.MustCompile(`msg="compaction done" mode=(\S+) .*rolled_up=([1-9][0-9]*)`)

// compaction reports what the compacting sidecar did while scenarios 1–4
// ran, and fails unless it purged the log meanwhile.
func (h *harness) compaction(from time.Time, firstSeq uint64) Row {
	logs, err := h.cl.Compose.Logs(h.ctx, compactor, from)
	h.must(err)
	done := compactionDone.FindAllStringSubmatch(logs, -1)
	info := h.stream()
	if len(done) == 0 || info.State.FirstSeq <= firstSeq {
		h.t.Fatalf("no compaction purged the log during scenarios 1–4 (first sequence %d → %d); %s's log:\n%s",
			firstSeq, info.State.FirstSeq, compactor, logs)
	}
	row := Row{Scenario: "7. compaction during 1–4"}
	for _, r := range h.rows {
		row.Attempted += r.Attempted
		row.Acked += r.Acked
		row.ByLog += r.ByLog
		row.ByOutbox += r.ByOutbox
		row.Lost += r.Lost
		row.Unavailable += r.Unavailable
	}
	row.Notes = fmt.Sprintf("%s compacted the log %d times (%s mode: it holds weather.>, not every cell) while 1–4 ran: the stream's first sequence went from %d to %d (%d messages kept of %d); every check above held",
		compactor, len(done), done[0][1], firstSeq, info.State.FirstSeq, info.State.Msgs, info.State.LastSeq)
	h.t.Logf("%s: %s", row.Scenario, row.Notes)
	return row
}

// deployment describes the limits the compose file gave: each container's
// memory and CPUs (and what it used at the end), JetStream's and the
// stream's.
func (h *harness) deployment() []string {
	var out []string
	for _, s := range append(slices.Clone(h.cl.Brokers), h.cl.Sidecars...) {
		id, err := h.cl.Compose.Container(h.ctx, s)
		if err != nil {
			continue
		}
		limits, _ := Docker(h.ctx, "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.RestartPolicy.Name}}", id)
		used, _ := Docker(h.ctx, "stats", "--no-stream", "--format", "{{.MemUsage}}", id)
		var mem, cpus int64
		var restart string
		fmt.Sscan(limits, &mem, &cpus, &restart)
		if mem == 0 || cpus == 0 {
			h.t.Errorf("%s runs without a memory or CPU limit (%q)", s, limits)
		}
		out = append(out, fmt.Sprintf("%s: %d MiB, %.2g CPU, restart %s; %s in use at the end", s, mem>>20, float64(cpus)/1e9, restart, strings.TrimSpace(strings.Split(used, "/")[0])))
	}
	var jsz struct {
		Config struct {
			MaxMemory  int64 `json:"max_memory"`
			MaxStorage int64 `json:"max_storage"`
		}
	}
	if err := h.cl.Monitor(h.ctx, h.cl.Brokers[0], "/jsz", &jsz); err == nil {
		out = append(out, fmt.Sprintf("JetStream on each node: %d MiB of memory, %d MiB of storage", jsz.Config.MaxMemory>>20, jsz.Config.MaxStorage>>20))
	}
	if info, err := h.cl.Stream(h.ctx, h.cl.Brokers...); err == nil {
		out = append(out, fmt.Sprintf("stream: at most %d MiB per copy, discard %s", info.Config.MaxBytes>>20, discardName(info.Config.Discard)))
	}
	return out
}

func discardName(p jetstream.DiscardPolicy) string {
	if p == jetstream.DiscardNew {
		return "new"
	}
	return "old"
}
