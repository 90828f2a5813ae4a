package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

// ReasonForgotten: a threshold read ended because its cell was forgotten
// (410).
const ReasonForgotten = "forgotten"

// forgetTimeout bounds a forget: publishing its markers, folding them and
// purging what they hide.
const forgetTimeout = 5 * time.Minute

// Forgotten is the body of a DELETE's answer: what was forgotten.
type Forgotten struct {
	Pattern string `json:"pattern"`
	Cells   int    `json:"cells"`   // held cells matching the pattern
	Markers int    `json:"markers"` // forget markers stored
	Purged  int    `json:"purged"`  // cells whose updates below the marker were purged
	Failed  int    `json:"failed,omitempty"`
	Error   string `json:"error,omitempty"`
}

// forgetCell answers DELETE /v1/cells/{cell}: the cell is forgotten
// everywhere (replica.Forget).
func (s *Server) forgetCell(w http.ResponseWriter, r *http.Request) {
	cell := r.PathValue("cell")
	if err := s.held(cell); err != nil {
		s.fail(w, r, cell, err)
		return
	}
	s.forget(w, r, cell)
}

// forgetPattern answers DELETE /v1/cells?match=PATTERN: every held cell
// matching the pattern is forgotten. The pattern is required: a DELETE of
// the collection without it forgets nothing.
func (s *Server) forgetPattern(w http.ResponseWriter, r *http.Request) {
	q, ok := s.query(w, r, "", "match", "reason")
	if !ok {
		return
	}
	match := q.Get("match")
	if match == "" {
		s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, "", errors.New("match: give the pattern of the cells to forget, such as match=tenant.test.> (match=> forgets every cell)"))
		return
	}
	if err := cellname.ValidatePattern(match); err != nil {
		s.writeError(w, r, http.StatusBadRequest, fold.ReasonBadSubject, "", fmt.Errorf("match: %w", err))
		return
	}
	s.forget(w, r, match)
}

func (s *Server) forget(w http.ResponseWriter, r *http.Request, pattern string) {
	ctx, cancel := context.WithTimeout(r.Context(), forgetTimeout)
	defer cancel()
	st, err := s.r.Forget(ctx, pattern, r.URL.Query().Get("reason"))
	out := Forgotten{Pattern: pattern, Cells: st.Cells, Markers: st.Markers, Purged: st.Purged, Failed: st.Failed}
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, out)
	case st.Markers == st.Cells && errors.Is(err, replica.ErrPurgeFailed):
		// Forgotten by every replica; only the stream keeps the updates.
		out.Error = err.Error()
		writeJSON(w, http.StatusOK, out)
	case errors.Is(err, replica.ErrNotReady):
		s.writeError(w, r, http.StatusServiceUnavailable, ReasonUnavailable, pattern, err)
	default:
		s.fail(w, r, pattern, err)
	}
}
