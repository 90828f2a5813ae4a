package brokertest

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/dprop/dprop/broker"
)

// Cluster is a NATS cluster with JetStream of servers running in the test
// process. Its methods fail the test on error, so call them from the test's
// goroutine; they are not safe for concurrent use.
type Cluster struct {
	t       testing.TB
	configs []broker.Config  // as each server last ran, ports fixed
	servers []*broker.Server // nil while stopped
	urls    []string
	logger  *slog.Logger
}

// RunCluster starts n ≥ 2 servers forming a JetStream cluster, each on a
// fresh directory and free ports of 127.0.0.1, and returns once they are
// ready for replicated streams (see WaitJetStream). The servers are named
// n1, n2, ...
func RunCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	if n < 2 {
		t.Fatalf("brokertest: cluster of %d servers: want 2 or more (RunServer runs one)", n)
	}
	c := &Cluster{t: t, logger: newFailureLog(t)}
	for try := 1; ; try++ {
		err := c.start(n, opts)
		if err == nil {
			break
		}
		c.Shutdown()
		if !portInUse(err) || try == startTries {
			t.Fatalf("brokertest: %v", err)
		}
	}
	// Registered after start's t.TempDir, so that it runs before the
	// directories are removed.
	t.Cleanup(c.Shutdown)
	c.WaitJetStream()
	return c
}

// start starts n servers on fresh directories and ports.
func (c *Cluster) start(n int, opts []Option) error {
	// The routes must name every member's cluster port before any starts.
	ports := freePorts(c.t, 2*n)
	routes := make([]string, n)
	for i := range n {
		routes[i] = "nats-route://" + hostPort(ports[n+i])
	}
	c.configs = make([]broker.Config, n)
	c.servers = make([]*broker.Server, n)
	c.urls = make([]string, n)
	for i := range n {
		c.configs[i] = broker.Config{
			StoreDir:     c.t.TempDir(),
			Listen:       hostPort(ports[i]),
			ServerName:   fmt.Sprintf("n%d", i+1),
			ReadyTimeout: Timeout,
			Logger:       c.logger,
			Cluster: broker.ClusterConfig{
				Name:   "dprop-test",
				Listen: hostPort(ports[n+i]),
				Routes: routes,
			},
		}
		for _, o := range opts {
			o(&c.configs[i])
		}
	}
	for i := range n {
		if err := c.startServer(i); err != nil {
			return err
		}
	}
	return nil
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// Server returns server i (from 0), or nil while it is stopped.
func (c *Cluster) Server(i int) *broker.Server { return c.servers[i] }

// IndexOf returns the index of the server named name, or -1.
func (c *Cluster) IndexOf(name string) int {
	for i, cfg := range c.configs {
		if cfg.ServerName == name {
			return i
		}
	}
	return -1
}

// URLs returns the client URLs of all the servers, stopped ones included
// (a restarted server keeps its port), as broker.ConnConfig takes them.
func (c *Cluster) URLs() []string { return append([]string(nil), c.urls...) }

// Stop shuts server i down; its directory and ports are kept for Restart.
func (c *Cluster) Stop(i int) {
	if s := c.servers[i]; s != nil {
		s.Shutdown()
		c.servers[i] = nil
	}
}

// Restart starts server i again (stopping it first if it runs) on the
// same directory, name and ports. It returns once the server accepts
// connections; call WaitJetStream to wait until it has caught up with
// the cluster's JetStream meta leader.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.Stop(i)
	if err := c.startServer(i); err != nil {
		c.t.Fatalf("brokertest: %v", err)
	}
}

func (c *Cluster) startServer(i int) error {
	s, err := broker.Start(c.configs[i])
	if err != nil {
		return fmt.Errorf("cluster server %d: %w", i, err)
	}
	c.servers[i] = s
	c.configs[i] = s.Config()
	c.urls[i] = s.ClientURL()
	return nil
}

// WaitJetStream waits until the running servers have a JetStream meta
// leader, every one of them is in step with it, and the leader counts
// every one of them as a place for stream replicas.
func (c *Cluster) WaitJetStream() {
	c.t.Helper()
	ctx := timeoutContext(c.t)
	running := 0
	for _, s := range c.servers {
		if s == nil {
			continue
		}
		running++
		if err := s.WaitJetStream(ctx); err != nil {
			c.t.Fatalf("brokertest: %v", err)
		}
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for c.placeable() < running {
		select {
		case <-ctx.Done():
			c.t.Fatalf("brokertest: the meta leader knows %d of %d servers: %v", c.placeable(), running, ctx.Err())
		case <-tick.C:
		}
	}
}

// placeable returns how many servers the meta leader can place stream
// replicas on, or 0 if no running server is the meta leader.
func (c *Cluster) placeable() int {
	for _, s := range c.servers {
		if s != nil {
			if peers := s.JetStreamPeers(); peers != nil {
				return len(peers)
			}
		}
	}
	return 0
}

// Shutdown shuts every server down. RunCluster arranges for it to run
// when the test ends.
func (c *Cluster) Shutdown() {
	for i := range c.servers {
		c.Stop(i)
	}
}
