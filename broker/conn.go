package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnConfig says how to reach a NATS server or cluster, embedded or
// external: the same code connects to both.
//
// At most one way of authenticating may be given: CredsFile, NKeyFile,
// User and Password, or Token (or none, or credentials inside the URLs).
type ConnConfig struct {
	// URLs are the servers to try, such as nats://127.0.0.1:4222 or
	// tls://nats.example.com:4222. Each entry may itself be a
	// comma-separated list, as a command-line flag gives it. The client
	// learns the rest of a cluster from the servers. Default
	// nats://127.0.0.1:4222.
	URLs []string

	// Name names the connection in the server's monitoring.
	Name string

	// CredsFile is a credentials file (user JWT and NKey seed), for
	// servers run in operator mode.
	CredsFile string
	// NKeyFile is a file holding a user's NKey seed.
	NKeyFile string
	// User and Password log in as a user of the server's configuration.
	User     string
	Password string
	// Token logs in with an authorization token.
	Token string

	// CAFile is a PEM file of the certificate authorities trusted to sign
	// the server's certificate; without it the system's roots are used.
	CAFile string
	// CertFile and KeyFile are a client certificate and its key, for
	// servers that verify clients. Both or neither.
	CertFile string
	KeyFile  string

	// RetryOnFailedConnect makes Connect succeed even when no server is
	// up yet: the connection then keeps trying in the background, and
	// publishes are buffered meanwhile (see ReconnectBufSize). Otherwise
	// Connect fails if no server answers.
	RetryOnFailedConnect bool

	// Timeout bounds one attempt to connect to one server. Default 2s.
	Timeout time.Duration
	// ReconnectWait is the longest pause between attempts to reconnect:
	// pauses start at 100 ms and double up to it. Default 2s.
	// Reconnection never gives up, not even on an authorization
	// violation (an operator may be fixing the credentials).
	ReconnectWait time.Duration
	// ReconnectBufSize is how many bytes of publishes are kept while
	// disconnected, to be sent on reconnect. Default 8 MiB; -1 keeps
	// none (publishing while disconnected then fails at once).
	ReconnectBufSize int
	// InboxPrefix replaces _INBOX as the prefix of the subjects replies
	// come to: a user whose permissions allow it to subscribe only to its
	// own inbox (see Scope.Inbox) must be given it.
	InboxPrefix string

	// Watch, if set, follows the connection's health (for a readiness
	// check): see ConnWatch.
	Watch *ConnWatch

	// PingInterval is how often the client pings the server; two pings
	// unanswered and it reconnects. Default DefaultPingInterval (2s), so
	// that a connection cut without a reset (a partition) or to a hung
	// server (a paused container) is given up within three intervals, 6 s,
	// rather than nats.go's four minutes.
	PingInterval time.Duration
}

// Defaults for ConnConfig.
const (
	DefaultURL              = nats.DefaultURL
	DefaultConnectTimeout   = 2 * time.Second
	DefaultReconnectWait    = 2 * time.Second
	DefaultReconnectBufSize = 8 << 20
	DefaultPingInterval     = 2 * time.Second
)

// validate checks c and fills its defaults.
func (c *ConnConfig) validate() error {
	var urls []string
	for _, entry := range c.URLs {
		for u := range strings.SplitSeq(entry, ",") {
			u = strings.TrimSpace(u)
			if u == "" {
				return fmt.Errorf("empty server URL in %q", entry)
			}
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		urls = []string{DefaultURL}
	}
	c.URLs = urls

	auths := 0
	for _, set := range []bool{c.CredsFile != "", c.NKeyFile != "", c.User != "", c.Token != ""} {
		if set {
			auths++
		}
	}
	if auths > 1 {
		return errors.New("more than one of credentials file, nkey file, user and token given")
	}
	if c.Password != "" && c.User == "" {
		return errors.New("password given without a user")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("client certificate and key must be given together")
	}
	if c.Timeout < 0 || c.ReconnectWait < 0 || c.PingInterval < 0 {
		return errors.New("negative timeout, reconnect wait or ping interval")
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultConnectTimeout
	}
	if c.ReconnectWait == 0 {
		c.ReconnectWait = DefaultReconnectWait
	}
	if c.ReconnectBufSize == 0 {
		c.ReconnectBufSize = DefaultReconnectBufSize
	}
	return nil
}

// Connect connects to the servers cfg names. The connection reconnects
// for ever, to any server of the cluster, and reports disconnects,
// reconnects and asynchronous errors (such as permission violations) to
// logger, which may be nil. The caller closes the connection (Drain or
// Close).
//
// Publishes made while disconnected are buffered and sent on reconnect,
// but a request whose reply was due when the connection broke gets none:
// give requests (JetStream calls included) a timeout and try them again.
func Connect(cfg ConnConfig, logger *slog.Logger) (*nats.Conn, error) {
	return connect(cfg, logger)
}

// connect is Connect with extra nats.go options.
func connect(cfg ConnConfig, logger *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("broker: connect: %w", err)
	}
	where := redactURLs(cfg.URLs)
	w := cfg.Watch
	if w == nil {
		w = &ConnWatch{}
	}
	w.down(nil)
	closed := make(chan struct{})
	opts, err := cfg.options(logger, w, closed)
	if err != nil {
		return nil, fmt.Errorf("broker: connect to %s: %w", where, err)
	}
	nc, err := nats.Connect(strings.Join(cfg.URLs, ","), append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("broker: connect to %s: %w", where, err)
	}
	go w.follow(nc, closed, logger)
	return nc, nil
}

