// Package httpapi is the sidecar HTTP API of a replica: applications read,
// refine, watch and await cells over HTTP on loopback, without a NATS
// client, and operators probe and scrape the replica.
//
// # Server
//
// New wraps a running *replica.Replica in an http.Handler. Each endpoint is
// a thin translation of one replica method:
//
//	GET  /v1/cells/{cell}                 Replica.Get (ETag, If-None-Match → 304)
//	GET  /v1/cells/{cell}?await=V         Replica.Await (a threshold read)
//	POST /v1/cells/{cell}                 Replica.RefineJSON (read-your-writes)
//	GET  /v1/cells[?match=P&after=C]      Replica.CellsPage (a page, streamed)
//	GET  /v1/cells/{cell}/events          Replica.Watch, as Server-Sent Events
//	GET  /v1/events?match=P               the same for a pattern
//	GET  /v1/cells/{cell}/history         Replica.History (the cell's log)
//	GET  /v1/network, /v1/network/graph   Options.Network, with Replica.PropagatorNodes; its drawing
//	GET  /healthz, /readyz, /metrics      liveness, resync progress, Prometheus
//	GET  /ui/                             the web page (ui.go, ui/): embedded files that use the above
//
// Values travel in their canonical wire form, byte for byte what
// lattice.Encode gives, so whatever a GET returns can be POSTed or published
// with `nats pub` again. Input is checked before anything is published: a
// refused request gets a 4xx and a JSON body
//
//	{"error":"...","cell":"...","reason":"type_mismatch"}
//
// whose reason is one of fold's Reason constants or of this package's.
// A repeated query parameter is refused too (Server.query), and a refine's
// Idempotency-Key names one update of its cell: a retry is answered with
// Dprop-Duplicate, a key reused for another value with 422. A refine's
// Dprop-Signer and Dprop-Signature headers (a client's signature of the
// canonical encoding on the cell's subject) are checked, 400 bad_signature
// if they do not verify, and passed on; what the replica's trust policy
// forbids is refused with 403 (unsigned, untrusted_signer) before
// publishing, and /readyz and /metrics show the policy's hash.
// docs/api.md describes every endpoint, status and header; docs/signing.md
// signed updates.
//
// Routes are registered on an http.ServeMux with method patterns; every
// route is wrapped once, at registration, by the middleware that recovers
// panics, sets Dprop-Stale and records the request in the metrics under the
// route's pattern (never the raw path, to bound label cardinality). Replica
// counters are read from Replica.Stats by a prometheus.Collector at scrape
// time, so nothing polls.
//
// # Authentication
//
// Without Options.Access anyone who can connect may do anything (the
// sidecar listens on loopback by default). With it, every request but the
// probes names a Principal, by a bearer token whose SHA-256 the Access
// holds or by a client certificate the TLS layer verified, and stays
// within its scopes: cell patterns it may read, patterns it may refine,
// and admin (/metrics). Routes say what they need when they are
// registered, and the same middleware checks it before the handler runs
// (401 or 403, counted in dprop_http_auth_refused_total by reason);
// listings and pattern streams are not refused but narrowed to the cells
// the principal may read. Server.SetAccess swaps the principals while the
// server runs. auth.go has the rules, docs/api.md the file format the
// dprop command reads them from.
//
// Long requests (event streams, threshold reads) end when the client goes
// away, when the replica closes, or when Server.Close is called; register
// Close with http.Server.RegisterOnShutdown so that Shutdown does not wait
// for them. Server.HTTPServer returns an http.Server that does so, with
// read, write and idle timeouts; long requests move their own deadlines
// (a threshold read until its timeout, an event stream one write at a
// time), and there are at most Options.MaxStreams streams and
// Options.MaxAwaits threshold reads at once.
//
// # Client
//
// Client is the Go client of the same API, used by the dprop command: Get,
// Refine, Await, Cells, CellsPage and AllCells (pages), Watch (an SSE
// reader) and Ready; WithToken and WithTLSConfig give it a bearer token
// and a TLS configuration (authorities, client certificate). A non-2xx answer is an *APIError carrying the status
// and the server's reason. Cell, CellsPage, Event and Readiness are the
// JSON shapes the server writes and the client reads.
package httpapi
