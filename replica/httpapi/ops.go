package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/dprop/dprop/replica"
)

// applyOp answers POST /v1/cells/{cell}/ops: the body is an operation
// (package lattice/op), which the sidecar turns into a delta under its
// writer id and refines the cell with; the answer is the cell once this
// replica has folded it, as for a refine (202 when the outbox took it).
// An Idempotency-Key makes it exactly once (replica.Apply).
func (s *Server) applyOp(w http.ResponseWriter, r *http.Request) {
	cell := r.PathValue("cell")
	if err := s.held(cell); err != nil {
		s.fail(w, r, cell, err)
		return
	}
	key := r.Header.Get(HeaderIdempotencyKey)
	if len(key) > MaxIdempotencyKey {
		s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, cell,
			fmt.Errorf("%s longer than %d bytes", HeaderIdempotencyKey, MaxIdempotencyKey))
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
	if wantsLogAck(r) {
		opts = append(opts, replica.WithLogAck())
		w.Header().Set("Preference-Applied", PreferLogAck)
	}
	c, err := s.r.ApplyJSON(ctx, cell, body, opts...)
	if err != nil {
		if status, reason := classify(err); status == http.StatusServiceUnavailable && reason != ReasonStreamFull && key != "" {
			err = fmt.Errorf("%w (retrying with the same %s applies it once)", err, HeaderIdempotencyKey)
		}
		s.fail(w, r, cell, err)
		return
	}
	s.writeRefined(w, r, cell, c, report)
}
