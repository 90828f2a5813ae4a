package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/dprop/dprop/replica/httpapi"
	"github.com/spf13/cobra"
)

// clientFlags are the flags of the commands that talk to a sidecar.
type clientFlags struct {
	url   string
	json  bool
	token string // a bearer token: --token, else DPROP_TOKEN
	// TLS with the sidecar: the same flags, and meanings, as for NATS.
	tlsCA, tlsCert, tlsKey string
	tls                    *tls.Config // from them; nil for none
}

func (f *clientFlags) register(cmd *cobra.Command) {
	def := os.Getenv("DPROP_URL")
	if def == "" {
		def = "http://" + defaultHTTP
	}
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", def, "URL of the sidecar's HTTP API, or its host:port (env DPROP_URL)")
	fl.BoolVar(&f.json, "json", false, "print JSON for scripts")
	fl.StringVar(&f.token, "token", "", "bearer token, for a sidecar started with --http-tokens (env DPROP_TOKEN, which keeps it out of ps and shell history)")
	fl.StringVar(&f.tlsCA, "tlsca", "", "PEM file of CAs trusted to sign the sidecar's certificate (an https:// sidecar started with --http-tls-cert)")
	fl.StringVar(&f.tlsCert, "tlscert", "", "client certificate (PEM), for a sidecar started with --http-client-ca")
	fl.StringVar(&f.tlsKey, "tlskey", "", "client certificate's key (PEM)")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		if !cmd.Flags().Changed("token") {
			f.token = os.Getenv("DPROP_TOKEN") // read here: as a flag default, --help would print it
		}
		f.token = strings.TrimSpace(f.token)
		raw := f.url
		wantTLS := f.tlsCA != "" || f.tlsCert != "" || f.tlsKey != ""
		if wantTLS && !cmd.Flags().Changed("url") && os.Getenv("DPROP_URL") == "" {
			raw = "https://" + defaultHTTP
		} else if wantTLS && !strings.Contains(raw, "://") {
			raw = "https://" + strings.TrimSpace(raw)
		}
		u, err := sidecarURL(raw)
		if err != nil {
			from := "--url"
			if !cmd.Flags().Changed("url") {
				from = "DPROP_URL"
			}
			return usagef("%s %q: %w", from, f.url, err)
		}
		f.url = u
		if wantTLS {
			if strings.HasPrefix(u, "http://") {
				return usagef("--tlsca, --tlscert and --tlskey are for an https:// sidecar, and the URL is %s", u)
			}
			if f.tls, err = clientTLS(f.tlsCA, f.tlsCert, f.tlsKey); err != nil {
				return usageError{err}
			}
		}
		return nil
	}
}

func (f *clientFlags) client() *httpapi.Client { return f.clientFor(f.url) }

// clientFor is a client of the sidecar at url, with f's token and TLS
// settings.
func (f *clientFlags) clientFor(url string) *httpapi.Client {
	opts := []httpapi.ClientOption{httpapi.WithToken(f.token)}
	if f.tls != nil {
		opts = append(opts, httpapi.WithTLSConfig(f.tls))
	}
	return httpapi.NewClient(url, nil, opts...)
}

// clientTLS is the TLS configuration of a client of a sidecar: the
// authorities it trusts (the system's without ca) and its certificate.
func clientTLS(ca, cert, key string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pool, err := certPool("--tlsca", ca)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (cert == "") != (key == "") {
		return nil, errors.New("give --tlscert and --tlskey together")
	}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("--tlscert %s and --tlskey %s: %w", cert, key, err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg, nil
}

// sidecarURL turns what a user may give as the sidecar's address into the
// base URL the client wants: host:port means http://host:port, and a
// trailing / or /v1 (the API's own prefix, which the client adds) is
// dropped. Anything else that cannot be the base URL of the API is an
// error that says why.
//
// This is the CLI's business rather than httpapi.NewClient's: it reads what
// people type (NewClient takes a program's well-formed URL and has no
// error to return), and flags are parsed in cmd.
func sidecarURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", fmt.Errorf("empty; give the sidecar's address, such as http://%s", defaultHTTP)
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without "parse URL:", the message quotes it
		}
		return "", fmt.Errorf("not a URL: %w", err)
	}
	switch u.Scheme {
	case "http", "https":
	case "nats", "tls", "ws", "wss":
		return "", fmt.Errorf("that is a NATS server's address; --url is the sidecar's HTTP API, such as http://%s", defaultHTTP)
	default:
		return "", fmt.Errorf("scheme %q: use http:// or https://", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("no host; give the sidecar's address, such as http://%s", defaultHTTP)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("a base URL has no query or fragment")
	}
	p := strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/v1")
	if i := strings.Index(p+"/", "/v1/"); i >= 0 {
		return "", fmt.Errorf("path %s is inside the API; give its base URL, %s", u.Path, u.Scheme+"://"+u.Host+p[:i])
	}
	u.Path, u.RawPath = p, ""
	return u.String(), nil
}

