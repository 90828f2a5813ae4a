package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/dprop/dprop/replica"
)

// MaxHistoryLimit bounds the entries of one history answer.
const MaxHistoryLimit = 100_000

// historyTimeout bounds reading a cell's log for one answer.
const historyTimeout = time.Minute

// History is the body of GET /v1/cells/{cell}/history.
type History struct {
	Cell    string                 `json:"cell"`
	Entries []replica.HistoryEntry `json:"entries"`
}

// history answers GET /v1/cells/{cell}/history[?since=T&limit=N]: the
// cell's updates from the log, oldest first (see replica.History).
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	cell := r.PathValue("cell")
	if err := s.held(cell); err != nil {
		s.fail(w, r, cell, err)
		return
	}
	v, ok := s.query(w, r, cell, "since", "limit")
	if !ok {
		return
	}
	q, err := historyQuery(v)
	if err != nil {
		s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, cell, err)
		return
	}
	allowWait(w, r, historyTimeout)
	ctx, cancel := context.WithTimeout(r.Context(), historyTimeout)
	defer cancel()
	entries, err := s.r.History(ctx, cell, q)
	if err != nil {
		s.fail(w, r, cell, fmt.Errorf("history of %q: %w", cell, err))
		return
	}
	if entries == nil {
		entries = []replica.HistoryEntry{}
	}
	writeJSON(w, http.StatusOK, History{Cell: cell, Entries: entries})
}

// historyQuery reads since (RFC 3339) and limit (1..MaxHistoryLimit, default
// 1000).
func historyQuery(v url.Values) (replica.HistoryQuery, error) {
	q := replica.HistoryQuery{Limit: 1000}
	if s := v.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return q, fmt.Errorf("since %q: want an RFC 3339 time such as 2026-11-25T09:00:00Z", s)
		}
		q.Since = t
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxHistoryLimit {
			return q, fmt.Errorf("limit %q: want a number from 1 to %d", s, MaxHistoryLimit)
		}
		q.Limit = n
	}
	return q, nil
}

// History returns a cell's updates from the log (see GET
// /v1/cells/{cell}/history); zero since and limit mean from the start and
// the server's default limit.
func (c *Client) History(ctx context.Context, cell string, since time.Time, limit int) (History, error) {
	q := url.Values{}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339Nano))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var h History
	err := c.getJSON(ctx, "/v1/cells/"+url.PathEscape(cell)+"/history", q, &h)
	return h, err
}
