package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/dprop/dprop/cellname"
)

// Authentication and scopes.
//
// A Server made without Options.Access authenticates no one: whoever can
// connect may read and refine every cell, as on loopback by default. With
// an Access, every request but the probes (/healthz, /readyz) and CORS
// preflights must name one of its principals, in one of two ways:
//
//   - a bearer token, Authorization: Bearer TOKEN, whose SHA-256 is a
//     principal's TokenSHA256. The server keeps only hashes; each is
//     compared with subtle.ConstantTimeCompare, and every one is compared
//     whatever matched, so the time taken says nothing of which.
//   - a client certificate that the TLS layer verified (the http.Server's
//     TLSConfig has ClientCAs and ClientAuth tls.VerifyClientCertIfGiven
//     or stricter), whose Subject common name is a principal's Cert.
//
// A request with an Authorization header is judged by it alone, whatever
// certificate it came with. Without a valid principal the answer is 401
// with WWW-Authenticate: Bearer realm="dprop" (and error="invalid_token"
// when a token was given). A principal then needs, for each route:
//
//	GET /v1/cells/{cell} (with ?await=), .../events, .../history   read on the cell
//	POST /v1/cells/{cell}                                          refine on the cell
//	GET /v1/cells, GET /v1/events?match=P                          nothing: the answer holds only cells it may read
//	GET /metrics                                                   admin
//
// and is refused with 403 (ReasonForbidden) and a message naming the scope
// it lacks. A refine by a principal that may not read the cell is answered
// 204, without the cell's value. Server.SetAccess replaces the principals
// while the server runs; an event stream whose principal is gone or has
// other scopes since is ended (its client reconnects and is judged anew).

// Principal is one client of the API and what it may do. It is known by a
// bearer token (TokenSHA256) or by a client certificate (Cert), not both.
type Principal struct {
	// Name says who in error messages and logs (never in metric labels).
	// Names are unique: letters, digits, '.', '_', '-' and '@', at most
	// MaxPrincipalName bytes.
	Name string
	// TokenSHA256 is the SHA-256 of the principal's bearer token (see
	// HashToken), 32 bytes; nil for a certificate.
	TokenSHA256 []byte
	// Cert is the Subject common name of the principal's client
	// certificate; "" for a token.
	Cert string
	// Read lists the cell names and patterns it may read: get, threshold
	// reads, event streams, history, and the cells listings show it.
	Read []string
	// Refine lists the cell names and patterns it may refine.
	Refine []string
	// Admin allows the operator's endpoints: /metrics, and those to come.
	// It grants no cell.
	Admin bool
}

// MaxPrincipalName bounds the length of a Principal's Name.
const MaxPrincipalName = 128

// HashToken returns the SHA-256 of a bearer token, as Principal.TokenSHA256
// holds it. Tokens must be high-entropy random strings (dprop access token
// makes 256-bit ones): a fast hash is then as safe as a slow one, since no
// dictionary covers them, and a request costs one hash.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// EntryError says which principal of NewAccess's list is wrong and why.
type EntryError struct {
	Index int    // the principal's index in the list
	Field string // the field at fault: name, hash, cert, read, refine, or "" for the whole entry
	Other int    // the index of the principal it clashes with (a name, token or certificate given twice), or -1
	Err   error
}

func (e *EntryError) Error() string {
	s := fmt.Sprintf("principal %d", e.Index)
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Other >= 0 {
		s += fmt.Sprintf(" (as principal %d)", e.Other)
	}
	return s + ": " + e.Err.Error()
}

func (e *EntryError) Unwrap() error { return e.Err }

// Access is the set of principals a Server accepts. It is immutable and
// safe for concurrent use.
type Access struct {
	principals []Principal
	certs      map[string]int // Cert → index
}

