package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

// reasons are the refusal reasons always exported (at 0 until one occurs),
// so that dashboards and alerts see every series from the start.
var reasons = fold.Reasons()

// durationBuckets span fast reads to long threshold reads (seconds).
var durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

// metrics are the server's own instruments.
type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	authRefused *prometheus.CounterVec
}

// newMetrics registers the HTTP instruments and the replica collector in
// reg (a fresh registry if nil) and returns the gatherer to serve, or nil if
// reg is not one. A registration that fails (say, two servers on one
// registry) is logged and the instrument still works, unexported.
func newMetrics(r *replica.Replica, reg prometheus.Registerer, log *slog.Logger, streams, awaits *slots) (*metrics, prometheus.Gatherer) {
	if reg == nil {
		fresh := prometheus.NewRegistry()
		fresh.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg = fresh
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dprop_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code (499: the client went away).",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dprop_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern and method (event streams: their lifetime).",
			Buckets: durationBuckets,
		}, []string{"route", "method"}),
		authRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dprop_http_auth_refused_total",
			Help: "Requests refused by authentication (401: no_credentials, invalid_token, unknown_certificate) or scopes (403: forbidden). Never labelled with a token or a principal.",
		}, []string{"reason"}),
	}
	for _, reason := range authRefusals {
		m.authRefused.WithLabelValues(reason) // exported at 0 from the start
	}
	streamsGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dprop_http_event_streams",
		Help: "Server-Sent Event streams open now.",
	}, streams.inUse)
	awaitsGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dprop_http_pending_awaits",
		Help: "Threshold reads (GET ?await=) waiting now.",
	}, awaits.inUse)
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.authRefused, streamsGauge, awaitsGauge, &replicaCollector{r: r}, &outboxCollector{r: r}} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				log.Warn("httpapi: metrics already registered; this server's are not exported", "err", err)
				continue
			}
			log.Error("httpapi: registering metrics", "err", err)
		}
	}
	g, _ := reg.(prometheus.Gatherer)
	return m, g
}

// observe records one answered request.
func (m *metrics) observe(route, method string, code int, d time.Duration) {
	method = methodLabel(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}

// methodLabel bounds the method label to the methods HTTP defines.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

func (s *Server) metricsHandler(g prometheus.Gatherer) http.HandlerFunc {
	h := promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: slogPrinter{s.log}})
	return h.ServeHTTP
}

// slogPrinter adapts slog to promhttp's error log.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Error("httpapi: serving metrics", "err", v) }

// replicaCollector exports a replica's counters, read from Replica.Stats at
// scrape time. Refusals are summed over cells: cell names never become
// labels.
type replicaCollector struct{ r *replica.Replica }

var (
	descFolded = prometheus.NewDesc("dprop_updates_folded_total",
		"Updates folded into cells (changing them or not).", nil, nil)
	descRefused = prometheus.NewDesc("dprop_updates_refused_total",
		"Updates refused, by reason, summed over cells.", []string{"reason"}, nil)
	descCells = prometheus.NewDesc("dprop_cells",
		"Cells held by the replica.", nil, nil)
	descFraction = prometheus.NewDesc("dprop_resync_fraction",
		"Completion of the resync, from 0 to 1.", nil, nil)
	descPending = prometheus.NewDesc("dprop_resync_pending",
		"Messages of the replica's cells in the stream not yet delivered to it: its lag behind the stream.", nil, nil)
	descReady = prometheus.NewDesc("dprop_ready",
		"1 once the replica has resynced, else 0.", nil, nil)
	descStale = prometheus.NewDesc("dprop_stale",
		"1 while the replica's answers may lag behind the stream (resyncing, cut off from the broker, catching up, its stream missing), else 0.", nil, nil)
	descApplied = prometheus.NewDesc("dprop_applied_sequence",
		"Stream sequence of the last message folded.", nil, nil)
	descFires = prometheus.NewDesc("dprop_propagator_runs_total",
		"Propagator runs.", nil, nil)
	descPublished = prometheus.NewDesc("dprop_propagator_refinements_total",
		"Refinements published by propagators.", nil, nil)
	descSuppressed = prometheus.NewDesc("dprop_propagator_suppressed_total",
		"Propagator refinements not published because they added nothing.", nil, nil)
	descFailures = prometheus.NewDesc("dprop_propagator_failures_total",
		"Failed propagator runs and refinements, by kind (error or panic).", []string{"kind"}, nil)
	descAttached = prometheus.NewDesc("dprop_stream_attached",
		"1 while the replica's consumer is attached to its stream, else 0 (not yet, or the stream was deleted).", nil, nil)
	descIncidents = prometheus.NewDesc("dprop_stream_incidents_total",
		"Stream incidents noticed by the replica, by kind: deleted, replaced (created anew), purged.", []string{"kind"}, nil)
	descStreamBytes = prometheus.NewDesc("dprop_stream_bytes",
		"Size of the stream, as of the replica's latest check of it (every few seconds).", nil, nil)
	descStreamMaxBytes = prometheus.NewDesc("dprop_stream_max_bytes",
		"The stream's byte limit (0: none). A full stream refuses refines (503 stream_full) until compaction or an operator makes room.", nil, nil)
	descInstances = prometheus.NewDesc("dprop_template_instances",
		"Instances of a template of a live network: known (one per binding of its captures seen in the cells) and running here.",
		[]string{"network", "template", "state"}, nil)
	descMembers = prometheus.NewDesc("dprop_network_members",
		"Live replicas (this one included) that share a network's propagators.", []string{"network"}, nil)
	descQuiescent = prometheus.NewDesc("dprop_quiescent",
		"1 when no propagator has work queued or running and no refinement is in flight, else 0.", nil, nil)
	descTrust = prometheus.NewDesc("dprop_trust_policy_info",
		"Always 1; hash is the SHA-256 of the canonical trust policy the replica folds with (\"none\" without one). "+
			"Replicas of a stream with different hashes may refuse different updates.", []string{"hash"}, nil)
)

