// Package natsapi serves a replica's operations as a NATS service, built
// on nats.go's micro package: any NATS client — the nats command-line tool
// included — applies an operation to a cell with a request,
//
//	nats req dprop.op.jobs.done '{"op":"inc"}'
//
// and every sidecar that holds the cell may answer: the endpoint listens
// in a queue group, so each request reaches one of them. The body is an
// operation as over HTTP (POST /v1/cells/{cell}/ops), the answer the cell
// after it, with the HTTP API's cell headers; an Idempotency-Key header
// makes it exactly once. Errors are micro error answers whose code is the
// HTTP status and whose description starts with the HTTP reason.
// The service is discoverable with `nats micro list`, `info` and `stats`.
package natsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
	"github.com/dprop/dprop/replica/httpapi"
)

// Defaults of Options.
const (
	// Name is the service's name.
	Name = "dprop"
	// QueueGroup is the queue group of the endpoint.
	QueueGroup = "dprop"
	// DefaultTimeout bounds an operation, as httpapi's RefineTimeout.
	DefaultTimeout = httpapi.DefaultRefineTimeout
	// DefaultMaxInFlight bounds the operations served at once.
	DefaultMaxInFlight = 4096
)

// Options configure the service. The zero value of a field means its
// default.
type Options struct {
	// Prefix of the subjects (default "dprop": the endpoint listens on
	// "dprop.op.<cells>").
	Prefix string
	// Cells is the pattern of cells served (default ">": all); it should
	// be the replica's Config.Cells, so that a request reaches only
	// sidecars that hold its cell.
	Cells string
	// Version is the service's version, semantic (default "0.0.0"); a
	// leading "v" is dropped.
	Version string
	// Timeout bounds one operation (default DefaultTimeout).
	Timeout time.Duration
	// MaxInFlight bounds the operations applied at once (default
	// DefaultMaxInFlight); more wait for their turn.
	MaxInFlight int
	// Logger receives the service's logs (default slog.Default()).
	Logger *slog.Logger
}

var semver = regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