// NewAccess checks the principals and returns the Access they make. Each
// must have a valid unique name, exactly one of a 32-byte TokenSHA256 and
// a Cert, valid cell patterns, and some scope; no token or certificate may
// be given twice. The error is an *EntryError for the first principal at
// fault. An empty list is valid: it refuses every request but the probes.
func NewAccess(ps []Principal) (*Access, error) {
	a := &Access{principals: make([]Principal, len(ps)), certs: map[string]int{}}
	names := map[string]int{}
	tokens := map[[sha256.Size]byte]int{}
	for i, p := range ps {
		p.Read, p.Refine = slices.Clone(p.Read), slices.Clone(p.Refine)
		p.TokenSHA256 = slices.Clone(p.TokenSHA256)
		if field, err := p.check(); err != nil {
			return nil, &EntryError{Index: i, Field: field, Other: -1, Err: err}
		}
		if j, ok := names[p.Name]; ok {
			return nil, &EntryError{Index: i, Field: "name", Other: j, Err: fmt.Errorf("%q given twice", p.Name)}
		}
		names[p.Name] = i
		if p.TokenSHA256 != nil {
			key := [sha256.Size]byte(p.TokenSHA256)
			if j, ok := tokens[key]; ok {
				return nil, &EntryError{Index: i, Field: "hash", Other: j, Err: errors.New("the same token hash given twice")}
			}
			tokens[key] = i
		} else {
			if j, ok := a.certs[p.Cert]; ok {
				return nil, &EntryError{Index: i, Field: "cert", Other: j, Err: fmt.Errorf("certificate name %q given twice", p.Cert)}
			}
			a.certs[p.Cert] = i
		}
		a.principals[i] = p
	}
	return a, nil
}

// Len returns the number of principals.
func (a *Access) Len() int { return len(a.principals) }

// check checks one principal, and returns the field at fault.
func (p Principal) check() (field string, err error) {
	if err := checkPrincipalName(p.Name); err != nil {
		return "name", err
	}
	switch {
	case p.TokenSHA256 != nil && p.Cert != "":
		return "", errors.New("give a token hash or a certificate name, not both")
	case p.TokenSHA256 == nil && p.Cert == "":
		return "", errors.New("give a token hash or a certificate name")
	case p.TokenSHA256 != nil && len(p.TokenSHA256) != sha256.Size:
		return "hash", fmt.Errorf("%d bytes, want a SHA-256 of %d", len(p.TokenSHA256), sha256.Size)
	case p.TokenSHA256 == nil && (len(p.Cert) > 1024 || strings.ContainsFunc(p.Cert, isControl)):
		return "cert", errors.New("want a certificate's common name, without control characters")
	}
	for _, s := range []struct {
		field    string
		patterns []string
	}{{"read", p.Read}, {"refine", p.Refine}} {
		for _, pat := range s.patterns {
			if err := cellname.ValidatePattern(pat); err != nil {
				return s.field, err
			}
		}
	}
	if len(p.Read) == 0 && len(p.Refine) == 0 && !p.Admin {
		return "", errors.New("grants nothing: give read, refine or admin")
	}
	return "", nil
}

