package httpapi

import (
	"context"
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
	q := r.URL.Query()
	if q.Has("await") || q.Has("timeout") {
		s.await(w, r, cell, q)
		return
	}
	c, ok := s.r.Get(cell)
	if !ok {
		s.writeError(w, r, http.StatusNotFound, ReasonNotFound, cell, fmt.Errorf("cell %q has no value yet", cell))
		return
	}
	s.writeCell(w, r, c)
}

// writeCell answers with the cell's value in wire form and its headers, or
// 304 when a GET's If-None-Match matches its ETag.
func (s *Server) writeCell(w http.ResponseWriter, r *http.Request, c fold.Cell) {
	h := w.Header()
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
	w.WriteHeader(http.StatusOK)
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
	if err := s.r.Check(cell, threshold); err != nil {
		s.fail(w, r, cell, fmt.Errorf("await: %w", err))
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
	c, err := s.r.Await(ctx, cell, threshold)
	switch {
	case err == nil:
		s.writeCell(w, r, c)
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil && !s.closing():
		s.writeError(w, r, http.StatusGatewayTimeout, ReasonTimeout, cell,
			fmt.Errorf("timed out after %v waiting for cell %q ⊒ %s", timeout, cell, raw))
	default:
		s.writeError(w, r, http.StatusServiceUnavailable, ReasonUnavailable, cell,
			fmt.Errorf("threshold read ended (server shutting down or replica closed): %w", err))
	}
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.writeError(w, r, http.StatusRequestEntityTooLarge, fold.ReasonTooLarge, cell,
				fmt.Errorf("cell %q: body larger than %d bytes: %w", cell, tooLarge.Limit, lattice.ErrTooLarge))
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.writeError(w, r, http.StatusRequestTimeout, ReasonReadTimeout, cell,
				fmt.Errorf("the body did not arrive within the server's read timeout: %w", err))
			return
		}
		s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, cell, fmt.Errorf("reading the body: %w", err))
		return
	}
	allowWait(w, r, s.opts.RefineTimeout)
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.RefineTimeout)
	defer cancel()
	opts := []replica.RefineOption{replica.WithMsgID(key)}
	if origin != "" {
		opts = append(opts, replica.WithOrigin(origin))
	}
	c, err := s.r.RefineJSON(ctx, cell, body, opts...)
	if err != nil {
		if status, _ := classify(err); status == http.StatusServiceUnavailable {
			err = fmt.Errorf("%w (is the broker reachable? retrying is safe; the same %s stores the update once)", err, HeaderIdempotencyKey)
		}
		s.fail(w, r, cell, err)
		return
	}
	s.writeCell(w, r, c)
}

// listCells answers GET /v1/cells[?match=PATTERN][&values=true].
func (s *Server) listCells(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	match := q.Get("match")
	if match != "" {
		if err := cellname.ValidatePattern(match); err != nil {
			s.writeError(w, r, http.StatusBadRequest, fold.ReasonBadSubject, "", fmt.Errorf("match: %w", err))
			return
		}
	}
	values := false
	if v := q.Get("values"); v != "" {
		var err error
		if values, err = strconv.ParseBool(v); err != nil {
			s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, "", fmt.Errorf("values %q: want true or false", v))
			return
		}
	}
	cells := s.r.Cells(match)
	out := listBody{Cells: make([]Cell, 0, len(cells))}
	for _, c := range cells {
		out.Cells = append(out.Cells, cellOf(c, values))
	}
	writeJSON(w, http.StatusOK, out)
}
