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

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/lattice/op"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/replica/fold"
	"github.com/dprop/dprop/replica/outbox"
)

// Errors returned by the replica's methods.
var (
	// ErrNotHeld: the cell is outside the cells this replica holds
	// (Config.Cells), so it cannot fold it.
	ErrNotHeld = errors.New("cell not held by this replica")
	// ErrNoStream: the stream does not exist.
	ErrNoStream = errors.New("stream not found")
)

// Defaults of Config.
const (
	DefaultStreamCheckEvery = 3 * time.Second
	DefaultPublishTimeout   = 5 * time.Second
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
	// MaxCellBytes bounds the canonical encoding of one cell's value
	// (default fold.DefaultMaxCellBytes, 512 KiB; at most Limits.MaxBytes):
	// an update whose merge would make a cell larger is refused
	// (fold.ReasonCellTooLarge) and the cell keeps its value. Like Limits,
	// it decides which updates count: every replica of a stream, and every
	// compactor, must use the same value, or their cells could differ.
	MaxCellBytes int
	// Trust is the trust policy: whose updates count on which cells
	// (fold.Trust; nil for none, where every update counts, signed or
	// not). Like Limits it decides which updates count: every replica of
	// a stream, and every compactor and replay, must fold with the same
	// policy, or their cells could differ. Readers compare its Hash.
	Trust *fold.Trust
	// NetworkDeclarations, if set, reads the cell declarations of the
	// networks kept in the log (the cells under fold.NetworkCells) as the
	// fold folds them, and a cell not yet typed takes the first that
	// matches, in stream order (fold.Limits.Networks);
	// network.LogDeclarations is the one dprop uses. Like Limits it
	// decides which updates count: every replica of a stream, and every
	// compactor and replay, must fold with it, and hold the network
	// cells, or their cells could differ.
	NetworkDeclarations func(lattice.Value) fold.Declarations
	// SignKey, if set, signs what this replica publishes: refines that
	// carry no signature of their own (WithSignature), its propagators'
	// refinements and its network's initial values, and its compaction's
	// messages. Its public key must be a user NKey (U...).
	SignKey Signer
	// WriterID is the writer the replica's operations (Apply) write
	// under: a UUID, kept by the caller across restarts (LoadWriterID);
	// default a fresh one. No two running replicas may share it.
	WriterID string
	// Origin is the value of the Dprop-Origin header on this replica's
	// publishes (default the WriterID).
	Origin string
	// Logger receives the replica's logs (default slog.Default()).
	Logger *slog.Logger
	// Progress, if set, is called during the resync every ProgressEvery
	// and once when ready, from one goroutine. It must not block.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// SnapshotPath, if set, is the replica's local snapshot: loaded at
	// start, written every SnapshotEvery (default one minute; negative:
	// only at Close) when something changed, and at Close.
	SnapshotPath  string
	SnapshotEvery time.Duration
	// PublishTimeout bounds the wait for JetStream's acknowledgement of a
	// refine (default DefaultPublishTimeout): past it the refine fails, and
	// may be retried with the same idempotency key.
	PublishTimeout time.Duration
	// OutboxPath, if set, is the replica's outbox (package outbox): a
	// refine (a propagator's refinement included) that the log cannot
	// acknowledge within OutboxAfter (default DefaultOutboxAfter; at
	// once without a connection) is synced there, merged into what the
	// replica shows, answered as pending (RefineReport.Pending), and
	// delivered once the log is reachable. OutboxMaxBytes bounds it
	// (0: unbounded); a refine that finds it full fails with
	// ErrOutboxFull.
	//
	// OutboxAfter also bounds, with or without an outbox, how long a
	// refine the log acknowledged waits for this replica to fold it:
	// past it the update is merged into what the replica shows, marked
	// pending until the fold passes it, and answered
	// (RefineReport.Unfolded).
	OutboxPath     string
	OutboxMaxBytes int64
	OutboxAfter    time.Duration
	// StreamCheckEvery is how often the replica checks that its stream is
	// still there and the same (default DefaultStreamCheckEvery): a stream
	// deleted, created anew or purged behind its back is noticed within
	// about this long (at once when its consumer reports the deletion).
	StreamCheckEvery time.Duration
	// Expire forgets, as Forget does, the held cells that match a rule's
	// pattern and that no update has refined for its TTL (the first rule
	// that matches a cell decides). Publishing the forget markers and
	// purging need the admin role. See expireLoop.
	Expire []ExpireRule
	// CompactEvery, if positive, compacts every held cell about this often
	// (see Compact), once the replica is ready. Off by default.
	CompactEvery time.Duration
	// Propagators run in this replica once it is ready, woken by every real
	// change of their inputs (local or remote). Their outputs must be held
	// by the replica. Initial values (a network's constants) are refined
	// first; a cell that already knows them does not change.
	Propagators       []propagators.Propagator
	Initial           map[string]lattice.Value
	PropagatorWorkers int                     // default: the runtime's
	OnPropagatorEvent func(propagators.Event) // failures; must not block
	// LiveNetworks makes the replica run networks that change: Networks
	// at start, then SetNetwork and RemoveNetwork while it runs (see
	// networks.go). Their templates make a propagator per matching cell,
	// and shared networks are split among the live replicas that run them
	// (see members.go): each announces itself every Heartbeat (default
	// 1s) and is taken for dead after MemberTimeout without one (default
	// three heartbeats). Origin identifies the replica among them.
	LiveNetworks  bool
	Networks      []Network
	Heartbeat     time.Duration
	MemberTimeout time.Duration
	// OnChange, if set, is called synchronously for every real change of a
	// cell (a forget included: Event.Forgotten), in stream order, before a
	// Refine waiting for that change returns. It must be quick; while it
	// runs, folding waits.
	OnChange func(Event)
}

