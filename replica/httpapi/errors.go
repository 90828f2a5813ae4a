package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice/op"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

// Reasons of error answers, besides fold's Reason constants (which say why
// an update or a cell name was refused: bad_subject, malformed_json,
// unknown_type, bad_field, not_finite, invalid_value, too_large, too_deep,
// type_mismatch, cell_too_large, and the trust policy's unsigned,
// bad_signature and untrusted_signer).
const (
	ReasonNotFound      = "not_found"              // 404: no such cell (or route)
	ReasonNotHeld       = "not_held"               // 421: the cell is not held by this replica
	ReasonMethod        = "method_not_allowed"     // 405
	ReasonBadParameter  = "bad_parameter"          // 400: a query parameter or header is invalid
	ReasonKeyReused     = "idempotency_key_reused" // 422: the Idempotency-Key names another update of the cell
	ReasonTimeout       = "timeout"                // 504: a threshold read timed out
	ReasonUnavailable   = "unavailable"            // 503: broker or replica unavailable; retry
	ReasonStreamFull    = "stream_full"            // 503: the stream refused the update for want of room; retry once compaction or an operator made some
	ReasonInternal      = "internal"               // 500: a bug; see the server's log
	ReasonBadOperation  = "bad_operation"          // 400: a malformed operation (POST /v1/cells/{cell}/ops)
	ReasonNotApplicable = "not_applicable"         // 409: an operation that makes no sense for the cell's type or state
	ReasonNotReady      = "not_ready"              // 503: the sidecar has not folded the log yet; retry
	ReasonUnconfirmed   = "unconfirmed"            // 503: the log did not confirm the operation in time; retry with the same key
)

// Reasons of the refusals that protect a sidecar: from web pages (see
// "Browsers and Host" in docs/api.md) and from clients that hold too much
// ("Limits and timeouts").
const (
	ReasonForbiddenOrigin = "forbidden_origin" // 403: a web page of another origin
	ReasonBadHost         = "bad_host"         // 421: a Host the API does not answer to (DNS rebinding)
	ReasonReadTimeout     = "read_timeout"     // 408: the body did not arrive within the read timeout
	ReasonBusy            = "busy"             // 503: too many event streams or threshold reads open; retry
)

// statusClientClosed is the status recorded in metrics and logs (nginx's
// convention) when the client went away before its answer was ready.
const statusClientClosed = 499

// retryAfter is the Retry-After of 503 answers, in seconds.
const retryAfter = "1"

// APIError is an error answer of the API, as the Client returns it.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Message is the server's explanation (or the body, when the answer
	// was not the API's JSON, e.g. from a proxy).
	Message string
	// Cell is the cell concerned, if any.
	Cell string
	// Reason is one of replica's Reason constants or this package's.
	Reason string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("dprop: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// parseAPIError reads an error answer.
func parseAPIError(status int, body []byte) *APIError {
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		return &APIError{Status: status, Message: eb.Error, Cell: eb.Cell, Reason: eb.Reason}
	}
	msg := string(bytes.TrimSpace(body))
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &APIError{Status: status, Message: msg}
}

// Classify maps an error of the replica to the HTTP status and the reason
// the API answers it with. Other interfaces to a replica (the NATS
// service, package natsapi) answer with the same.
func Classify(err error) (status int, reason string) { return classify(err) }

