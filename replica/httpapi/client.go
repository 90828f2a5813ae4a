package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dprop/dprop/cellname"
)

// ErrStreamEnded is returned (wrapped) by Client.Watch when the server ends
// the event stream: it is shutting down or its replica closed. Watching
// again from another sidecar, or later, loses nothing (see Watch).
var ErrStreamEnded = errors.New("event stream ended by the server")

// maxErrorBody bounds how much of an error answer the client reads.
const maxErrorBody = 64 << 10

// maxEventBytes bounds one line of an event stream.
const maxEventBytes = 64 << 20

// Client talks to the HTTP API of a sidecar. It is safe for concurrent use.
type Client struct {
	base  string
	hc    *http.Client
	token string // sent as Authorization: Bearer; "" for none
	err   error  // an option that could not be applied: every call returns it
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithToken sends token as a bearer token (Authorization: Bearer TOKEN)
// with every request, for a sidecar started with tokens (see
// "Authentication" in docs/api.md). "" sends none.
func WithToken(token string) ClientOption {
	return func(c *Client) { c.token = token }
}

// WithTLSConfig has the client use cfg for https:// URLs: the authorities
// it trusts for the sidecar's certificate (RootCAs) and its own client
// certificate (Certificates). It applies to a copy of the client's
// transport, which must be an *http.Transport (the default is); with
// another RoundTripper, every call fails with an error saying so.
func WithTLSConfig(cfg *tls.Config) ClientOption {
	return func(c *Client) {
		rt := c.hc.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
		tr, ok := rt.(*http.Transport)
		if !ok {
			c.err = fmt.Errorf("httpapi: WithTLSConfig needs an *http.Transport, the client has a %T", rt)
			return
		}
		tr = tr.Clone()
		tr.TLSClientConfig = cfg
		hc := *c.hc
		hc.Transport = tr
		c.hc = &hc
	}
}

// NewClient returns a client of the sidecar at baseURL (such as
// http://127.0.0.1:37767). hc nil means http.DefaultClient; an hc with a
// Timeout cuts long threshold reads and event streams, so prefer contexts.
// Options do not change hc.
func NewClient(baseURL string, hc *http.Client, opts ...ClientOption) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}
	for _, o := range opts {
		o(c)
	}
	return c
}

// newRequest makes a request of the API, with the client's token.
func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Request, error) {
	if c.err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, c.err)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// request sends a request and returns the answer if its status is 2xx or