func (c *Config) validate() error {
	if c.Conn == nil {
		return errors.New("replica: config: Conn is required")
	}
	if c.Prefix == "" {
		c.Prefix = cellname.DefaultPrefix
	}
	if c.Stream == "" {
		c.Stream = cellname.DefaultStream
	}
	if c.Cells == "" {
		c.Cells = ">"
	}
	if err := cellname.ValidatePattern(c.Cells); err != nil {
		return fmt.Errorf("replica: config: cells: %w", err)
	}
	for name, typ := range c.Declared {
		if err := cellname.Validate(name); err != nil {
			return fmt.Errorf("replica: config: declared: %w", err)
		}
		if !lattice.Known(typ) {
			return fmt.Errorf("replica: config: declared cell %q has unknown type %q", name, typ)
		}
	}
	if c.MaxCellBytes < 0 {
		return fmt.Errorf("replica: config: max cell bytes %d: want 0 (the default) or more", c.MaxCellBytes)
	}
	if n := c.foldLimits().CellLimit(); c.MaxCellBytes > n {
		return fmt.Errorf("replica: config: max cell bytes %d is above the largest update (%d bytes): "+
			"a cell that large could not be compacted or restored as one update", c.MaxCellBytes, n)
	}
	if c.WriterID == "" {
		c.WriterID = uuid.NewString()
	} else if _, err := uuid.Parse(c.WriterID); err != nil {
		return fmt.Errorf("replica: config: writer id %q: want a UUID: %w", c.WriterID, err)
	}
	if c.Origin == "" {
		c.Origin = c.WriterID
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = time.Second
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = time.Minute
	}
	if c.StreamCheckEvery <= 0 {
		c.StreamCheckEvery = DefaultStreamCheckEvery
	}
	for _, e := range c.Expire {
		if err := cellname.ValidatePattern(e.Cells); err != nil {
			return fmt.Errorf("replica: config: expire: %w", err)
		}
		if e.TTL <= 0 {
			return fmt.Errorf("replica: config: expire %s: the TTL must be positive, not %v", e.Cells, e.TTL)
		}
	}
	if c.OutboxAfter <= 0 {
		c.OutboxAfter = DefaultOutboxAfter
	}
	if c.OutboxMaxBytes < 0 {
		return errors.New("replica: config: OutboxMaxBytes is negative")
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if len(c.Networks) > 0 {
		c.LiveNetworks = true
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = time.Second
	}
	if c.MemberTimeout <= 0 {
		c.MemberTimeout = 3 * c.Heartbeat
	}
	return nil
}

// foldLimits are the limits the replica's fold applies, trust policy
// included.
func (c *Config) foldLimits() fold.Limits {
	return fold.Limits{Update: c.Limits, MaxCellBytes: c.MaxCellBytes, Trust: c.Trust, Networks: c.NetworkDeclarations}
}

// headerRoom is what dprop leaves for the headers of a message whose
// payload is a cell's whole value (a compaction's join, a restore): such a
// value and its headers must fit the broker's maximum payload.
const headerRoom = 1024

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
	// Attached reports whether the replica's consumer is attached to its
	// stream (until it is, Target and Fraction mean nothing yet).
	Attached bool
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
//
// # Locks
//
// Three locks, always taken in this order, never the other way round:
//
//  1. mu, the fold lock: held (for writing) while a message is folded and
//     its change announced (to the propagators, and queued for the
//     watchers), so a reader holding it sees a state and every
//     announcement of it, or neither.
//  2. the watchers' queue lock, a leaf: under mu the fold queues its
//     changes for the watchers and Watch registers one. The dispatcher
//     pushes the changes to the watchers without mu, under the watchers'
//     index lock and then a Watcher's own lock (watch.go); none of these
//     ever blocks.
//  3. waitMu, guarding the Refine calls that wait for their sequence to be
//     folded; wake takes it after the fold releases mu.
//
// The propagator runtime's lock comes after mu as well: the fold calls
// Runtime.Changed, which never blocks, under mu. The refusal log's lock is
// a leaf: taken with no other held, nothing taken under it; so is ngMu
// (the nogoods recorder's cells to look at, nogoods.go). Nothing that
// may block (a JetStream request, a callback of the caller's) runs under
// mu, except Config.OnChange, which is documented to be quick.
//
// # Lifetime
//
// Everything a replica does in the background derives from one context,
// cancelled by Close; Close then waits for every goroutine to return.
type Replica struct {
	cfg      Config
	log      *slog.Logger
	js       jetstream.JetStream
	jsLeader nats.JetStreamContext // for reads the stream's leader must answer
	subjects cellname.Subjects
	filter   string
	started  time.Time
	signPub  string // Config.SignKey's public key; "" without one

	// ctx is the replica's lifetime: cancelled by Close.
	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup // the background goroutines
	once   sync.Once      // Close

	mu            sync.RWMutex // the fold lock; see Locks
	core          *fold.Core
	startAt       uint64                   // the sequence the current resync started after
	cons          jetstream.ConsumeContext // nil while not attached to the stream
	gen           uint64                   // the current attachment's generation
	streamCreated time.Time                // of the stream followed
	snap          snapState
	lastIncident  string
	// resyncRefused counts the refusals met during the resync, by cell and
	// reason: logged as a sum once caught up, they do not make a live
	// refusal of the same kind look like a repeat.
	resyncRefused map[string]map[string]uint64

	watchers watchers    // has its own lock; see Locks
	refusals *refusalLog // has its own lock, taken last

	waitMu       sync.Mutex // see Locks
	waiters      []*waiter
	done         uint64           // last sequence folded and announced
	refusedAt    map[uint64]error // recent refusals, by sequence
	refusedOrder []uint64

	target     atomic.Uint64
	pending    atomic.Uint64
	ready      chan struct{}
	isReady    atomic.Bool
	catchingUp atomic.Bool // a resync (the first, or after re-attaching) is under way
	confirming atomic.Bool // the end of a resync is being confirmed (consume.go's confirm)
	stale      atomic.Bool // answers may lag behind the stream
	lost       atomic.Bool // the stream was found missing
	// reconnected: the consumer was detached because the connection came
	// back from an outage (link.go's reattach), for attach to say so.
	reconnected atomic.Bool
	// The connection's state for the refine path (connstate.go).
	connOK         atomic.Bool
	connMaxPayload atomic.Int64

	// The link to the stream (link.go): checkNow asks for a check at once;
	// problem says why the replica is not attached; purgeSeen is used by
	// the link goroutine only.
	checkNow  chan struct{}
	problem   atomic.Pointer[linkProblem]
	incidents map[string]*atomic.Uint64 // by kind; the map is fixed at Start
	checks    atomic.Uint64
	size      atomic.Pointer[streamSize] // as of the latest check

	lastCompaction atomic.Pointer[Compaction] // the latest compaction message folded
	purgeSeen      string

	// The outbox (deliver.go), nil without Config.OutboxPath, and the
	// pending view (pending.go, guarded by mu): the outbox's updates and
	// those the log acknowledged before the fold passed them; always
	// there. lastFolded is the last sequence folded (guarded by mu).
	ob                   *outbox.Outbox
	pend                 *pendingSet
	obWake               chan struct{}
	obTaken, obDelivered atomic.Uint64
	obLastErr            atomic.Value // string
	obTorn               int64
	obTornFile           string
	obSalvaged           int
	lastFolded           uint64

	// ops are the cells' queues of operations (apply.go); opKeys the
	// index of their idempotency keys, guarded by mu; dupWin the stream's
	// duplicate window in nanoseconds (0: not known yet).
	ops    opQueues
	opKeys opKeyIndex
	dupWin atomic.Int64

	rt          *propagators.Runtime // nil without propagators
	nets        *netManager          // nil without LiveNetworks
	ngWake      chan struct{}        // wakes the nogoods recorder (nogoods.go); nil without one
	ngMu        sync.Mutex           // guards ngAll and ngDirty
	ngAll       bool                 // the recorder is to look at every supported cell
	ngDirty     map[string]bool      // the supported cells the recorder is to look at
	initialDone chan struct{}        // closed once the network's initial values are folded
}

type waiter struct {
	seq  uint64
	done chan error
}

// Start starts a replica and returns at once; the resync runs in the
// background and Ready tells when it is complete. ctx bounds Start's own
// work only; the replica runs until Close.
//
// With Config.SnapshotPath, Start first loads the local snapshot, if there
// is a usable one, and replays only what came after it; until the replica
// has caught up it serves the snapshot's state and Stale reports true. A
// corrupt, truncated or foreign snapshot is reported, set aside, and the
// replica replays the whole stream instead.
//
// If the broker cannot be reached, or the stream does not exist yet, the
// replica logs why and keeps trying until Close.
func Start(ctx context.Context, cfg Config) (*Replica, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var signPub string
	if cfg.SignKey != nil {
		pub, err := checkSigner(cfg.SignKey)
		if err != nil {
			return nil, fmt.Errorf("replica: config: %w", err)
		}
		signPub = pub
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("replica: jetstream: %w", err)
	}
	// The older API still reads a message from the stream's leader where
	// the newer one reads directly from any replica of the stream.
	jsLeader, err := cfg.Conn.JetStream()
	if err != nil {
		return nil, fmt.Errorf("replica: jetstream: %w", err)
	}
	r := &Replica{
		cfg:         cfg,
		log:         cfg.Logger,
		js:          js,
		jsLeader:    jsLeader,
		subjects:    cellname.NewSubjects(cfg.Prefix),
		started:     time.Now(),
		signPub:     signPub,
		ready:       make(chan struct{}),
		initialDone: make(chan struct{}),
		checkNow:    make(chan struct{}, 1),
		incidents:   make(map[string]*atomic.Uint64, len(IncidentKinds)),
		core:        fold.NewCore(cfg.Prefix, cfg.Declared, cfg.foldLimits()),
		refusals:    newRefusalLog(cfg.Logger, refusalWarnEvery, refusalWarnBurst),
	}
	if mp, n := cfg.Conn.MaxPayload(), cfg.foldLimits().CellLimit(); mp > 0 && int64(n+headerRoom) > mp {
		// The broker's limit is no part of the fold (replicas connected to
		// different servers must decide alike), so this is only a warning:
		// compaction will leave the cells it cannot publish.
		cfg.Logger.Warn("the cell size limit is above what the broker takes in one message (less 1 KiB for headers): "+
			"cells near the limit could not be compacted; lower --max-cell-bytes, the same on every replica",
			"max_cell_bytes", n, "max_payload", mp)
	}
	for _, k := range IncidentKinds {
		r.incidents[k] = new(atomic.Uint64)
	}
	r.catchingUp.Store(true)
	// The lifetime keeps ctx's values but not its cancellation.
	r.ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	r.filter = filterOf(r.subjects, cfg.Cells) // updates and forget markers, in stream order
	if cfg.SnapshotPath != "" {
		r.loadSnapshot()
	}
	r.initConnState()
	// The pending view: the outbox's updates, and those the log
	// acknowledged before the fold passed them (holdAcked), with or
	// without an outbox.
	r.pend = newPendingSet()
	if cfg.OutboxPath != "" {
		if err := r.openOutbox(); err != nil {
			r.cancel()
			return nil, err
		}
	}
	if err := r.startNetwork(); err != nil {
		r.cancel()
		if r.ob != nil {
			_ = r.ob.Close()
		}
		return nil, err
	}
	r.startNogoods()
	r.spawn(r.trackConn)
	if r.ob != nil {
		r.spawn(r.drain)
	}
	r.spawn(func() { r.watchers.run(r.ctx) })
	r.spawn(r.link)
	r.spawn(func() { r.refusals.run(r.ctx) })
	if cfg.Progress != nil {
		r.spawn(r.reportProgress)
	}
	if cfg.CompactEvery > 0 {
		r.spawn(r.compactLoop)
	}
	if len(cfg.Expire) > 0 {
		r.spawn(r.expireLoop)
	}
	if cfg.SnapshotPath != "" && cfg.SnapshotEvery > 0 {
		r.spawn(r.snapshotLoop)
	}
	return r, nil
}

// spawn runs fn in a background goroutine that Close waits for; fn must
// return soon after r.ctx ends.
func (r *Replica) spawn(fn func()) {
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		fn()
	}()
}