// options turns a validated ConnConfig into nats.go options.
func (c *ConnConfig) options(logger *slog.Logger, w *ConnWatch, closed chan struct{}) ([]nats.Option, error) {
	wait := c.ReconnectWait
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.Timeout(c.Timeout),
		nats.MaxReconnects(-1),
		// Keep trying whatever the error, an authorization violation
		// included (nats.go gives up after two in a row by default): an
		// operator may be fixing the credentials.
		nats.IgnoreAuthErrorAbort(),
		// Back off from 100 ms up to ReconnectWait, so that a broker
		// back soon is reached soon, and one away long is not hammered.
		nats.CustomReconnectDelay(func(attempts int) time.Duration {
			return min(100*time.Millisecond<<min(attempts, 10), wait)
		}),
		nats.ReconnectBufSize(c.ReconnectBufSize),
		nats.RetryOnFailedConnect(c.RetryOnFailedConnect),
		nats.PingInterval(c.PingInterval),
		nats.MaxPingsOutstanding(2),
	}
	switch {
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.NKeyFile != "":
		opt, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nkey file: %w", err)
		}
		opts = append(opts, opt)
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	}
	if c.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(c.InboxPrefix))
	}
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	if c.CertFile != "" {
		opts = append(opts, nats.ClientCert(c.CertFile, c.KeyFile))
	}
	return append(opts, handlers(logger, redactURLs(c.URLs), w, closed)...), nil
}

// handlers report a connection's life to logger and w; closed is closed
// with the connection. where lists the servers the connection was given,
// for when it cannot say which one it reached.
func handlers(logger *slog.Logger, where string, w *ConnWatch, closed chan struct{}) []nats.Option {
	// The handlers run on nats.go's own goroutine, after the fact: the
	// connection may be closed or lost again by then, and then it names
	// no server.
	url := func(nc *nats.Conn) string {
		if u := nc.ConnectedUrlRedacted(); u != "" {
			return u
		}
		return where
	}
	return []nats.Option{
		nats.ConnectHandler(func(nc *nats.Conn) {
			w.up()
			logger.Info("broker connected", "url", url(nc))
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			w.down(err)
			if err != nil {
				logger.Warn("broker connection lost", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			w.up()
			logger.Info("broker reconnected", "url", url(nc))
		}),
		nats.ReconnectErrHandler(func(nc *nats.Conn, err error) {
			w.failed(err, logger)
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			w.down(nats.ErrConnectionClosed)
			close(closed)
			if err := nc.LastError(); err != nil {
				logger.Info("broker connection closed", "err", err)
				return
			}
			logger.Info("broker connection closed")
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			if serious(err) && !errors.Is(err, nats.ErrPermissionViolation) {
				logger.Error("broker error: fix the credentials or certificates", "err", err)
				return
			}
			if sub != nil {
				logger.Warn("broker error", "err", err, "subject", sub.Subject)
				return
			}
			logger.Warn("broker error", "err", err)
		}),
	}
}

// redactURLs lists urls for an error message, with any user, password
// or token in them hidden.
func redactURLs(urls []string) string {
	out := make([]string, len(urls))
	for i, s := range urls {
		out[i] = s
		if u, err := url.Parse(s); err == nil && u.User != nil {
			u.User = url.User("redacted")
			out[i] = u.String()
		}
	}
	return strings.Join(out, ",")
}
