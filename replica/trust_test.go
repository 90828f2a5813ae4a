package replica_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

// Signed updates against a real server: what a trust policy forbids is
// refused by every replica alike, and a sidecar refuses it before
// publishing.

// userKey is a signing key of the tests.
type userKey struct {
	kp  nkeys.KeyPair
	pub string
}

func newUserKey(t testing.TB) userKey {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return userKey{kp, pub}
}

// sign returns the signature headers of payload on subject.
func (k userKey) sign(t testing.TB, subject, payload string) nats.Header {
	t.Helper()
	signer, sig, err := replica.SignUpdate(k.kp, subject, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return nats.Header{replica.HeaderSigner: {signer}, replica.HeaderSignature: {sig}}
}

func trustPolicy(t testing.TB, rules ...fold.TrustRule) *fold.Trust {
	t.Helper()
	tr, err := fold.NewTrust(rules)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func withTrust(tr *fold.Trust) func(*replica.Config) { return func(c *replica.Config) { c.Trust = tr } }

// publisher publishes raw messages, as any NATS client may.
type publisher struct {
	t  testing.TB
	nc *nats.Conn
}

// pub publishes payload on cell's subject with headers h (nil for none)
// and returns its stream sequence.
func (p publisher) pub(cell, payload string, h nats.Header) uint64 {
	p.t.Helper()
	m := nats.NewMsg("dprop.cell." + cell)
	m.Data = []byte(payload)
	for k, v := range h {
		m.Header[k] = v
	}
	ack, err := brokertest.JetStream(p.t, p.nc).PublishMsg(ctxT(p.t), m)
	if err != nil {
		p.t.Fatal(err)
	}
	return ack.Sequence
}

func waitApplied(t testing.TB, seq uint64, rs ...*replica.Replica) {
	t.Helper()
	for _, r := range rs {
		waitFor(t, fmt.Sprintf("stream sequence %d to be folded", seq), func() bool { return r.Progress().Applied >= seq })
	}
}

func refusedOf(r *replica.Replica, cell string) map[string]uint64 { return r.Stats().Refused[cell] }

// Each way of getting around a policy is refused with its reason, and the
// cell keeps what the trusted signer gave it.
func TestTrustRefusals(t *testing.T) {
	srv := runBroker(t)
	alice, bob, mallory := newUserKey(t), newUserKey(t), newUserKey(t)
	policy := trustPolicy(t,
		fold.TrustRule{Cells: "weather.>", Signers: []string{alice.pub}},
		fold.TrustRule{Cells: "config.>", Signers: []string{alice.pub, bob.pub}},
		fold.TrustRule{Cells: "scratch.>", Unsigned: true})
	r := startReplica(t, srv.ClientURL(), withTrust(policy))
	p := publisher{t, connect(t, srv.ClientURL())}
	const temp = "weather.boston.temp"
	good := `{"type":"max","value":4}`

	p.pub(temp, `{"type":"max","value":99}`, nil)                                                                     // unsigned
	p.pub(temp, `{"type":"max","value":99}`, mallory.sign(t, "dprop.cell."+temp, `{"type":"max","value":99}`))        // untrusted
	p.pub(temp, `{"type":"max","value":99}`, alice.sign(t, "dprop.cell."+temp, good))                                 // tampered payload
	p.pub("config.b", `{"type":"max","value":99}`, alice.sign(t, "dprop.cell.config.a", `{"type":"max","value":99}`)) // moved
	p.pub(temp, `{"type":"max","value":99}`, bob.sign(t, "dprop.cell."+temp, `{"type":"max","value":99}`))            // outside bob's patterns
	p.pub("elsewhere.x", good, alice.sign(t, "dprop.cell.elsewhere.x", good))                                         // no rule: nothing counts
	p.pub("scratch.pad", `{"type":"max","value":1}`, nil)                                                             // open
	last := p.pub(temp, good, alice.sign(t, "dprop.cell."+temp, good))
	waitApplied(t, last, r)

	want := map[string]map[string]uint64{
		temp:          {fold.ReasonUnsigned: 1, fold.ReasonUntrustedSigner: 2, fold.ReasonBadSignature: 1},
		"config.b":    {fold.ReasonBadSignature: 1},
		"elsewhere.x": {fold.ReasonUntrustedSigner: 1},
	}
	if got := r.Stats().Refused; !maps.EqualFunc(got, want, maps.Equal) {
		t.Errorf("refusals %v, want %v", got, want)
	}
	if c, _ := r.Get(temp); enc(c.Value) != good || c.Updates != 1 {
		t.Errorf("%s = %s after %d updates, want %s from alice alone", temp, enc(c.Value), c.Updates, good)
	}
	if c, ok := r.Get("scratch.pad"); !ok || c.Updates != 1 {
		t.Errorf("scratch.pad, open to unsigned updates: %+v", c)
	}
	h, err := r.History(ctxT(t), temp, replica.HistoryQuery{})
	if err != nil || len(h) != 5 || h[0].Refused != fold.ReasonUnsigned || h[4].Signer != alice.pub || h[4].Refused != "" {
		t.Errorf("history: %+v %v", h, err)
	}
}

// A replica refuses, before publishing, what the policy would refuse, and
// passes on a caller's signature only once it verifies.
func TestTrustRefineChecks(t *testing.T) {
	srv := runBroker(t)
	alice, bob := newUserKey(t), newUserKey(t)
	policy := trustPolicy(t,
		fold.TrustRule{Cells: "weather.>", Signers: []string{alice.pub}},
		fold.TrustRule{Cells: "config.>", Signers: []string{bob.pub}})
	plain := startReplica(t, srv.ClientURL(), withTrust(policy))
	signing := startReplica(t, srv.ClientURL(), withTrust(policy), func(c *replica.Config) { c.SignKey = bob.kp })
	ctx := ctxT(t)
	nc := connect(t, srv.ClientURL())
	before, err := brokertestStream(t, nc)
	if err != nil {
		t.Fatal(err)
	}
	v := lattice.Max{Value: 3}
	payload := enc(v)
	signed := func(k userKey, subject string) replica.RefineOption {
		h := k.sign(t, subject, payload)
		return replica.WithSignature(h.Get(replica.HeaderSigner), h.Get(replica.HeaderSignature))
	}
	for _, tc := range []struct {
		name string
		r    *replica.Replica
		cell string
		opts []replica.RefineOption
		want string
	}{
		{"unsigned", plain, "weather.a", nil, fold.ReasonUnsigned},
		{"signed by the replica's key, untrusted there", signing, "weather.a", nil, fold.ReasonUntrustedSigner},
		{"the caller's signature, untrusted there", plain, "weather.a", []replica.RefineOption{signed(bob, "dprop.cell.weather.a")}, fold.ReasonUntrustedSigner},
		{"the caller's signature, made for another cell", signing, "weather.a", []replica.RefineOption{signed(alice, "dprop.cell.weather.b")}, fold.ReasonBadSignature},
		{"a signature without its signer", plain, "weather.a", []replica.RefineOption{replica.WithSignature("", "AAAA")}, fold.ReasonBadSignature},
	} {
		_, err := tc.r.Refine(ctx, tc.cell, v, tc.opts...)
		var re *fold.RefusedError
		if !errors.As(err, &re) || re.Reason != tc.want {
			t.Errorf("%s: %v, want a refusal (%s)", tc.name, err, tc.want)
		}
	}
	if after, _ := brokertestStream(t, nc); after != before {
		t.Fatalf("refused refines published: the stream went from %d to %d", before, after)
	}
	// The caller's signature goes as it is, even through a replica that
	// signs; the replica's key signs the rest.
	if c, err := signing.Refine(ctx, "weather.a", v, signed(alice, "dprop.cell.weather.a")); err != nil || enc(c.Value) != payload {
		t.Fatalf("refine signed by alice: %+v %v", c, err)
	}
	if _, err := signing.Refine(ctx, "config.a", v); err != nil {
		t.Fatalf("refine signed by the replica's key: %v", err)
	}
	waitApplied(t, signing.Progress().Applied, plain)
	for _, cell := range []string{"weather.a", "config.a"} {
		if c, ok := plain.Get(cell); !ok || enc(c.Value) != payload || len(refusedOf(plain, cell)) != 0 {
			t.Errorf("%s on the other replica: %+v, refused %v", cell, c, refusedOf(plain, cell))
		}
	}
	h, err := plain.History(ctx, "config.a", replica.HistoryQuery{})
	if err != nil || len(h) != 1 || h[0].Signer != bob.pub {
		t.Errorf("history of config.a: %+v %v", h, err)
	}
}

// A signed message published again, as anyone who read it from the log
// may, is folded as the merge it is: it counts, it is not refused, and it
// changes nothing.
func TestSignedReplayIsHarmless(t *testing.T) {
	srv := runBroker(t)
	alice := newUserKey(t)
	r := startReplica(t, srv.ClientURL(), withTrust(trustPolicy(t, fold.TrustRule{Cells: ">", Signers: []string{alice.pub}})))
	p := publisher{t, connect(t, srv.ClientURL())}
	const cell, old, newer = "weather.a", `{"type":"range","min":3,"max":5}`, `{"type":"range","min":1,"max":9}`
	oldSig := alice.sign(t, "dprop.cell."+cell, old)
	first := p.pub(cell, old, oldSig)
	p.pub(cell, old, oldSig)
	waitApplied(t, p.pub(cell, newer, alice.sign(t, "dprop.cell."+cell, newer)), r)
	seqNewer := r.Progress().Applied
	waitApplied(t, p.pub(cell, old, oldSig), r) // a replay of an older update
	c, _ := r.Get(cell)
	if enc(c.Value) != newer || c.Updates != 4 || c.Seq != seqNewer || first == seqNewer {
		t.Errorf("after replays: %s, %d updates, last change at %d; want %s, 4 updates, last change at %d", enc(c.Value), c.Updates, c.Seq, newer, seqNewer)
	}
	if got := refusedOf(r, cell); len(got) != 0 {
		t.Errorf("replays refused: %v", got)
	}
}

// Three replicas with the same policy — one live from the start, one
// started halfway, one that replays the whole log at the end — make the
// same decision on every update: the same cells, the same refusals.
func TestTrustReplicasAgree(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	alice, bob, mallory := newUserKey(t), newUserKey(t), newUserKey(t)
	policy := trustPolicy(t,
		fold.TrustRule{Cells: "a.>", Signers: []string{alice.pub}},
		fold.TrustRule{Cells: "b.>", Signers: []string{alice.pub, bob.pub}, Unsigned: true},
		fold.TrustRule{Cells: "c.*", Signers: []string{bob.pub}})
	keys := []userKey{alice, bob, mallory}
	live := startReplica(t, url, withTrust(policy))
	p := publisher{t, connect(t, url)}
	rng := rand.New(rand.NewPCG(12, 0))
	cells := []string{"a.x", "a.y", "b.x", "c.x", "c.x.y", "d.x"}
	var last uint64
	var halfway *replica.Replica
	const n = 120
	for i := range n {
		if i == n/2 {
			halfway = startReplica(t, url, withTrust(policy))
		}
		cell := cells[rng.IntN(len(cells))]
		subject := "dprop.cell." + cell
		payload := fmt.Sprintf(`{"type":"set","elems":["e%d"]}`, i)
		var h nats.Header
		switch k := keys[rng.IntN(len(keys))]; rng.IntN(5) {
		case 0: // unsigned
		case 1: // tampered
			h = k.sign(t, subject, `{"type":"set","elems":["other"]}`)
		case 2: // moved from another cell
			h = k.sign(t, "dprop.cell."+cells[rng.IntN(len(cells))], payload)
		default:
			h = k.sign(t, subject, payload)
		}
		last = p.pub(cell, payload, h)
	}
	replay := startReplica(t, url, withTrust(policy))
	waitApplied(t, last, live, halfway, replay)
	want := live.Stats().Refused
	reasons := map[string]bool{}
	for _, rs := range want {
		for reason := range rs {
			reasons[reason] = true
		}
	}
	for _, reason := range []string{fold.ReasonUnsigned, fold.ReasonBadSignature, fold.ReasonUntrustedSigner} {
		if !reasons[reason] {
			t.Errorf("no update refused as %s: the test does not exercise it (refusals %v)", reason, want)
		}
	}
	for name, r := range map[string]*replica.Replica{"halfway": halfway, "replay": replay} {
		if got := r.Stats().Refused; !maps.EqualFunc(got, want, maps.Equal) {
			t.Errorf("%s refused %v, the live replica %v", name, got, want)
		}
		if got, want := cellsOf(r), cellsOf(live); !maps.Equal(got, want) {
			t.Errorf("%s holds %v, the live replica %v", name, got, want)
		}
	}
}

// cellsOf maps each of r's cells to its ETag and update count.
func cellsOf(r *replica.Replica) map[string]string {
	out := map[string]string{}
	for _, c := range r.Cells("") {
		out[c.Name] = fmt.Sprintf("%s/%d", c.ETag, c.Updates)
	}
	return out
}

// A propagator's refinements and a compactor's messages are signed with
// their replica's key: they count where the policy trusts it and are
// refused where it does not; a compactor leaves alone the cells whose
// rollups the policy would refuse from it (a refused rollup would still
// drop their history), and a replica whose propagators' refinements would
// be refused does not start.
func TestSignedPropagatorAndCompaction(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	ctx := ctxT(t)
	prop, alice := newUserKey(t), newUserKey(t)
	trusting := trustPolicy(t, fold.TrustRule{Cells: "in.>", Unsigned: true}, fold.TrustRule{Cells: "out.>", Signers: []string{prop.pub}})
	other := trustPolicy(t, fold.TrustRule{Cells: "in.>", Unsigned: true}, fold.TrustRule{Cells: "out.>", Signers: []string{alice.pub}})
	cp, err := propagators.Copy("copy-x", propagators.Cell{Name: "in.x", Type: "max"}, propagators.Cell{Name: "out.x", Type: "max"})
	if err != nil {
		t.Fatal(err)
	}
	withCopy := func(c *replica.Config) { c.Propagators = []propagators.Propagator{cp} }
	withKey := func(k userKey) func(*replica.Config) { return func(c *replica.Config) { c.SignKey = k.kp } }

	_, err = replica.Start(ctx, replica.Config{Conn: connect(t, url), Logger: testLogger(), Trust: other, SignKey: prop.kp,
		Propagators: []propagators.Propagator{cp}})
	if err == nil || !strings.Contains(err.Error(), `propagator "copy-x" refines "out.x"`) || !strings.Contains(err.Error(), fold.ReasonUntrustedSigner) {
		t.Errorf("a replica whose propagator's refinements the policy refuses: %v", err)
	}

	runner := startReplica(t, url, withTrust(trusting), withKey(prop), withCopy)
	trusts := startReplica(t, url, withTrust(trusting))
	refuses := startReplica(t, url, withTrust(other))
	for i := 1; i <= 3; i++ {
		if _, err := runner.Refine(ctx, "in.x", lattice.Max{Value: float64(i)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the propagator to copy", func() bool { return enc(trusts.Value("out.x")) == enc(lattice.Max{Value: float64(i)}) })
	}
	settle(t, runner, trusts, refuses)
	if got := refusedOf(trusts, "out.x"); len(got) != 0 {
		t.Errorf("the replica that trusts the propagator's key refused %v", got)
	}
	if got := refusedOf(refuses, "out.x"); got[fold.ReasonUntrustedSigner] != 3 || !lattice.IsNothing(refuses.Value("out.x")) {
		t.Errorf("the replica that does not trust the key: refused %v, out.x = %s", got, enc(refuses.Value("out.x")))
	}

	// A compactor whose key the policy does not trust on out.> leaves it.
	untrusted := startReplica(t, url, withTrust(trusting), withKey(alice))
	st, err := untrusted.Compact(ctx, replica.CompactOptions{Mode: replica.CompactRollup})
	if !errors.Is(err, replica.ErrIncomplete) || st.Untrusted != 1 || st.RolledUp != 1 {
		t.Fatalf("compaction by an untrusted key: %+v %v", st, err)
	}
	nc := connect(t, url)
	waitStream := func(rs ...*replica.Replica) {
		t.Helper()
		last, err := brokertestStream(t, nc)
		if err != nil {
			t.Fatal(err)
		}
		waitApplied(t, last, rs...)
	}
	waitStream(runner, trusts, untrusted)
	if c, _ := trusts.Get("out.x"); c.LogLen() != 3 {
		t.Errorf("out.x after a compaction that had to leave it: %d messages in the log, want 3", c.LogLen())
	}

	// The propagator's replica compacts: its rollup is signed with its key.
	if st, err := runner.Compact(ctx, replica.CompactOptions{Mode: replica.CompactRollup}); err != nil || st.RolledUp != 1 || st.Untrusted != 0 {
		t.Fatalf("compaction by the trusted key: %+v %v", st, err)
	}
	waitStream(runner, trusts, refuses)
	if c, _ := trusts.Get("out.x"); c.LogLen() != 1 || enc(c.Value) != enc(lattice.Max{Value: 3}) || len(refusedOf(trusts, "out.x")) != 0 {
		t.Errorf("out.x after the rollup, where the key is trusted: %+v, refused %v", c, refusedOf(trusts, "out.x"))
	}
	if got := refusedOf(refuses, "out.x"); got[fold.ReasonUntrustedSigner] != 4 {
		t.Errorf("the rollup, where the key is not trusted: refused %v, want 4 untrusted_signer", got)
	}
	fresh := startReplica(t, url, withTrust(trusting))
	if c, _ := fresh.Get("out.x"); enc(c.Value) != enc(lattice.Max{Value: 3}) || c.LogLen() != 1 {
		t.Errorf("a new replica of the compacted log: %+v", c)
	}
}

// A local snapshot folded under another trust policy is set aside: the
// replica replays the log under its own.
func TestSnapshotOfAnotherPolicy(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	snap := filepath.Join(t.TempDir(), "snapshot.jsonl")
	open := trustPolicy(t, fold.TrustRule{Cells: ">", Unsigned: true})
	closed := trustPolicy(t, fold.TrustRule{Cells: ">", Signers: []string{newUserKey(t).pub}})
	first := startReplica(t, url, withTrust(open), func(c *replica.Config) { c.SnapshotPath = snap })
	if _, err := first.Refine(ctxT(t), "a", lattice.Max{Value: 1}); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again := startReplica(t, url, withTrust(closed), func(c *replica.Config) { c.SnapshotPath = snap })
	if p := again.Progress(); p.Start != 0 {
		t.Errorf("the replica started from a snapshot of another policy: %+v", p)
	}
	if _, ok := again.Get("a"); ok || refusedOf(again, "a")[fold.ReasonUnsigned] != 1 {
		t.Errorf("the unsigned update counts under a policy that refuses it: refused %v", refusedOf(again, "a"))
	}
}
