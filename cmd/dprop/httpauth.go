package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/dprop/dprop/replica/httpapi"
)

// tokensPoll is how often a sidecar looks at its tokens file for changes.
const tokensPoll = 2 * time.Second

// httpAuthFlags say who may call a sidecar's HTTP API and whether it
// serves HTTPS, for up and replica.
type httpAuthFlags struct {
	tokens         string // the tokens file; "" for no authentication
	tlsCert        string
	tlsKey         string
	clientCA       string
	insecureNoAuth bool

	// Loaded by check.
	access    *httpapi.Access
	tokensSum [sha256.Size]byte // of the file's content, to notice changes
	tls       *tls.Config       // nil for plain HTTP
}

func (f *httpAuthFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.tokens, "http-tokens", "", "YAML file of the tokens and client certificates that may call the HTTP API, with their scopes (make entries with 'dprop access token'; reloaded when it changes or on SIGHUP; see docs/api.md, Authentication)")
	fl.StringVar(&f.tlsCert, "http-tls-cert", "", "serve the HTTP API over HTTPS with this certificate (PEM; with --http-tls-key)")
	fl.StringVar(&f.tlsKey, "http-tls-key", "", "the key of --http-tls-cert (PEM)")
	fl.StringVar(&f.clientCA, "http-client-ca", "", "PEM file of the authorities of client certificates: a verified certificate names the entry of --http-tokens whose cert: is its Subject CN")
	fl.BoolVar(&f.insecureNoAuth, "insecure-no-auth", false, "serve the HTTP API on a non-loopback --http address without authentication: anyone who reaches it may read and refine every cell (a trusted private network only)")
}

// check checks the flags against the API's address and loads the tokens
// and TLS files. A sidecar beyond loopback must authenticate its clients,
// unless told --insecure-no-auth.
func (f *httpAuthFlags) check(log *slog.Logger, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("--http %q: %v (want host:port)", addr, err)
	}
	switch {
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return usagef("give --http-tls-cert and --http-tls-key together")
	case f.clientCA != "" && f.tlsCert == "":
		return usagef("--http-client-ca needs --http-tls-cert and --http-tls-key: client certificates come over HTTPS")
	case f.clientCA != "" && f.tokens == "":
		return usagef("--http-client-ca needs --http-tokens: its entries with cert: NAME say what each client certificate may do")
	case f.insecureNoAuth && f.tokens != "":
		return usagef("--insecure-no-auth and --http-tokens contradict each other: give one")
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	if !loopback && f.tokens == "" {
		if !f.insecureNoAuth {
			return usagef("--http %s listens beyond loopback, and the HTTP API has no authentication: anyone who reaches it "+
				"could read and refine every cell. Give --http-tokens FILE (make entries with 'dprop access token NAME --read PATTERN --file FILE'), "+
				"or listen on 127.0.0.1, or, on a private network you trust, say so with --insecure-no-auth", addr)
		}
		log.Warn("the HTTP API listens beyond loopback without authentication (--insecure-no-auth); expose it only on a trusted network", "http", addr)
	}
	if f.tokens != "" {
		a, b, err := loadTokens(f.tokens)
		if err != nil {
			return usagef("--http-tokens: %w", err)
		}
		f.access, f.tokensSum = a, sha256.Sum256(b)
		f.describeTokens(log)
	}
	if f.tlsCert != "" {
		if f.tls, err = serverTLS(f.tlsCert, f.tlsKey, f.clientCA); err != nil {
			return usageError{err}
		}
	}
	return nil
}

// describeTokens logs what the tokens file holds, and what is wrong with
// it: no entries, or a mode that lets others write it.
func (f *httpAuthFlags) describeTokens(log *slog.Logger) {
	log.Info("HTTP API tokens loaded", "file", f.tokens, "entries", f.access.Len(), "reload", "when the file changes, or on SIGHUP")
	if f.access.Len() == 0 {
		log.Warn("the tokens file has no entries: every request but /healthz and /readyz is refused", "file", f.tokens)
	}
	if writableByOthers(f.tokens) {
		log.Warn("the tokens file may be written by others than its owner, who could give themselves a token: chmod go-w it", "file", f.tokens)
	}
}

// serverTLS is the TLS configuration of an HTTPS API: its certificate and,
// with clientCA, client certificates verified when given. They are not
// required at the handshake, so that probes (/healthz, /readyz) need none:
// the API answers 401 to any other request without a token or a mapped
// certificate.
func serverTLS(certFile, keyFile, clientCA string) (*tls.Config, error) {
	kp, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--http-tls-cert %s and --http-tls-key %s: %w", certFile, keyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		if cfg.ClientCAs, err = certPool("--http-client-ca", clientCA); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// certPool reads a PEM file of certificates (flag names it in errors).
func certPool(flag, path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s %s: no PEM certificate found", flag, path)
	}
	return pool, nil
}

// serve serves srv on ln, over TLS if the flags say so. HTTPS serves
// HTTP/1.1 only: the API's long requests and deadlines are made for it.
func (f *httpAuthFlags) serve(srv *http.Server, ln net.Listener) error {
	if f.tls == nil {
		return srv.Serve(ln)
	}
	srv.TLSConfig = f.tls.Clone()
	srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){} // no HTTP/2
	return srv.ServeTLS(ln, "", "")
}

// scheme is the API's URL scheme.
func (f *httpAuthFlags) scheme() string {
	if f.tls != nil {
		return "https"
	}
	return "http"
}

// watchTokens reloads the tokens file into api when its content changes
// (looked at every tokensPoll) or on SIGHUP, until ctx ends. A file that
// does not load is logged, and the tokens in force stay in force until it
// is fixed.
func (f *httpAuthFlags) watchTokens(ctx context.Context, log *slog.Logger, api *httpapi.Server) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(tokensPoll)
	defer tick.Stop()
	seen := f.tokensSum
	for {
		forced := false
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-hup:
			forced = true
		}
		b, err := os.ReadFile(f.tokens)
		if err != nil {
			if forced || seen != [sha256.Size]byte{} {
				log.Error("tokens file not reloaded; the tokens in force stay", "file", f.tokens, "err", err)
			}
			seen = [sha256.Size]byte{} // said once; said again when it is back and changed
			continue
		}
		sum := sha256.Sum256(b)
		if sum == seen && !forced {
			continue
		}
		seen = sum
		_, a, err := parseTokens(f.tokens, b)
		if err != nil {
			log.Error("tokens file not reloaded; the tokens in force stay", "err", err)
			continue
		}
		api.SetAccess(a)
		log.Info("HTTP API tokens reloaded", "file", f.tokens, "entries", a.Len())
		if a.Len() == 0 {
			log.Warn("the tokens file has no entries: every request but /healthz and /readyz is refused", "file", f.tokens)
		}
	}
}
