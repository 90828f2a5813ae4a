package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// serverNameFile is where Start keeps a server name it made up, in
// Config.StoreDir.
const serverNameFile = "server-name"

// Server is a running embedded broker. Its methods are safe for
// concurrent use.
type Server struct {
	ns  *server.Server
	cfg Config // as validated, ServerName filled
	log *slogLogger

	// identity is how Connect authenticates (nil: no authorization);
	// noIdentity says the server's authorization cannot be joined.
	identity   *identity
	noIdentity bool

	shutdown sync.Once
}

// Start starts an embedded broker and returns once it accepts client
// connections, or fails with an error if it does not within
// cfg.ReadyTimeout. An address another process holds is a *ListenError,
// returned before anything is created in the store directory.
//
// A single server's JetStream is ready when Start returns. A cluster
// member's JetStream serves requests only once the members have elected a
// meta leader, which Start does not wait for (a member must be able to
// start while the others are down); use WaitJetStream.
func Start(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := cfg.probeListeners(); err != nil {
		return nil, err
	}
	if cfg.ServerName == "" {
		name, err := storedServerName(cfg.StoreDir)
		if err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
		cfg.ServerName = name
	}
	opts, err := cfg.serverOptions()
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	id, err := cfg.addIdentity(opts, cfg.Users)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("broker: server %s: %w", cfg.ServerName, err)
	}
	logger := newSlogLogger(cfg.Logger.With("server", cfg.ServerName))
	ns.SetLoggerV2(logger, opts.Debug, opts.Trace, false)
	cfg.file = nil // the file is read again on a restart

	s := &Server{ns: ns, cfg: cfg, log: logger, identity: id,
		noIdentity: id == nil && (len(opts.TrustedOperators) > 0 || len(opts.TrustedKeys) > 0)}
	ns.Start()
	if err := s.waitReady(); err != nil {
		s.Shutdown()
		return nil, fmt.Errorf("broker: server %s: %w", cfg.ServerName, err)
	}
	s.cfg = s.boundConfig()
	return s, nil
}

// waitReady waits until the server accepts connections and its JetStream
// is enabled, or it gave up (nats-server reports that through Fatalf), or
// the ready timeout passed.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(s.cfg.ReadyTimeout)
	for {
		if msg := s.log.fatalMessage(); msg != "" {
			return errors.New(msg)
		}
		if s.ns.ReadyForConnections(50 * time.Millisecond) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready for connections after %s", s.cfg.ReadyTimeout)
		}
	}
	if !s.ns.JetStreamEnabled() {
		return errors.New("jetstream is not enabled")
	}
	return nil
}

// Shutdown stops the server: it closes every connection, steps down from
// any leadership it holds, flushes the store to disk, and returns once all
// of that is done. Calling it again does nothing.
func (s *Server) Shutdown() {
	s.shutdown.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	})
}

// Name returns the server's name.
func (s *Server) Name() string { return s.ns.Name() }

// ClientURL returns the URL clients connect to, such as
// nats://127.0.0.1:4222 (tls:// when the server requires TLS). A server
// listening on every interface is reached on loopback.
func (s *Server) ClientURL() string {
	u, err := url.Parse(s.ns.ClientURL())
	if err != nil {
		return s.ns.ClientURL()
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
		u.Host = net.JoinHostPort("127.0.0.1", u.Port())
	}
	return u.String()
}

// MonitorURL returns the base URL of the HTTP monitoring endpoints, or ""
// if monitoring is off.
func (s *Server) MonitorURL() string {
	addr := s.ns.MonitorAddr()
	if addr == nil {
		return ""
	}
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// Config returns the configuration the server runs with: defaults filled
// in, settings taken from the config file copied into their fields, and
// ports that were to be picked replaced by the ports picked. So
// Start(s.Config()) after Shutdown brings the same server back on the same
// directory, name and ports.
func (s *Server) Config() Config {
	cfg := s.cfg
	cfg.Cluster.Routes = append([]string(nil), cfg.Cluster.Routes...)
	return cfg
}

// boundConfig returns s.cfg with the ports the server listens on.
func (s *Server) boundConfig() Config {
	cfg := s.cfg
	if addr, ok := s.ns.Addr().(*net.TCPAddr); ok {
		cfg.Listen = withPort(cfg.Listen, addr.Port)
	}
	if addr := s.ns.ClusterAddr(); addr != nil && cfg.Cluster.Listen != "" {
		cfg.Cluster.Listen = withPort(cfg.Cluster.Listen, addr.Port)
	}
	if addr := s.ns.MonitorAddr(); addr != nil && cfg.Monitor != "" {
		cfg.Monitor = withPort(cfg.Monitor, addr.Port)
	}
	return cfg
}

// withPort replaces the port of a validated host:port.
func withPort(addr string, port int) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// WaitJetStream waits until this server's JetStream can serve requests:
// at once for a single server; for a cluster member, once the members
// have elected a JetStream meta leader and this server is in step with it.
// If ctx ends first it returns an error that wraps ctx.Err() and says what
// was still missing.
func (s *Server) WaitJetStream(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		health := s.ns.Healthz(&server.HealthzOptions{JSMetaOnly: true})
		if health.Error == "" && len(health.Errors) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("broker: server %s: jetstream not ready (%s): %w", s.Name(), health.Error, ctx.Err())
		case <-tick.C:
		}
	}
}

// JetStreamPeers returns, when this server is the JetStream meta leader
// of a cluster, the names of the servers it can place stream replicas on:
// those it has heard from lately, JetStream enabled. On any other server,
// and on a single server, it returns nil.
func (s *Server) JetStreamPeers() []string {
	if !s.ns.JetStreamIsClustered() {
		return nil
	}
	return s.ns.JetStreamClusterPeers()
}

// JetStreamLimits returns the bytes this server's JetStream may keep in
// memory and on disk, as nats-server settled them (see
// Config.JetStreamMaxMemory), or zeros if JetStream is not running.
func (s *Server) JetStreamLimits() (maxMemory, maxStore int64) {
	c := s.ns.JetStreamConfig()
	if c == nil {
		return 0, 0
	}
	return c.MaxMemory, c.MaxStore
}

// storedServerName returns the server name kept in dir, making one up and
// keeping it there on the first call.
func storedServerName(dir string) (string, error) {
	path := filepath.Join(dir, serverNameFile)
	b, err := os.ReadFile(path)
	if err == nil {
		name := strings.TrimSpace(string(b))
		if name == "" {
			return "", fmt.Errorf("server name file %s is empty", path)
		}
		if err := checkName("server name in "+path, name); err != nil {
			return "", err
		}
		return name, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("server name: %w", err)
	}
	name, err := newServerName()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("store directory: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(name+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("server name: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("server name: %w", err)
	}
	return name, nil
}

// newServerName makes a name from the host name and a random suffix, so
// that servers on one host, or hosts that share a name, still differ.
func newServerName() (string, error) {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		case r == '.':
			return '-'
		}
		return -1
	}, host)
	if host == "" {
		host = "dprop"
	}
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return "", fmt.Errorf("server name: %w", err)
	}
	return host + "-" + hex.EncodeToString(suffix[:]), nil
}
