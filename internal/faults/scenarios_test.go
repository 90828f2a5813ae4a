package faults

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/httpapi"
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

// cutSidecar disconnects cutOff from the brokers' network for 30 s while
// writes go on through every sidecar. The test still reaches its API
// (through the network faults.override.yml adds): its /readyz must turn
// 503 and say why, reads must go on, marked stale, every refine sent to it
// while it is cut off must be answered 202 (its outbox keeps it), none
// 503, and it must fall behind. After the heal it must catch up: the
// catch-up is the time from the heal until it holds every write
// acknowledged before the heal; and the others must come to hold what it
// took (the recovery waits for its outbox to be empty).
func (h *harness) cutSidecar(load *Load) *fault {
	victim, c := cutOff, h.cl.Client(cutOff)
	cut := time.Now() // times are taken from before the docker command: upper bounds
	h.must(h.cl.Compose.Disconnect(h.ctx, victim, h.cl.Mesh))
	isCut := time.Now() // a refine sent from now on cannot reach the log
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
	n, _ := h.faultWindow(load, cut, partition, h.others(victim), victim+" falling behind while the others take writes", func() string {
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
		answers := load.Answers(victim, isCut, healing)
		if answers[http.StatusAccepted] < 20 || len(answers) != 1 {
			h.t.Fatalf("%s, cut off, answered the refines sent to it %v (by status); want every one 202, and at least 20", victim, answers)
		}
		d, answered := load.SlowestAnswer(victim, cut, healing)
		median, _ := load.MedianAnswer(victim, http.StatusAccepted, isCut, healing)
		row.Notes += fmt.Sprintf("; every one of the %s sent to %s while it was cut off was answered 202 (its outbox), none 503, in %.2f s (median); the slowest of the %d that waited for an answer then took %.1f s",
			plural(answers[http.StatusAccepted], "refine"), victim, median.Seconds(), answered, d.Seconds())
		select {
		case d := <-catchUp:
			row.CatchUp = d[0]
			row.Notes += fmt.Sprintf("; %s held every write acknowledged before the heal %.1f s after it, and its /readyz said 200 %.1f s after it",
				victim, d[0].Seconds(), d[1].Seconds())
		case <-time.After(time.Minute):
			h.t.Fatalf("%s's catch-up was not measured", victim)
		}
	}
	return &fault{heal: heal, after: after, detected: detected, noUnavailable: true,
		notes: fmt.Sprintf("cut %s off the brokers' network for %.0f s; its /readyz said 503 %.1f s later (nats: %q), and reads went on, marked stale; "+
			"the others acknowledged %d writes meanwhile, and %s fell behind on %s",
			victim, time.Since(cut).Seconds(), detected.Seconds(), why, n, victim, cells(behind))}
}

// partition is how long the outbox scenarios (2, 8) keep the fault.
const partition = 30 * time.Second

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
		h.t.Fatalf("the log acknowledged writes while no broker ran: %v", acks)
	}
	kept := total(load.AcceptedSince(stopped))
	var healing time.Time
	return &fault{
		heal: func() error {
			healing = time.Now()
			return h.cl.Compose.Signal(h.ctx, "start", h.cl.Brokers...)
		},
		notes: fmt.Sprintf("stopped all three nodes for %.0f s (the log acknowledged no write meanwhile, as it must; the sidecars' outboxes took %d, answered 202); after the restart the log still folds to every acknowledged write",
			time.Since(stopped).Seconds(), kept),
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

// stopTwoBrokers stops the stream's leader and another node (docker stop)
// for 30 s: the stream has no quorum, and the log can acknowledge nothing.
// Every sidecar must keep taking writes into its outbox, every refine
// sent meanwhile answered 202, none 503; once the nodes are back, the
// outboxes drain and everything converges (the recovery).
func (h *harness) stopTwoBrokers(load *Load) *fault {
	leader := h.leader()
	victims := []string{leader}
	for _, b := range h.cl.Brokers {
		if b != leader && len(victims) < 2 {
			victims = append(victims, b)
		}
	}
	h.must(h.cl.Compose.Signal(h.ctx, "stop", victims...))
	stopped := time.Now()
	// An answer in flight when the quorum was lost may still arrive.
	quiet := stopped.Add(time.Second)
	h.waitFor("every sidecar taking writes into its outbox while the stream has no quorum", 2*time.Minute, func() (string, error) {
		if time.Since(stopped) < partition {
			return "the fault lasts", nil
		}
		acc := load.AcceptedSince(stopped)
		for _, s := range h.cl.Sidecars {
			if acc[s] < 10 {
				return fmt.Sprintf("%s answered %d refines 202 since the stop, want 10", s, acc[s]), nil
			}
		}
		return "", nil
	})
	if acks := load.AcksSince(quiet); len(acks) > 0 {
		h.t.Fatalf("the log acknowledged writes with two of its three nodes stopped: %v", acks)
	}
	accepted := load.AcceptedSince(stopped)
	var healing time.Time
	return &fault{
		heal: func() error {
			healing = time.Now()
			return h.cl.Compose.Signal(h.ctx, "start", victims...)
		},
		noUnavailable: true,
		notes: fmt.Sprintf("stopped %s (the stream's leader) and %s for %.0f s; the log acknowledged no write meanwhile, and the sidecars' outboxes took %d (answered 202)",
			victims[0], victims[1], time.Since(stopped).Seconds(), total(accepted)),
		after: func(row *Row) {
			var parts []string
			for _, s := range h.cl.Sidecars {
				answers := load.Answers(s, quiet, healing)
				if answers[http.StatusAccepted] == 0 || len(answers) != 1 {
					h.t.Fatalf("%s answered the refines sent to it while the stream had no quorum %v (by status); want every one 202", s, answers)
				}
				median, _ := load.MedianAnswer(s, http.StatusAccepted, quiet, healing)
				parts = append(parts, fmt.Sprintf("%s %d, in %.2f s (median)", s, answers[http.StatusAccepted], median.Seconds()))
			}
			row.Notes += "; every refine sent while the stream had no quorum was answered 202, none 503 (" + strings.Join(parts, ", ") + ")"
		},
	}
}

var (
	pendingFromBefore = regexp.MustCompile(`msg="outbox: updates pending from before" .*pending=([0-9]+)`)
	tornSetAside      = regexp.MustCompile(`time=(\S+) level=ERROR msg="outbox: a torn record at the end of the file was set aside`)
)

// killCutOff cuts cutOff off the brokers' network, lets its writers put
// updates into its outbox, kills it (SIGKILL: no clean shutdown) and
// starts it again on its data volume, still cut off. It must come back
// with every update its outbox held, take new writes into it (202) while
// still cut off, and, once reconnected, deliver them all: nothing
// acknowledged is lost.
//
// With tear, the last record of its outbox file is cut in the middle
// while it is down, as a write torn by a power loss leaves it. That last
// record is an update the test writes itself, the set element
// "torn-<load>", which it counts as attempted, not acknowledged: in a
// real torn write no client was told of it (a record is acknowledged only
// once synced), here the tear is made by hand after. The sidecar must set
// the torn record aside (an ERROR in its log, torn_file in GET
// /v1/outbox) and deliver the intact ones; the torn element must be
// nowhere.
func (h *harness) killCutOff(load *Load, tear bool) *fault {
	victim, c := cutOff, h.cl.Client(cutOff)
	h.must(h.cl.Compose.Disconnect(h.ctx, victim, h.cl.Mesh))
	cut := time.Now()
	h.waitFor(victim+", cut off, taking writes into its outbox", time.Minute, func() (string, error) {
		if n := load.AcceptedSince(cut)[victim]; n < 20 {
			return fmt.Sprintf("%d refines answered 202 since the cut, want 20", n), nil
		}
		if time.Since(cut) < 5*time.Second {
			return "the fault lasts", nil
		}
		return "", nil
	})
	// The writers of the victim wait from here until it is back, so that
	// what its outbox holds when it is killed is known exactly.
	load.Hold(victim)
	held := true
	defer func() {
		if held {
			load.Release(victim)
		}
	}()
	var torn Update
	if tear {
		body := fmt.Sprintf(`{"type":"set","elems":[%q]}`, "torn-"+load.name)
		v, err := lattice.Decode([]byte(body))
		h.must(err)
		torn = Update{Cell: Cells["set"], Value: v}
		h.must(h.led.Attempt(torn))
		cell, err := c.Refine(h.ctx, torn.Cell, []byte(body))
		h.must(err)
		if !cell.Accepted {
			h.t.Fatalf("%s, cut off, answered the refine to be torn without 202: %+v", victim, cell)
		}
	}
	acceptedBefore := load.AcceptedSince(cut)[victim]
	before, err := c.Outbox(h.ctx, 0)
	h.must(err)
	want := acceptedBefore
	if tear {
		want++
	}
	if before.Pending < want {
		h.t.Fatalf("%s, cut off, answered %s 202 (and the one to tear: %v), and its outbox holds %d, want at least %d", victim, plural(acceptedBefore, "refine"), tear, before.Pending, want)
	}
	h.must(h.cl.Compose.Signal(h.ctx, "kill", victim))
	killed := time.Now()
	tornNote := ""
	if tear {
		archive, err := h.cl.Compose.CopyOut(h.ctx, victim, "/data/outbox.log")
		h.must(err)
		// Written back as root's (see CopyIn), so writable by all: the
		// sidecar's user must append to it, and cut the torn tail off.
		damaged, last, err := TearLastRecord(archive, 0o666)
		h.must(err)
		lv, err := lattice.Decode(last.Payload)
		if err != nil || last.Kind != "add" || last.Cell != torn.Cell || !lattice.Equal(lv, torn.Value) {
			h.t.Fatalf("the last record of %s's outbox is %s %s %s (%v), not the update written last, %s", victim, last.Kind, last.Cell, last.Payload, err, lattice.Encode(torn.Value))
		}
		h.must(h.cl.Compose.CopyIn(h.ctx, victim, "/data", damaged))
		tornNote = fmt.Sprintf(", the last record of its outbox (%d bytes, the set element torn-%s) cut to half its body,", last.Size, load.name)
	}
	h.must(h.cl.Compose.Signal(h.ctx, "start", victim))
	restarted := time.Now()
	var after httpapi.Outbox
	h.waitFor(victim+" serving again, still cut off", time.Minute, func() (string, error) {
		o, err := c.Outbox(h.ctx, 0)
		if err != nil {
			return err.Error(), nil
		}
		after = o
		return "", nil
	})
	back := time.Since(restarted)
	want = before.Pending
	if tear {
		want--
	}
	if after.Pending != want {
		h.t.Fatalf("%s's outbox held %d updates when it was killed (one torn: %v) and %d after its restart, want %d", victim, before.Pending, tear, after.Pending, want)
	}
	logs, err := h.cl.Compose.Logs(h.ctx, victim, killed)
	h.must(err)
	if m := pendingFromBefore.FindStringSubmatch(logs); m == nil || m[1] != fmt.Sprint(want) {
		h.t.Fatalf("%s did not log the %d updates pending from before its restart; its log since:\n%s", victim, want, logs)
	}
	if tear {
		if after.Torn == 0 || after.TornFile == "" {
			h.t.Fatalf("%s's outbox after the tear reports %+v, without the torn tail it set aside", victim, after)
		}
		if !tornSetAside.MatchString(logs) {
			h.t.Fatalf("%s did not log an ERROR for the torn record; its log since:\n%s", victim, logs)
		}
		tornNote += fmt.Sprintf(" and it logged an ERROR and set the torn %d bytes aside in %s;", after.Torn, after.TornFile)
	}
	if rd, err := c.Ready(h.ctx); err != nil || rd.Ready {
		h.t.Fatalf("%s, restarted still cut off, says ready %v (%v)", victim, rd.Ready, err)
	}
	load.Release(victim)
	held = false
	resumed := time.Now()
	h.waitFor(victim+", restarted still cut off, taking writes into its outbox", time.Minute, func() (string, error) {
		if n := load.AcceptedSince(resumed)[victim]; n < 10 {
			return fmt.Sprintf("%d refines answered 202 since its restart, want 10", n), nil
		}
		return "", nil
	})
	var healing time.Time
	return &fault{
		heal: func() error {
			healing = time.Now()
			return h.cl.Compose.Connect(h.ctx, victim, h.cl.Mesh)
		},
		noUnavailable: true,
		notes: fmt.Sprintf("cut %s off the brokers' network; after %s answered 202 it was killed (SIGKILL) with %s in its outbox%s restarted on its volume, still cut off, "+
			"and served %.1f s later with %d pending (logged as pending from before); it took %d more writes (202) before it was reconnected",
			victim, plural(acceptedBefore, "refine"), plural(before.Pending, "update"), tornNote, back.Seconds(), after.Pending, load.AcceptedSince(resumed)[victim]),
		after: func(row *Row) {
			if ans := load.Answers(victim, resumed, healing); len(ans) != 1 || ans[http.StatusAccepted] == 0 {
				h.t.Fatalf("%s, restarted still cut off, answered %v (by status); want every refine 202", victim, ans)
			}
			if !tear {
				return
			}
			h.waitFor("the torn update nowhere", 30*time.Second, func() (string, error) {
				states, err := h.cl.States(h.ctx, h.cl.Sidecars...)
				if err != nil {
					return err.Error(), nil
				}
				fold, err := h.cl.Fold(h.ctx, h.cl.Brokers...)
				if err != nil {
					return "fold: " + err.Error(), nil
				}
				states["stream"] = fold
				for name, st := range states {
					if v, ok := st[torn.Cell]; ok && lattice.Leq(torn.Value, v) {
						return "", fmt.Errorf("%s holds the update torn off the outbox, %s", name, lattice.Encode(torn.Value))
					}
				}
				return "", nil
			})
			row.Notes += "; the torn update is in no sidecar and not in the log, every other one is"
		},
	}
}
