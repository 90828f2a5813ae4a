package faults

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dprop/dprop/lattice"
)

// The faults. Each injects its fault with writes going on, waits while the
// fault lasts (on conditions, with deadlines), and returns how to heal it.

// faultWindow waits until the fault has lasted at least least and the
// sidecars or publishers through have acknowledged ten writes since it
// began (the cluster keeps taking writes), and until extra, if given,
// reports nothing left to wait for. It returns the acknowledgements
// counted, and how long after the fault's start the first one came.
func (h *harness) faultWindow(load *Load, since time.Time, least time.Duration, through []string, what string, extra func() string) (int, time.Duration) {
	h.t.Helper()
	n := 0
	h.waitFor(what, 90*time.Second, func() (string, error) {
		acks := load.AcksSince(since)
		n = 0
		for _, s := range through {
			n += acks[s]
		}
		switch {
		case n < 10:
			return fmt.Sprintf("%d writes acknowledged through %v since the fault began, want 10", n, through), nil
		case time.Since(since) < least:
			return "the fault lasts", nil
		case extra != nil:
			return extra(), nil
		}
		return "", nil
	})
	first, _ := load.FirstAck(since, through)
	h.t.Logf("the first write through %v was acknowledged %v after the fault began", through, first.Sub(since).Round(time.Millisecond))
	return n, first.Sub(since)
}

func (h *harness) others(not ...string) []string {
	return slices.DeleteFunc(slices.Clone(h.cl.Sidecars), func(s string) bool { return slices.Contains(not, s) })
}

// leader returns the broker leading the stream (nodes are named after
// their services).
func (h *harness) leader() string {
	l := h.stream().Cluster.Leader
	if !slices.Contains(h.cl.Brokers, l) {
		h.t.Fatalf("the stream's leader %q is none of the brokers %v", l, h.cl.Brokers)
	}
	return l
}

// placement waits until the brokers' /connz place every sidecar.
func (h *harness) placement() map[string]string {
	var placed map[string]string
	h.waitFor("each sidecar's broker, from the brokers' /connz", time.Minute, func() (string, error) {
		p, err := h.cl.Placement(h.ctx)
		if err != nil {
			return err.Error(), nil
		}
		if len(p) != len(h.cl.Sidecars) {
			return fmt.Sprintf("found %d of %d sidecars: %v", len(p), len(h.cl.Sidecars), p), nil
		}
		placed = p
		return "", nil
	})
	return placed
}

// slowest says how long the slowest refine through each sidecar that
// waited for its answer at some time from from to to took to be answered.
func slowest(load *Load, from, to time.Time, sidecars ...string) string {
	var parts []string
	for _, s := range sidecars {
		d, n := load.SlowestAnswer(s, from, to)
		parts = append(parts, fmt.Sprintf("%s's in %.1f s (of %d)", s, d.Seconds(), n))
	}
	return strings.Join(parts, ", ")
}

// cells says n cells.
func cells(n int) string { return plural(n, "cell") }

// plural says n things.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// killBroker kills the stream's leader (docker kill) while writes go on.
func (h *harness) killBroker(load *Load) *fault {
	victim := h.leader()
	h.must(h.cl.Compose.Signal(h.ctx, "kill", victim))
	down := time.Now()
	n, first := h.faultWindow(load, down, 8*time.Second, h.cl.Sidecars, "writes acknowledged by the two remaining nodes", nil)
	return &fault{
		heal: func() error { return h.cl.Compose.Signal(h.ctx, "start", victim) },
		notes: fmt.Sprintf("killed %s, the stream's leader; the two others took writes again %.1f s later and acknowledged %d before it was restarted",
			victim, first.Seconds(), n),
	}
}

