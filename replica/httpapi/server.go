package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dprop/dprop/propagators/network/graph"
	"github.com/dprop/dprop/replica"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults and bounds of Options and of request parameters.
const (
	DefaultMaxBody       = 1 << 20
	DefaultHeartbeat     = 15 * time.Second
	DefaultRefineTimeout = 30 * time.Second
	DefaultAwaitTimeout  = 30 * time.Second
	MaxAwaitTimeout      = 5 * time.Minute
	DefaultMaxStreams    = 1024
	DefaultMaxAwaits     = 4096
	DefaultListLimit     = 1000   // cells per page of GET /v1/cells
	MaxListLimit         = 10_000 // the most a page may hold

	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 15 * time.Second
)

// Options configure a Server. The zero value of a field means its default.
type Options struct {
	// Logger receives the server's logs: one line per 5xx answer, 4xx
	// answers at debug level. Default slog.Default().
	Logger *slog.Logger
	// Registry receives the metrics. Default a fresh registry with the Go
	// and process collectors. /metrics serves it when it is also a
	// prometheus.Gatherer (a *prometheus.Registry is both); otherwise the
	// caller exposes it and /metrics answers 404.
	Registry prometheus.Registerer
	// MaxBody bounds a request body in bytes (default 1 MiB); larger
	// bodies get 413. The replica's lattice.Limits apply as well.
	MaxBody int64
	// Quiescent, if set, is reported in /readyz (for instance: no
	// propagator has work pending). It does not change the status.
	Quiescent func() bool
	// Stale, if set and true, marks every answer with Dprop-Stale: true and
	// makes /readyz answer 503, besides the replica's own staleness
	// (replica.Replica.Stale), which always counts.
	Stale func() bool
	// Checks are extra readiness checks, by name: /readyz answers 503
	// unless each returns nil. They get the request's context, bounded to
	// a few seconds, and must be safe for concurrent use.
	Checks map[string]func(context.Context) error
	// Heartbeat is the interval of comment lines on idle event streams, so
	// that proxies keep them open. Default 15s.
	Heartbeat time.Duration
	// RefineTimeout bounds a refine: publishing, the broker's
	// acknowledgement and the fold. Past it the answer is 503. Default 30s.
	RefineTimeout time.Duration
	// MaxStreams bounds the event streams open at once (default 1024);
	// MaxAwaits the threshold reads waiting at once (default 4096). Past
	// them new ones are answered 503 (reason busy) with Retry-After.
	MaxStreams int
	MaxAwaits  int
	// AllowOrigins are the origins (scheme://host[:port]) whose web pages
	// may call the API, besides the API's own origin; they get CORS
	// headers. Requests from any other page are refused (403). Empty by
	// default. See "Browsers and Host" in docs/api.md.
	AllowOrigins []string
	// AllowHosts are host names the API answers to besides IP addresses,
	// localhost, and single-label names on non-loopback addresses; other
	// Host headers are refused (421), which stops DNS rebinding.
	AllowHosts []string

	// Timeouts of the http.Server that HTTPServer returns (the zero value
	// of each means its default). ReadHeaderTimeout bounds reading a
	// request's headers (10s); ReadTimeout its headers and body (30s);
	// WriteTimeout writing its answer (30s), on top of what the request
	// may wait for (a refine's RefineTimeout, a threshold read's timeout);
	// event streams get WriteTimeout for each write. IdleTimeout closes
	// keep-alive connections idle that long (15s).
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration

	// Network, if set, is the network file the sidecar runs: GET
	// /v1/network and /v1/network/graph serve it (404 without one), and the
	// web page (/ui/) draws it.
	Network *graph.Graph

	// Access, if set, is who may call the API: every request but the
	// probes must carry a bearer token or a client certificate of one of
	// its principals, and stay within its scopes (see NewAccess, and
	// "Authentication" in docs/api.md). nil: no authentication, anyone
	// who can connect may do anything. Server.SetAccess replaces it.
	// Client certificates are read from the connection: serve with a
	// TLSConfig whose ClientCAs are the authorities of the clients and
	// ClientAuth tls.VerifyClientCertIfGiven (so that probes need none).
	Access *Access
}

func (o *Options) validate() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.RefineTimeout <= 0 {
		o.RefineTimeout = DefaultRefineTimeout
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = DefaultMaxStreams
	}
	if o.MaxAwaits <= 0 {
		o.MaxAwaits = DefaultMaxAwaits
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&o.ReadHeaderTimeout, DefaultReadHeaderTimeout}, {&o.ReadTimeout, DefaultReadTimeout},
		{&o.WriteTimeout, DefaultWriteTimeout}, {&o.IdleTimeout, DefaultIdleTimeout},
	} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
}

