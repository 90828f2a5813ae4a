package replica_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
)

// ledger records updates as writers send them: all that were attempted and
// those that were acknowledged. A replica's final state must lie between the
// join of the acknowledged and the join of the attempted (an update whose
// ack was lost may or may not have been stored).
type ledger struct {
	mu        sync.Mutex
	acked     map[string]lattice.Value
	attempted map[string]lattice.Value
	nAcked    int
	nTried    int
}

func newLedger() *ledger {
	return &ledger{acked: map[string]lattice.Value{}, attempted: map[string]lattice.Value{}}
}

func (l *ledger) record(cell string, v lattice.Value, acked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempted[cell], _, _ = lattice.Merge(l.attempted[cell], v)
	l.nTried++
	if acked {
		l.acked[cell], _, _ = lattice.Merge(l.acked[cell], v)
		l.nAcked++
	}
}

// randomUpdate returns an update for one of a few cells of several types;
// writer w owns its own gcounter slot, as gcounters require.
func randomUpdate(rng *rand.Rand, w int, counts map[string]int64) (string, lattice.Value) {
	switch k := rng.IntN(5); k {
	case 0:
		return fmt.Sprintf("conv.max.%d", rng.IntN(4)), lattice.Max{Value: float64(rng.IntN(1000))}
	case 1:
		lo := float64(rng.IntN(100))
		return fmt.Sprintf("conv.range.%d", rng.IntN(4)), lattice.Range{Min: lo, Max: lo + float64(rng.IntN(50))}
	case 2:
		cell := fmt.Sprintf("conv.count.%d", rng.IntN(3))
		key := fmt.Sprintf("%s/w%d", cell, w)
		counts[key] += int64(1 + rng.IntN(3))
		return cell, lattice.NewGCounter(map[string]int64{fmt.Sprintf("w%d", w): counts[key]})
	case 3:
		return fmt.Sprintf("conv.set.%d", rng.IntN(3)), lattice.NewSet(lattice.Str(fmt.Sprintf("e%d", rng.IntN(40))), lattice.Num(float64(rng.IntN(10))))
	default:
		return fmt.Sprintf("conv.flag.%d", rng.IntN(3)), lattice.Flag{Value: rng.IntN(4) == 0}
	}
}

// runWriters runs n writers until stop is closed. Writer i uses publish(i).
func runWriters(t testing.TB, n int, stop <-chan struct{}, l *ledger, publish func(i int) func(ctx context.Context, cell string, v lattice.Value) error) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			counts := map[string]int64{}
			pub := publish(i)
			for {
				select {
				case <-stop:
					return
				default:
				}
				cell, v := randomUpdate(rng, i, counts)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := pub(ctx, cell, v)
				cancel()
				l.record(cell, v, err == nil)
			}
		}()
	}
	return &wg
}

// jsPublish publishes directly with JetStream, as a non-dprop client would.
func jsPublish(t testing.TB, nc *nats.Conn) func(ctx context.Context, cell string, v lattice.Value) error {
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context, cell string, v lattice.Value) error {
		_, err := js.Publish(ctx, "dprop.cell."+cell, lattice.Encode(v))
		return err
	}
}

func refinePublish(r *replica.Replica) func(ctx context.Context, cell string, v lattice.Value) error {
	return func(ctx context.Context, cell string, v lattice.Value) error {
		_, err := r.Refine(ctx, cell, v)
		return err
	}
}

// checkConverged waits until every replica has folded the stream up to its
// current last sequence, then asserts acked ⊑ state ⊑ attempted for every
// cell, and that all replicas hold identical cells.
func checkConverged(t testing.TB, js jetstream.JetStream, l *ledger, rs ...*replica.Replica) {
	t.Helper()
	ctx := ctxT(t)
	var last uint64
	waitFor(t, "stream info", func() bool {
		s, err := js.Stream(ctx, "DPROP")
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		if err != nil {
			return false
		}
		last = info.State.LastSeq
		return true
	})
	for i, r := range rs {
		waitFor(t, fmt.Sprintf("replica %d to fold up to %d", i, last), func() bool { return r.Progress().Applied >= last })
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for cell, acked := range l.acked {
		for i, r := range rs {
			got := r.Value(cell)
			if !lattice.Leq(acked, got) {
				t.Errorf("replica %d lost acknowledged information in %s: has %s, acked join %s", i, cell, enc(got), enc(acked))
			}
			if !lattice.Leq(got, l.attempted[cell]) {
				t.Errorf("replica %d holds in %s more than was ever written: %s vs %s", i, cell, enc(got), enc(l.attempted[cell]))
			}
		}
	}
	ref := rs[0].Cells("")
	for i, r := range rs[1:] {
		cells := r.Cells("")
		if len(cells) != len(ref) {
			t.Fatalf("replica %d holds %d cells, replica 0 %d", i+1, len(cells), len(ref))
		}
		for j := range cells {
			// Values must agree; the sequence of the last change may not
			// (a replica that started after a compaction saw the change
			// in the rollup).
			if cells[j].Name != ref[j].Name || cells[j].ETag != ref[j].ETag {
				t.Errorf("replica %d cell %s = %s, replica 0 has %s", i+1, cells[j].Name, enc(cells[j].Value), enc(ref[j].Value))
			}
		}
	}
	if l.nAcked == 0 {
		t.Fatal("no update was acknowledged")
	}
	t.Logf("%d updates attempted, %d acknowledged, %d cells", l.nTried, l.nAcked, len(ref))
}

// Three replicas and concurrent writers (through replicas and straight to
// JetStream) converge to the join of every acknowledged update; a replica
// started late, and one killed and restarted mid-stream, reach the same.
func TestConvergence(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	rs := []*replica.Replica{startReplica(t, url), startReplica(t, url), startReplica(t, url)}
	l := newLedger()
	stop := make(chan struct{})
	wg := runWriters(t, 6, stop, l, func(i int) func(context.Context, string, lattice.Value) error {
		if i < 3 {
			return refinePublish(rs[i])
		}
		return jsPublish(t, connect(t, url))
	})
	waitFor(t, "some writes", func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.nAcked > 300 })
	// Kill replica 2 mid-stream and start a fresh one in its place.
	rs[2].Close()
	rs[2] = startReplicaNoWait(t, url)
	waitFor(t, "more writes", func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.nAcked > 600 })
	close(stop)
	wg.Wait()
	late := startReplica(t, url)
	checkConverged(t, brokertest.JetStream(t, connect(t, url)), l, append(rs, late)...)
}

