package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

// held checks that cell is a valid name of a cell this replica holds. A bad
// name is returned as the name's error (wrapping cellname.ErrBad), which
// reads better for reads than an "update refused".
func (s *Server) held(cell string) error {
	if err := cellname.Validate(cell); err != nil {
		return err
	}
	return s.r.Check(cell, lattice.Nothing{})
}

// getCell answers GET /v1/cells/{cell}, and threshold reads when the query
// has await.
func (s *Server) getCell(w http.ResponseWriter, r *http.Request) {
	cell := r.PathValue("cell")
	if err := s.held(cell); err != nil {
		s.fail(w, r, cell, err)
		return
	}
	q, ok := s.query(w, r, cell, "await", "timeout", "explain", "stored", "worldview")
	if !ok {
		return
	}
	if q.Has("await") || q.Has("timeout") {
		s.await(w, r, cell, q)
		return
	}
	p, err := s.supportedRead(q)
	if err != nil {
		s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, cell, err)
		return
	}
	c, ok := s.r.Get(cell)
	if !ok {
		s.writeError(w, r, http.StatusNotFound, ReasonNotFound, cell, fmt.Errorf("cell %q has no value yet", cell))
		return
	}
	s.writeRead(w, r, c, p)
}

// writeCell answers with the cell's value in wire form and its headers, or
// 304 when a GET's If-None-Match matches its ETag.
func (s *Server) writeCell(w http.ResponseWriter, r *http.Request, c fold.Cell) {
	s.writeCellStatus(w, r, c, http.StatusOK)
}

// writeCellStatus is writeCell answering status instead of 200.
func (s *Server) writeCellStatus(w http.ResponseWriter, r *http.Request, c fold.Cell, status int) {
	h := w.Header()
	if c.Pending > 0 {
		h.Set(HeaderPending, strconv.Itoa(c.Pending))
	}
	h.Set("ETag", c.ETag)
	h.Set("Cache-Control", "no-cache")
	h.Set(HeaderSeq, strconv.FormatUint(c.Seq, 10))
	h.Set(HeaderUpdates, strconv.FormatUint(c.Updates, 10))
	if c.Type != "" {
		h.Set(HeaderType, c.Type)
	}
	if con, ok := c.Value.(*lattice.Contradiction); ok {
		h.Set(HeaderContradiction, headerText(con.Reason()))
	}
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && noneMatch(r.Header.Values("If-None-Match"), c.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := lattice.Encode(c.Value)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// noneMatch reports whether If-None-Match header values match etag: "*"
// matches any current value; entity tags match by the weak comparison of
// RFC 9110 (W/ is ignored, the opaque tags must be equal).
func noneMatch(values []string, etag string) bool {
	for _, v := range values {
		for {
			v = trimListSep(v)
			if v == "" {
				break
			}
			if v[0] == '*' {
				return true
			}
			if len(v) >= 2 && v[:2] == "W/" {
				v = v[2:]
			}
			if v == "" || v[0] != '"' {
				break // malformed: ignore the rest of this value
			}
			end := 1
			for end < len(v) && v[end] != '"' {
				end++
			}
			if end == len(v) {
				break
			}
			if v[:end+1] == etag {
				return true
			}
			v = v[end+1:]
		}
	}
	return false
}

func trimListSep(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == ',') {
		s = s[1:]
	}
	return s
}

// await answers a threshold read: the cell once it is ⊒ the await value.
func (s *Server) await(w http.ResponseWriter, r *http.Request, cell string, q url.Values) {
	raw := q.Get("await")
	if raw == "" {
		s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, cell, errors.New("await: want a lattice value in wire form, e.g. await={\"type\":\"max\",\"value\":3}"))
		return
	}
	threshold, err := lattice.Decode([]byte(raw))
	if err != nil {
		s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, cell, fmt.Errorf("await: %w", err))
		return
	}
	timeout, err := parseTimeout(q.Get("timeout"))
	if err != nil {
		s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, cell, err)
		return
	}
	// A supported cell is awaited by its strongest consequence, unless the
	// threshold is itself a supported value (the stored claims).
	byConsequence := s.r.Type(cell) == lattice.TypeSupported && threshold.Type() != lattice.TypeSupported
	if err := s.r.CheckThreshold(cell, threshold); err != nil && !byConsequence {
		s.fail(w, r, cell, fmt.Errorf("await: %w", err))
		return
	}
	if !s.noBody(w, r, cell) {
		return
	}
	if !s.awaits.acquire() {
		s.busy(w, r, cell, "threshold reads", s.opts.MaxAwaits, "--http-max-awaits")
		return
	}
	defer s.awaits.release()
	allowWait(w, r, timeout)
	ctx, cancel := s.bound(r, timeout)
	defer cancel()
	var c fold.Cell
	if byConsequence {
		c, _, err = s.r.AwaitConsequence(ctx, cell, threshold)
	} else {
		c, err = s.r.Await(ctx, cell, threshold)
	}
	switch {
	case err == nil && byConsequence:
		s.writeRead(w, r, c, readParams{worldview: s.r.Worldview()})
	case err == nil:
		s.writeCell(w, r, c)
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil && !s.closing():
		s.writeError(w, r, http.StatusGatewayTimeout, ReasonTimeout, cell,
			fmt.Errorf("timed out after %v waiting for cell %q ⊒ %s", timeout, cell, raw))
	case errors.Is(err, replica.ErrForgotten):
		s.writeError(w, r, http.StatusGone, ReasonForgotten, cell, err)
	default:
		s.writeError(w, r, http.StatusServiceUnavailable, ReasonUnavailable, cell,
			fmt.Errorf("threshold read ended (server shutting down or replica closed): %w", err))
	}
}