// Server is the HTTP API of one replica. It is an http.Handler, safe for
// concurrent use.
type Server struct {
	r       *replica.Replica
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	guard   *guard  // Origin and Host checks
	drawing drawing // the network's SVG, made on first use

	// access is the Access in force (see SetAccess); nil without
	// authentication.
	access atomic.Pointer[accessState]

	// streams and awaits count the long requests open now, within
	// Options.MaxStreams and Options.MaxAwaits.
	streams, awaits slots

	// ctx ends when Close is called: long requests watch it.
	ctx    context.Context
	cancel context.CancelFunc
}

var _ http.Handler = (*Server)(nil)

// New returns the HTTP API of r. It panics if r is nil, as http.Handle does
// with a nil handler: that is a bug of the caller, not input.
func New(r *replica.Replica, opts Options) *Server {
	if r == nil {
		panic("httpapi: New with a nil replica")
	}
	opts.validate()
	s := &Server{r: r, opts: opts, log: opts.Logger, mux: http.NewServeMux(),
		streams: slots{max: int64(opts.MaxStreams)}, awaits: slots{max: int64(opts.MaxAwaits)}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	var errs []error
	s.guard, errs = newGuard(opts.AllowOrigins, opts.AllowHosts)
	for _, err := range errs {
		s.log.Error("httpapi: allow-list entry ignored: it can never match", "err", err)
	}
	var gatherer prometheus.Gatherer
	s.metrics, gatherer = newMetrics(r, opts.Registry, s.log, &s.streams, &s.awaits)
	if opts.Access != nil {
		s.SetAccess(opts.Access)
	}
	s.routes(gatherer)
	return s
}

// route is one endpoint: a method, a path pattern, what it asks of a
// principal (see authorize) and its handler.
type route struct {
	method, path string
	need         need
	h            http.HandlerFunc
}

// routes registers every endpoint, and for each path a fallback that
// answers 405 to the other methods, and a JSON 404 for every other path.
func (s *Server) routes(gatherer prometheus.Gatherer) {
	routes := []route{
		{http.MethodGet, "/v1/cells/{cell}", needRead, s.getCell},
		{http.MethodPost, "/v1/cells/{cell}", needRefine, s.refine},
		{http.MethodPost, "/v1/cells/{cell}/ops", needRefine, s.applyOp},
		{http.MethodGet, "/v1/cells", needAuth, s.listCells},
		{http.MethodDelete, "/v1/cells/{cell}", needAdmin, s.forgetCell},
		{http.MethodDelete, "/v1/cells", needAdmin, s.forgetPattern},
		{http.MethodGet, "/v1/cells/{cell}/events", needRead, s.cellEvents},
		{http.MethodGet, "/v1/cells/{cell}/history", needRead, s.history},
		{http.MethodGet, "/v1/cells/{cell}/why", needRead, s.why},
		{http.MethodGet, "/v1/premises", needAuth, s.premises},
		{http.MethodPost, "/v1/premises/{premise}/withdraw", needAdmin, s.withdraw},
		{http.MethodPost, "/v1/premises/{premise}/reinstate", needAdmin, s.reinstate},
		{http.MethodGet, "/v1/events", needAuth, s.patternEvents},
		{http.MethodGet, "/v1/status", needAdmin, s.status},
		{http.MethodGet, "/v1/outbox", needAdmin, s.outbox},
		{http.MethodGet, "/v1/network", needAuth, s.network},
		{http.MethodGet, "/v1/network/graph", needAuth, s.networkGraph},
		{http.MethodGet, "/ui/", needNothing, s.ui},
		{http.MethodGet, "/healthz", needNothing, s.healthz},
		{http.MethodGet, "/readyz", needNothing, s.readyz},
	}
	if gatherer != nil {
		routes = append(routes, route{http.MethodGet, "/metrics", needAdmin, s.metricsHandler(gatherer)})
	}
	allowed := map[string][]string{}
	var paths []string
	open := map[string]bool{} // paths open to all: their 405 answers are too
	for _, rt := range routes {
		s.handle(rt.method+" "+rt.path, rt.need, rt.h)
		if allowed[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		open[rt.path] = rt.need == needNothing
		allowed[rt.path] = append(allowed[rt.path], rt.method)
		if rt.method == http.MethodGet {
			allowed[rt.path] = append(allowed[rt.path], http.MethodHead)
		}
	}
	for _, p := range paths {
		allow := strings.Join(slices.Sorted(slices.Values(allowed[p])), ", ")
		n := needAuth
		if open[p] {
			n = needNothing
		}
		s.handle(p, n, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			s.writeError(w, r, http.StatusMethodNotAllowed, ReasonMethod, "",
				fmt.Errorf("method %s not allowed on %s (allowed: %s)", r.Method, p, allow))
		})
	}
	s.handle("/", needAuth, func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, http.StatusNotFound, ReasonNotFound, "", fmt.Errorf("no such endpoint: %s (see docs/api.md)", r.URL.Path))
	})
}

