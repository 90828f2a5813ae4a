package httpapi

import (
	"context"
	"net/http"
	"time"
)

// checkTimeout bounds each extra readiness check.
const checkTimeout = 5 * time.Second

// healthz answers GET /healthz: 200 while the process serves and its
// replica runs, 503 once the replica is closed.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.r.Done():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "replica closed"})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

// readyz answers GET /readyz: 200 once the replica has resynced, while it
// runs, is attached to its stream, is not stale and every extra check
// passes; 503 otherwise. The body says how
// far the resync has got either way.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	p := s.r.Progress()
	rd := Readiness{Resynced: p.Ready, Applied: p.Applied, Target: p.Target, Pending: p.Pending,
		Cells: p.Cells, Fraction: p.Fraction()}
	select {
	case <-s.r.Done():
		rd.Closed = true
	default:
	}
	rd.Ready = rd.Resynced && !rd.Closed
	if t := s.r.Trust(); t != nil {
		rd.TrustPolicy = t.Hash()
	}
	rd.Signer = s.r.Signer()
	rd.Writer = s.r.WriterID()
	rd.Outbox = outboxOf(s.r.Outbox())
	rd.Worldview = s.worldviewStatus()
	rd.Networks = s.r.Networks()
	ss := s.r.StreamStatus()
	rd.LastIncident = ss.LastIncident
	if ss.Problem != "" {
		rd.Stream = ss.Problem
		rd.StreamSince = ss.Since.UTC().Format(time.RFC3339)
		rd.Ready = false
	}
	if s.opts.Quiescent != nil {
		q := s.opts.Quiescent()
		rd.Quiescent = &q
	}
	st := s.r.Stale() || (s.opts.Stale != nil && s.opts.Stale())
	rd.Stale = &st
	rd.Ready = rd.Ready && !st
	if len(s.opts.Checks) > 0 {
		rd.Checks = make(map[string]string, len(s.opts.Checks))
		for name, check := range s.opts.Checks {
			ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
			err := check(ctx)
			cancel()
			rd.Checks[name] = "ok"
			if err != nil {
				rd.Checks[name] = err.Error()
				rd.Ready = false
			}
		}
	}
	status := http.StatusOK
	if !rd.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, rd)
}