// Ready is closed once the replica has folded every message that was in the
// stream (for its cells) when it started.
func (r *Replica) Ready() <-chan struct{} { return r.ready }

// IsReady reports whether the resync is complete.
func (r *Replica) IsReady() bool { return r.isReady.Load() }

// Progress reports how far the resync has got.
func (r *Replica) Progress() Progress {
	r.mu.RLock()
	applied, n, start, attached := r.core.LastSeq(), r.core.Len(), r.startAt, r.cons != nil
	r.mu.RUnlock()
	return Progress{Target: r.target.Load(), Start: start, Applied: applied, Pending: r.pending.Load(),
		Ready: r.isReady.Load(), Cells: n, Attached: attached, Elapsed: time.Since(r.started)}
}

// RefineOption qualifies a Refine.
type RefineOption func(*refineOptions)

type refineOptions struct {
	key        string  // see WithIdempotencyKey
	msgID      string  // the Nats-Msg-Id, instead of the key's (Apply)
	opKeys     string  // the Dprop-Op-Keys header (Apply)
	ops        []op.Op // the operations the update was computed from (Apply)
	viaOutbox  bool    // straight into the outbox (Apply; see outboxFirst)
	origin     string
	inputs     []propagators.InputRef // see WithDerivation
	propagator string
	report     *RefineReport
	logAck     bool // see WithLogAck
	// signer and signature, from WithSignature.
	signer, signature string
}

