package replica

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Replicas that run the same shared network split its propagators among
// themselves. Each live replica announces itself with a heartbeat on the
// core NATS subject <prefix>.members every Config.Heartbeat: its id and the
// shared networks it runs. Every replica keeps the members it has heard of
// recently (within Config.MemberTimeout), and runs a propagator when the
// rendezvous (highest random weight) hash of the propagator's name over the
// live members of its network picks it. When a replica joins or leaves,
// only its share moves.
//
// Why heartbeats on a subject rather than a KV bucket with a TTL or a micro
// service: liveness is ephemeral, so it need not be stored (a KV bucket
// would write every heartbeat of every replica into a stream, through its
// leader, and a KV watcher is not told when an entry expires by age); every
// replica sees the same messages and decides alone, with a bound it
// controls (MemberTimeout); a newcomer is answered at once by each member
// that hears it, so it knows the others within a round trip, and a replica
// that stops cleanly says so and is dropped at once. A micro service would
// have to be polled ($SRV.PING) to be discovered, which is heartbeats with
// more steps. The cost: one small message per replica per heartbeat.
//
// Views may differ for a moment (a heartbeat in flight): then two replicas
// may both run a propagator, which is harmless — a run repeats an
// idempotent refinement — or none may for up to a heartbeat, which loses
// nothing: the new owner's first run reads every input.

// heartbeat is what a member announces.
type heartbeat struct {
	ID       string   `json:"id"`
	Networks []string `json:"networks"`
	Leaving  bool     `json:"leaving,omitempty"`
}

// members tracks the live replicas of the shared networks.
type members struct {
	nc       *nats.Conn
	subject  string
	self     string
	interval time.Duration
	timeout  time.Duration
	changed  chan struct{} // the live members or their networks changed
	announce chan struct{} // publish a heartbeat now

	mu      sync.Mutex
	nets    []string         // this replica's shared networks, sorted
	peers   map[string]*peer // by id; never self
	settled bool             // one heartbeat has passed since the start: the others have answered
}

type peer struct {
	nets []string
	seen time.Time
}

func newMembers(nc *nats.Conn, prefix, self string, interval, timeout time.Duration) *members {
	return &members{nc: nc, subject: prefix + ".members", self: self, interval: interval, timeout: timeout,
		changed: make(chan struct{}, 1), announce: make(chan struct{}, 1), peers: map[string]*peer{}}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// setNetworks sets the shared networks this replica runs, and announces
// them.
func (ms *members) setNetworks(nets []string) {
	ms.mu.Lock()
	ms.nets = nets
	ms.mu.Unlock()
	signal(ms.announce)
}

// owner returns the member that runs the named propagator of network:
// the one of highest weight among the live members running it (this
// replica counts as running it). Before the members have settled it
// returns "" (nobody known yet: wait rather than run everything here).
func (ms *members) owner(network, name string) string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if !ms.settled {
		return ""
	}
	h := fnv64(name)
	best, bestW := ms.self, weight(h, ms.self)
	for id, p := range ms.peers {
		if !slices.Contains(p.nets, network) {
			continue
		}
		if w := weight(h, id); w > bestW || (w == bestW && id > best) {
			best, bestW = id, w
		}
	}
	return best
}

// live lists the live members running network, this one included, sorted.
func (ms *members) live(network string) []string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	out := []string{ms.self}
	for id, p := range ms.peers {
		if slices.Contains(p.nets, network) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// run announces this replica and follows the others until done is closed,
// calling rebalance after every change of the live members (and once
// settled), from a goroutine of its own so that a long rebalance never
// holds up a heartbeat (the others would take this replica for dead). It
// says goodbye on its way out.
func (ms *members) run(done <-chan struct{}, rebalance func(), logf func(msg string, args ...any)) {
	need := make(chan struct{}, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-need:
				rebalance()
			}
		}
	}()
	defer func() { <-finished }()
	ms.loop(done, func() { signal(need) }, logf)
}

func (ms *members) loop(done <-chan struct{}, rebalance func(), logf func(msg string, args ...any)) {
	sub, err := ms.nc.Subscribe(ms.subject, ms.hear)
	if err != nil {
		logf("cannot follow the other replicas: every shared propagator runs here", "subject", ms.subject, "err", err)
		ms.mu.Lock()
		ms.settled = true
		ms.mu.Unlock()
		rebalance()
		return
	}
	defer sub.Unsubscribe() //nolint:errcheck // leaving anyway
	ms.publish(false)
	tick := time.NewTicker(ms.interval)
	defer tick.Stop()
	check := time.NewTicker(ms.timeout / 6) // a dead member is noticed within 7/6 of the timeout
	defer check.Stop()
	settle := time.NewTimer(ms.interval)
	defer settle.Stop()
	for {
		select {
		case <-done:
			ms.publish(true)
			return
		case <-settle.C:
			ms.mu.Lock()
			ms.settled = true
			ms.mu.Unlock()
			rebalance()
		case <-tick.C:
			ms.publish(false)
		case <-check.C:
			if ms.expire(time.Now()) {
				rebalance()
			}
		case <-ms.announce:
			ms.publish(false)
		case <-ms.changed:
			rebalance()
		}
	}
}

// publish sends this replica's heartbeat (or its goodbye).
func (ms *members) publish(leaving bool) {
	ms.mu.Lock()
	hb := heartbeat{ID: ms.self, Networks: ms.nets, Leaving: leaving}
	ms.mu.Unlock()
	b, _ := json.Marshal(hb)
	_ = ms.nc.Publish(ms.subject, b) // a lost heartbeat is made up by the next
}

// hear takes another replica's heartbeat.
func (ms *members) hear(m *nats.Msg) {
	var hb heartbeat
	if json.Unmarshal(m.Data, &hb) != nil || hb.ID == "" || hb.ID == ms.self {
		return
	}
	ms.mu.Lock()
	p, known := ms.peers[hb.ID]
	change := false
	switch {
	case hb.Leaving:
		delete(ms.peers, hb.ID)
		change = known
	case !known:
		ms.peers[hb.ID] = &peer{nets: hb.Networks, seen: time.Now()}
		change = true
	default:
		change = !slices.Equal(p.nets, hb.Networks)
		p.nets, p.seen = hb.Networks, time.Now()
	}
	ms.mu.Unlock()
	if !known && !hb.Leaving {
		signal(ms.announce) // so that a newcomer knows us at once
	}
	if change {
		signal(ms.changed)
	}
}

// expire drops the members not heard of within the timeout; it reports
// whether any was.
func (ms *members) expire(now time.Time) bool {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	gone := false
	for id, p := range ms.peers {
		if now.Sub(p.seen) > ms.timeout {
			delete(ms.peers, id)
			gone = true
		}
	}
	return gone
}

// fnv64 is FNV-1a: the same in every process, unlike maphash.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// weight is the rendezvous weight of a member for a propagator whose name
// hashes to h: FNV-1a of the member's id seeded with h, then the
// splitmix64 finaliser, since FNV alone mixes similar names poorly.
func weight(h uint64, member string) uint64 {
	for i := 0; i < len(member); i++ {
		h ^= uint64(member[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
