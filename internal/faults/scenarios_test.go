package faults

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
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

// killBroker kills the stream's leader (docker kill) while writes go on.
func (h *harness) killBroker(load *Load) (func() error, string) {
	victim := h.leader()
	h.must(h.cl.Compose.Signal(h.ctx, "kill", victim))
	down := time.Now()
	n, first := h.faultWindow(load, down, 8*time.Second, h.cl.Sidecars, "writes acknowledged by the two remaining nodes", nil)
	heal := func() error { return h.cl.Compose.Signal(h.ctx, "start", victim) }
	return heal, fmt.Sprintf("killed %s, the stream's leader; the two others took writes again %.1f s later and acknowledged %d before it was restarted",
		victim, first.Seconds(), n)
}

// cutSidecar disconnects s2 from the brokers' network; the test still
// reaches its API on the other network, and s2 must fall behind.
func (h *harness) cutSidecar(load *Load) (func() error, string) {
	const victim = "s2"
	ip, err := h.cl.Compose.IP(h.ctx, victim, h.cl.Mesh)
	h.must(err)
	h.must(h.cl.Compose.Disconnect(h.ctx, victim, h.cl.Mesh))
	cut := time.Now()
	behind := 0
	n, _ := h.faultWindow(load, cut, 8*time.Second, h.others(victim), "s2 falling behind while s1 and s3 take writes", func() string {
		st, err := h.cl.State(h.ctx, victim)
		if err != nil {
			return err.Error()
		}
		behind = len(Covers(States{victim: st}, h.led.Acked()))
		if behind == 0 {
			return "s2 still holds every acknowledged write: is it cut off?"
		}
		return ""
	})
	heal := func() error { return h.cl.Compose.Connect(h.ctx, victim, h.cl.Mesh, ip) }
	return heal, fmt.Sprintf("cut s2 off the brokers' network; s1 and s3 acknowledged %d writes meanwhile, %d cells of s2 fell behind and caught up", n, behind)
}

// isolateBroker disconnects the stream's leader from everything. Sidecars
// connected to it are cut off with it; a publisher on another node, and
// the sidecars on the other nodes, must keep getting writes acknowledged.
func (h *harness) isolateBroker(load *Load) (func() error, string) {
	victim := h.leader()
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
	ip, err := h.cl.Compose.IP(h.ctx, victim, h.cl.Mesh)
	h.must(err)
	h.must(h.cl.Compose.Disconnect(h.ctx, victim, h.cl.Mesh))
	cut := time.Now()
	majority := append(h.others(alone...), publisher)
	n, first := h.faultWindow(load, cut, 10*time.Second, majority, "writes acknowledged on the majority side", nil)
	heal := func() error { return h.cl.Compose.Connect(h.ctx, victim, h.cl.Mesh, ip) }
	with := "no sidecar"
	if len(alone) > 0 {
		with = "sidecar " + strings.Join(alone, ", ")
	}
	return heal, fmt.Sprintf("cut %s, the stream's leader, off with %s on it; the majority side (%s) took writes again %.1f s later and acknowledged %d before the heal",
		victim, with, strings.Join(majority, ", "), first.Seconds(), n)
}

// restartBrokers stops every broker node (docker stop), checks that no
// write is acknowledged while none runs, and starts them again.
func (h *harness) restartBrokers(load *Load) (func() error, string) {
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
	heal := func() error { return h.cl.Compose.Signal(h.ctx, "start", h.cl.Brokers...) }
	return heal, fmt.Sprintf("stopped all three nodes for %.0f s (no write acknowledged meanwhile, as it must be); after the restart the log still folds to every acknowledged write",
		time.Since(stopped).Seconds())
}

// killSidecar kills s1 (docker kill: no clean shutdown) and starts it
// again on its data volume. A sidecar writes its snapshot once a minute,
// so it first waits for one to exist.
func (h *harness) killSidecar(load *Load) (func() error, string) {
	const victim = "s1"
	id, err := h.cl.Compose.Container(h.ctx, victim)
	h.must(err)
	h.waitFor("s1's first local snapshot", 2*time.Minute, func() (string, error) {
		// docker cp needs nothing inside the container (it has no shell).
		if _, err := Docker(h.ctx, "cp", id+":/data/snapshot.jsonl", "-"); err != nil {
			return "no /data/snapshot.jsonl in s1 yet", nil
		}
		return "", nil
	})
	h.must(h.cl.Compose.Signal(h.ctx, "kill", victim))
	n, _ := h.faultWindow(load, time.Now(), 5*time.Second, h.others(victim), "writes acknowledged through s2 and s3", nil)
	heal := func() error {
		if err := h.cl.Compose.Signal(h.ctx, "start", victim); err != nil {
			return err
		}
		return h.cl.Resolve(h.ctx, victim)
	}
	return heal, fmt.Sprintf("killed s1; s2 and s3 acknowledged %d writes before it was started again", n)
}

// wipeSidecar kills s1, removes its container and its data volume, and
// creates it anew: it must rebuild everything from the log.
func (h *harness) wipeSidecar(load *Load) (func() error, string) {
	const victim = "s1"
	id, err := h.cl.Compose.Container(h.ctx, victim)
	h.must(err)
	vol, err := h.cl.Compose.Volume(h.ctx, "s1-data")
	h.must(err)
	h.must(h.cl.Compose.Signal(h.ctx, "kill", victim))
	_, err = Docker(h.ctx, "rm", "-f", "-v", id)
	h.must(err)
	_, err = Docker(h.ctx, "volume", "rm", vol)
	h.must(err)
	n, _ := h.faultWindow(load, time.Now(), 5*time.Second, h.others(victim), "writes acknowledged through s2 and s3", nil)
	heal := func() error {
		if _, err := h.cl.Compose.Run(h.ctx, "up", "-d", "--no-deps", victim); err != nil {
			return err
		}
		return h.cl.Resolve(h.ctx, victim)
	}
	return heal, fmt.Sprintf("killed s1 and deleted its container and volume; s2 and s3 acknowledged %d writes before it was created anew", n)
}

var (
	snapshotLoaded = regexp.MustCompile(`msg="local snapshot loaded" .*seq=([0-9]+)`)
	replicaReady   = regexp.MustCompile(`msg="replica ready" .*applied_seq=([0-9]+) elapsed=(\S+)`)
)

// snapshotUsed checks that s1 restarted from its local snapshot.
func (h *harness) snapshotUsed(healing time.Time) string {
	logs, err := h.cl.Compose.Logs(h.ctx, "s1", healing)
	h.must(err)
	m := snapshotLoaded.FindStringSubmatch(logs)
	if m == nil {
		h.t.Fatalf("s1 did not load its local snapshot on restart; its log since:\n%s", logs)
	}
	return fmt.Sprintf("s1 loaded its local snapshot (sequence %s) and replayed only what came after", m[1])
}

// fullReplay checks that s1 rebuilt its cells from the log alone.
func (h *harness) fullReplay(healing time.Time) string {
	logs, err := h.cl.Compose.Logs(h.ctx, "s1", healing)
	h.must(err)
	m := replicaReady.FindStringSubmatch(logs)
	if snapshotLoaded.MatchString(logs) || m == nil {
		h.t.Fatalf("s1, created anew, should have replayed the whole log; its log:\n%s", logs)
	}
	return fmt.Sprintf("s1 replayed the (compacted) log up to sequence %s in %s", m[1], m[2])
}