// WithOrigin overrides the Dprop-Origin header (Config.Origin by default).
func WithOrigin(origin string) RefineOption { return func(o *refineOptions) { o.origin = origin } }

// WithDerivation sets the Dprop-Propagator and Dprop-Inputs headers: the
// update is a refinement by d.Propagator from the inputs it read. The
// replica's own propagators' refinements carry them always.
func WithDerivation(d propagators.Derivation) RefineOption {
	return func(o *refineOptions) { o.propagator, o.inputs = d.Propagator, d.Inputs }
}

// WithPropagator sets the Dprop-Propagator header: the update is a
// refinement by that propagator. The replica's own propagators' refinements
// carry it always.
func WithPropagator(name string) RefineOption {
	return func(o *refineOptions) { o.propagator = name }
}

// Refine publishes v as an update of cell, waits for JetStream's
// acknowledgement and for this replica to fold it, and returns the cell as
// it is then (read-your-writes). If the fold has not passed the update
// within Config.OutboxAfter, the update is merged into the pending view
// (marked pending until the fold passes it) and the cell is returned as
// the replica shows it then, with RefineReport.Unfolded. Problems found before publishing (a bad
// name, a type other than the cell's, a cell this replica does not hold, a
// value too large for the limits or, with its headers, for the broker's
// maximum payload, a merge that would make the cell too large, a
// signature that does not verify, an update the trust policy would refuse)
// are returned as a *fold.RefusedError or with ErrNotHeld and nothing is
// published. The update is signed with Config.SignKey unless it carries
// the caller's signature (WithSignature). If the update was refused in
// stream order (another replica fixed the cell's type first), the error is
// that refusal. With
// WithIdempotencyKey, a key that already named another update of the cell
// is refused with ErrKeyReused.
func (r *Replica) Refine(ctx context.Context, cell string, v lattice.Value, opts ...RefineOption) (fold.Cell, error) {
	o := refineOptions{origin: r.cfg.Origin}
	for _, opt := range opts {
		opt(&o)
	}
	if v == nil {
		v = lattice.Nothing{}
	}
	if err := r.check(cell, v); err != nil {
		return fold.Cell{}, err
	}
	if r.lost.Load() {
		return fold.Cell{}, fmt.Errorf("refine %q: %w: %s", cell, ErrStreamLost, r.StreamStatus().Problem)
	}
	payload := lattice.Encode(v)
	if lim := r.limits(); len(payload) > lim.MaxBytes {
		return fold.Cell{}, &fold.RefusedError{Cell: cell, Reason: fold.ReasonTooLarge,
			Err: fmt.Errorf("%w: %d bytes, limit %d", lattice.ErrTooLarge, len(payload), lim.MaxBytes)}
	}
	msg := nats.NewMsg(r.subjects.Subject(cell))
	msg.Data = payload
	if o.origin != "" {
		msg.Header.Set(HeaderOrigin, o.origin)
	}
	if o.propagator != "" {
		msg.Header.Set(HeaderPropagator, o.propagator)
	}
	if len(o.inputs) > 0 {
		msg.Header.Set(HeaderInputs, propagators.FormatInputs(o.inputs))
	}
	if o.key != "" {
		msg.Header.Set(jetstream.MsgIDHeader, idempotencyID(cell, o.key))
	}
	if o.msgID != "" {
		msg.Header.Set(jetstream.MsgIDHeader, o.msgID)
	}
	if o.opKeys != "" {
		msg.Header.Set(HeaderOpKeys, o.opKeys)
	}
	if err := r.authenticate(cell, msg, &o); err != nil {
		return fold.Cell{}, err
	}
	maxPayload := r.maxPayload()
	if n := wireSize(msg); maxPayload > 0 && int64(n) > maxPayload {
		return fold.Cell{}, tooLargeToPublish(cell, n, maxPayload)
	}
	// A refine never hangs: without a connection it fails at once rather
	// than wait in the reconnect buffer, and an acknowledgement that does
	// not come within PublishTimeout (a hung server, a stream without a
	// leader) is given up, safely: retrying with the same idempotency key
	// stores it once.
	//
	// With an outbox, an update the log cannot take in time (no
	// connection, no answer within OutboxAfter) is taken into it instead.
	useOutbox := r.ob != nil && !o.logAck
	if !r.connUpNow() || (useOutbox && o.viaOutbox) {
		if useOutbox {
			return r.takePending(cell, v, msg, &o)
		}
		return fold.Cell{}, fmt.Errorf("refine %q: %w", cell, ErrNotConnected)
	}
	timeout := r.cfg.PublishTimeout
	if useOutbox {
		timeout = min(timeout, r.cfg.OutboxAfter)
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	ack, err := r.js.PublishMsg(pctx, msg)
	cancel()
	if err != nil && lostConnection(err) {
		// The connection went down since trackConn last saw it.
		r.connOK.Store(false)
		if useOutbox {
			return r.takePending(cell, v, msg, &o)
		}
		return fold.Cell{}, fmt.Errorf("refine %q: %w: %w", cell, ErrNotConnected, err)
	}
	if useOutbox && err != nil && ctx.Err() == nil && unavailable(err) {
		r.log.Debug("refine not acknowledged in time; taken into the outbox", "cell", cell, "err", err)
		return r.takePending(cell, v, msg, &o)
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		r.log.Warn("refine not acknowledged in time; answering that it may be retried", "cell", cell, "publish_timeout", timeout)
		return fold.Cell{}, fmt.Errorf("refine %q: not acknowledged by the stream within %v: %w", cell, timeout, err)
	}
	if errors.Is(err, nats.ErrMaxPayload) { // the server reached meanwhile takes less
		return fold.Cell{}, tooLargeToPublish(cell, wireSize(msg), r.cfg.Conn.MaxPayload())
	}
	if err != nil {
		return fold.Cell{}, fmt.Errorf("refine %q: publish: %w", cell, err)
	}
	if testHookPublished != nil {
		testHookPublished(cell, ack.Duplicate)
	}
	// mine: what the log holds under the update's sequence is v (a
	// duplicate of another writer's update of operations is not).
	mine := true
	switch {
	case ack.Duplicate && o.msgID != "":
		own, err := r.sameOps(ctx, cell, o.opKeys, ack.Sequence, msg.Data)
		if err != nil {
			return fold.Cell{}, err
		}
		mine = own
		if o.report != nil {
			defer func() { o.report.own = own }()
		}
	case ack.Duplicate && o.key != "":
		if err := r.sameUpdate(ctx, cell, o.key, ack.Sequence, msg); err != nil {
			return fold.Cell{}, err
		}
	}
	if o.report != nil {
		*o.report = RefineReport{Seq: ack.Sequence, Duplicate: ack.Duplicate}
	}
	// Read-your-writes waits for the fold at most OutboxAfter: past it
	// (the fold lags, or the broker went away right after acknowledging)
	// the update is held in the pending view until the fold passes its
	// sequence, and answered from that view (holdAcked).
	wctx, cancel := context.WithTimeout(ctx, r.cfg.OutboxAfter)
	err = r.waitFolded(wctx, ack.Sequence)
	cancel()
	if err != nil && mine && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		c := r.holdAcked(cell, v, msg, ack.Sequence)
		if o.report != nil {
			o.report.Unfolded = true
		}
		return c, nil
	}
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		err = r.waitFolded(ctx, ack.Sequence) // what the log holds is not v: only the fold shows it
	}
	if err != nil {
		return fold.Cell{}, fmt.Errorf("refine %q: %w", cell, err)
	}
	c, _ := r.Get(cell)
	return c, nil
}

