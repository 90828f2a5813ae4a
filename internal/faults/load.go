package faults

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/httpapi"
)

// Cells the writers write, one of each kind, where the demo's sidecars
// hold them: writer-sidecar and celsius hold weather.>, reader-sidecar
// only weather.boston.temp_c, a range cell (the network file declares it),
// which the test writes directly (nobody writes the Fahrenheit cell, so
// the propagator that derives it stays idle).
var Cells = map[string]string{
	"max":      "weather.faults.max",
	"range":    "weather.boston.temp_c",
	"gcounter": "weather.faults.count",
	"set":      "weather.faults.set",
}

// kinds are the kinds of Cells, in a fixed order.
var kinds = []string{"max", "range", "gcounter", "set"}

// refineTimeout bounds one refine: longer than a sidecar's own 30 s wait
// for JetStream's acknowledgement, so that the sidecar answers first.
const refineTimeout = 40 * time.Second

// endpoint sends one update. It returns the HTTP status of the answer (a
// publisher's PubAck counts as 200; 0: no answer, or a failure without
// one), and an error only for a refusal (4xx): a mistake of the test,
// since every update it makes is valid. 200 and 202 acknowledge the
// update.
type endpoint func(ctx context.Context, u Update, body []byte) (int, error)

// Load writes until stopped: through every sidecar, and through any
// publisher added, one writer per kind of cell it holds, each writing an
// update every interval (after the previous one's answer). Every update is
// recorded in the ledger as attempted before it is sent and as
// acknowledged when it is (by the log, 200, or by the sidecar's outbox,
// 202), and what its answer was and how long it took.
type Load struct {
	name   string
	cl     *Cluster
	led    *Ledger
	every  time.Duration
	serial *atomic.Int64
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	attempted int
	acked     []Update
	ackTimes  map[string][]time.Time // the log's acknowledgements, by endpoint
	accepted  map[string][]time.Time // the outboxes' (202), by endpoint
	answers   []answer
	refused   []string
	conns     []*nats.Conn
	gates     map[string]*sync.RWMutex // by endpoint: see Hold
}

// answer is how an endpoint answered an update sent at a time, and how
// long it took.
type answer struct {
	endpoint string
	sent     time.Time
	took     time.Duration
	status   int  // as endpoint returns it
	probe    bool // a probe's (Probe), which asks for the log's acknowledgement
}

// StartLoad starts writing through every sidecar. name makes the writers'
// counter slots and set elements unique to this load; serial numbers the
// max and range values across loads, so that each write carries new
// information.
func StartLoad(cl *Cluster, led *Ledger, name string, every time.Duration, serial *atomic.Int64) *Load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Load{name: name, cl: cl, led: led, every: every, serial: serial, ctx: ctx, cancel: cancel,
		ackTimes: map[string][]time.Time{}, accepted: map[string][]time.Time{}, gates: map[string]*sync.RWMutex{}}
	for _, s := range cl.Sidecars {
		l.start(s, l.sidecar(s))
	}
	return l
}

// holds reports whether the sidecar or publisher holds the cell of kind
// (a publisher writes every cell).
func (l *Load) holds(endpoint, kind string) bool {
	return l.cl.Held.holds(endpoint, Cells[kind])
}

// AddPublisher adds writers that publish straight to JetStream on nc, as
// `nats pub` would, without a sidecar: JetStream's PubAck is the
// acknowledgement. The load closes nc when it stops.
func (l *Load) AddPublisher(name string, nc *nats.Conn) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	subjects := cellname.NewSubjects(cellname.DefaultPrefix)
	l.mu.Lock()
	l.conns = append(l.conns, nc)
	l.mu.Unlock()
	l.start(name, func(ctx context.Context, u Update, body []byte) (int, error) {
		// A short wait: a publish lost with a leader is given up soon, so
		// that the next one shows when the stream takes writes again.
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := js.Publish(ctx, subjects.Subject(u.Cell), body); err != nil {
			return 0, nil
		}
		return http.StatusOK, nil
	})
	return nil
}

