package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dprop/dprop/lattice"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Header names dprop sets on the messages it publishes. Replicas never
// depend on them: a plain `nats pub` without headers is folded the same way.
const (
	// HeaderOrigin names the writer of an update (a replica id, or what a
	// client chooses).
	HeaderOrigin = "Dprop-Origin"
)

// DefaultStream is the name of the stream that keeps the update log.
const DefaultStream = "DPROP"

// Errors returned by the replica's methods.
var (
	// ErrNotHeld: the cell is outside the cells this replica holds
	// (Config.Cells), so it cannot fold it.
	ErrNotHeld = errors.New("cell not held by this replica")
	// ErrNoStream: the stream does not exist.
	ErrNoStream = errors.New("stream not found")
)

// Config configures a Replica. The zero value of a field means its default.
type Config struct {
	// Conn is the NATS connection (required). The replica does not close it.
	Conn *nats.Conn
	// Prefix of cell subjects (default "dprop": cell c is "dprop.cell.c").
	Prefix string
	// Stream keeping the update log (default "DPROP"). It must exist.
	Stream string
	// Cells is the pattern of cells this replica holds ("" or ">" for all;
	// "weather.>" for a subtree).
	Cells string
	// Declared fixes the types of cells (from a network file).
	Declared map[string]string
	// Limits bound the decoding of updates (lattice defaults when zero).
	Limits lattice.Limits
	// Origin is the value of the Dprop-Origin header on this replica's
	// publishes (default "replica-" + a random id).
	Origin string
	// Logger receives the replica's logs (default slog.Default()).
	Logger *slog.Logger
	// Progress, if set, is called during the resync every ProgressEvery
	// and once when ready, from one goroutine. It must not block.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// OnChange, if set, is called synchronously for every real change of a
	// cell, in stream order, before a Refine waiting for that change
	// returns. It must be quick and must not block (the propagator runtime
	// marks work here).
	OnChange func(Event)
}

func (c *Config) validate() error {
	if c.Conn == nil {
		return errors.New("replica: config: Conn is required")
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Cells == "" {
		c.Cells = ">"
	}
	if err := ValidatePattern(c.Cells); err != nil {
		return fmt.Errorf("replica: config: cells: %w", err)
	}
	for name, typ := range c.Declared {
		if err := ValidateName(name); err != nil {
			return fmt.Errorf("replica: config: declared: %w", err)
		}
		if !lattice.Known(typ) {
			return fmt.Errorf("replica: config: declared cell %q has unknown type %q", name, typ)
		}
	}
	if c.Origin == "" {
		c.Origin = "replica-" + NewName()[:8]
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = time.Second
	}
	return nil
}

// Progress describes how far a replica's resync has got.
type Progress struct {
	// Target is the stream sequence of the last message (among the held
	// cells) that was in the stream at start; ready once it is folded.
	Target uint64
	// Start is the sequence the replay started after.
	Start uint64
	// Applied is the last stream sequence folded.
	Applied uint64
	// Pending is the number of held-cell messages the server has not yet
	// delivered (the replica's lag behind the stream).
	Pending uint64
	// Ready reports whether the resync is complete.
	Ready bool
	// Cells is the number of cells held.
	Cells int
	// Elapsed since the replica started.
	Elapsed time.Duration
}

// Fraction is the resync's completion in [0, 1].
func (p Progress) Fraction() float64 {
	if p.Ready || p.Target <= p.Start {
		return 1
	}
	return min(1, float64(p.Applied-min(p.Applied, p.Start))/float64(p.Target-p.Start))
}

// Replica holds copies of cells, folds every update from the stream into
// them, and publishes refinements. It is safe for concurrent use.
type Replica struct {
	cfg      Config
	log      *slog.Logger
	js       jetstream.JetStream
	subjects Subjects
	filter   string
	started  time.Time

	mu   sync.RWMutex
	core *Core

	watchers watchers

	waitMu  sync.Mutex
	waiters []*waiter

	target  uint64
	startAt uint64
	pending atomic.Uint64
	ready   chan struct{}
	isReady atomic.Bool

	cons     jetstream.ConsumeContext
	closed   chan struct{}
	closeErr error
	once     sync.Once
}

type waiter struct {
	seq  uint64
	done chan error
}

// Start starts a replica: it replays the stream from the beginning (or after
// startSeq, when the caller restored cells from a snapshot) and then stays
// live on the same ordered consumer. Start returns once the consumer runs;
// Ready tells when the resync is complete.
func Start(ctx context.Context, cfg Config) (*Replica, error) {
	return start(ctx, cfg, nil, 0)
}

func start(ctx context.Context, cfg Config, core *Core, startSeq uint64) (*Replica, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Replica{
		cfg:      cfg,
		log:      cfg.Logger,
		subjects: NewSubjects(cfg.Prefix),
		started:  time.Now(),
		ready:    make(chan struct{}),
		closed:   make(chan struct{}),
		startAt:  startSeq,
	}
	r.filter = r.subjects.Subject(cfg.Cells)
	if core == nil {
		core = NewCore(cfg.Prefix, cfg.Declared, cfg.Limits)
	}
	r.core = core
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("replica: jetstream: %w", err)
	}
	r.js = js
	stream, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("replica: %w: %q (start a broker with `dprop broker`, or provision it)", ErrNoStream, cfg.Stream)
		}
		return nil, fmt.Errorf("replica: stream %q: %w", cfg.Stream, err)
	}
	if r.target, err = lastSeq(ctx, stream, r.filter); err != nil {
		return nil, err
	}
	occ := jetstream.OrderedConsumerConfig{FilterSubjects: []string{r.filter}}
	if startSeq > 0 {
		occ.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		occ.OptStartSeq = startSeq + 1
	}
	cons, err := stream.OrderedConsumer(ctx, occ)
	if err != nil {
		return nil, fmt.Errorf("replica: ordered consumer on %q: %w", r.filter, err)
	}
	r.log.Info("replica starting", "stream", cfg.Stream, "cells", cfg.Cells, "after_seq", startSeq, "target_seq", r.target)
	if r.target <= startSeq {
		r.markReady()
	}
	r.cons, err = cons.Consume(r.handle, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if !errors.Is(err, jetstream.ErrNoHeartbeat) {
			r.log.Warn("replica consumer", "err", err)
		}
	}))
	if err != nil {
		return nil, fmt.Errorf("replica: consume %q: %w", r.filter, err)
	}
	if cfg.Progress != nil {
		go r.reportProgress()
	}
	return r, nil
}

