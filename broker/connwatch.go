package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// CheckFiles reads the credential and TLS files c names and checks that
// they hold what they should, so that a wrong file is refused when a
// command's flags are read rather than as a connection that silently never
// succeeds: a credentials file must hold a user JWT and an NKey seed, an
// NKey file a seed, a CA file PEM certificates, and a client certificate
// and key must load as a pair. Errors name the file and what is wrong.
func (c ConnConfig) CheckFiles() error {
	if c.CredsFile != "" {
		b, err := os.ReadFile(c.CredsFile)
		if err != nil {
			return fmt.Errorf("credentials file: %w", err)
		}
		if _, err := nkeys.ParseDecoratedJWT(b); err != nil {
			return fmt.Errorf("credentials file %s: no user JWT found: %w", c.CredsFile, err)
		}
		if _, err := nkeys.ParseDecoratedNKey(b); err != nil {
			return fmt.Errorf("credentials file %s: %w (want the user JWT and NKey seed that `nsc generate creds` writes)", c.CredsFile, err)
		}
	}
	if c.NKeyFile != "" {
		if _, err := nats.NkeyOptionFromSeed(c.NKeyFile); err != nil {
			return fmt.Errorf("nkey file %s: %w", c.NKeyFile, err)
		}
	}
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return fmt.Errorf("CA file: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return fmt.Errorf("CA file %s: no PEM certificate found", c.CAFile)
		}
	}
	if c.CertFile != "" || c.KeyFile != "" {
		if c.CertFile == "" || c.KeyFile == "" {
			return errors.New("client certificate and key must be given together")
		}
		if _, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err != nil {
			return fmt.Errorf("client certificate %s and key %s: %w", c.CertFile, c.KeyFile, err)
		}
	}
	return nil
}

// ConnWatch follows a connection's health for readiness checks: whether it
// is connected and, when it is not, the last error with its cause (an
// authorization violation, a TLS verification failure, a refused
// connection). Give one to Connect in ConnConfig.Watch. Its methods are
// safe for concurrent use.
type ConnWatch struct {
	mu        sync.Mutex
	connected bool
	err       error
	since     time.Time
	failures  uint64
	logged    string    // the last error logged
	loggedAt  time.Time // when
}

// Err returns nil while the connection is up, else why it is not.
func (w *ConnWatch) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.connected {
		return nil
	}
	if w.err == nil {
		return errors.New("not connected to the broker yet")
	}
	return fmt.Errorf("not connected to the broker since %s: %w", w.since.UTC().Format(time.RFC3339), w.err)
}

// Failures returns how many failed attempts to connect were seen since the
// last success (attempts that fail alike in a row may count once).
func (w *ConnWatch) Failures() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failures
}

func (w *ConnWatch) up() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.connected, w.err, w.failures, w.logged = true, nil, 0, ""
}

// down records that the connection is not up, and why (err may be nil).
func (w *ConnWatch) down(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.connected || w.since.IsZero() {
		w.since = time.Now()
	}
	w.connected = false
	if err != nil {
		w.err = err
	}
}

// failed records a failed attempt to connect and logs it: an error that
// needs an operator (credentials, TLS) at ERROR, others at WARN; the same
// error again only once a minute, with the number of attempts.
func (w *ConnWatch) failed(err error, log *slog.Logger) {
	w.down(err)
	w.mu.Lock()
	w.failures++
	n, msg := w.failures, err.Error()
	again := msg == w.logged && time.Since(w.loggedAt) < time.Minute
	if !again {
		w.logged, w.loggedAt = msg, time.Now()
	}
	w.mu.Unlock()
	if again {
		return
	}
	if serious(err) {
		log.Error("cannot connect to the broker: fix the credentials or certificates; retrying", "err", err, "attempts", n)
		return
	}
	log.Warn("cannot connect to the broker; retrying", "err", err, "attempts", n)
}

// follow polls nc while it is not connected, because nats.go reports a
// failed reconnection's cause (an authorization violation, a TLS failure)
// only through LastError; it returns when closed is closed.
func (w *ConnWatch) follow(nc *nats.Conn, closed <-chan struct{}, log *slog.Logger) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last error
	for {
		select {
		case <-closed:
			return
		case <-t.C:
		}
		if nc.IsConnected() {
			last = nil
			continue
		}
		if err := nc.LastError(); err != nil && err != last {
			last = err
			w.failed(err, log)
		}
	}
}

// serious reports whether err is one a retry will not cure by itself: an
// operator must fix credentials, permissions or certificates.
func serious(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) ||
		errors.Is(err, nats.ErrAccountAuthExpired) || errors.Is(err, nats.ErrPermissionViolation) {
		return true
	}
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "authorization") || strings.Contains(msg, "tls") || strings.Contains(msg, "x509") ||
		strings.Contains(msg, "nkey") || strings.Contains(msg, "credentials")
}
