package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// defaultProbe is what probe checks without an argument or DPROP_PROBE:
// the readiness of a sidecar on its default address.
const defaultProbe = "http://" + defaultHTTP + "/readyz"

func newProbeCmd() *cobra.Command {
	var (
		timeout time.Duration
		tlsCA   string
	)
	cmd := &cobra.Command{
		Use:   "probe [URL]",
		Short: "Check a health endpoint and exit 0 if it answers 2xx (for container health checks)",
		Long: `Check a health endpoint, for container health checks in images that have
no curl (the dprop image is FROM scratch). An http:// or https:// URL
passes when a GET answers 2xx; a tcp://host:port URL passes when a
connection opens. The exit status is 0 when the check passes, 1 otherwise,
with the reason (and the start of the answer) on stderr.

Without an argument it probes $DPROP_PROBE, or else ` + defaultProbe + `.
A sidecar's /healthz and /readyz need no token, nor a client certificate
when it serves HTTPS; give --tlsca, the authority of its certificate.`,
		Example: `  dprop probe                                        # a sidecar's /readyz
  dprop probe http://127.0.0.1:37767/healthz
  dprop probe 'http://127.0.0.1:8222/healthz?js-enabled-only=true'   # a broker's monitor
  dprop probe tcp://127.0.0.1:4222
  dprop probe --tlsca /etc/dprop/ca.pem https://localhost:37767/readyz`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := os.Getenv("DPROP_PROBE")
			if len(args) == 1 {
				target = args[0]
			}
			if target == "" {
				target = defaultProbe
			}
			if timeout <= 0 {
				return usagef("--timeout %v: give a positive duration", timeout)
			}
			u, err := url.Parse(target)
			if err != nil || u.Host == "" {
				return usagef("probe %q: give an http://, https:// or tcp:// URL with a host", target)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			switch u.Scheme {
			case "http", "https":
				var cfg *tls.Config
				if tlsCA != "" {
					if cfg, err = clientTLS(tlsCA, "", ""); err != nil {
						return usageError{err}
					}
				}
				err = probeHTTP(ctx, target, cfg)
			case "tcp":
				err = probeTCP(ctx, u.Host)
			default:
				return usagef("probe %q: scheme %q: use http, https or tcp", target, u.Scheme)
			}
			if err != nil {
				return exitError{code: exitFailure, msg: fmt.Sprintf("probe %s: %v", target, err)}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	cmd.Flags().StringVar(&tlsCA, "tlsca", "", "PEM file of CAs trusted to sign the certificate of an https:// URL")
	return cmd
}

// probeHTTP GETs target and fails unless the answer is 2xx. tlsCfg, if
// not nil, is the TLS configuration of https URLs.
func probeHTTP(ctx context.Context, target string, tlsCfg *tls.Config) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	// No proxy: a probe checks this host's endpoint, whatever the
	// environment says about proxies.
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, TLSClientConfig: tlsCfg}}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// probeTCP fails unless a TCP connection to hostport opens.
func probeTCP(ctx context.Context, hostport string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return err
	}
	return c.Close()
}
