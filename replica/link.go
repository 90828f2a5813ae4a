package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/replica/fold"
)

// This file keeps a replica attached to its stream: it finds the stream,
// starts the ordered consumer after the last sequence folded, and checks
// the stream every Config.StreamCheckEvery (and at once when the consumer
// reports trouble) for what an operator or an accident may have done to
// it — deleted it, deleted and created it again, or purged it — so that
// the replica says so, keeps serving what it knows (marked stale), and
// re-attaches by itself when the stream is back.

// Kinds of stream incidents, as counted in StreamStatus.Incidents and in
// dprop_stream_incidents_total.
const (
	// IncidentDeleted: the stream was not found (deleted).
	IncidentDeleted = "deleted"
	// IncidentReplaced: the stream was found created anew (deleted and
	// provisioned again): its sequences mean nothing to the replica's
	// state, which is set aside and rebuilt from the new stream.
	IncidentReplaced = "replaced"
	// IncidentPurged: the stream holds fewer messages than the replica has
	// folded and still holds (a purge, or messages deleted by hand).
	IncidentPurged = "purged"
)

// IncidentKinds lists every kind of stream incident.
var IncidentKinds = []string{IncidentDeleted, IncidentReplaced, IncidentPurged}

// ErrStreamLost is wrapped by a Refine made while the replica's stream is
// missing (deleted): nothing is published, and retrying once the stream is
// back is safe.
var ErrStreamLost = errors.New("the stream is missing")

// ErrNotConnected is wrapped by a Refine made while the replica's NATS
// connection is down: nothing is published; retrying is safe.
var ErrNotConnected = errors.New("not connected to the broker")

// JetStream's error codes for an update refused for want of room.
const (
	// jsStoreFailed: the stream's own limit, with discard new ("maximum
	// bytes exceeded", or messages); the same code covers other storage
	// failures, told apart by their description.
	jsStoreFailed jetstream.ErrorCode = 10077
	// jsInsufficientResources: the servers' store (their JetStream max
	// store) is full.
	jsInsufficientResources jetstream.ErrorCode = 10023
)

// IsStreamFull reports whether err, from Refine, says the stream refused
// the update for want of room: its byte limit reached (it discards new
// updates, never old ones) or its servers' store full. Nothing was
// stored, and a retry succeeds once compaction or an operator makes room.
func IsStreamFull(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case jsStoreFailed:
		return strings.HasPrefix(apiErr.Description, "maximum ") // bytes, messages, messages per subject exceeded
	case jsInsufficientResources:
		return true
	}
	return false
}

// consumeHeartbeat is how often the server tells the replica's consumer it
// is alive when there is nothing to deliver: two missed, and the consumer
// is made again where it was. nats.go's default for ordered consumers is
// 5 s, which made a catch-up after a network cut wait 10 s and more.
const consumeHeartbeat = time.Second

// ErrStreamReplaced is returned to Refine calls that were waiting for their
// update to be folded when the stream was found replaced by a new one: the
// update may be in either, and the replica now follows the new one.
var ErrStreamReplaced = errors.New("the stream was replaced while the update was in flight")

// StreamStatus says how a replica stands with its stream.
type StreamStatus struct {
	// Attached: the replica's consumer is attached to the stream.
	Attached bool
	// Problem says why the replica is not attached, or "" when it is.
	Problem string
	// Since is when the problem began (zero when there is none).
	Since time.Time
	// Created is when the stream the replica follows was created.
	Created time.Time
	// Incidents counts stream incidents by kind (IncidentKinds).
	Incidents map[string]uint64
	// LastIncident describes the latest incident ("" if none).
	LastIncident string
	// Checks counts the checks of the stream made so far.
	Checks uint64
	// Bytes is the stream's size and MaxBytes its byte limit (0: none),
	// as of the latest check (zeros before the first).
	Bytes    uint64
	MaxBytes int64
}

// streamSize is the stream's size and limit, as a check saw them.
type streamSize struct {
	bytes    uint64
	maxBytes int64
}

// linkProblem is why the replica is not attached to its stream.
type linkProblem struct {
	what  string
	since time.Time
}

