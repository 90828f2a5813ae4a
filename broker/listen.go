package broker

import (
	"fmt"
	"net"
	"strconv"
)

// Listeners of a server, as ListenError names them.
const (
	ListenerClient  = "client"
	ListenerCluster = "cluster"
	ListenerMonitor = "monitor"
)

// ListenError says that the server cannot listen on one of its addresses,
// most often because another process (another dprop, say) holds it. Start
// finds this out before it creates anything in the store directory.
// errors.Is(err, syscall.EADDRINUSE) tells the address-in-use case apart.
type ListenError struct {
	// Listener is ListenerClient, ListenerCluster or ListenerMonitor.
	Listener string
	// Addr is the host:port asked for.
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("broker: cannot listen for %s connections on %s: %v", e.Listener, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// probeListeners checks that every address the server will listen on can
// be bound now, so that a port held by another process is reported before
// Start creates the store directory or the server-name file. Addresses
// whose port is to be picked need no check. Another process may still take
// a port between the probe and the server's own listen; nats-server then
// fails as it would have.
func (c *Config) probeListeners() error {
	for _, l := range []struct{ name, addr string }{
		{ListenerClient, c.Listen},
		{ListenerCluster, c.Cluster.Listen},
		{ListenerMonitor, c.Monitor},
	} {
		if l.addr == "" {
			continue
		}
		host, port, err := splitHostPort(l.addr)
		if err != nil || port <= 0 {
			continue // validated already; a port to be picked is always free
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			var inner error = err
			if op, ok := err.(*net.OpError); ok && op.Err != nil {
				inner = op.Err // the syscall error, without "listen tcp ..."
			}
			return &ListenError{Listener: l.name, Addr: l.addr, Err: inner}
		}
		ln.Close()
	}
	return nil
}