// classify maps an error of the replica to a status and a reason.
func classify(err error) (status int, reason string) {
	var re *fold.RefusedError
	switch {
	case errors.As(err, &re):
		switch re.Reason {
		case fold.ReasonTooLarge, fold.ReasonCellTooLarge:
			return http.StatusRequestEntityTooLarge, re.Reason
		case fold.ReasonTypeMismatch:
			return http.StatusConflict, re.Reason
		case fold.ReasonUnsigned, fold.ReasonUntrustedSigner:
			// Well-formed, and forbidden: the trust policy does not let
			// this writer (or no writer without a signature) refine it.
			return http.StatusForbidden, re.Reason
		}
		return http.StatusBadRequest, re.Reason
	case errors.Is(err, op.ErrBad):
		return http.StatusBadRequest, ReasonBadOperation
	case errors.Is(err, op.ErrNotApplicable):
		return http.StatusConflict, ReasonNotApplicable
	case errors.Is(err, replica.ErrNotReady):
		return http.StatusServiceUnavailable, ReasonNotReady
	case errors.Is(err, replica.ErrUnconfirmed):
		return http.StatusServiceUnavailable, ReasonUnconfirmed
	case errors.Is(err, replica.ErrNotHeld):
		return http.StatusMisdirectedRequest, ReasonNotHeld
	case errors.Is(err, replica.ErrKeyReused):
		return http.StatusUnprocessableEntity, ReasonKeyReused
	case errors.Is(err, replica.ErrOutboxFull):
		return http.StatusServiceUnavailable, ReasonOutboxFull
	case errors.Is(err, cellname.ErrBad):
		return http.StatusBadRequest, fold.ReasonBadSubject
	case replica.IsStreamFull(err):
		// Nothing was stored: a retry is safe, and succeeds once room is
		// made. 503 rather than 507, so that clients that retry 503s
		// (dprop feed) keep the update until then.
		return http.StatusServiceUnavailable, ReasonStreamFull
	}
	// Anything else comes from the broker or a closed replica: publishing
	// failed or timed out, and a retry may succeed.
	return http.StatusServiceUnavailable, ReasonUnavailable
}

// fail answers with the status and reason err maps to.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, cell string, err error) {
	status, reason := classify(err)
	s.writeError(w, r, status, reason, cell, err)
}

// busy answers 503 to a long request over its bound (what: "event
// streams"; flag: the command-line flag that raises max).
func (s *Server) busy(w http.ResponseWriter, r *http.Request, cell, what string, max int, flag string) {
	s.writeError(w, r, http.StatusServiceUnavailable, ReasonBusy, cell,
		fmt.Errorf("too many %s open at once (the limit is %d; the sidecar's %s raises it): retry later", what, max, flag))
}

// writeError writes an error answer and logs it: a 5xx that says something
// is wrong here once at error level (503, the broker away, at warn: many
// alike, and expected to pass; but a full stream at error: it needs an
// operator); 4xx and a threshold read's timeout, which
// are the clients' business, at debug level. A client that has gone away
// gets nothing.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, status int, reason, cell string, err error) {
	if r.Context().Err() != nil && status >= 500 {
		if sw, ok := w.(*statusWriter); ok {
			sw.code = statusClientClosed
		}
		s.log.Debug("client went away", "method", r.Method, "path", r.URL.Path, "cell", cell, "err", err)
		return
	}
	level := slog.LevelDebug
	switch {
	case reason == ReasonTimeout:
		// A threshold read that times out (504) is an answer like any
		// other: the cell has not reached the threshold yet.
	case reason == ReasonStreamFull:
		level = slog.LevelError // it does not pass by itself: an operator must make room
	case status == http.StatusServiceUnavailable:
		level = slog.LevelWarn
	case status >= 500:
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "http request failed", "method", r.Method, "path", r.URL.Path,
		"status", status, "reason", reason, "cell", cell, "err", err)
	writeErrorBody(w, status, reason, cell, err)
}

// writeErrorBody writes an error answer, without cell headers.
func writeErrorBody(w http.ResponseWriter, status int, reason, cell string, err error) {
	h := w.Header()
	for _, k := range []string{"ETag", HeaderSeq, HeaderType, HeaderUpdates, HeaderContradiction, HeaderDuplicate} {
		h.Del(k)
	}
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", retryAfter)
	}
	writeJSON(w, status, errorBody{Error: err.Error(), Cell: cell, Reason: reason})
}

// writeJSON writes v as the JSON body of an answer, without HTML escaping
// (embedded wire values stay byte for byte as they are).
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only the package's own types are encoded here; they always
		// encode. Say so rather than send half a body.
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"encoding the answer failed","reason":"internal"}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
