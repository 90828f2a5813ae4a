package brokertest

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a server, and can cut the network
// between its clients and the server the way a partition does: Cut closes
// nothing, it drops what either side sends, and connections made
// meanwhile are accepted and never answered, so a client notices only by
// its own timeouts (missed pings), as behind a docker network disconnect
// or a paused server. Heal forwards new connections again and closes the
// ones the cut froze, which their clients have given up by then.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cut    bool
	frozen []net.Conn // connections to close on Heal: both ends of every pair
}

// NewProxy listens on a free port of 127.0.0.1 and forwards to target
// (host:port) until the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", hostPort(freePorts(t, 1)[0]))
	if err != nil {
		t.Fatalf("brokertest: proxy: %v", err)
	}
	p := &Proxy{ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		p.Heal()
	})
	go p.serve()
	return p
}

// URL is the proxy's address as a NATS URL.
func (p *Proxy) URL() string { return "nats://" + p.ln.Addr().String() }

// Cut starts dropping everything, both ways, on every connection.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
}

// Heal ends the cut: new connections are forwarded again; those made
// before it, which the cut froze, are closed.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.cut = false
	frozen := p.frozen
	p.frozen = nil
	p.mu.Unlock()
	for _, c := range frozen {
		c.Close()
	}
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.cut
		if cut {
			p.frozen = append(p.frozen, c)
		}
		p.mu.Unlock()
		if cut {
			go p.pipe(c, nil) // read and drop, never answer
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.frozen = append(p.frozen, c, s) // frozen by the next cut, closed by the Heal after it
		p.mu.Unlock()
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

// pipe copies from src to dst (nil: nowhere) until src fails, dropping
// what it reads while the network is cut; a cut freezes the pair for good.
func (p *Proxy) pipe(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	frozen := false
	for {
		n, err := src.Read(buf)
		if err != nil {
			if dst != nil && !frozen {
				dst.Close()
			}
			return
		}
		p.mu.Lock()
		frozen = frozen || p.cut
		p.mu.Unlock()
		if dst == nil || frozen {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			src.Close()
			return
		}
	}
}
