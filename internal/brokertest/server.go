// Package brokertest runs real embedded brokers for tests: a single server
// on a fresh directory and a free port, a restart of it on the same
// directory and port, and clusters of several servers in one process.
//
// Every helper takes a testing.TB, fails the test on error and shuts what
// it started down with t.Cleanup. The servers' logs are shown only if the
// test fails (the latest lines, Info level and above), unless WithLogger
// sends them elsewhere.
package brokertest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dprop/dprop/broker"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Timeout bounds every wait of the helpers: a server starting, a cluster
// electing its leaders.
const Timeout = 60 * time.Second

// Option adjusts the broker.Config a helper starts a server with. Any
// func(*broker.Config) will do.
type Option func(*broker.Config)

// WithConfigFile gives the server a nats-server configuration file.
func WithConfigFile(path string) Option {
	return func(c *broker.Config) { c.ConfigFile = path }
}

// WithLogger sends the server's logs to l.
func WithLogger(l *slog.Logger) Option {
	return func(c *broker.Config) { c.Logger = l }
}

// RunServer starts a single embedded server with JetStream, storing in a
// fresh temporary directory and listening on a free port of 127.0.0.1.
func RunServer(t testing.TB, opts ...Option) *broker.Server {
	t.Helper()
	dir := t.TempDir()
	logger := newFailureLog(t)
	for try := 1; ; try++ {
		cfg := broker.Config{
			StoreDir:     dir,
			Listen:       hostPort(freePorts(t, 1)[0]),
			ReadyTimeout: Timeout,
			Logger:       logger,
		}
		for _, o := range opts {
			o(&cfg)
		}
		srv, err := broker.Start(cfg)
		if portInUse(err) && try < startTries {
			continue
		}
		if err != nil {
			t.Fatalf("brokertest: %v", err)
		}
		t.Cleanup(srv.Shutdown)
		return srv
	}
}

// RestartServer shuts srv down (if it is still running) and starts it
// again with the same configuration: the same directory, server name and
// ports, so that connected clients reconnect by themselves. A client may
// not have noticed the shutdown yet when RestartServer returns (its
// IsConnected may still say true); wait for nc.Stats().Reconnects to grow
// before counting on it.
func RestartServer(t testing.TB, srv *broker.Server) *broker.Server {
	t.Helper()
	srv.Shutdown()
	return start(t, srv.Config())
}

func start(t testing.TB, cfg broker.Config) *broker.Server {
	t.Helper()
	srv, err := broker.Start(cfg)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// Connect connects with broker.Connect and closes the connection when the
// test ends.
func Connect(t testing.TB, cfg broker.ConnConfig) *nats.Conn {
	t.Helper()
	nc, err := broker.Connect(cfg, nil)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream returns a JetStream context on nc.
func JetStream(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("brokertest: jetstream: %v", err)
	}
	return js
}

// WriteFile writes text to a file named name in a fresh temporary
// directory and returns its path; handy for configuration files.
func WriteFile(t testing.TB, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	return path
}

// timeoutContext returns a context that ends after Timeout or with the
// test.
func timeoutContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	t.Cleanup(cancel)
	return ctx
}

// RunWithStream starts a single server as RunServer does and provisions
// dprop's stream on it with the default settings.
func RunWithStream(t testing.TB, opts ...Option) *broker.Server {
	t.Helper()
	srv := RunServer(t, opts...)
	nc := Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}})
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if _, err := broker.EnsureStream(ctx, JetStream(t, nc), broker.StreamConfig{}); err != nil {
		t.Fatalf("brokertest: ensure stream: %v", err)
	}
	return srv
}