// holdAcked merges v, the update msg of cell that the log acknowledged at
// stream sequence seq, into the pending view until the fold passes seq,
// announces the change, and returns the cell as the replica now shows it.
func (r *Replica) holdAcked(cell string, v lattice.Value, msg *nats.Msg, seq uint64) fold.Cell {
	r.mu.Lock()
	before, _ := r.viewLocked(cell)
	r.pend.hold(cell, msg.Header.Get(jetstream.MsgIDHeader), msg.Header.Get(HeaderOpKeys), v, seq)
	r.pend.folded(r.lastFolded) // the fold may have passed seq meanwhile
	after, _ := r.viewLocked(cell)
	if after.ETag != before.ETag {
		r.announcePending(after)
	}
	r.mu.Unlock()
	r.log.Debug("refine acknowledged by the log and not folded in time; answered from the pending view",
		"cell", cell, "seq", seq, "wait", r.cfg.OutboxAfter)
	return after
}

// testHookPublished, when set by a test, runs once the log acknowledged a
// refine, before the refine waits for its fold.
var testHookPublished func(cell string, duplicate bool)

// wireSize is what NATS counts against the server's maximum payload: the
// payload and the encoded headers (nats.Msg.Size adds the subject and the
// reply subject to them).
func wireSize(m *nats.Msg) int { return m.Size() - len(m.Subject) - len(m.Reply) }

