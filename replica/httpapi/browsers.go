package httpapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Browsers and Host.
//
// Without Options.Access the API has no authentication: whoever can
// connect may write. Browsers can connect too, on behalf of any page they
// show, so two checks keep web pages out (with authentication too: a
// browser may hold a client certificate, and pages must not use it):
//
//   - Origin. A browser names the page's origin on every cross-origin
//     request (and on every POST). A request whose Origin is neither the
//     API's own origin nor in Options.AllowOrigins is refused with 403
//     (forbidden_origin), as is a cross-site subresource request that names
//     no origin (Sec-Fetch-Site: cross-site or same-site, an <img> or a
//     <script>, outside navigations). curl, the dprop command and programs
//     send no Origin and pass. Allowed origins get the CORS headers that
//     let their pages read the answers.
//   - Host. DNS rebinding makes an attacker's name (evil.example) resolve
//     to the sidecar's address after its page has loaded: the page is then
//     same-origin with the API and passes the Origin check, but its requests
//     carry Host: evil.example. A Host is accepted when it cannot be
//     rebound: an IP literal, localhost or a name under .localhost (browsers
//     resolve those to loopback themselves), a name in Options.AllowHosts,
//     or a single-label name (a container or compose service name such as
//     sidecar-1) on a connection that came to a non-loopback address. Any
//     other name is refused with 421 (bad_host). /healthz and /readyz are
//     answered whatever the Host, for probes: they change nothing and say
//     nothing about cells.
//
// A single-label name is refused on loopback because there it can only
// come from a browser or a misnamed client: the sidecar is not reachable
// under a service name, and single-label names can be resolved from the
// local network (LLMNR, search domains), which is a way to rebind them.

// guard holds the allow-lists, normalized.
type guard struct {
	origins map[string]bool // scheme://host[:port], lowercase, without a default port
	hosts   map[string]bool // lowercase names
}

// newGuard normalizes the allow-lists; entries that can never match are
// returned as errors (and left out).
func newGuard(origins, hosts []string) (*guard, []error) {
	g := &guard{origins: map[string]bool{}, hosts: map[string]bool{}}
	var errs []error
	for _, o := range origins {
		n, err := normalizeOrigin(o)
		if err != nil {
			errs = append(errs, fmt.Errorf("allowed origin %q: %w", o, err))
			continue
		}
		g.origins[n] = true
	}
	for _, h := range hosts {
		n, err := normalizeHostName(h)
		if err != nil {
			errs = append(errs, fmt.Errorf("allowed host %q: %w", h, err))
			continue
		}
		g.hosts[n] = true
	}
	return g, errs
}

// Check reports the entries of AllowOrigins and AllowHosts that could
// never match a request (New logs and leaves them out).
func (o Options) Check() error {
	_, errs := newGuard(o.AllowOrigins, o.AllowHosts)
	return errors.Join(errs...)
}

// normalizeOrigin returns an origin as browsers serialize it: lowercase
// scheme://host[:port], without the scheme's default port.
func normalizeOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(s, "/"))
	if err != nil {
		return "", errors.New("want scheme://host[:port], such as http://localhost:3000")
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("want scheme://host[:port] with scheme http or https, such as http://localhost:3000")
	}
	return scheme + "://" + normalizeHostPort(u.Host, scheme), nil
}

// normalizeHostPort lowercases host[:port] and drops the scheme's default
// port.
func normalizeHostPort(hostport, scheme string) string {
	hostport = strings.ToLower(hostport)
	if host, port, err := net.SplitHostPort(hostport); err == nil &&
		((scheme == "http" && port == "80") || (scheme == "https" && port == "443")) {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return hostport
}

// normalizeHostName checks and lowercases a host name of AllowHosts.
func normalizeHostName(s string) (string, error) {
	n := strings.TrimSuffix(strings.ToLower(s), ".")
	if n == "" {
		return "", errors.New("empty")
	}
	for _, c := range n {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '.' && c != '_' {
			return "", errors.New("want a host name without a port, such as dprop.example.internal")
		}
	}
	return n, nil
}

// hostName returns the name of a Host header: lowercase, without the port
// and the brackets of an IPv6 literal.
func hostName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
}