// cutSidecar disconnects cutOff from the brokers' network while writes go
// on through every sidecar. The test still reaches its API (through the
// network faults.override.yml adds): its /readyz must turn 503 and say
// why, reads must go on, marked stale, refines must be answered (503)
// rather than held, and it must fall behind. After the heal it must catch
// up: the catch-up is the time from the heal until it holds every write
// acknowledged before the heal.
func (h *harness) cutSidecar(load *Load) *fault {
	victim, c := cutOff, h.cl.Client(cutOff)
	cut := time.Now() // times are taken from before the docker command: upper bounds
	h.must(h.cl.Compose.Disconnect(h.ctx, victim, h.cl.Mesh))
	why := ""
	detected := h.waitFor(victim+"'s /readyz to say it cannot reach the brokers", time.Minute, func() (string, error) {
		rd, err := c.Ready(h.ctx)
		if err != nil {
			return "", fmt.Errorf("%s's API is unreachable while it is cut off the brokers' network: %w", victim, err)
		}
		if rd.Ready || rd.Checks["nats"] == "ok" {
			return fmt.Sprintf("/readyz says ready %t, nats %q", rd.Ready, rd.Checks["nats"]), nil
		}
		why = rd.Checks["nats"]
		return "", nil
	})
	h.t.Logf("%s's /readyz said 503 %v after the cut: %s", victim, detected.Round(time.Millisecond), why)
	cell, err := c.Get(h.ctx, Cells["range"])
	h.must(err)
	if !cell.Stale {
		h.t.Fatalf("%s, cut off, served %s without Dprop-Stale", victim, cell.Name)
	}
	behind := 0
	n, _ := h.faultWindow(load, cut, 8*time.Second, h.others(victim), victim+" falling behind while the others take writes", func() string {
		st, err := h.cl.State(h.ctx, victim)
		if err != nil {
			return err.Error()
		}
		behind = len(Covers(States{victim: st}, h.cl.Held, h.led.Acked()))
		if behind == 0 {
			return victim + " still holds every acknowledged write: is it cut off?"
		}
		return ""
	})
	catchUp := make(chan [2]time.Duration, 1)
	var healing time.Time
	heal := func() error {
		before := h.led.Acked()
		healing = time.Now()
		if err := h.cl.Compose.Connect(h.ctx, victim, h.cl.Mesh); err != nil {
			return err
		}
		go h.watchCatchUp(victim, before, time.Now(), catchUp)
		return nil
	}
	after := func(row *Row) {
		d, answered := load.SlowestAnswer(victim, cut, healing)
		row.Notes += fmt.Sprintf("; of the %s through %s that waited for an answer while it was cut off, the slowest was answered in %.1f s", plural(answered, "refine"), victim, d.Seconds())
		select {
		case d := <-catchUp:
			row.CatchUp = d[0]
			row.Notes += fmt.Sprintf("; %s held every write acknowledged before the heal %.1f s after it, and its /readyz said 200 %.1f s after it",
				victim, d[0].Seconds(), d[1].Seconds())
		case <-time.After(time.Minute):
			h.t.Fatalf("%s's catch-up was not measured", victim)
		}
	}
	return &fault{heal: heal, after: after, detected: detected,
		notes: fmt.Sprintf("cut %s off the brokers' network; its /readyz said 503 %.1f s later (nats: %q), and reads went on, marked stale; "+
			"the others acknowledged %d writes meanwhile, and %s fell behind on %s",
			victim, detected.Seconds(), why, n, victim, cells(behind))}
}