// attachment is one ordered consumer on the stream. The fold ignores the
// deliveries of an attachment that is not the current one (gen).
type attachment struct {
	gen    uint64
	stream jetstream.Stream
	shape  logShape // the log's shape, as the resync's confirmation last saw it (confirm only, one at a time)
}

// StreamStatus returns how the replica stands with its stream.
func (r *Replica) StreamStatus() StreamStatus {
	st := StreamStatus{Incidents: make(map[string]uint64, len(IncidentKinds))}
	for _, k := range IncidentKinds {
		st.Incidents[k] = r.incidents[k].Load()
	}
	r.mu.RLock()
	st.Attached = r.cons != nil
	st.Created = r.streamCreated
	st.LastIncident = r.lastIncident
	r.mu.RUnlock()
	st.Checks = r.checks.Load()
	if sz := r.size.Load(); sz != nil {
		st.Bytes, st.MaxBytes = sz.bytes, sz.maxBytes
	}
	if p := r.problem.Load(); p != nil {
		st.Problem, st.Since = p.what, p.since
	}
	return st
}

// setProblem records why the replica is not attached ("" when it is).
func (r *Replica) setProblem(what string) {
	if what == "" {
		r.problem.Store(nil)
		return
	}
	if p := r.problem.Load(); p != nil && p.what == what {
		return
	}
	r.problem.Store(&linkProblem{what: what, since: time.Now()})
}

// incident counts and logs a stream incident at ERROR.
func (r *Replica) incident(kind, what string, args ...any) {
	r.incidents[kind].Add(1)
	r.mu.Lock()
	r.lastIncident = time.Now().UTC().Format(time.RFC3339) + " " + kind + ": " + what
	r.mu.Unlock()
	r.log.Error("stream incident: "+what, append([]any{"kind", kind, "stream", r.cfg.Stream}, args...)...)
}

// checkSoon asks the link loop to check the stream now; it never blocks.
func (r *Replica) checkSoon() {
	select {
	case r.checkNow <- struct{}{}:
	default:
	}
}

// link attaches the replica to its stream, retrying until it succeeds, and
// then checks the stream periodically, detaching and re-attaching as the
// stream comes and goes, and as the connection comes back from an outage,
// until the replica closes.
func (r *Replica) link() {
	wait := 250 * time.Millisecond
	tick := time.NewTicker(r.cfg.StreamCheckEvery)
	defer tick.Stop()
	status := r.cfg.Conn.StatusChanged(nats.RECONNECTING, nats.CONNECTED)
	defer r.cfg.Conn.RemoveStatusListener(status)
	for attempt := 1; r.ctx.Err() == nil; {
		if !r.attached() {
			err := r.attach()
			if err != nil && r.ctx.Err() == nil {
				if !r.lost.Load() { // a lost stream's problem says more
					r.setProblem(err.Error())
				}
				level := slog.LevelDebug
				if attempt == 1 || attempt%20 == 0 {
					level = slog.LevelWarn
				}
				r.log.Log(r.ctx, level, "replica not attached to its stream yet; retrying", "err", err, "attempt", attempt, "retry_in", wait)
				attempt++
				if !r.sleep(wait) {
					return
				}
				wait = min(2*wait, 5*time.Second)
				continue
			}
			wait, attempt = 250*time.Millisecond, 1
		}
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
		case <-r.checkNow:
		case s := <-status:
			if s == nats.CONNECTED {
				r.reattach()
			} else {
				r.disconnected()
			}
			continue
		}
		r.checkStream()
	}
}

// disconnected marks a ready replica stale while its connection is down:
// it keeps serving what it holds, but cannot know what it misses. The
// re-attachment when the connection is back ends it.
func (r *Replica) disconnected() {
	if r.isReady.Load() && r.attached() {
		r.catchingUp.Store(true)
		r.stale.Store(true)
	}
}

