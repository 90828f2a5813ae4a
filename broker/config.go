package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Defaults for Config.
const (
	// DefaultListen is the client address of an embedded broker.
	DefaultListen = "127.0.0.1:4222"
	// DefaultClusterName is the cluster name used when a cluster listen
	// address is given without a name.
	DefaultClusterName = "dprop"
	// DefaultReadyTimeout bounds how long Start waits for the server to
	// accept connections.
	DefaultReadyTimeout = 10 * time.Second
)

// defaultHost is the host used when an address or the config file gives a
// port but no host: loopback, so that nothing is exposed by accident.
const defaultHost = "127.0.0.1"

// Config describes an embedded broker: one nats-server with JetStream,
// alone or as a member of a cluster.
//
// Config and the optional nats-server configuration file (ConfigFile) may
// both set the listen addresses, the server name, the cluster and the store
// directory. The rule is the one nats-server applies to its command-line
// flags: a Config field that is set wins over the file; a field left empty
// takes the file's value; only when neither sets it does the default apply.
// Everything Config has no field for (accounts, users, permissions, TLS,
// route authorization, ...) comes from the file alone.
// Two things hold whatever the file says: JetStream is on, and the server
// installs no signal handlers (the embedding program owns its signals).
type Config struct {
	// StoreDir is the broker's data directory. JetStream keeps its file
	// store in StoreDir/jetstream. Required, here or as the file's
	// jetstream store_dir.
	StoreDir string

	// Listen is the host:port clients connect to. Default DefaultListen
	// (from the file: its host and port, host defaulting to 127.0.0.1).
	// A port of 0 or -1 picks a free port; Server.ClientURL says which.
	Listen string

	// ServerName names this server. Names must be unique within a
	// cluster and stable across restarts (clustered JetStream knows its
	// peers by name). Default: the file's server_name, else a name made
	// on the first start and kept in StoreDir/server-name, so a restart on
	// the same directory keeps it.
	ServerName string

	// Cluster makes this server a member of a NATS cluster. Zero: alone.
	Cluster ClusterConfig

	// ConfigFile is an optional nats-server configuration file, parsed by
	// nats-server's own parser, for accounts, users, permissions, TLS and
	// anything else nats-server can be told. See the rule above for the
	// settings it shares with Config.
	ConfigFile string

	// Users are added to the server's users (with ConfigFile's, if it has
	// any), in Account: for instance the admin that `dprop up --auth`
	// makes. See NewUser and RolePermissions.
	Users []User

	// Account is the account that holds the stream: the broker's own
	// identity, and Users, are made there. Default DefaultAccount when the
	// configuration has such an account, else the global account.
	Account string

	// JetStreamMaxMemory bounds the bytes this server's JetStream keeps in
	// memory-backed streams, JetStreamMaxStore those it keeps on disk in
	// file-backed streams (dprop's stream is one). JetStream reserves a
	// stream's byte limit (StreamConfig.MaxBytes, on every server that
	// keeps a copy) when the stream is created, and refuses a stream that
	// does not fit; a stream without a byte limit is refused writes once
	// the store is full (503 "insufficient resources"). Zero: the file's
	// jetstream max_memory_store and max_file_store, else nats-server's
	// defaults, which size themselves from the host, not from a
	// container's limits: 75% of its memory (or of GOMEMLIMIT, if lower)
	// and 75% of the free disk under StoreDir.
	JetStreamMaxMemory int64
	JetStreamMaxStore  int64

	// Monitor is the host:port of nats-server's HTTP monitoring endpoints
	// (/varz, /jsz, /healthz, ...). Empty: off (unless the file turns it
	// on). A port of 0 or -1 picks a free port; see Server.MonitorURL.
	Monitor string

	// Logger receives nats-server's logs: notices at Info, warnings at
	// Warn, errors and fatal errors at Error, debug and trace at Debug.
	// Debug logs are produced only if Logger lets Debug records through.
	// Nil: logs are dropped.
	Logger *slog.Logger

	// Trace also logs every protocol message at Debug level. Very
	// verbose; for chasing a problem, not for production.
	Trace bool

	// ReadyTimeout bounds how long Start waits for the server to accept
	// connections. Default DefaultReadyTimeout.
	ReadyTimeout time.Duration

	// file holds the parsed ConfigFile, set by validate and consumed by
	// serverOptions.
	file *server.Options
}

// ClusterConfig makes a server a member of a NATS cluster. Clustered
// JetStream needs a cluster name and a distinct name for every server
// (Config.ServerName), and works with three servers or more.
type ClusterConfig struct {
	// Name is the cluster's name, the same on every member. Default: the
	// file's, else DefaultClusterName when Listen is set.
	Name string

	// Listen is the host:port this server accepts route connections
	// from the other members on. Setting it (here or in the file) turns
	// clustering on. A port of 0 or -1 picks a free port.
	Listen string

	// Routes are the other members' route addresses, as
	// nats-route://host:port URLs (user:password@ allowed when the file
	// sets cluster authorization). A route to this server itself is
	// harmless: nats-server notices and ignores it, so every member may
	// be given the same list.
	Routes []string
}