// 304; otherwise it reads the error and returns it as an *APIError.
func (c *Client) request(ctx context.Context, method, path string, query url.Values, body []byte, header http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := c.newRequest(ctx, method, path, query, rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotModified {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return nil, parseAPIError(resp.StatusCode, b)
}

// cellCall performs a request answered by a cell's value and headers.
func (c *Client) cellCall(ctx context.Context, method, cell string, query url.Values, body []byte, header http.Header) (Cell, error) {
	return c.cellCallAt(ctx, method, cell, "/v1/cells/"+url.PathEscape(cell), query, body, header)
}

// cellCallAt is cellCall on path, a resource of the cell.
func (c *Client) cellCallAt(ctx context.Context, method, cell, path string, query url.Values, body []byte, header http.Header) (Cell, error) {
	resp, err := c.request(ctx, method, path, query, body, header)
	if err != nil {
		return Cell{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Cell{}, fmt.Errorf("reading cell %q: %w", cell, err)
	}
	if resp.StatusCode == http.StatusNoContent || (resp.StatusCode == http.StatusAccepted && len(b) == 0) {
		b = nil // a refine whose value the token may not read
	}
	out := cellFromHeaders(cell, resp.Header, b)
	out.Accepted = resp.StatusCode == http.StatusAccepted
	return out, nil
}

// Get returns the cell: its value in wire form, type, ETag, sequence and
// update count. An unknown cell is an *APIError with Status 404.
func (c *Client) Get(ctx context.Context, cell string) (Cell, error) {
	return c.cellCall(ctx, http.MethodGet, cell, nil, nil, nil)
}

// RefineOption qualifies a Client.Refine.
type RefineOption func(http.Header)

// WithIdempotencyKey sends an Idempotency-Key: a refine retried with the
// same key and value on the same cell (within the stream's duplicate
// window) is stored once, and answered with Cell.Duplicate set; the same
// key with another value is refused (an *APIError with Status 422 and
// Reason ReasonKeyReused). Use one key per update.
func WithIdempotencyKey(key string) RefineOption {
	return func(h http.Header) {
		if key != "" {
			h.Set(HeaderIdempotencyKey, key)
		}
	}
}

// WithLogAck asks for the log's acknowledgement (Prefer: ack=log): a
// sidecar with an outbox does not take the refine into it, and answers 503
// when the log cannot take it.
func WithLogAck() RefineOption {
	return func(h http.Header) { h.Set("Prefer", PreferLogAck) }
}

// WithOrigin names the writer: the update's Dprop-Origin header.
func WithOrigin(origin string) RefineOption {
	return func(h http.Header) {
		if origin != "" {
			h.Set(HeaderOrigin, origin)
		}
	}
}

// WithSignature sends a signature of the update: the Dprop-Signer and
// Dprop-Signature values replica.SignUpdate returns for the cell's subject
// and the canonical encoding of the value, which must then be the body
// (lattice.Encode of the decoded value). The sidecar checks it (400
// bad_signature) and passes it on; the trust policy decides whether it
// counts (403 untrusted_signer).
func WithSignature(signer, signature string) RefineOption {
	return func(h http.Header) {
		if signer != "" || signature != "" {
			h.Set(HeaderSigner, signer)
			h.Set(HeaderSignature, signature)
		}
	}
}

// Refine merges body (a value in wire form) into the cell and returns the
// cell as it is then. Refusals are *APIError (400, 401, 403, 409, 413,
// 421, 422), and so is a broker outage (503, safe to retry with the same
// WithIdempotencyKey) — unless the sidecar has an outbox: then it keeps
// the update, synced, and answers 202 (Cell.Accepted, with the merged
// value and Cell.Pending), and delivers it once the log is back
// (WithLogAck asks for the 503 instead). A token that may refine the cell but not read it
// gets the cell without its value (the server answers 204): Value is
// empty.
func (c *Client) Refine(ctx context.Context, cell string, body []byte, opts ...RefineOption) (Cell, error) {
	h := http.Header{}
	for _, o := range opts {
		o(h)
	}
	if body == nil {
		body = []byte{}
	}
	return c.cellCall(ctx, http.MethodPost, cell, nil, body, h)
}

// Await returns the cell once its value is at least threshold (a value in
// wire form), waiting at most timeout (0: the server's default, 30s). On
// timeout the error is an *APIError with Status 504.
func (c *Client) Await(ctx context.Context, cell string, threshold []byte, timeout time.Duration) (Cell, error) {
	q := url.Values{"await": {string(threshold)}}
	if timeout > 0 {
		q.Set("timeout", timeout.String())
	}
	return c.cellCall(ctx, http.MethodGet, cell, q, nil, nil)
}

// ListOptions select the cells of a listing.
type ListOptions struct {
	// Match is a cell name or pattern ("" for every cell).
	Match string
	// Values includes each cell's value.
	Values bool
	// Limit is the number of cells per page, at most MaxListLimit (0 for
	// the server's default, DefaultListLimit).
	Limit int
	// After is the cursor of the page to read: the Next of the page
	// before ("" for the first page).
	After string
}

// CellsPage returns one page of the cells that opts select, sorted by
// name; its Next is the After of the next page ("" on the last page).
func (c *Client) CellsPage(ctx context.Context, opts ListOptions) (CellsPage, error) {
	q := url.Values{}
	if opts.Match != "" {
		q.Set("match", opts.Match)
	}
	if opts.Values {
		q.Set("values", "true")
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.After != "" {
		q.Set("after", opts.After)
	}
	var page CellsPage
	err := c.getJSON(ctx, "/v1/cells", q, &page)
	return page, err
}

// AllCells iterates over the cells that opts select, sorted by name,
// starting at opts.After and following every page. An error ends the
// iteration, yielded with a zero Cell.
func (c *Client) AllCells(ctx context.Context, opts ListOptions) iter.Seq2[Cell, error] {
	return func(yield func(Cell, error) bool) {
		for {
			page, err := c.CellsPage(ctx, opts)
			if err != nil {
				yield(Cell{}, err)
				return
			}
			for _, cell := range page.Cells {
				if !yield(cell, nil) {
					return
				}
			}
			if page.Next == "" {
				return
			}
			opts.After = page.Next
		}
	}
}

// Cells lists the cells matching match ("" for all), sorted by name,
// without their values, following every page.
func (c *Client) Cells(ctx context.Context, match string) ([]Cell, error) {
	out := []Cell{}
	for cell, err := range c.AllCells(ctx, ListOptions{Match: match, Limit: MaxListLimit}) {
		if err != nil {
			return nil, err
		}
		out = append(out, cell)
	}
	return out, nil
}

// Outbox returns what the sidecar's outbox holds, with at most limit of
// its pending updates. A sidecar without one answers 404.
func (c *Client) Outbox(ctx context.Context, limit int) (Outbox, error) {
	var o Outbox
	err := c.getJSON(ctx, "/v1/outbox", url.Values{"limit": {strconv.Itoa(limit)}}, &o)
	return o, err
}

// Ready returns the sidecar's readiness. A sidecar that is not ready
// answers 503 with the same body: that is not an error here; look at
// Readiness.Ready.
func (c *Client) Ready(ctx context.Context) (Readiness, error) {
	var rd Readiness
	err := c.getJSON(ctx, "/readyz", nil, &rd)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable {
		return rd, nil
	}
	return rd, err
}

// getJSON GETs path and decodes its JSON answer into v. A 503 answer's body
// is decoded too before the *APIError is returned.
func (c *Client) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	req, err := c.newRequest(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusServiceUnavailable {
		if err := json.Unmarshal(b, v); err != nil && resp.StatusCode == http.StatusOK {
			return fmt.Errorf("GET %s: decoding the answer: %w", path, err)
		}
	}
	if resp.StatusCode != http.StatusOK {
		return parseAPIError(resp.StatusCode, b)
	}
	return nil
}

// WatchOption qualifies a Client.Watch.
type WatchOption func(*watchOptions)

type watchOptions struct {
	onOpen func()
}

// OnOpen has Watch call fn once the server has accepted the watch (its
// answer has come, events have not yet), on Watch's goroutine: from then
// on no change of the watched cells is missed. A caller that watches again
// after a lost stream learns from it that the stream is back even if no
// event comes.
func OnOpen(fn func()) WatchOption { return func(o *watchOptions) { o.onOpen = fn } }

// Watch calls fn with every event of the cell or pattern (a name with "*"
// or ">" tokens): first the current value of each matching cell, then every
// real change. fn runs on Watch's goroutine; a slow fn makes the server
// skip intermediate states of a cell, never its latest one.
//
// Watch returns fn's error if fn fails, ctx's error when ctx ends, and an
// error wrapping ErrStreamEnded if the server ends the stream. Since each
// stream starts with the current values, watching again resumes without
// losing anything; an event whose Seq is not above the last one handled
// for its cell says nothing new.
func (c *Client) Watch(ctx context.Context, pattern string, fn func(Event) error, opts ...WatchOption) error {
	var o watchOptions
	for _, opt := range opts {
		opt(&o)
	}
	path, q := "/v1/cells/"+url.PathEscape(pattern)+"/events", url.Values(nil)
	if cellname.IsPattern(pattern) {
		path, q = "/v1/events", url.Values{"match": {pattern}}
	}
	resp, err := c.request(ctx, http.MethodGet, path, q, nil, http.Header{"Accept": {"text/event-stream"}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if o.onOpen != nil {
		o.onOpen()
	}
	err = readEvents(bufio.NewReaderSize(resp.Body, 64<<10), fn)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// readEvents parses an event stream and calls fn for each "change" event.
func readEvents(br *bufio.Reader, fn func(Event) error) error {
	var name string
	var data []byte
	for {
		line, err := readLine(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("watch: %w", ErrStreamEnded)
			}
			return fmt.Errorf("watch: %w", err)
		}
		if len(line) == 0 { // blank line: dispatch
			if data != nil && (name == "" || name == "change") {
				var ev Event
				if err := json.Unmarshal(data, &ev); err != nil {
					return fmt.Errorf("watch: bad event data %.200q: %w", data, err)
				}
				if err := fn(ev); err != nil {
					return err
				}
			}
			name, data = "", nil
			continue
		}
		if line[0] == ':' {
			continue // comment (heartbeat)
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			name = string(value)
		case "data":
			if data != nil {
				data = append(data, '\n')
			}
			data = append(data, value...)
			if data == nil {
				data = []byte{}
			}
		}
	}
}

// readLine reads one line without its end (\n or \r\n).
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > maxEventBytes {
			return nil, fmt.Errorf("event stream line longer than %d bytes", maxEventBytes)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

// Apply applies an operation (such as {"op":"inc","by":1}; see
// docs/api.md, Operations) to the cell and returns the cell as it is then,
// as Refine does. With WithIdempotencyKey the operation is applied once
// however often it is retried, through any sidecar, within the stream's
// duplicate window; a retry is answered with Cell.Duplicate set. A
// malformed operation is an *APIError with Status 400 (ReasonBadOperation),
// one that does not apply to the cell's type 409 (ReasonNotApplicable).
func (c *Client) Apply(ctx context.Context, cell string, operation []byte, opts ...RefineOption) (Cell, error) {
	h := http.Header{}
	for _, o := range opts {
		o(h)
	}
	if operation == nil {
		operation = []byte{}
	}
	return c.cellCallAt(ctx, http.MethodPost, cell, "/v1/cells/"+url.PathEscape(cell)+"/ops", nil, operation, h)
}