// lastSeq returns the sequence of the last message on filter, 0 if none.
func lastSeq(ctx context.Context, stream jetstream.Stream, filter string) (uint64, error) {
	m, err := stream.GetLastMsgForSubject(ctx, filter)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("replica: last message on %q: %w", filter, err)
	}
	return m.Sequence, nil
}

// handle folds one stream message. The ordered consumer calls it from one
// goroutine, in stream order.
func (r *Replica) handle(msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		r.log.Warn("replica: message without metadata", "subject", msg.Subject(), "err", err)
		return
	}
	seq := meta.Sequence.Stream
	r.mu.Lock()
	res := r.core.Apply(msg.Subject(), seq, msg.Data())
	var ev Event
	if res.Changed {
		st := r.core.cells[res.Cell]
		ev = Event{Cell: res.Cell, Value: res.Value, Type: st.typ, Seq: seq, ETag: formatETag(st.etag)}
	}
	r.mu.Unlock()
	r.pending.Store(meta.NumPending)
	switch {
	case res.Err != nil:
		r.logRefusal(res)
	case res.Changed:
		if r.cfg.OnChange != nil {
			r.cfg.OnChange(ev)
		}
		r.watchers.notify(ev)
	}
	r.wake(seq, res.Err)
	if !r.isReady.Load() && (seq >= r.target || meta.NumPending == 0) {
		r.markReady()
	}
}

func (r *Replica) logRefusal(res Result) {
	var re *RefusedError
	errors.As(res.Err, &re)
	r.mu.RLock()
	n := r.core.refused[refusal{re.Cell, re.Reason}]
	r.mu.RUnlock()
	// The first refusal of a kind per cell is a warning; repeats are
	// counted (see Stats) and logged at debug level only.
	level := slog.LevelDebug
	if n == 1 {
		level = slog.LevelWarn
	}
	r.log.Log(context.Background(), level, "update refused", "cell", re.Cell, "seq", re.Seq, "reason", re.Reason, "err", re.Err)
}

func (r *Replica) markReady() {
	if r.isReady.CompareAndSwap(false, true) {
		close(r.ready)
		p := r.Progress()
		r.log.Info("replica ready", "cells", p.Cells, "applied_seq", p.Applied, "elapsed", p.Elapsed.Round(time.Millisecond))
	}
}

func (r *Replica) reportProgress() {
	t := time.NewTicker(r.cfg.ProgressEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.cfg.Progress(r.Progress())
		case <-r.ready:
			r.cfg.Progress(r.Progress())
			return
		case <-r.closed:
			return
		}
	}
}