// validate checks c, parses the config file, and fills every setting
// Config has a field for from the file and then from the defaults, so
// that afterwards c describes the server completely (but for a
// ServerName, which Start derives from StoreDir).
func (c *Config) validate() error {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ReadyTimeout < 0 {
		return fmt.Errorf("ready timeout %s is negative", c.ReadyTimeout)
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.ConfigFile != "" {
		opts, err := server.ProcessConfigFile(c.ConfigFile)
		if err != nil {
			return fmt.Errorf("config file %s: %w", c.ConfigFile, err)
		}
		c.file = opts
		c.fillFromFile(opts)
	}
	if c.StoreDir == "" {
		return errors.New("no store directory: set StoreDir or the config file's jetstream store_dir")
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if _, _, err := splitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen address: %w", err)
	}
	if c.JetStreamMaxMemory < 0 || c.JetStreamMaxStore < 0 {
		return fmt.Errorf("negative JetStream limit (max memory %d, max store %d)", c.JetStreamMaxMemory, c.JetStreamMaxStore)
	}
	if c.Monitor != "" {
		if _, _, err := splitHostPort(c.Monitor); err != nil {
			return fmt.Errorf("monitor address: %w", err)
		}
	}
	if c.ServerName != "" {
		if err := checkName("server name", c.ServerName); err != nil {
			return err
		}
	}
	return c.Cluster.validate()
}

func (c *ClusterConfig) validate() error {
	if c.Listen == "" {
		if c.Name != "" || len(c.Routes) > 0 {
			return errors.New("cluster name or routes given without a cluster listen address")
		}
		return nil
	}
	if _, _, err := splitHostPort(c.Listen); err != nil {
		return fmt.Errorf("cluster listen address: %w", err)
	}
	if c.Name == "" {
		c.Name = DefaultClusterName
	}
	if err := checkName("cluster name", c.Name); err != nil {
		return err
	}
	for _, r := range c.Routes {
		if _, err := parseRoute(r); err != nil {
			return err
		}
	}
	return nil
}

// fillFromFile copies into c's empty fields the settings the file makes.
func (c *Config) fillFromFile(f *server.Options) {
	if c.StoreDir == "" {
		c.StoreDir = f.StoreDir
	}
	if c.Listen == "" && (f.Host != "" || f.Port != 0) {
		c.Listen = joinHostPort(f.Host, f.Port, server.DEFAULT_PORT)
	}
	if c.ServerName == "" {
		c.ServerName = f.ServerName
	}
	if c.JetStreamMaxMemory == 0 && f.JetStreamMaxMemory > 0 {
		c.JetStreamMaxMemory = f.JetStreamMaxMemory
	}
	if c.JetStreamMaxStore == 0 && f.JetStreamMaxStore > 0 {
		c.JetStreamMaxStore = f.JetStreamMaxStore
	}
	if c.Monitor == "" && f.HTTPPort != 0 {
		host := f.HTTPHost
		if host == "" {
			host, _, _ = splitHostPort(c.Listen) // nats-server's rule: the client host
		}
		c.Monitor = joinHostPort(host, f.HTTPPort, 0)
	}
	if c.Cluster.Name == "" {
		c.Cluster.Name = f.Cluster.Name
	}
	if c.Cluster.Listen == "" && f.Cluster.Port != 0 {
		c.Cluster.Listen = joinHostPort(f.Cluster.Host, f.Cluster.Port, 0)
	}
	if len(c.Cluster.Routes) == 0 {
		for _, u := range f.Routes {
			c.Cluster.Routes = append(c.Cluster.Routes, u.String())
		}
	}
}

// serverOptions turns a validated Config into nats-server options,
// starting from the file's options when there is a file.
func (c *Config) serverOptions() (*server.Options, error) {
	opts := c.file
	if opts == nil {
		opts = &server.Options{}
	}
	var err error
	if opts.Host, opts.Port, err = splitHostPort(c.Listen); err != nil {
		return nil, err
	}
	opts.ServerName = c.ServerName
	opts.JetStream = true
	opts.StoreDir = c.StoreDir
	if c.JetStreamMaxMemory > 0 {
		opts.JetStreamMaxMemory = c.JetStreamMaxMemory
	}
	if c.JetStreamMaxStore > 0 {
		opts.JetStreamMaxStore = c.JetStreamMaxStore
	}
	opts.NoSigs = true
	opts.Debug = debugEnabled(c.Logger)
	opts.Trace = c.Trace && opts.Debug
	if c.Monitor != "" {
		if opts.HTTPHost, opts.HTTPPort, err = splitHostPort(c.Monitor); err != nil {
			return nil, err
		}
		opts.HTTPSPort = 0
	}
	if c.Cluster.Listen != "" {
		opts.Cluster.Name = c.Cluster.Name
		if opts.Cluster.Host, opts.Cluster.Port, err = splitHostPort(c.Cluster.Listen); err != nil {
			return nil, err
		}
		opts.Routes = nil
		for _, r := range c.Cluster.Routes {
			u, err := parseRoute(r)
			if err != nil {
				return nil, err
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	return opts, nil
}

// splitHostPort parses host:port. An empty host means every interface;
// a port of 0 or -1 means "pick a free one" and is returned as -1, which
// is how nats-server spells it.
func splitHostPort(addr string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", addr, err)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not a number from 0 to 65535 (or -1)", addr, p)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// joinHostPort formats an address read from nats-server options, where
// an empty host means defaultHost and port 0 means dflt.
func joinHostPort(host string, port, dflt int) string {
	if host == "" {
		host = defaultHost
	}
	if port == 0 {
		port = dflt
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// parseRoute parses a nats-route://host:port URL.
func parseRoute(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("cluster route: %w", err)
	}
	if u.Scheme != "nats-route" || u.Hostname() == "" || u.Port() == "" {
		return nil, fmt.Errorf("cluster route %q: want nats-route://host:port", u.Redacted())
	}
	return u, nil
}

// checkName refuses names nats-server would refuse or misread.
func checkName(what, name string) error {
	if strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%s %q contains spaces or control characters", what, name)
	}
	return nil
}