func (o *Options) validate() error {
	if o.Prefix == "" {
		o.Prefix = cellname.DefaultPrefix
	}
	if o.Cells == "" {
		o.Cells = ">"
	}
	if err := cellname.ValidatePattern(o.Cells); err != nil {
		return fmt.Errorf("natsapi: cells: %w", err)
	}
	o.Version = strings.TrimPrefix(o.Version, "v")
	if !semver.MatchString(o.Version) {
		o.Version = "0.0.0"
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Subject is the subject of operations on cell under prefix.
func Subject(prefix, cell string) string { return prefix + ".op." + cell }

// Serve starts the service on nc for the replica r and returns it; Stop
// ends it. Call it once the replica is ready, so that requests reach only
// sidecars that can apply them (a replica not ready refuses them, 503).
func Serve(nc *nats.Conn, r *replica.Replica, opts Options) (micro.Service, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	h := &handler{nc: nc, r: r, opts: opts, opPrefix: opts.Prefix + ".op.", slots: make(chan struct{}, opts.MaxInFlight)}
	svc, err := micro.AddService(nc, micro.Config{
		StatsHandler: h.stats,
		Name:         Name,
		Version:      opts.Version,
		Description:  "dprop operations on cells: inc, dec, add, remove, clear, set, enable, update, refine (docs/api.md)",
		QueueGroup:   QueueGroup,
		Metadata:     map[string]string{"writer": r.WriterID(), "cells": opts.Cells},
	})
	if err != nil {
		return nil, fmt.Errorf("natsapi: %w", err)
	}
	err = svc.AddEndpoint("op", micro.HandlerFunc(h.serve),
		micro.WithEndpointSubject(Subject(opts.Prefix, opts.Cells)),
		micro.WithEndpointQueueGroup(QueueGroup),
		micro.WithEndpointMetadata(map[string]string{"body": `{"op":"inc","by":1}`, "headers": httpapi.HeaderIdempotencyKey}))
	if err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("natsapi: %w", err)
	}
	// Return once the server has the endpoint's subscription, so that a
	// request sent right after (from another connection) finds a
	// responder. A connection that is down has it on reconnecting.
	if nc.IsConnected() {
		if err := nc.FlushTimeout(5 * time.Second); err != nil {
			opts.Logger.Warn("operations service: the server did not confirm its subscription yet", "err", err)
		}
	}
	return svc, nil
}

type handler struct {
	nc       *nats.Conn
	r        *replica.Replica
	opts     Options
	opPrefix string // Prefix + ".op."
	// slots holds a token per operation being applied (MaxInFlight).
	slots chan struct{}

	// What micro's own statistics cannot see, since requests are answered
	// after its handler returned: operations answered, errors among them,
	// and their total time.
	answered, failed atomic.Uint64
	took             atomic.Int64 // nanoseconds
}

// Stats are the service's own statistics of operations, the "data" of
// `nats micro stats dprop --json`. micro's Requests counts the requests
// received; its Errors and Processing Time see only the hand-over to a
// goroutine, so these are the ones to read.
type Stats struct {
	Operations uint64  `json:"operations"`
	Errors     uint64  `json:"errors"`
	AverageMS  float64 `json:"average_ms"`
	InFlight   int     `json:"in_flight"`
}

func (h *handler) stats(*micro.Endpoint) any {
	n := h.answered.Load()
	st := Stats{Operations: n, Errors: h.failed.Load(), InFlight: len(h.slots)}
	if n > 0 {
		st.AverageMS = float64(h.took.Load()) / float64(n) / 1e6
	}
	return st
}

// serve is called by micro for each request, one at a time per
// endpoint. It only queues the operation (replica.ApplyFunc), so that
// operations on one cell are applied together and one slow cell does not
// hold the others, and the replica answers from the goroutine that
// applied it, the answers of one update one after another: they leave in
// one write instead of one each (on this 2-core VM a socket write costs
// 20–30 µs), and no goroutine per request is woken or started (one grew
// its stack from the smallest size on every operation).
func (h *handler) serve(req micro.Request) {
	h.slots <- struct{}{} // freed once answered
	h.apply(req)
}

// apply applies the operation of req; the answer is sent when the
// replica answers, or after Timeout, whichever comes first.
func (h *handler) apply(req micro.Request) {
	a := &answer{h: h, req: req, start: time.Now()}
	cell, ok := strings.CutPrefix(req.Subject(), h.opPrefix)
	if !ok {
		h.fail(req, "", fmt.Errorf("subject %q is not %s.op.CELL", req.Subject(), h.opts.Prefix))
		a.finish()
		return
	}
	a.cell = cell
	key := req.Headers().Get(httpapi.HeaderIdempotencyKey)
	if len(key) > httpapi.MaxIdempotencyKey {
		h.failWith(req, cell, 400, httpapi.ReasonBadParameter, fmt.Errorf("%s longer than %d bytes", httpapi.HeaderIdempotencyKey, httpapi.MaxIdempotencyKey))
		a.finish()
		return
	}
	opts := []replica.RefineOption{replica.WithIdempotencyKey(key)}
	if strings.EqualFold(req.Headers().Get("Prefer"), httpapi.PreferLogAck) {
		opts = append(opts, replica.WithLogAck())
	}
	a.timer = time.AfterFunc(h.opts.Timeout, a.timeout)
	h.r.ApplyJSONFunc(cell, req.Data(), a.done, opts...)
}

// answer is one request's answer, sent once.
type answer struct {
	h     *handler
	req   micro.Request
	cell  string
	start time.Time
	timer *time.Timer // set before the operation is applied
	sent  atomic.Bool
}

// done answers with what the replica answered (replica.ApplyFunc).
func (a *answer) done(c fold.Cell, rep replica.RefineReport, err error) {
	if !a.sent.CompareAndSwap(false, true) {
		return
	}
	a.timer.Stop()
	if err != nil {
		a.h.fail(a.req, a.cell, err)
	} else {
		a.h.respond(a.req, a.cell, c, rep)
	}
	a.finish()
}

// timeout answers that the replica did not answer within Timeout.
func (a *answer) timeout() {
	if !a.sent.CompareAndSwap(false, true) {
		return
	}
	a.h.fail(a.req, a.cell, fmt.Errorf("apply %q: %w (the operation may still take effect; retrying with the same idempotency key applies it once)", a.cell, context.DeadlineExceeded))
	a.finish()
}

func (a *answer) finish() {
	a.h.answered.Add(1)
	a.h.took.Add(int64(time.Since(a.start)))
	<-a.h.slots
}

// respond answers with the cell, its state in headers.
func (h *handler) respond(req micro.Request, cell string, c fold.Cell, rep replica.RefineReport) {
	hdr := micro.Headers{
		httpapi.HeaderSeq:     {strconv.FormatUint(c.Seq, 10)},
		httpapi.HeaderUpdates: {strconv.FormatUint(c.Updates, 10)},
		httpapi.HeaderType:    {c.Type},
		"ETag":                {c.ETag},
	}
	if rep.Duplicate {
		hdr[httpapi.HeaderDuplicate] = []string{"true"}
	}
	if rep.Pending {
		hdr[httpapi.HeaderOutbox] = []string{strconv.Itoa(rep.PendingUpdates)}
	}
	if rep.Unfolded {
		hdr[httpapi.HeaderFolded] = []string{"false"}
	}
	if c.Pending > 0 {
		hdr[httpapi.HeaderPending] = []string{strconv.Itoa(c.Pending)}
	}
	if err := h.send(req, hdr, lattice.Encode(c.Value)); err != nil {
		h.opts.Logger.Debug("natsapi: answer not sent", "cell", cell, "err", err)
	}
}

// send publishes an answer to req's reply subject. It does not go through
// req.Respond or req.Error: those record a failure in the request, which
// micro reads once its handler returned, and the answer is sent later,
// from the replica's goroutine (a data race).
func (h *handler) send(req micro.Request, hdr micro.Headers, data []byte) error {
	if req.Reply() == "" {
		return nil // a publish, not a request: nobody waits for an answer
	}
	return h.nc.PublishMsg(&nats.Msg{Subject: req.Reply(), Header: nats.Header(hdr), Data: data})
}

// fail answers err as the HTTP API would: its status as the error code,
// its reason leading the description, the HTTP API's error body as data.
func (h *handler) fail(req micro.Request, cell string, err error) {
	status, reason := httpapi.Classify(err)
	h.failWith(req, cell, status, reason, err)
}

func (h *handler) failWith(req micro.Request, cell string, status int, reason string, err error) {
	h.failed.Add(1)
	if status >= 500 {
		h.opts.Logger.Warn("natsapi: operation failed", "cell", cell, "status", status, "reason", reason, "err", err)
	}
	body, _ := json.Marshal(map[string]string{"error": err.Error(), "reason": reason, "cell": cell})
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	hdr := micro.Headers{micro.ErrorHeader: {reason + ": " + msg}, micro.ErrorCodeHeader: {strconv.Itoa(status)}}
	if rerr := h.send(req, hdr, body); rerr != nil && !errors.Is(rerr, nats.ErrConnectionClosed) {
		h.opts.Logger.Debug("natsapi: error answer not sent", "cell", cell, "err", rerr)
	}
}