// handle registers h under pattern, wrapped: Host and Origin are checked
// (see admit), then the principal and its scopes (authorize, for what n
// asks), panics are recovered as 500, Dprop-Stale is set, and the request
// is counted under the pattern.
func (s *Server) handle(pattern string, n need, h http.HandlerFunc) {
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			p := recover()
			if p != nil && p != http.ErrAbortHandler {
				s.log.Error("http handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if !sw.wrote {
					writeErrorBody(sw, http.StatusInternalServerError, ReasonInternal, "", errors.New("internal error (logged by the server)"))
				} else {
					p = http.ErrAbortHandler // the answer is cut: drop the connection
				}
			}
			s.metrics.observe(pattern, r.Method, sw.status(), time.Since(start))
			if p == http.ErrAbortHandler {
				panic(p)
			}
		}()
		if !s.admit(sw, r) {
			return
		}
		ar := s.authorize(sw, r, pattern, n)
		if ar == nil {
			return
		}
		if s.stale() {
			sw.Header().Set(HeaderStale, "true")
		}
		h(sw, ar)
	}))
}

// stale reports whether answers may lag behind the stream.
func (s *Server) stale() bool {
	return !s.r.IsReady() || s.r.Stale() || (s.opts.Stale != nil && s.opts.Stale())
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Close ends the server's event streams and threshold reads: streams end
// (after the current values, for streams opened later) and waiting reads
// answer 503. Other requests are still served. Register Close with
// http.Server.RegisterOnShutdown, so that Shutdown need not wait for long
// requests. It is safe to call more than once.
func (s *Server) Close() {
	s.cancel()
}

// HTTPServer returns an http.Server that serves s with the timeouts of
// Options, logs through the Logger and calls Close on Shutdown. Set its
// Addr, or call Serve with a listener.
//
// Without these timeouts a connection may live for ever: a client sending
// its body a byte a second, or keeping a connection idle, held it as long
// as it liked.
func (s *Server) HTTPServer() *http.Server {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(s.Close) // end event streams and threshold reads, so Shutdown need not wait for them
	return srv
}

// allowWait lets a request wait for d before its answer is due: the write
// deadline becomes d plus the server's WriteTimeout from now. The read
// deadline is turned off: a request that waits has been read whole, and a
// read deadline falling due while net/http watches the connection for the
// client's departure would cancel the request as if the client had left.
// (net/http turns it off itself once a request is read, as of Go 1.26;
// this does not rely on it.)
func allowWait(w http.ResponseWriter, r *http.Request, d time.Duration) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(writeDeadline(r, d))
}

// writeDeadline is the deadline of an answer due after waiting d: d plus
// the WriteTimeout of the http.Server serving r from now, or none if it
// has none.
func writeDeadline(r *http.Request, d time.Duration) time.Time {
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && srv.WriteTimeout > 0 {
		return time.Now().Add(d + srv.WriteTimeout)
	}
	return time.Time{}
}

// slots count the long requests of one kind open at once, within a bound.
type slots struct {
	n   atomic.Int64
	max int64
}

// acquire takes a slot, and reports false if all are taken.
func (sl *slots) acquire() bool {
	if sl.n.Add(1) > sl.max {
		sl.n.Add(-1)
		return false
	}
	return true
}

func (sl *slots) release()       { sl.n.Add(-1) }
func (sl *slots) inUse() float64 { return float64(sl.n.Load()) }

// bound returns a context that ends with the request, on Close, or after d
// (if d > 0).
func (s *Server) bound(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(s.ctx, cancel)
	if d > 0 {
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithTimeout(ctx, d)
		return ctx, func() { cancelT(); stop(); cancel() }
	}
	return ctx, func() { stop(); cancel() }
}

// closing reports whether Close was called.
func (s *Server) closing() bool { return s.ctx.Err() != nil }

// statusWriter records the status of an answer. Unwrap lets
// http.ResponseController reach the connection (Flush, deadlines).
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.code, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