// checkPrincipalName checks a Principal's Name.
func checkPrincipalName(name string) error {
	if name == "" || len(name) > MaxPrincipalName {
		return fmt.Errorf("%q: want 1 to %d letters, digits, '.', '_', '-' or '@'", name, MaxPrincipalName)
	}
	for _, c := range name {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && !strings.ContainsRune("._-@", c) {
			return fmt.Errorf("%q: want letters, digits, '.', '_', '-' or '@' only", name)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// byToken returns the principal whose token hashes to sum, or nil. Every
// hash is compared, in constant time, whichever matches.
func (a *Access) byToken(sum []byte) *Principal {
	found := -1
	for i := range a.principals {
		if h := a.principals[i].TokenSHA256; h != nil && subtle.ConstantTimeCompare(h, sum) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil
	}
	return &a.principals[found]
}

// holds reports whether a has p with the same credential and scopes.
func (a *Access) holds(p *Principal) bool {
	var q *Principal
	if p.TokenSHA256 != nil {
		q = a.byToken(p.TokenSHA256)
	} else if i, ok := a.certs[p.Cert]; ok {
		q = &a.principals[i]
	}
	return q != nil && q.Name == p.Name && q.Admin == p.Admin &&
		slices.Equal(q.Read, p.Read) && slices.Equal(q.Refine, p.Refine)
}

// MayRead reports whether p may read cell.
func (p *Principal) MayRead(cell string) bool { return matchAny(p.Read, cell) }

// MayRefine reports whether p may refine cell.
func (p *Principal) MayRefine(cell string) bool { return matchAny(p.Refine, cell) }

func matchAny(patterns []string, cell string) bool {
	for _, pat := range patterns {
		if cellname.Match(pat, cell) {
			return true
		}
	}
	return false
}

// kind is how p authenticates, for messages: token or certificate.
func (p *Principal) kind() string {
	if p.TokenSHA256 != nil {
		return "token"
	}
	return "certificate"
}

// Reasons of authentication refusals (401) and scope refusals (403).
const (
	ReasonUnauthorized = "unauthorized" // 401: no credentials, or ones this sidecar does not know
	ReasonForbidden    = "forbidden"    // 403: the principal lacks the scope the request needs
)

// Why a request was refused, as dprop_http_auth_refused_total counts it.
const (
	refusedNoCredentials      = "no_credentials"      // neither a token nor a client certificate
	refusedInvalidToken       = "invalid_token"       // a token (or Authorization header) not accepted
	refusedUnknownCertificate = "unknown_certificate" // a verified certificate no principal names
	refusedForbidden          = "forbidden"           // outside the principal's scopes
)

var authRefusals = []string{refusedNoCredentials, refusedInvalidToken, refusedUnknownCertificate, refusedForbidden}

// need is what a route asks of a principal.
type need int

const (
	needNothing need = iota // open to all: the probes
	needAuth                // any principal; the handler shows only what it may read
	needRead                // read on the {cell} of the path
	needRefine              // refine on the {cell} of the path
	needAdmin               // the admin scope
)

// accessState is the Access in force, and a channel closed when another
// replaces it.
type accessState struct {
	a       *Access
	changed chan struct{}
}

// authKey is the context key of a request's authInfo.
type authKey struct{}

// authInfo is the principal a request was admitted as, and the Access
// that admitted it.
type authInfo struct {
	p  *Principal
	st *accessState
}

// SetAccess replaces the principals the server accepts, at once for new
// requests; event streams whose principal is no longer accepted with the
// same scopes end. nil accepts no one (every request but the probes gets
// 401). It turns authentication on for a server made without
// Options.Access. It is safe for concurrent use.
func (s *Server) SetAccess(a *Access) {
	if a == nil {
		a = &Access{certs: map[string]int{}}
	}
	if old := s.access.Swap(&accessState{a: a, changed: make(chan struct{})}); old != nil {
		close(old.changed)
	}
}

// accessNow returns the Access in force, nil without authentication.
func (s *Server) accessNow() *accessState { return s.access.Load() }

// authorize admits r as one of the principals, with the scope n asks for,
// and returns r with its authInfo; otherwise it answers 401 or 403 and
// returns nil.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, pattern string, n need) *http.Request {
	st := s.accessNow()
	if st == nil || n == needNothing {
		return r
	}
	p, refused, tokenGiven, err := st.a.authenticate(r)
	if p == nil {
		s.metrics.authRefused.WithLabelValues(refused).Inc()
		challenge := `Bearer realm="dprop"`
		if tokenGiven {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		s.writeError(w, r, http.StatusUnauthorized, ReasonUnauthorized, "", err)
		return nil
	}
	cell := r.PathValue("cell")
	var denied error
	switch {
	case (n == needRead || n == needRefine) && cellname.Validate(cell) != nil:
		// A bad name says nothing and reaches nothing: the handler
		// answers 400 bad_subject.
	case n == needRead && !p.MayRead(cell):
		denied = fmt.Errorf("%s %q may not read cell %q (it may read %s)", p.kind(), p.Name, cell, patternList(p.Read))
	case n == needRefine && !p.MayRefine(cell):
		denied = fmt.Errorf("%s %q may not refine cell %q (it may refine %s)", p.kind(), p.Name, cell, patternList(p.Refine))
	case n == needAdmin && !p.Admin:
		denied = fmt.Errorf("%s %q may not use %s: that needs the admin scope", p.kind(), p.Name, pattern)
	}
	if denied != nil {
		s.metrics.authRefused.WithLabelValues(refusedForbidden).Inc()
		s.writeError(w, r, http.StatusForbidden, ReasonForbidden, cell, denied)
		return nil
	}
	return r.WithContext(context.WithValue(r.Context(), authKey{}, authInfo{p: p, st: st}))
}

// patternList says which cells patterns cover, for messages.
func patternList(patterns []string) string {
	if len(patterns) == 0 {
		return "no cell"
	}
	return strings.Join(patterns, ", ")
}

// authenticate finds r's principal. When there is none it returns why (a
// refused* constant), whether a token was given, and a message.
func (a *Access) authenticate(r *http.Request) (p *Principal, refused string, tokenGiven bool, err error) {
	if hs := r.Header.Values("Authorization"); len(hs) > 0 {
		scheme, token, _ := strings.Cut(strings.TrimSpace(hs[0]), " ")
		token = strings.TrimSpace(token)
		switch {
		case len(hs) > 1:
			return nil, refusedInvalidToken, true, errors.New("more than one Authorization header: send one, Authorization: Bearer TOKEN")
		case !strings.EqualFold(scheme, "Bearer") || token == "":
			return nil, refusedInvalidToken, true, fmt.Errorf("authorization scheme %q: send Authorization: Bearer TOKEN", scheme)
		}
		if p := a.byToken(HashToken(token)); p != nil {
			return p, "", true, nil
		}
		return nil, refusedInvalidToken, true, errors.New("the bearer token is not one this sidecar accepts (mistyped, revoked, or made for another sidecar's tokens file)")
	}
	if cn, ok := clientCertName(r); ok {
		if i, ok := a.certs[cn]; ok {
			return &a.principals[i], "", false, nil
		}
		return nil, refusedUnknownCertificate, false, fmt.Errorf("client certificate %q is not one this sidecar accepts: no entry of its tokens file has cert: %s", cn, cn)
	}
	return nil, refusedNoCredentials, false, errors.New("this sidecar asks for a bearer token (Authorization: Bearer TOKEN) or a client certificate")
}

// clientCertName returns the Subject common name of r's client
// certificate, if the TLS layer verified one.
func clientCertName(r *http.Request) (string, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return "", false
	}
	return r.TLS.VerifiedChains[0][0].Subject.CommonName, true
}

// principalOf returns the principal r was admitted as, nil without
// authentication.
func principalOf(r *http.Request) *Principal {
	info, _ := r.Context().Value(authKey{}).(authInfo)
	return info.p
}

// readFilter returns what r's principal may read, nil when it may read
// everything (no authentication).
func readFilter(r *http.Request) func(string) bool {
	if p := principalOf(r); p != nil {
		return p.MayRead
	}
	return nil
}

// endOnAccessChange cancels a long request when the Access that admitted
// it is replaced by one without its principal, or with other scopes for
// it. It returns when ctx ends or after cancelling.
func (s *Server) endOnAccessChange(ctx context.Context, r *http.Request, cancel context.CancelFunc) {
	info, _ := r.Context().Value(authKey{}).(authInfo)
	if info.st == nil {
		return
	}
	st := info.st
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.changed:
			st = s.accessNow()
			if !st.a.holds(info.p) {
				s.log.Info("event stream ended: its principal's access changed", "principal", info.p.Name, "path", r.URL.Path)
				cancel()
				return
			}
		}
	}
}