// noBody refuses a long GET (a threshold read, an event stream) that has
// a body, and reports whether r has none. A body means nothing there, and
// net/http watches for the client's departure only once the body has been
// read: an abandoned threshold read with a body was held until its
// timeout.
func (s *Server) noBody(w http.ResponseWriter, r *http.Request, cell string) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return true
	}
	s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, cell,
		fmt.Errorf("%s %s takes no body (Content-Length %d)", r.Method, r.URL.Path, r.ContentLength))
	return false
}

// parseTimeout parses the timeout parameter of a threshold read.
func parseTimeout(s string) (time.Duration, error) {
	if s == "" {
		return DefaultAwaitTimeout, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > MaxAwaitTimeout {
		return 0, fmt.Errorf("timeout %q: want a duration above 0 and at most %v, such as 2s or 500ms", s, MaxAwaitTimeout)
	}
	return d, nil
}

// refine answers POST /v1/cells/{cell}: the body is merged into the cell,
// and the answer is the cell once this replica has folded it.
func (s *Server) refine(w http.ResponseWriter, r *http.Request) {
	cell := r.PathValue("cell")
	if err := s.held(cell); err != nil {
		s.fail(w, r, cell, err)
		return
	}
	key, origin := r.Header.Get(HeaderIdempotencyKey), r.Header.Get(HeaderOrigin)
	if len(key) > MaxIdempotencyKey || len(origin) > MaxIdempotencyKey {
		s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, cell,
			fmt.Errorf("%s or %s longer than %d bytes", HeaderIdempotencyKey, HeaderOrigin, MaxIdempotencyKey))
		return
	}
	signer, sig := r.Header.Get(HeaderSigner), r.Header.Get(HeaderSignature)
	if len(signer) > MaxSignatureHeader || len(sig) > MaxSignatureHeader {
		s.writeError(w, r, http.StatusBadRequest, fold.ReasonBadSignature, cell,
			fmt.Errorf("%s or %s longer than %d bytes", HeaderSigner, HeaderSignature, MaxSignatureHeader))
		return
	}
	body, ok := s.readBody(w, r, cell)
	if !ok {
		return
	}
	allowWait(w, r, s.opts.RefineTimeout)
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.RefineTimeout)
	defer cancel()
	var report replica.RefineReport
	opts := []replica.RefineOption{replica.WithIdempotencyKey(key), replica.WithReport(&report)}
	if origin != "" {
		opts = append(opts, replica.WithOrigin(origin))
	}
	if signer != "" || sig != "" {
		opts = append(opts, replica.WithSignature(signer, sig))
	}
	logAck := wantsLogAck(r)
	if logAck {
		opts = append(opts, replica.WithLogAck())
		w.Header().Set("Preference-Applied", PreferLogAck)
	}
	c, err := s.r.RefineJSON(ctx, cell, body, opts...)
	if err != nil {
		switch status, reason := classify(err); {
		case reason == ReasonStreamFull:
			err = fmt.Errorf("%w (the stream is full: nothing was stored; retrying succeeds once compaction or an operator makes room, see docs/deploy.md)", err)
		case status == http.StatusServiceUnavailable:
			err = fmt.Errorf("%w (is the broker reachable? retrying is safe; the same %s stores the update once)", err, HeaderIdempotencyKey)
		}
		s.fail(w, r, cell, err)
		return
	}
	s.writeRefined(w, r, cell, c, report)
}

// writeRefined answers a refine or an operation that succeeded: 200 with
// the cell, or 202 when the update was kept in the outbox (synced, not in
// the log yet); Dprop-Duplicate for an update the log already held,
// Dprop-Folded: false for one the sidecar had not folded in time.
func (s *Server) writeRefined(w http.ResponseWriter, r *http.Request, cell string, c fold.Cell, report replica.RefineReport) {
	if report.Duplicate {
		w.Header().Set(HeaderDuplicate, "true")
	}
	if report.Unfolded {
		w.Header().Set(HeaderFolded, "false")
	}
	status := http.StatusOK
	if report.Pending {
		status = http.StatusAccepted
		w.Header().Set(HeaderOutbox, strconv.Itoa(report.PendingUpdates))
	}
	if p := principalOf(r); p != nil && !p.MayRead(cell) {
		// Refined, but the value is not the principal's to read: a
		// writer-only token learns that its update is stored, no more.
		if report.Pending {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.writeCellStatus(w, r, c, status)
}

// readBody reads a request's body within Options.MaxBody; if it cannot,
// it answers why and reports false.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, cell string) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.writeError(w, r, http.StatusRequestEntityTooLarge, fold.ReasonTooLarge, cell,
				fmt.Errorf("cell %q: body larger than %d bytes: %w", cell, tooLarge.Limit, lattice.ErrTooLarge))
			return nil, false
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.writeError(w, r, http.StatusRequestTimeout, ReasonReadTimeout, cell,
				fmt.Errorf("the body did not arrive within the server's read timeout: %w", err))
			return nil, false
		}
		s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, cell, fmt.Errorf("reading the body: %w", err))
		return nil, false
	}
	return body, true
}