func (l *Load) sidecar(s string, opts ...httpapi.RefineOption) endpoint {
	return func(ctx context.Context, u Update, body []byte) (int, error) {
		c, err := l.cl.Client(s).Refine(ctx, u.Cell, body, opts...)
		var apiErr *httpapi.APIError
		switch {
		case errors.As(err, &apiErr) && apiErr.Status/100 == 4:
			return apiErr.Status, fmt.Errorf("%s refused %s %s: %w", s, u.Cell, body, err)
		case errors.As(err, &apiErr):
			return apiErr.Status, nil
		case err != nil:
			return 0, nil
		case c.Accepted:
			return http.StatusAccepted, nil
		}
		return http.StatusOK, nil
	}
}

// Hold stops the writers of the endpoint once the updates they are
// sending are answered, and returns then; Release lets them go on. Call
// Release before Stop.
func (l *Load) Hold(endpoint string) {
	l.gate(endpoint).Lock()
}

// Release lets the writers of the endpoint go on after Hold.
func (l *Load) Release(endpoint string) {
	l.gate(endpoint).Unlock()
}

func (l *Load) gate(endpoint string) *sync.RWMutex {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.gates[endpoint]
	if g == nil {
		g = &sync.RWMutex{}
		l.gates[endpoint] = g
	}
	return g
}

func (l *Load) start(name string, ep endpoint) {
	gate := l.gate(name)
	for _, kind := range kinds {
		if !l.holds(name, kind) {
			continue
		}
		l.wg.Go(func() {
			slot := l.name + "-" + name
			for n := int64(1); l.ctx.Err() == nil; n++ {
				gate.RLock()
				l.send(l.ctx, name, ep, kind, slot, n, refineTimeout, false)
				gate.RUnlock()
				select {
				case <-l.ctx.Done():
				case <-time.After(l.every):
				}
			}
		})
	}
}

// send makes and sends one update and records what became of it.
func (l *Load) send(ctx context.Context, name string, ep endpoint, kind, slot string, n int64, timeout time.Duration, probe bool) int {
	u, body := l.update(kind, slot, n)
	if err := l.led.Attempt(u); err != nil {
		l.refuse(fmt.Errorf("ledger: %w", err))
		return 0
	}
	l.mu.Lock()
	l.attempted++
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sent := time.Now()
	status, err := ep(ctx, u, body)
	if l.ctx.Err() == nil { // an answer, or the timeout; not the load's stop
		l.mu.Lock()
		l.answers = append(l.answers, answer{endpoint: name, sent: sent, took: time.Since(sent), status: status, probe: probe})
		l.mu.Unlock()
	}
	if err != nil {
		l.refuse(err)
		return status
	}
	how, times := AckLog, l.ackTimes
	switch status {
	case http.StatusOK:
	case http.StatusAccepted:
		how, times = AckOutbox, l.accepted
	default:
		return status
	}
	if err := l.led.Ack(u, how); err != nil {
		l.refuse(fmt.Errorf("ledger: %w", err))
		return 0
	}
	l.mu.Lock()
	l.acked = append(l.acked, u)
	times[name] = append(times[name], time.Now())
	l.mu.Unlock()
	return status
}

// Probe writes once through the sidecar, apart from its writers (which
// may be waiting for answers to writes sent during a fault), to the first
// cell of Cells it holds of a kind that needs no writer of its own (max,
// else range), and reports whether the log acknowledged the write within
// timeout. It asks for the log's acknowledgement (Prefer: ack=log): a
// sidecar's outbox answers 202 at once, which says nothing of whether the
// log takes writes again.
func (l *Load) Probe(sidecar string, timeout time.Duration) bool {
	kind := "max"
	if !l.holds(sidecar, kind) {
		kind = "range"
	}
	return l.send(l.ctx, sidecar, l.sidecar(sidecar, httpapi.WithLogAck()), kind, "", 0, timeout, true) == http.StatusOK
}

// Answers counts the answers, by status (0: none, or a failure without
// one), to the updates its writers (not the probes) sent through the
// endpoint from from to to. Ask once the answers are in.
func (l *Load) Answers(endpoint string, from, to time.Time) map[int]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int]int{}
	for _, a := range l.answers {
		if a.endpoint == endpoint && !a.probe && !a.sent.Before(from) && a.sent.Before(to) {
			out[a.status]++
		}
	}
	return out
}

// SlowestAnswer returns the longest an update through the endpoint that
// was waiting for its answer (acknowledgement, refusal or error) at some
// time from from to to waited, and how many such updates there were:
// with a fault going on, a bound on how long a writer is kept waiting.
// Ask once the answers are in.
func (l *Load) SlowestAnswer(endpoint string, from, to time.Time) (time.Duration, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var longest time.Duration
	n := 0
	for _, a := range l.answers {
		if a.endpoint == endpoint && a.sent.Before(to) && a.sent.Add(a.took).After(from) {
			longest = max(longest, a.took)
			n++
		}
	}
	return longest, n
}