// tooLargeToPublish is the refusal of an update of n bytes, headers
// included, that the broker would not take: no retry can cure it.
func tooLargeToPublish(cell string, n int, maxPayload int64) error {
	return &fold.RefusedError{Cell: cell, Reason: fold.ReasonTooLarge,
		Err: fmt.Errorf("%w: the update and its headers are %d bytes, the broker takes at most %d", lattice.ErrTooLarge, n, maxPayload)}
}

// RefineJSON decodes data under the replica's limits and refines cell with
// it. Decoding errors are *fold.RefusedError wrapping the lattice error.
func (r *Replica) RefineJSON(ctx context.Context, cell string, data []byte, opts ...RefineOption) (fold.Cell, error) {
	if err := cellname.Validate(cell); err != nil {
		return fold.Cell{}, &fold.RefusedError{Cell: cell, Reason: fold.ReasonBadSubject, Err: err}
	}
	v, err := r.limits().Decode(data)
	if err != nil {
		return fold.Cell{}, &fold.RefusedError{Cell: cell, Reason: fold.ReasonOf(err), Err: err}
	}
	return r.Refine(ctx, cell, v, opts...)
}

// Check reports whether v could refine cell without refusal, as Refine
// checks before publishing: the name, the type, whether the replica holds
// the cell, and whether the merge would make the cell too large. It does
// not weigh who signs (Refine does, once it knows: see CheckSigner). The
// error is a *fold.RefusedError, or wraps ErrNotHeld.
func (r *Replica) Check(cell string, v lattice.Value) error { return r.check(cell, v) }