// reattach makes the consumer again, after the last sequence folded, when
// the connection comes back from an outage (a network cut, a paused or
// restarted broker). nats.go's ordered consumer would do it by itself, but
// only once its resets, tried with a backoff that grows through the
// outage (1 s, 2 s, 4 s ... 10 s), get round to it: a sidecar cut off for
// ten seconds then took 4 to 13 s more to read what it missed, and said
// it was ready meanwhile. Until it has read what was written during the
// outage the replica is stale (attach decides, from the stream's last
// sequence).
func (r *Replica) reattach() {
	if !r.attached() {
		return // the link loop is attaching anyway
	}
	if r.isReady.Load() {
		r.catchingUp.Store(true)
		r.stale.Store(true)
	}
	r.detach()
	r.reconnected.Store(true)
}

// maxReserve bounds the cells a fresh replica makes room for before its
// resync (see attach): a hint from the stream, not a promise.
const maxReserve = 16 << 20

// attachTimeout bounds one attempt to attach to the stream.
const attachTimeout = 3 * time.Second

// linkContext bounds the link loop's requests to JetStream: to d, the
// replica's life, and the connection's. A request sent over a connection
// that has died without closing (a network cut, a paused broker) would
// otherwise wait its whole timeout after the client has given the
// connection up, and hold the link loop while the connection comes back.
func (r *Replica) linkContext(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.ctx, d)
	lost := r.cfg.Conn.StatusChanged(nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	go func() {
		defer r.cfg.Conn.RemoveStatusListener(lost)
		select {
		case <-lost:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (r *Replica) attached() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cons != nil
}

// attach looks the stream up and starts an ordered consumer after the last
// sequence folded. A stream created anew since the replica last saw it (or
// since its snapshot) first makes the replica set its state aside.
func (r *Replica) attach() error {
	// An attempt gives up after attachTimeout, and the link loop tries again
	// soon: a stream without a leader (its leader's broker paused, until
	// the others elect a new one, 4 to 9 s) answers nothing, and a longer
	// wait only delays the attempt after the election.
	ctx, cancel := r.linkContext(attachTimeout)
	defer cancel()
	stream, err := r.js.Stream(ctx, r.cfg.Stream)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("%w: %q (start a broker with `dprop broker`, or provision it)", ErrNoStream, r.cfg.Stream)
		}
		return fmt.Errorf("stream %q: %w", r.cfg.Stream, err)
	}
	info := stream.CachedInfo()
	r.dupWin.Store(int64(info.Config.Duplicates))
	r.checkSnapshotStream(info)
	r.mu.RLock()
	known := r.streamCreated
	r.mu.RUnlock()
	if !known.IsZero() && !known.Equal(info.Created) {
		r.replaced(info)
	}
	target, err := lastSeq(ctx, stream, r.filter)
	if err != nil {
		return err
	}
	r.mu.Lock()
	after := r.core.LastSeq()
	if after == 0 && r.cfg.Cells == ">" {
		// A fresh replica of every cell will hold about as many cells as
		// the stream has subjects: a map grown one cell at a time rehashed
		// them all several times, a quarter of the fold's CPU in a resync
		// of 300,000 one-update cells.
		r.core.Reserve(int(min(info.State.NumSubjects, info.State.Msgs, maxReserve)))
	}
	r.startAt = after
	r.gen++
	a := &attachment{gen: r.gen, stream: stream, shape: shapeOf(info)}
	r.target.Store(target)
	r.mu.Unlock()
	cons, err := stream.OrderedConsumer(ctx, consumerConfig(r.filter, after))
	if err != nil {
		return fmt.Errorf("ordered consumer on %q: %w", r.filter, err)
	}
	back := r.lost.Swap(false)
	if target <= after {
		r.markCaughtUp()
	} else if r.isReady.Load() {
		r.catchingUp.Store(true)
		r.stale.Store(true)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { r.handle(a, m) }, jetstream.ConsumeErrHandler(r.consumeError),
		jetstream.PullHeartbeat(consumeHeartbeat), jetstream.PullMaxBytes(r.pullBytes()))
	if err != nil {
		r.lost.Store(back)
		return fmt.Errorf("consume %q: %w", r.filter, err)
	}
	r.mu.Lock()
	if r.ctx.Err() != nil || r.gen != a.gen { // closed or detached meanwhile
		r.mu.Unlock()
		cc.Stop()
		return nil
	}
	r.cons = cc
	r.streamCreated = info.Created
	r.mu.Unlock()
	r.setProblem("")
	switch {
	case back:
		r.log.Info("stream back; replica attached again", "stream", r.cfg.Stream, "after_seq", after, "target_seq", target)
	case r.reconnected.Swap(false):
		r.log.Info("connection back; replica attached again, reading what it missed", "stream", r.cfg.Stream, "after_seq", after, "target_seq", target)
	default:
		r.log.Info("replica starting", "stream", r.cfg.Stream, "cells", r.cfg.Cells, "after_seq", after, "target_seq", target)
	}
	return nil
}