// wake releases the Refine calls waiting for sequences up to seq; the one
// waiting for exactly seq learns whether its update was refused.
func (r *Replica) wake(seq uint64, err error) {
	r.waitMu.Lock()
	defer r.waitMu.Unlock()
	if len(r.waiters) == 0 {
		return
	}
	keep := r.waiters[:0]
	for _, w := range r.waiters {
		switch {
		case w.seq == seq:
			w.done <- err
		case w.seq < seq:
			w.done <- nil
		default:
			keep = append(keep, w)
		}
	}
	clear(r.waiters[len(keep):])
	r.waiters = keep
}

// waitFolded waits until the stream sequence seq has been folded.
func (r *Replica) waitFolded(ctx context.Context, seq uint64) error {
	r.waitMu.Lock()
	r.mu.RLock()
	done := r.core.LastSeq() >= seq
	r.mu.RUnlock()
	if done {
		r.waitMu.Unlock()
		return nil
	}
	w := &waiter{seq: seq, done: make(chan error, 1)}
	r.waiters = append(r.waiters, w)
	r.waitMu.Unlock()
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		r.waitMu.Lock()
		r.waiters = slices.DeleteFunc(r.waiters, func(x *waiter) bool { return x == w })
		r.waitMu.Unlock()
		return fmt.Errorf("waiting for stream sequence %d to be folded: %w", seq, ctx.Err())
	case <-r.closed:
		return ErrClosed
	}
}

// Ready is closed once the replica has folded every message that was in the
// stream (for its cells) when it started.
func (r *Replica) Ready() <-chan struct{} { return r.ready }

// IsReady reports whether the resync is complete.
func (r *Replica) IsReady() bool { return r.isReady.Load() }

// Progress reports how far the resync has got.
func (r *Replica) Progress() Progress {
	r.mu.RLock()
	applied, n := r.core.LastSeq(), r.core.Len()
	r.mu.RUnlock()
	return Progress{Target: r.target, Start: r.startAt, Applied: applied, Pending: r.pending.Load(),
		Ready: r.isReady.Load(), Cells: n, Elapsed: time.Since(r.started)}
}

// RefineOptions qualify a Refine.
type RefineOptions struct {
	// MsgID becomes the Nats-Msg-Id header: JetStream stores a retried
	// publish with the same id once (within the stream's duplicate window).
	MsgID string
	// Origin overrides the Dprop-Origin header.
	Origin string
}

// Refine publishes v as an update of cell, waits for JetStream's
// acknowledgement and for this replica to fold it, and returns the cell as
// it is then (read-your-writes). Problems found before publishing (a bad
// name, a type other than the cell's, a cell this replica does not hold, a
// value too large) are returned as a *RefusedError or with ErrNotHeld and
// nothing is published. If the update was refused in stream order (another
// replica fixed the cell's type first), the error is that refusal.
func (r *Replica) Refine(ctx context.Context, cell string, v lattice.Value, opts ...RefineOptions) (Cell, error) {
	var o RefineOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if v == nil {
		v = lattice.Nothing{}
	}
	if err := r.check(cell, v); err != nil {
		return Cell{}, err
	}
	payload := lattice.Encode(v)
	if lim := r.limits(); len(payload) > lim.MaxBytes {
		return Cell{}, &RefusedError{Cell: cell, Reason: ReasonTooLarge,
			Err: fmt.Errorf("%w: %d bytes, limit %d", lattice.ErrTooLarge, len(payload), lim.MaxBytes)}
	}
	msg := nats.NewMsg(r.subjects.Subject(cell))
	msg.Data = payload
	origin := o.Origin
	if origin == "" {
		origin = r.cfg.Origin
	}
	msg.Header.Set(HeaderOrigin, origin)
	var popts []jetstream.PublishOpt
	if o.MsgID != "" {
		popts = append(popts, jetstream.WithMsgID(o.MsgID))
	}
	ack, err := r.js.PublishMsg(ctx, msg, popts...)
	if err != nil {
		return Cell{}, fmt.Errorf("refine %q: publish: %w", cell, err)
	}
	if err := r.waitFolded(ctx, ack.Sequence); err != nil {
		return Cell{}, fmt.Errorf("refine %q: %w", cell, err)
	}
	c, _ := r.Get(cell)
	return c, nil
}

// RefineJSON decodes data under the replica's limits and refines cell with
// it. Decoding errors are *RefusedError wrapping the lattice error.
func (r *Replica) RefineJSON(ctx context.Context, cell string, data []byte, opts ...RefineOptions) (Cell, error) {
	if err := ValidateName(cell); err != nil {
		return Cell{}, &RefusedError{Cell: cell, Reason: ReasonBadSubject, Err: err}
	}
	v, err := r.limits().Decode(data)
	if err != nil {
		return Cell{}, &RefusedError{Cell: cell, Reason: reasonOf(err), Err: err}
	}
	return r.Refine(ctx, cell, v, opts...)
}

