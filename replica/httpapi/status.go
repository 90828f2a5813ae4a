package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/dprop/dprop/replica"
)

// statusTimeout bounds the stream's side of a status answer.
const statusTimeout = 5 * time.Second

// status answers GET /v1/status: the replica and its stream in one look
// (replica.Status). It answers 200 even when the stream cannot be reached:
// the body says so.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), statusTimeout)
	defer cancel()
	writeJSON(w, http.StatusOK, s.r.Status(ctx))
}

// Status returns the sidecar's status (GET /v1/status).
func (c *Client) Status(ctx context.Context) (replica.Status, error) {
	var st replica.Status
	err := c.getJSON(ctx, "/v1/status", url.Values{}, &st)
	return st, err
}