// Describe implements prometheus.Collector.
func (c *replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFolded, descRefused, descCells, descFraction, descPending, descReady, descStale, descApplied,
		descFires, descPublished, descSuppressed, descFailures, descQuiescent, descInstances, descMembers, descAttached, descIncidents,
		descStreamBytes, descStreamMaxBytes, descTrust} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *replicaCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.r.Stats()
	byReason := make(map[string]uint64, len(reasons))
	for _, reason := range reasons {
		byReason[reason] = 0
	}
	for _, perCell := range st.Refused {
		for reason, n := range perCell {
			byReason[reason] += n
		}
	}
	for reason, n := range byReason {
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(n), reason)
	}
	ready := 0.0
	if st.Ready {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(descFolded, prometheus.CounterValue, float64(st.Folded))
	ch <- prometheus.MustNewConstMetric(descCells, prometheus.GaugeValue, float64(st.Cells))
	ch <- prometheus.MustNewConstMetric(descFraction, prometheus.GaugeValue, st.Fraction())
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, ready)
	stale := 0.0
	if !st.Ready || c.r.Stale() {
		stale = 1
	}
	ch <- prometheus.MustNewConstMetric(descStale, prometheus.GaugeValue, stale)
	ch <- prometheus.MustNewConstMetric(descApplied, prometheus.GaugeValue, float64(st.Applied))
	ss := c.r.StreamStatus()
	attached := 0.0
	if ss.Attached {
		attached = 1
	}
	ch <- prometheus.MustNewConstMetric(descAttached, prometheus.GaugeValue, attached)
	for kind, n := range ss.Incidents {
		ch <- prometheus.MustNewConstMetric(descIncidents, prometheus.CounterValue, float64(n), kind)
	}
	ch <- prometheus.MustNewConstMetric(descStreamBytes, prometheus.GaugeValue, float64(ss.Bytes))
	ch <- prometheus.MustNewConstMetric(descStreamMaxBytes, prometheus.GaugeValue, float64(ss.MaxBytes))
	ps := c.r.PropagatorStats()
	quiescent := 0.0
	if c.r.Quiescent() {
		quiescent = 1
	}
	ch <- prometheus.MustNewConstMetric(descFires, prometheus.CounterValue, float64(ps.Fires))
	ch <- prometheus.MustNewConstMetric(descPublished, prometheus.CounterValue, float64(ps.Published))
	ch <- prometheus.MustNewConstMetric(descSuppressed, prometheus.CounterValue, float64(ps.Suppressed))
	ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(ps.Failures-ps.Panics), "error")
	ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(ps.Panics), "panic")
	ch <- prometheus.MustNewConstMetric(descQuiescent, prometheus.GaugeValue, quiescent)
	for _, n := range c.r.Networks() {
		if n.Shared {
			ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(len(n.Members)), n.Name)
		}
		for _, t := range n.Templates {
			ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(t.Instances), n.Name, t.Name, "known")
			ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(t.Running), n.Name, t.Name, "running")
		}
	}
	hash := "none"
	if t := c.r.Trust(); t != nil {
		hash = t.Hash()
	}
	ch <- prometheus.MustNewConstMetric(descTrust, prometheus.GaugeValue, 1, hash)
}
