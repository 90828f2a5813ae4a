package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dprop/dprop/replica"
)

// This file is the API's side of the sidecar's outbox (replica.Config
// .OutboxPath): 202 answers to refines the log could not acknowledge in
// time, the Dprop-Pending mark on what includes them, the Prefer that asks
// for the log's acknowledgement, GET /v1/outbox and the outbox's metrics.

const (
	// HeaderPending is the number of this sidecar's updates of the cell
	// that the answer's value includes and the log's state at this sidecar
	// does not yet: they wait in the sidecar's outbox, or the log has them
	// and the sidecar has not folded them yet (Dprop-Folded); absent when
	// there are none, that is, when the value is the log's.
	HeaderPending = "Dprop-Pending"
	// HeaderOutbox is, on a 202 answer, the number of updates the
	// sidecar's outbox holds, all cells together.
	HeaderOutbox = "Dprop-Outbox"
	// PreferLogAck is the preference (Prefer: ack=log, RFC 7240) of a
	// client that must have the log's acknowledgement: its refine is not
	// taken into the outbox, and fails with 503 when the log cannot take
	// it. The query parameter ack=log says the same.
	PreferLogAck = "ack=log"
)

// ReasonOutboxFull: the log could not take a refine and the sidecar's
// outbox is full (503; --outbox-max-bytes).
const ReasonOutboxFull = "outbox_full"

// wantsLogAck reports whether the refine r asks for the log's
// acknowledgement (Prefer: ack=log, or ?ack=log).
func wantsLogAck(r *http.Request) bool {
	if r.URL.Query().Get("ack") == "log" {
		return true
	}
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.ReplaceAll(strings.TrimSpace(p), " ", ""), PreferLogAck) {
				return true
			}
		}
	}
	return false
}

// OutboxUpdate is one pending update in the body of GET /v1/outbox.
type OutboxUpdate struct {
	ID    uint64          `json:"id"`
	Cell  string          `json:"cell"`
	Added time.Time       `json:"added"`
	Bytes int             `json:"bytes"`
	MsgID string          `json:"msg_id"`
	Value json.RawMessage `json:"value"`
}

// Outbox is the body of GET /v1/outbox, and the outbox part of /readyz
// (without Updates).
type Outbox struct {
	Pending int   `json:"pending"`
	Bytes   int64 `json:"bytes"`
	// OldestAge is how long the oldest pending update has waited, in
	// seconds (0 when none).
	OldestAge float64 `json:"oldest_age_seconds"`
	Taken     uint64  `json:"taken"`
	Delivered uint64  `json:"delivered"`
	// Torn and TornFile: the torn tail set aside at start, if any.
	Torn     int64  `json:"torn_bytes,omitempty"`
	TornFile string `json:"torn_file,omitempty"`
	// Salvaged: records found whole after damage in the middle of the
	// file, which a torn write does not make (see docs/recovery.md).
	Salvaged  int    `json:"salvaged,omitempty"`
	LastError string `json:"last_error,omitempty"`
	// Updates are the pending updates, oldest first (at most limit).
	Updates []OutboxUpdate `json:"updates,omitempty"`
	// More is true when more updates are pending than listed.
	More bool `json:"more,omitempty"`
}

func outboxOf(st replica.OutboxStatus) *Outbox {
	if !st.Enabled {
		return nil
	}
	o := &Outbox{Pending: st.Pending, Bytes: st.Bytes, Taken: st.Taken, Delivered: st.Delivered,
		Torn: st.Torn, TornFile: st.TornFile, Salvaged: st.Salvaged, LastError: st.LastError}
	if !st.Oldest.IsZero() {
		o.OldestAge = time.Since(st.Oldest).Seconds()
	}
	return o
}

// outbox answers GET /v1/outbox[?limit=N]: what the outbox holds (404
// without one).
func (s *Server) outbox(w http.ResponseWriter, r *http.Request) {
	q, ok := s.query(w, r, "", "limit")
	if !ok {
		return
	}
	limit := 1000
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, "", fmt.Errorf("limit %q: want a whole number ≥ 0", raw))
			return
		}
		limit = n
	}
	o := outboxOf(s.r.Outbox())
	if o == nil {
		s.writeError(w, r, http.StatusNotFound, ReasonNotFound, "", fmt.Errorf("this sidecar has no outbox (it has one with --data)"))
		return
	}
	recs := s.r.OutboxUpdates()
	if len(recs) > limit {
		recs, o.More = recs[:limit], true
	}
	o.Updates = make([]OutboxUpdate, 0, len(recs))
	for _, rec := range recs {
		v := json.RawMessage(rec.Payload)
		if !json.Valid(v) {
			v = json.RawMessage("null")
		}
		o.Updates = append(o.Updates, OutboxUpdate{ID: rec.ID, Cell: rec.Cell, Added: rec.Added, Bytes: len(rec.Payload), MsgID: rec.MsgID, Value: v})
	}
	writeJSON(w, http.StatusOK, o)
}

// outboxCollector exports the outbox's state (nothing without one).
type outboxCollector struct{ r *replica.Replica }

var (
	descOutboxPending = prometheus.NewDesc("dprop_outbox_pending",
		"Updates in the sidecar's outbox: taken while the log could not acknowledge them, not delivered yet.", nil, nil)
	descOutboxBytes = prometheus.NewDesc("dprop_outbox_bytes",
		"Bytes the outbox's pending updates take (against --outbox-max-bytes).", nil, nil)
	descOutboxAge = prometheus.NewDesc("dprop_outbox_oldest_age_seconds",
		"How long the oldest pending update has waited (0 when none).", nil, nil)
	descOutboxTaken = prometheus.NewDesc("dprop_outbox_taken_total",
		"Updates taken into the outbox since start.", nil, nil)
	descOutboxDelivered = prometheus.NewDesc("dprop_outbox_delivered_total",
		"Pending updates the log acknowledged since start.", nil, nil)
)

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOutboxPending, descOutboxBytes, descOutboxAge, descOutboxTaken, descOutboxDelivered} {
		ch <- d
	}
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	o := outboxOf(c.r.Outbox())
	if o == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descOutboxPending, prometheus.GaugeValue, float64(o.Pending))
	ch <- prometheus.MustNewConstMetric(descOutboxBytes, prometheus.GaugeValue, float64(o.Bytes))
	ch <- prometheus.MustNewConstMetric(descOutboxAge, prometheus.GaugeValue, o.OldestAge)
	ch <- prometheus.MustNewConstMetric(descOutboxTaken, prometheus.CounterValue, float64(o.Taken))
	ch <- prometheus.MustNewConstMetric(descOutboxDelivered, prometheus.CounterValue, float64(o.Delivered))
}