// watchCatchUp measures, from healed, when the sidecar holds everything in
// before, and when its /readyz says 200, and sends both.
func (h *harness) watchCatchUp(sidecar string, before map[string]lattice.Value, healed time.Time, out chan<- [2]time.Duration) {
	ctx, cancel := context.WithTimeout(h.ctx, 2*time.Minute)
	defer cancel()
	var caught, ready time.Duration
	for ctx.Err() == nil && (caught == 0 || ready == 0) {
		if caught == 0 {
			if st, err := h.cl.State(ctx, sidecar); err == nil && len(Covers(States{sidecar: st}, h.cl.Held, before)) == 0 {
				caught = time.Since(healed)
			}
		}
		if ready == 0 {
			if rd, err := h.cl.Client(sidecar).Ready(ctx); err == nil && rd.Ready {
				ready = time.Since(healed)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	out <- [2]time.Duration{caught, ready}
}

// isolateBroker disconnects the stream's leader from everything. Sidecars
// connected to it are cut off with it; a publisher on another node, and
// the sidecars on the other nodes, must keep getting writes acknowledged.
func (h *harness) isolateBroker(load *Load) *fault {
	victim := h.leader()
	placed := h.placement()
	alone := slices.DeleteFunc(slices.Clone(h.cl.Sidecars), func(s string) bool { return placed[s] != victim })
	other := h.cl.Brokers[0]
	if other == victim {
		other = h.cl.Brokers[1]
	}
	nc, err := h.cl.Dial(h.ctx, other, nats.MaxReconnects(-1), nats.ReconnectWait(500*time.Millisecond))
	h.must(err)
	publisher := "nats@" + other
	h.must(load.AddPublisher(publisher, nc))
	h.waitFor("writes acknowledged by JetStream to "+publisher, time.Minute, func() (string, error) {
		if n := load.AcksSince(time.Time{})[publisher]; n < 3 {
			return fmt.Sprintf("%d acknowledged", n), nil
		}
		return "", nil
	})
	h.must(h.cl.Compose.Disconnect(h.ctx, victim, h.cl.Mesh))
	cut := time.Now()
	majority := append(h.others(alone...), publisher)
	n, first := h.faultWindow(load, cut, 10*time.Second, majority, "writes acknowledged on the majority side", nil)
	with := "no sidecar"
	if len(alone) > 0 {
		with = "sidecar " + strings.Join(alone, ", ")
	}
	return &fault{
		heal: func() error { return h.cl.Compose.Connect(h.ctx, victim, h.cl.Mesh) },
		notes: fmt.Sprintf("cut %s, the stream's leader, off with %s on it; the majority side (%s) took writes again %.1f s later and acknowledged %d before the heal",
			victim, with, strings.Join(majority, ", "), first.Seconds(), n),
	}
}

// pauseBroker freezes a broker (docker pause): its connections stay open
// but nothing answers, the hardest failure for a client to notice. It
// pauses the broker with the most sidecars on it, the stream's leader if
// it has as many as any. The sidecars on it must give its connection up
// within the client's bound (two pings of 2 s unanswered), say so in
// their logs, and take writes again through another node; no refine may
// be held longer than the sidecar's publish timeout.
func (h *harness) pauseBroker(load *Load) *fault {
	leader, placed := h.leader(), h.placement()
	count := map[string]int{}
	for _, b := range placed {
		count[b]++
	}
	victim := leader
	for _, b := range h.cl.Brokers {
		if count[b] > count[victim] {
			victim = b
		}
	}
	on := slices.DeleteFunc(slices.Clone(h.cl.Sidecars), func(s string) bool { return placed[s] != victim })
	paused := time.Now()
	h.must(h.cl.Compose.Signal(h.ctx, "pause", victim))
	lost := map[string]time.Duration{}
	h.waitFor("the sidecars of the paused "+victim+" to give its connection up", time.Minute, func() (string, error) {
		for _, s := range on {
			if _, ok := lost[s]; ok {
				continue
			}
			d, err := h.logged(s, paused, connectionLost)
			if err != nil {
				return "", err
			}
			if d < 0 {
				return s + " has not logged that it gave its connection up", nil
			}
			lost[s] = d
		}
		return "", nil
	})
	var detected time.Duration
	for _, d := range lost {
		detected = max(detected, d)
	}
	// When the sidecars on it take writes again: their writers may each be
	// waiting out a refine sent over the frozen connection, so probe.
	var resumed time.Duration
	h.waitFor("a write acknowledged through each sidecar of the paused "+victim, time.Minute, func() (string, error) {
		for _, s := range on {
			if !load.Probe(s, 2*time.Second) {
				return s + " has not acknowledged a probe write", nil
			}
		}
		resumed = time.Since(paused)
		return "", nil
	})
	h.faultWindow(load, paused, 10*time.Second, h.cl.Sidecars, "writes acknowledged while "+victim+" is paused", nil)
	others := ""
	if rest := h.others(on...); len(rest) > 0 {
		others = " (the other sidecars: never since the pause)"
		if first, ok := load.FirstAck(paused, rest); ok {
			others = fmt.Sprintf(" (the other sidecars: %.1f s after it)", first.Sub(paused).Seconds())
		}
	}
	role := "a follower of the stream"
	if victim == leader {
		role = "the stream's leader"
	}
	var healing time.Time
	return &fault{
		heal: func() error {
			healing = time.Now()
			return h.cl.Compose.Signal(h.ctx, "unpause", victim)
		},
		detected: detected,
		notes: fmt.Sprintf("paused %s, %s, with %s on it; they gave its connection up %.1f s later at most (%q in their logs), "+
			"and took writes again through another node %.1f s after the pause%s",
			victim, role, strings.Join(on, ", "), detected.Seconds(), "broker connection lost", resumed.Seconds(), others),
		after: func(row *Row) {
			row.Notes += "; of the refines waiting for an answer during the pause, the slowest were answered " + slowest(load, paused, healing, h.cl.Sidecars...)
		},
	}
}

// connectionLost is the log line of a sidecar that gives its connection to
// a broker up.
var connectionLost = regexp.MustCompile(`time=(\S+) level=WARN msg="broker connection lost"`)

// logged returns how long after since the service first logged a line
// matching re (whose first group is the line's time), or -1 if it has not.
func (h *harness) logged(service string, since time.Time, re *regexp.Regexp) (time.Duration, error) {
	logs, err := h.cl.Compose.Logs(h.ctx, service, since)
	if err != nil {
		return 0, err
	}
	m := re.FindStringSubmatch(logs)
	if m == nil {
		return -1, nil
	}
	at, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		return 0, fmt.Errorf("%s's log: %q: %w", service, m[0], err)
	}
	return at.Sub(since), nil
}

// restartBrokers stops every broker node (docker stop), checks that no
// write is acknowledged while none runs, and starts them again.
func (h *harness) restartBrokers(load *Load) *fault {
	h.must(h.cl.Compose.Signal(h.ctx, "stop", h.cl.Brokers...))
	stopped := time.Now()
	// An answer in flight when the last node stopped may still arrive.
	quiet := stopped.Add(time.Second)
	h.waitFor("the outage lasts", time.Minute, func() (string, error) {
		if time.Since(stopped) < 6*time.Second {
			return "the fault lasts", nil
		}
		return "", nil
	})
	if acks := load.AcksSince(quiet); len(acks) > 0 {
		h.t.Fatalf("writes were acknowledged while no broker ran: %v", acks)
	}
	var healing time.Time
	return &fault{
		heal: func() error {
			healing = time.Now()
			return h.cl.Compose.Signal(h.ctx, "start", h.cl.Brokers...)
		},
		notes: fmt.Sprintf("stopped all three nodes for %.0f s (no write acknowledged meanwhile, as it must be); after the restart the log still folds to every acknowledged write",
			time.Since(stopped).Seconds()),
		after: func(row *Row) {
			row.Notes += "; of the refines waiting for an answer while no node ran, the slowest were answered " + slowest(load, stopped, healing, h.cl.Sidecars...)
		},
	}
}

// killSidecar kills the keeper (docker kill: no clean shutdown) and
// starts it again on its data volume. A sidecar writes its snapshot once
// a minute, so it first waits for one to exist.
func (h *harness) killSidecar(load *Load) *fault {
	victim := keeper
	id, err := h.cl.Compose.Container(h.ctx, victim)
	h.must(err)
	h.waitFor(victim+"'s first local snapshot", 2*time.Minute, func() (string, error) {
		// docker cp needs nothing inside the container (it has no shell).
		if _, err := Docker(h.ctx, "cp", id+":/data/snapshot.jsonl", "-"); err != nil {
			return "no /data/snapshot.jsonl in " + victim + " yet", nil
		}
		return "", nil
	})
	h.must(h.cl.Compose.Signal(h.ctx, "kill", victim))
	n, _ := h.faultWindow(load, time.Now(), 5*time.Second, h.others(victim), "writes acknowledged through the other sidecars", nil)
	healing := time.Now()
	return &fault{
		heal:  func() error { return h.cl.Compose.Signal(h.ctx, "start", victim) },
		notes: fmt.Sprintf("killed %s; the others acknowledged %d writes before it was started again", victim, n),
		after: func(row *Row) { row.Notes += "; " + h.snapshotUsed(victim, healing) },
	}
}

// wipeSidecar kills the keeper, removes its container and its data volume,
// and creates it anew: it must rebuild everything from the log.
func (h *harness) wipeSidecar(load *Load) *fault {
	victim := keeper
	id, err := h.cl.Compose.Container(h.ctx, victim)
	h.must(err)
	vol, err := h.cl.Compose.Volume(h.ctx, victim+"-data")
	h.must(err)
	h.must(h.cl.Compose.Signal(h.ctx, "kill", victim))
	_, err = Docker(h.ctx, "rm", "-f", "-v", id)
	h.must(err)
	_, err = Docker(h.ctx, "volume", "rm", vol)
	h.must(err)
	n, _ := h.faultWindow(load, time.Now(), 5*time.Second, h.others(victim), "writes acknowledged through the other sidecars", nil)
	healing := time.Now()
	return &fault{
		heal: func() error {
			_, err := h.cl.Compose.Run(h.ctx, "up", "-d", "--no-deps", victim)
			return err
		},
		notes: fmt.Sprintf("killed %s and deleted its container and volume; the others acknowledged %d writes before it was created anew", victim, n),
		after: func(row *Row) { row.Notes += "; " + h.fullReplay(victim, healing) },
	}
}

var (
	snapshotLoaded = regexp.MustCompile(`msg="local snapshot loaded" .*seq=([0-9]+)`)
	replicaReady   = regexp.MustCompile(`msg="replica ready" .*applied_seq=([0-9]+) elapsed=(\S+)`)
)

// snapshotUsed checks that the sidecar restarted from its local snapshot.
func (h *harness) snapshotUsed(sidecar string, healing time.Time) string {
	logs, err := h.cl.Compose.Logs(h.ctx, sidecar, healing)
	h.must(err)
	m := snapshotLoaded.FindStringSubmatch(logs)
	if m == nil {
		h.t.Fatalf("%s did not load its local snapshot on restart; its log since:\n%s", sidecar, logs)
	}
	return fmt.Sprintf("%s loaded its local snapshot (sequence %s) and replayed only what came after", sidecar, m[1])
}

// fullReplay checks that the sidecar rebuilt its cells from the log alone.
func (h *harness) fullReplay(sidecar string, healing time.Time) string {
	logs, err := h.cl.Compose.Logs(h.ctx, sidecar, healing)
	h.must(err)
	m := replicaReady.FindStringSubmatch(logs)
	if snapshotLoaded.MatchString(logs) || m == nil {
		h.t.Fatalf("%s, created anew, should have replayed the whole log; its log:\n%s", sidecar, logs)
	}
	return fmt.Sprintf("%s replayed the (compacted) log up to sequence %s in %s", sidecar, m[1], m[2])
}