// Ready means caught up: at the moment a replica says it is ready it holds
// every update that was in the stream when it started.
func TestReadyOnlyAfterCatchUp(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	nc := connect(t, url)
	want := map[string]lattice.Value{}
	publishBulk(t, nc, 20000, func(i int) (string, lattice.Value) {
		cell := fmt.Sprintf("bulk.%d", i%500)
		v := lattice.Max{Value: float64(i)}
		want[cell], _, _ = lattice.Merge(want[cell], v)
		return cell, v
	})
	for range 2 {
		var mu sync.Mutex
		var seen []replica.Progress
		r := startReplicaNoWait(t, url, func(c *replica.Config) {
			c.Progress = func(p replica.Progress) { mu.Lock(); seen = append(seen, p); mu.Unlock() }
			c.ProgressEvery = time.Millisecond
		})
		waitReady(t, r)
		// Read before anything else can happen.
		for cell, v := range want {
			if got := r.Value(cell); !lattice.Equal(got, v) {
				t.Fatalf("ready but %s = %s, want %s", cell, enc(got), enc(v))
			}
		}
		p := r.Progress()
		if p.Applied < p.Target || p.Target != 20000 || p.Cells != 500 {
			t.Errorf("ready progress %+v", p)
		}
		waitFor(t, "a final progress report", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(seen) > 0 && seen[len(seen)-1].Ready
		})
		r.Close()
	}
}

// The broker restarted on the same store: replicas reconnect by themselves
// and nothing acknowledged is lost.
func TestBrokerRestart(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	r := startReplica(t, url)
	l := newLedger()
	stop := make(chan struct{})
	wg := runWriters(t, 3, stop, l, func(int) func(context.Context, string, lattice.Value) error { return refinePublish(r) })
	waitFor(t, "writes", func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.nAcked > 200 })
	srv = brokertest.RestartServer(t, srv)
	n := func() int { l.mu.Lock(); defer l.mu.Unlock(); return l.nAcked }
	after := n()
	waitFor(t, "writes after the restart", func() bool { return n() > after+200 })
	close(stop)
	wg.Wait()
	checkConverged(t, brokertest.JetStream(t, connect(t, srv.ClientURL())), l, r, startReplica(t, srv.ClientURL()))
}

// On a three-node cluster with the stream at three replicas, stopping the
// stream leader during writes loses nothing acknowledged, and writes go on
// once the leadership moves.
func TestClusterNodeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	c := brokertest.RunCluster(t, 3)
	urls := c.URLs()
	nc := connect(t, urls[0])
	js := brokertest.JetStream(t, nc)
	if _, err := broker.EnsureStream(ctxT(t), js, broker.StreamConfig{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	// Replicas and writers on different nodes, each able to fail over to
	// the others.
	all := func(first int) string {
		return urls[first] + "," + urls[(first+1)%3] + "," + urls[(first+2)%3]
	}
	rs := []*replica.Replica{startReplica(t, all(0)), startReplica(t, all(1)), startReplica(t, all(2))}
	l := newLedger()
	stop := make(chan struct{})
	wg := runWriters(t, 3, stop, l, func(i int) func(context.Context, string, lattice.Value) error { return refinePublish(rs[i]) })
	n := func() int { l.mu.Lock(); defer l.mu.Unlock(); return l.nAcked }
	waitFor(t, "writes", func() bool { return n() > 100 })
	s, err := js.Stream(ctxT(t), "DPROP")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	leader := c.IndexOf(info.Cluster.Leader)
	t.Logf("stopping stream leader %s", info.Cluster.Leader)
	c.Stop(leader)
	before := n()
	waitFor(t, "writes after the leader stopped", func() bool { return n() > before+100 })
	c.Restart(leader)
	c.WaitJetStream()
	before = n()
	waitFor(t, "writes after the restart", func() bool { return n() > before+100 })
	close(stop)
	wg.Wait()
	checkConverged(t, brokertest.JetStream(t, connect(t, all(leader))), l, rs...)
}

// publishBulk publishes n updates asynchronously and waits for every ack.
func publishBulk(t testing.TB, nc *nats.Conn, n int, next func(i int) (string, lattice.Value)) {
	t.Helper()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		t.Fatal(err)
	}
	var futures []jetstream.PubAckFuture
	flush := func() {
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				t.Fatalf("publish: %v", err)
			case <-time.After(testTimeout):
				t.Fatal("publish: no ack")
			}
		}
		futures = futures[:0]
	}
	for i := range n {
		cell, v := next(i)
		f, err := js.PublishAsync("dprop.cell."+cell, lattice.Encode(v))
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		if futures = append(futures, f); len(futures) == 2048 {
			flush()
		}
	}
	flush()
}