// addClientCommands adds the commands that use a sidecar's HTTP API.
func addClientCommands(root *cobra.Command) {
	root.AddCommand(newGetCmd(), newRefineCmd(), newWatchCmd(), newCellsCmd(), newHistoryCmd(), newStatusCmd(), newOutboxCmd(),
		newWhyCmd(), newPremisesCmd(), newPremiseCmd(false), newPremiseCmd(true))
	root.AddCommand(newOpCmds()...)
}

// clientError turns an API or connection error into a message that says
// what to do.
func clientError(url string, err error) error {
	var apiErr *httpapi.APIError
	if errors.As(err, &apiErr) {
		msg := apiErr.Message
		if apiErr.Cell != "" && !strings.Contains(msg, apiErr.Cell) {
			msg = fmt.Sprintf("cell %s: %s", apiErr.Cell, msg)
		}
		msg = fmt.Sprintf("%s (HTTP %d)", msg, apiErr.Status)
		switch {
		case apiErr.Status == http.StatusNotFound:
			if cell, ok := subjectCell(apiErr.Cell); ok {
				msg += fmt.Sprintf("\n%s is a NATS subject; the cell is %s.", apiErr.Cell, cell)
			}
		case apiErr.Status == http.StatusUnauthorized:
			msg += "\nThe sidecar asks for a token: give --token (or set DPROP_TOKEN), or a client certificate with --tlscert and --tlskey."
		case apiErr.Status == http.StatusBadRequest && strings.Contains(apiErr.Message, "HTTPS server"):
			msg += fmt.Sprintf("\nThe sidecar serves HTTPS: give --url https://%s (and --tlsca, the authority of its certificate).", strings.TrimPrefix(url, "http://"))
		}
		return exitError{code: exitFailure, msg: msg}
	}
	if tlsFailure(err) {
		return exitError{code: exitFailure, msg: fmt.Sprintf("TLS with the sidecar at %s failed: %v\nGive --tlsca (the authority of the sidecar's certificate) and, if it asks for one, a client certificate with --tlscert and --tlskey.", url, err)}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return exitError{code: exitFailure, msg: fmt.Sprintf("cannot reach a sidecar at %s: %v\nStart one with 'dprop up', or point --url (or DPROP_URL) at a running one.", url, opErr.Err)}
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// tlsFailure reports whether err is a failed TLS handshake: a certificate
// not trusted on either side, or plain HTTP from an HTTPS server.
func tlsFailure(err error) bool {
	var verify *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var alert tls.AlertError
	var rec tls.RecordHeaderError
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &alert) ||
		errors.As(err, &rec) || strings.Contains(err.Error(), "remote error: tls:")
}

// subjectCell reports whether name looks like a cell's NATS subject
// (PREFIX.cell.NAME) rather than a cell name, and returns the cell's name.
func subjectCell(name string) (string, bool) {
	prefix, rest, ok := strings.Cut(name, ".")
	if !ok || prefix == "" {
		return "", false
	}
	cell, ok := strings.CutPrefix(rest, "cell.")
	return cell, ok && cell != ""
}

// readJSONArg returns the JSON given as an argument, or stdin for "-".
func readJSONArg(arg string, stdin io.Reader) ([]byte, error) {
	if arg != "-" {
		return []byte(arg), nil
	}
	b, err := io.ReadAll(io.LimitReader(stdin, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading stdin: %w", err)
	}
	return b, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