// MedianAnswer returns the median time the endpoint took to answer the
// updates its writers (not the probes) sent from from to to with the
// status given, and how many there were.
func (l *Load) MedianAnswer(endpoint string, status int, from, to time.Time) (time.Duration, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var took []time.Duration
	for _, a := range l.answers {
		if a.endpoint == endpoint && !a.probe && a.status == status && !a.sent.Before(from) && a.sent.Before(to) {
			took = append(took, a.took)
		}
	}
	if len(took) == 0 {
		return 0, 0
	}
	slices.Sort(took)
	return took[len(took)/2], len(took)
}

// update makes the n-th update of a writer of kind; the counter slot and
// the set elements are the writer's own.
func (l *Load) update(kind, slot string, n int64) (Update, []byte) {
	var body string
	switch kind {
	case "max":
		body = fmt.Sprintf(`{"type":"max","value":%d}`, l.serial.Add(1))
	case "range":
		s := l.serial.Add(1)
		body = fmt.Sprintf(`{"type":"range","min":%d,"max":%d}`, -s, s)
	case "gcounter":
		body = fmt.Sprintf(`{"type":"gcounter","counts":{%q:%d}}`, slot, n)
	case "set":
		body = fmt.Sprintf(`{"type":"set","elems":[%q]}`, fmt.Sprintf("%s-%d", slot, n))
	}
	v, err := lattice.Decode([]byte(body))
	if err != nil {
		panic(fmt.Sprintf("faults: the load made an invalid update %s: %v", body, err))
	}
	return Update{Cell: Cells[kind], Value: v}, []byte(body)
}

func (l *Load) refuse(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.refused) < 20 {
		l.refused = append(l.refused, err.Error())
	}
}

// LoadStats are a stopped load's figures.
type LoadStats struct {
	Attempted int
	Acked     []Update
	// ByLog and ByOutbox count the updates acknowledged by the log (200,
	// or a PubAck) and by a sidecar's outbox (202).
	ByLog, ByOutbox int
	// Unavailable counts the 503 answers to the writers (not to the
	// probes, which ask for them).
	Unavailable int
	// Refused are the refusals (4xx) met: mistakes of the test.
	Refused []string
}

// Stop stops the writers, abandoning writes in flight (they count as
// attempted), closes the publishers' connections, and returns the figures.
func (l *Load) Stop() LoadStats {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, nc := range l.conns {
		nc.Close()
	}
	st := LoadStats{Attempted: l.attempted, Acked: l.acked, Refused: l.refused}
	for _, ts := range l.ackTimes {
		st.ByLog += len(ts)
	}
	for _, ts := range l.accepted {
		st.ByOutbox += len(ts)
	}
	for _, a := range l.answers {
		if a.status == http.StatusServiceUnavailable && !a.probe {
			st.Unavailable++
		}
	}
	return st
}

// AcksSince counts the log's acknowledgements (200, PubAck) received
// since t, by sidecar or publisher.
func (l *Load) AcksSince(t time.Time) map[string]int {
	return l.since(l.ackTimes, t)
}

// AcceptedSince counts the outboxes' acknowledgements (202) received
// since t, by sidecar.
func (l *Load) AcceptedSince(t time.Time) map[string]int {
	return l.since(l.accepted, t)
}

func (l *Load) since(times map[string][]time.Time, t time.Time) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for s, ts := range times {
		for i := len(ts) - 1; i >= 0 && ts[i].After(t); i-- {
			out[s]++
		}
	}
	return out
}

// FirstAck returns when the log's first acknowledgement after t came through
// any of the named sidecars or publishers, and false if none has.
func (l *Load) FirstAck(t time.Time, through []string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, name := range through {
		ts := l.ackTimes[name]
		i, _ := slices.BinarySearchFunc(ts, t, func(a, b time.Time) int { return a.Compare(b) })
		for ; i < len(ts); i++ {
			if ts[i].After(t) {
				if first.IsZero() || ts[i].Before(first) {
					first = ts[i]
				}
				break
			}
		}
	}
	return first, !first.IsZero()
}