// Check reports whether v could refine cell without refusal, as Refine
// checks before publishing.
func (r *Replica) Check(cell string, v lattice.Value) error { return r.check(cell, v) }

func (r *Replica) check(cell string, v lattice.Value) error {
	r.mu.RLock()
	err := r.core.Check(cell, v)
	r.mu.RUnlock()
	if err != nil {
		return err
	}
	if !Match(r.cfg.Cells, cell) {
		return fmt.Errorf("cell %q: %w (it holds %q)", cell, ErrNotHeld, r.cfg.Cells)
	}
	return nil
}

func (r *Replica) limits() lattice.Limits {
	l := r.cfg.Limits
	if l.MaxBytes <= 0 {
		l.MaxBytes = lattice.DefaultLimits.MaxBytes
	}
	return l
}

// Get returns the cell, and false if no update has reached it yet.
func (r *Replica) Get(cell string) (Cell, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.core.Get(cell)
}

// Value returns the cell's value (Nothing when it has none): the read side
// of the propagator runtime's Cells interface.
func (r *Replica) Value(cell string) lattice.Value {
	c, ok := r.Get(cell)
	if !ok {
		return lattice.Nothing{}
	}
	return c.Value
}

// Type returns the cell's type, or its declared type ("" if neither).
func (r *Replica) Type(cell string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.core.Type(cell)
}

// Cells returns the cells matching pattern ("" for all), sorted by name.
func (r *Replica) Cells(pattern string) []Cell {
	var out []Cell
	r.mu.RLock()
	r.core.Each(func(c Cell) bool {
		if pattern == "" || Match(pattern, c.Name) {
			out = append(out, c)
		}
		return true
	})
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Cell) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Stats are the replica's counters.
type Stats struct {
	Progress
	Folded  uint64                       // updates folded
	Refused map[string]map[string]uint64 // cell → reason → count
}

// Stats returns the replica's counters.
func (r *Replica) Stats() Stats {
	p := r.Progress()
	r.mu.RLock()
	defer r.mu.RUnlock()
	return Stats{Progress: p, Folded: r.core.Folded(), Refused: r.core.Refused()}
}

// Watch returns a watcher of the cells matching pattern (a cell name, or a
// pattern with "*" and ">"). The cells need not exist yet. With current, the
// watcher first receives the present value of every matching cell; no change
// between that and the live events is missed or repeated.
func (r *Replica) Watch(pattern string, current bool) (*Watcher, error) {
	if err := ValidatePattern(pattern); err != nil {
		return nil, err
	}
	w := newWatcher(pattern)
	// Holding the fold lock while registering makes "current, then every
	// later change" exact.
	r.mu.RLock()
	r.watchers.add(w)
	if current {
		r.core.Each(func(c Cell) bool {
			if w.matches(c.Name) && !lattice.IsNothing(c.Value) {
				w.push(Event{Cell: c.Name, Value: c.Value, Type: c.Type, Seq: c.Seq, ETag: c.ETag})
			}
			return true
		})
	}
	r.mu.RUnlock()
	return w, nil
}

// Await returns the cell once its value is at least as informative as
// threshold (threshold ⊑ value), waiting for updates until ctx ends. This
// is a deterministic read: whichever replica answers, and whenever, the
// answer is ⊒ threshold.
func (r *Replica) Await(ctx context.Context, cell string, threshold lattice.Value) (Cell, error) {
	if err := ValidateName(cell); err != nil {
		return Cell{}, err
	}
	w, err := r.Watch(cell, true)
	if err != nil {
		return Cell{}, err
	}
	defer w.Close()
	if c, ok := r.Get(cell); ok && lattice.Leq(threshold, c.Value) {
		return c, nil
	}
	for {
		ev, err := w.Next(ctx)
		if err != nil {
			return Cell{}, fmt.Errorf("await %q: %w", cell, err)
		}
		if lattice.Leq(threshold, ev.Value) {
			c, _ := r.Get(cell)
			return c, nil
		}
	}
}

// Close stops folding and releases watchers and waiters. The NATS connection
// stays open (it belongs to the caller).
func (r *Replica) Close() error {
	r.once.Do(func() {
		if r.cons != nil {
			r.cons.Stop()
		}
		close(r.closed)
		r.watchers.closeAll()
		r.log.Info("replica stopped", "applied_seq", r.Progress().Applied)
	})
	return r.closeErr
}

// Done is closed when the replica is closed.
func (r *Replica) Done() <-chan struct{} { return r.closed }