// CheckThreshold reports whether a threshold read of cell for v (Await)
// makes sense: the name is valid, the replica holds the cell and v fits its
// type. Unlike Check it does not weigh the merge: a threshold is not
// published.
func (r *Replica) CheckThreshold(cell string, v lattice.Value) error {
	r.mu.RLock()
	err := r.core.CheckType(cell, v)
	r.mu.RUnlock()
	if err != nil {
		return err
	}
	return r.checkHeld(cell)
}

func (r *Replica) check(cell string, v lattice.Value) error {
	r.mu.RLock()
	err := r.core.Check(cell, v)
	if err == nil {
		err = r.pend.check(cell, v)
	}
	r.mu.RUnlock()
	if err != nil {
		return err
	}
	return r.checkHeld(cell)
}

func (r *Replica) checkHeld(cell string) error {
	if !cellname.Match(r.cfg.Cells, cell) {
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
func (r *Replica) Get(cell string) (fold.Cell, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.viewLocked(cell)
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
func (r *Replica) Cells(pattern string) []fold.Cell {
	var out []fold.Cell
	r.mu.RLock()
	r.eachView(func(c fold.Cell) bool {
		if pattern == "" || cellname.Match(pattern, c.Name) {
			out = append(out, c)
		}
		return true
	})
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b fold.Cell) int { return strings.Compare(a.Name, b.Name) })
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
	return r.watch(pattern, current, false)
}

// WatchConsequences is Watch for a reader of strongest consequences: a
// change of the worldview (propagators.WorldviewCell) also re-announces
// every supported cell the watcher follows, with its present value, since
// its consequence under the new worldview may differ though its value has
// not. Such an event's Seq is the later of the cell's and the worldview
// change's, so a reader that skips what it has seen by sequence keeps it.
// A re-announcement of a pattern's cells scans the cells held, under the
// fold lock: worldview changes are rare.
func (r *Replica) WatchConsequences(pattern string, current bool) (*Watcher, error) {
	return r.watch(pattern, current, true)
}

func (r *Replica) watch(pattern string, current, consequences bool) (*Watcher, error) {
	if err := cellname.ValidatePattern(pattern); err != nil {
		return nil, err
	}
	w := newWatcher(pattern)
	w.consequences = consequences
	// Holding the fold lock while registering makes "current, then every
	// later change" exact.
	r.mu.RLock()
	r.watchers.add(w)
	if current {
		r.pushCurrent(w)
	}
	r.mu.RUnlock()
	return w, nil
}

// pushCurrent queues the present value of every cell w watches. A watcher
// of one cell looks it up: scanning every cell instead made each threshold
// read cost O(cells) under the fold lock, so 2,000 threshold reads on a
// replica of 200k cells queued ~20 s of scanning, and those abandoned by
// their clients were released only once their turn came. The caller holds
// r.mu.
func (r *Replica) pushCurrent(w *Watcher) {
	push := func(c fold.Cell) {
		if !lattice.IsNothing(c.Value) {
			w.push(Event{Cell: c.Name, Value: c.Value, Type: c.Type, Seq: c.Seq, ETag: c.ETag, Pending: c.Pending})
		}
	}
	if w.exact {
		if c, ok := r.viewLocked(w.pattern); ok {
			push(c)
		}
		return
	}
	r.eachView(func(c fold.Cell) bool {
		if w.matches(c.Name) {
			push(c)
		}
		return true
	})
}

// reannounce queues, for every watcher that follows consequences, the
// present value of each supported cell it watches, after a change of the
// worldview folded at seq. The caller holds r.mu.
func (r *Replica) reannounce(seq uint64) {
	exact, patterns := r.watchers.followers()
	push := func(w *Watcher, c fold.Cell) {
		if _, ok := c.Value.(*lattice.Supported); ok {
			r.watchers.notifyOne(w, Event{Cell: c.Name, Value: c.Value, Type: c.Type, Seq: max(c.Seq, seq), ETag: c.ETag, Pending: c.Pending})
		}
	}
	for _, w := range exact {
		if c, ok := r.viewLocked(w.pattern); ok {
			push(w, c)
		}
	}
	if len(patterns) == 0 {
		return
	}
	r.eachView(func(c fold.Cell) bool {
		for _, w := range patterns {
			if w.matches(c.Name) {
				push(w, c)
			}
		}
		return true
	})
}

// ErrForgotten is returned by Await when the cell it waits on is forgotten
// meanwhile: the threshold no longer means anything for it.
var ErrForgotten = errors.New("the cell was forgotten")

// Await returns the cell once its value is at least as informative as
// threshold (threshold ⊑ value), waiting for updates until ctx ends. This
// is a deterministic read: whichever replica answers, and whenever, the
// answer is ⊒ threshold. A cell that becomes a contradiction is returned
// too, whatever the threshold: it will never hold anything consistent
// again, and the caller should know rather than wait.
func (r *Replica) Await(ctx context.Context, cell string, threshold lattice.Value) (fold.Cell, error) {
	if err := cellname.Validate(cell); err != nil {
		return fold.Cell{}, err
	}
	if err := ctx.Err(); err != nil {
		return fold.Cell{}, fmt.Errorf("await %q: %w", cell, err) // the caller left already
	}
	w, err := r.Watch(cell, true)
	if err != nil {
		return fold.Cell{}, err
	}
	defer w.Close()
	reached := func(v lattice.Value) bool { return lattice.Leq(threshold, v) || lattice.IsContradiction(v) }
	if c, ok := r.Get(cell); ok && reached(c.Value) {
		return c, nil
	}
	for {
		ev, err := w.Next(ctx)
		if err != nil {
			return fold.Cell{}, fmt.Errorf("await %q: %w", cell, err)
		}
		if ev.Forgotten || ev.AfterForget {
			return fold.Cell{}, fmt.Errorf("await %q: %w (at stream sequence %d)", cell, ErrForgotten, ev.Seq)
		}
		if testHookAwait != nil {
			testHookAwait(ev.Value, reached(ev.Value))
		}
		if reached(ev.Value) {
			c, _ := r.Get(cell)
			return c, nil
		}
	}
}

// testHookAwait, when set by a test, hears every value Await weighs and
// whether it reached the threshold.
var testHookAwait func(v lattice.Value, reached bool)

// Close stops folding, releases watchers and waiters, and writes the local
// snapshot if there is one. The NATS connection stays open (it belongs to
// the caller).
func (r *Replica) Close() error {
	var err error
	r.once.Do(func() {
		if r.rt != nil {
			r.rt.Close()
		}
		r.mu.Lock()
		r.cancel()
		if r.cons != nil {
			r.cons.Stop()
		}
		r.mu.Unlock()
		r.watchers.closeAll()
		r.bg.Wait()
		r.refusals.flush()
		if r.cfg.SnapshotPath != "" {
			err = r.saveSnapshot()
		}
		if r.ob != nil {
			if cerr := r.ob.Close(); err == nil {
				err = cerr
			}
		}
		r.log.Info("replica stopped", "applied_seq", r.Progress().Applied)
	})
	return err
}

// Done is closed when the replica is closed.
func (r *Replica) Done() <-chan struct{} { return r.ctx.Done() }
