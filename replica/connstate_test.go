package replica_test

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
)

// silentProxy forwards TCP connections to target until cut; from then on
// it closes what it forwarded and accepts new connections without ever
// answering them, like a broker behind a black hole.
type silentProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newSilentProxy(t *testing.T, target string) *silentProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &silentProxy{ln: ln, target: target}
	t.Cleanup(p.close)
	go p.serve()
	return p
}

// close stops listening and closes every connection: a dial waiting for
// the proxy's INFO fails at once.
func (p *silentProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

func (p *silentProxy) url() string { return "nats://" + p.ln.Addr().String() }

func (p *silentProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		cut := p.cut
		p.mu.Unlock()
		if cut {
			continue // held open, never answered
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// cutOff closes every forwarded connection; new ones are held silent.
func (p *silentProxy) cutOff() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// A sidecar cut off from its broker takes refines into its outbox at once,
// even while its client is in the middle of a reconnect attempt that waits
// for a silent server. nats.go holds its connection lock through such an
// attempt (up to its connect timeout, here 8 s), and a refine that asked
// the connection whether it was connected waited for it: in the fault
// suite, 1.7 s a refine. The replica now follows the connection's state
// from its status events instead.
func TestOutboxTakesWhileReconnectDials(t *testing.T) {
	srv := runBroker(t)
	p := newSilentProxy(t, strings.TrimPrefix(srv.ClientURL(), "nats://"))
	const dialTimeout = 20 * time.Second // long: a slow machine's five refines stay far below half of it
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{p.url()}, Timeout: dialTimeout, ReconnectWait: 50 * time.Millisecond})
	cfg := replica.Config{Conn: nc, Logger: testLogger()}
	withOutbox(filepath.Join(t.TempDir(), "outbox"))(&cfg)
	r, err := replica.Start(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	waitReady(t, r)
	if _, rep := refineReport(t, r, "a", lattice.Max{Value: 1}); rep.Pending {
		t.Fatal("a refine with the broker reachable was taken into the outbox")
	}

	reconnecting := nc.StatusChanged(nats.RECONNECTING)
	p.cutOff()
	// Let the client notice and start a reconnect attempt that waits for
	// the silent proxy's INFO for dialTimeout.
	select {
	case <-reconnecting:
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not notice the cut")
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	for i := 2; i <= 6; i++ {
		c, rep := refineReport(t, r, "a", lattice.Max{Value: float64(i)})
		if !rep.Pending {
			t.Fatalf("refine %d while cut off: not taken into the outbox (%+v)", i, rep)
		}
		if got := c.(lattice.Max).Value; got != float64(i) {
			t.Fatalf("refine %d: the sidecar shows %v", i, got)
		}
	}
	// Five refines must not each wait for the reconnect attempt's dial.
	if took := time.Since(start); took > dialTimeout/2 {
		t.Fatalf("five refines while the client dialled took %v: they waited for the connection's lock", took)
	}
	p.close() // end the dial now, not dialTimeout later
}