// pullBytes is how many bytes of messages the consumer asks for ahead of
// the fold (nats.go's PullMaxBytes): at least one message of the largest
// size the server takes, or the consumer would stall.
//
// The client's default, 500 messages a request, cost the process (server
// and replica) 12-16% more CPU in a resync of 300,000 one-update cells
// than 4 or 16 MiB a request, which cost the same (BenchmarkResyncVsKV,
// docs/performance.md): a pull request handled every 250 messages, by
// the server and the client. A bound in bytes rather than messages keeps what
// waits in the client under the subscription's pending limit (64 MiB)
// whatever the size of the cells; 10,000 messages a request saved as much
// CPU, but 10,000 large updates would overflow it.
func (r *Replica) pullBytes() int {
	return max(minPullBytes, int(r.cfg.Conn.MaxPayload()))
}

// minPullBytes is the least a consumer asks for ahead of the fold.
const minPullBytes = 4 << 20

// consumeError hears the ordered consumer's troubles. Those that may mean
// the stream is gone make the link loop check it at once: nats.go's
// ordered consumer re-creates a deleted consumer by itself, after the last
// sequence it delivered, which is right only if its stream is still the
// same one (a consumer deleted alone, or lost with a broker's restart).
func (r *Replica) consumeError(_ jetstream.ConsumeContext, err error) {
	switch {
	case errors.Is(err, jetstream.ErrNoHeartbeat):
		r.log.Debug("replica consumer: no heartbeat", "err", err)
	case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound),
		errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, nats.ErrNoResponders):
		r.log.Warn("replica consumer lost; checking the stream", "err", err)
		r.checkSoon()
	default:
		r.log.Warn("replica consumer", "err", err)
	}
}

// detach stops the current consumer; deliveries it still makes are
// ignored. It is called from the link goroutine only.
//
// The consumer is stopped in the background, without the fold lock: an
// ordered consumer's Stop waits for its own lock, which nats.go holds
// while it retries a reset of the consumer, and one such attempt, sent
// over a connection that has died without closing, waits 10 s for its
// answer and then 1 s more. Stopped inline, under the fold lock, a
// re-attachment after a network cut waited those 11 s, and every reader
// of the replica with it. The goroutine touches nothing of the replica's
// and ends with that attempt; it is not waited for by Close, which would
// otherwise wait for it too.
func (r *Replica) detach() {
	r.mu.Lock()
	r.gen++
	cc := r.cons
	r.cons = nil
	r.mu.Unlock()
	if cc != nil {
		go cc.Stop()
	}
}

// checkStream looks at the stream: gone, replaced, or purged behind the
// replica's back.
func (r *Replica) checkStream() {
	defer r.checks.Add(1)
	ctx, cancel := r.linkContext(5 * time.Second)
	defer cancel()
	r.mu.RLock()
	applied, held, cells := r.core.LastSeq(), r.core.LogMessages(), r.core.Len()
	created, attached := r.streamCreated, r.cons != nil
	r.mu.RUnlock()
	stream, err := r.js.Stream(ctx, r.cfg.Stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if attached {
			r.detach()
			r.lost.Store(true)
			r.stale.Store(true)
			// The incident first: whoever sees the problem sees its record.
			r.incident(IncidentDeleted, "the stream was deleted; serving the cells as they were (marked stale) until it is back. "+
				"If it was deleted by mistake, restore it from a sidecar's snapshot (docs/recovery.md)",
				"cells", cells, "applied_seq", applied)
			r.setProblem(fmt.Sprintf("stream %q not found: it was deleted", r.cfg.Stream))
		}
		return
	case err != nil:
		return // the broker is away: the connection's state says so
	}
	info := stream.CachedInfo()
	r.size.Store(&streamSize{bytes: info.State.Bytes, maxBytes: max(info.Config.MaxBytes, 0)})
	if !created.IsZero() && !info.Created.Equal(created) {
		r.replaced(info)
		return
	}
	if !attached {
		return
	}
	r.checkPurged(info, applied, held, cells)
}