// hostAllowed reports whether r's Host is one the API answers to.
func (g *guard) hostAllowed(r *http.Request) bool {
	if r.Host == "" {
		return true // HTTP/1.0 without Host: not a browser
	}
	name := hostName(r.Host)
	if _, err := netip.ParseAddr(name); err == nil {
		return true
	}
	bare := strings.TrimSuffix(name, ".") // "localhost." is localhost
	if bare == "localhost" || strings.HasSuffix(bare, ".localhost") || g.hosts[bare] {
		return true
	}
	return !strings.Contains(name, ".") && !onLoopback(r)
}

// onLoopback reports whether r came to a loopback address (or to one this
// cannot tell).
func onLoopback(r *http.Request) bool {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	return !ok || a.IP.IsLoopback()
}

// originAllowed reports whether r may be served given its Origin, and the
// origin to answer with CORS headers ("" for none).
func (g *guard) originAllowed(r *http.Request) (ok bool, cors string) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		switch r.Header.Get("Sec-Fetch-Site") {
		case "cross-site", "same-site":
			return r.Header.Get("Sec-Fetch-Mode") == "navigate", ""
		}
		return true, ""
	}
	n, err := normalizeOrigin(origin)
	if err != nil {
		return false, "" // "null" (sandboxed pages, files) and the like
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if n == scheme+"://"+normalizeHostPort(r.Host, scheme) {
		return true, ""
	}
	if g.origins[n] {
		return true, origin
	}
	return false, ""
}

// CORS headers for allowed origins.
const (
	corsAllowMethods  = "GET, HEAD, POST"
	corsAllowHeaders  = "Authorization, Content-Type, If-None-Match, Idempotency-Key, Dprop-Origin, Last-Event-ID"
	corsExposeHeaders = "ETag, Dprop-Seq, Dprop-Type, Dprop-Updates, Dprop-Contradiction, Dprop-Stale, Dprop-Duplicate, Retry-After, Allow, WWW-Authenticate"
	corsMaxAge        = "600"
)

// admit checks r's Host and Origin. It answers the request itself and
// returns false when r is refused or is a CORS preflight; otherwise it sets
// the CORS headers r's answer needs and returns true.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) bool {
	probe := r.URL.Path == "/healthz" || r.URL.Path == "/readyz"
	if !probe && !s.guard.hostAllowed(r) {
		name := hostName(r.Host)
		s.writeError(w, r, http.StatusMisdirectedRequest, ReasonBadHost, "",
			fmt.Errorf("host %q is not a name this sidecar answers to (an IP address, localhost, or a name given with --http-allow-host); "+
				"if the name is yours, start the sidecar with --http-allow-host %s (this check stops DNS rebinding)", name, name))
		return false
	}
	ok, cors := s.guard.originAllowed(r)
	h := w.Header()
	if r.Header.Get("Origin") != "" {
		h.Add("Vary", "Origin")
	}
	if !ok {
		what := "origin " + r.Header.Get("Origin")
		if r.Header.Get("Origin") == "" {
			what = "a cross-site page (Sec-Fetch-Site: " + r.Header.Get("Sec-Fetch-Site") + ")"
		}
		s.writeError(w, r, http.StatusForbidden, ReasonForbiddenOrigin, "",
			fmt.Errorf("requests from web pages of %s are refused: browsers may call this API only from its own origin "+
				"or from an origin given with --http-allow-origin", what))
		return false
	}
	if cors == "" {
		return true
	}
	h.Set("Access-Control-Allow-Origin", cors)
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", corsAllowMethods)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
		return false
	}
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
	return true
}