// maxListSkip bounds the cells a page passes over because its principal
// may not read them: past it the page ends early, with a next.
const maxListSkip = 10_000

// listCells answers GET /v1/cells[?match=PATTERN][&values=true][&limit=N][&after=CURSOR]:
// one page of cells, sorted by name, written as it is encoded (see
// writePage). With authentication, only the cells the principal may read:
// a pattern it may not read all of is not refused, it is narrowed.
func (s *Server) listCells(w http.ResponseWriter, r *http.Request) {
	raw, ok := s.query(w, r, "", "match", "values", "limit", "after", "times")
	if !ok {
		return
	}
	q, err := listQuery(raw)
	if err != nil {
		var reason = ReasonBadParameter
		if errors.Is(err, cellname.ErrBad) {
			reason = fold.ReasonBadSubject
		}
		s.writeError(w, r, http.StatusBadRequest, reason, "", err)
		return
	}
	page, last := s.r.CellsPageFunc(q.match, q.after, q.limit, readFilter(r), maxListSkip)
	next := ""
	if last != "" {
		next = cursorOf(last)
	}
	var times []time.Time
	if q.times {
		times = s.changeTimes(r, page)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if err := writePage(w, page, q.values, times, next); err != nil {
		s.log.Debug("listing cut short", "err", err) // the client went away; the status is sent
	}
}

// listParams are the parameters of a listing.
type listParams struct {
	match  string
	values bool
	limit  int
	after  string // a cell name, decoded from the cursor
	times  bool   // each cell's time of last change, from the stream
}

// listQuery reads and checks the parameters of GET /v1/cells.
func listQuery(q url.Values) (listParams, error) {
	p := listParams{match: q.Get("match"), limit: DefaultListLimit}
	if p.match != "" {
		if err := cellname.ValidatePattern(p.match); err != nil {
			return p, fmt.Errorf("match: %w", err)
		}
	}
	for _, b := range []struct {
		name string
		v    *bool
	}{{"values", &p.values}, {"times", &p.times}} {
		if v := q.Get(b.name); v != "" {
			var err error
			if *b.v, err = strconv.ParseBool(v); err != nil {
				return p, fmt.Errorf("%s %q: want true or false", b.name, v)
			}
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListLimit {
			return p, fmt.Errorf("limit %q: want a number of cells from 1 to %d (default %d)", v, MaxListLimit, DefaultListLimit)
		}
		p.limit = n
	}
	if v := q.Get("after"); v != "" {
		name, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || cellname.Validate(string(name)) != nil {
			return p, fmt.Errorf("after %q: not a cursor; pass the next of a previous page as it is", v)
		}
		p.after = string(name)
	}
	return p, nil
}

// cursorOf is the cursor of the page that follows the cell name: opaque to
// clients, today the name in unpadded base64url.
func cursorOf(name string) string { return base64.RawURLEncoding.EncodeToString([]byte(name)) }

// writePage writes {"cells":[...],"next":"..."}, with each cell's time
// from times when it has one, cell by cell through a
// buffer of its own, encoding one value at a time, so that the answer is
// never held whole: a listing of 200k cells with their values was one
// 30 MB answer that allocated 224 MB to build.
func writePage(w io.Writer, page []fold.Cell, values bool, times []time.Time, next string) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	var cell bytes.Buffer
	enc := json.NewEncoder(&cell)
	enc.SetEscapeHTML(false)
	var value []byte
	bw.WriteString(`{"cells":[`)
	for i, c := range page {
		out := cellOf(c, false)
		if i < len(times) {
			out.Time = times[i]
		}
		if values {
			v := c.Value
			if v == nil {
				v = lattice.Nothing{}
			}
			value = v.AppendJSON(value[:0])
			out.Value = value
		}
		cell.Reset()
		if err := enc.Encode(out); err != nil {
			return fmt.Errorf("encoding cell %q: %w", c.Name, err) // unreachable: canonical values
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		if _, err := bw.Write(bytes.TrimSuffix(cell.Bytes(), []byte("\n"))); err != nil {
			return err
		}
	}
	bw.WriteString("]")
	if next != "" {
		bw.WriteString(`,"next":"` + next + `"`)
	}
	bw.WriteString("}\n")
	return bw.Flush()
}