// checkPurged reports a stream that holds fewer messages than the replica
// has folded and still holds. It can only tell once it has folded the
// whole stream (a compaction it has not seen yet removes messages too), so
// it looks only when the stream's last sequence is the last one folded.
func (r *Replica) checkPurged(info *jetstream.StreamInfo, applied, held uint64, cells int) {
	if info.State.LastSeq != applied || cells == 0 {
		return
	}
	var gone bool
	if r.cfg.Cells == ">" {
		gone = info.State.Msgs < held
	} else {
		gone = info.State.Msgs == 0 // a subtree: only an empty stream is certain
	}
	mark := fmt.Sprintf("%d/%d", info.State.FirstSeq, info.State.Msgs)
	if !gone || r.purgeSeen == mark {
		return
	}
	r.purgeSeen = mark
	r.incident(IncidentPurged, "the stream holds fewer messages than this replica has folded: it was purged, or messages were deleted by hand. "+
		"The replica keeps its cells; a new replica would miss what was removed: publish this replica's cells back with `dprop restore` (docs/recovery.md)",
		"stream_msgs", info.State.Msgs, "folded_msgs_held", held, "first_seq", info.State.FirstSeq, "cells", cells)
}

// replaced handles a stream created anew under the same name: the
// replica's state, folded from the old stream, is set aside (written next
// to the local snapshot, when there is one, for `dprop restore`), and the
// replica starts over from the new stream's beginning, as a replica with a
// snapshot of an earlier stream does. Watchers are closed (the values they
// saw may not be in the new stream) and waiting refines fail.
func (r *Replica) replaced(info *jetstream.StreamInfo) {
	r.detach()
	r.mu.Lock()
	old := r.core
	h := SnapshotHeader{Stream: r.cfg.Stream, Prefix: r.cfg.Prefix, Cells: r.cfg.Cells, Seq: old.LastSeq(),
		StreamCreated: r.streamCreated, Written: time.Now().UTC(), Trust: trustHash(r.cfg.Trust)}
	r.core = fold.NewCore(r.cfg.Prefix, r.cfg.Declared, r.cfg.foldLimits())
	r.streamCreated = info.Created
	r.snap = snapState{}
	// The updates the old stream acknowledged went with it: the pending
	// view no longer shows them (those still in the outbox stay).
	r.pend.folded(math.MaxUint64)
	r.mu.Unlock()
	r.stale.Store(true)
	r.catchingUp.Store(true)
	r.failWaiters(ErrStreamReplaced)
	r.watchers.closeAll()
	kept := "nowhere (this replica has no local snapshot; sidecars with --data keep theirs)"
	if r.cfg.SnapshotPath != "" && old.Len() > 0 {
		cells := make([]fold.Cell, 0, old.Len())
		old.Each(func(c fold.Cell) bool { cells = append(cells, c); return true })
		path := r.cfg.SnapshotPath + ".replaced-" + time.Now().UTC().Format("20060102T150405Z")
		if err := WriteSnapshotFile(path, h, cells); err != nil {
			kept = "nowhere: " + err.Error()
		} else {
			kept = path
		}
	}
	r.incident(IncidentReplaced, "the stream was created anew: this replica's cells, folded from the old stream, are set aside and it replays the new one. "+
		"Publish the old cells back with `dprop restore` if they should survive (docs/recovery.md)",
		"old_created", h.StreamCreated, "new_created", info.Created, "old_cells", old.Len(), "old_applied_seq", h.Seq, "kept_as", kept)
}
