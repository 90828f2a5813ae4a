package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/replica/fold"
)

// Forgetting is the one operation that is not a merge, so it is explicit,
// ordered by the log and the same at every replica: a forget marker is a
// message on the cell's forget subject (dprop.forget.<cell>), which only
// the admin role may publish; every replica drops the cell when it folds
// the marker, at the same point of the stream order; the cell's updates
// below the marker are then purged from the stream.

// Marker is the body of a forget marker: what was forgotten, and why.
// Replicas fold a marker whatever its body; it is for people (history).
type Marker struct {
	Cell    string `json:"cell"`
	Pattern string `json:"pattern,omitempty"` // the pattern a forget of a subtree was asked for
	Reason  string `json:"reason,omitempty"`
	// Expired is the TTL of an expiry (Go duration syntax), "" for a
	// forget asked for.
	Expired string `json:"expired,omitempty"`
}

// ForgetStats says what a Forget did.
type ForgetStats struct {
	// Cells is the number of held cells matching the pattern.
	Cells int
	// Markers counts the forget markers stored; Purged the cells whose
	// updates below their marker were purged from the stream.
	Markers, Purged int
	// Failed counts markers not stored and purges that failed (see the
	// error).
	Failed int
	// Took is the whole forget's time: Marking the markers, Folding them
	// here, Purging the updates below them.
	Took, Marking, Folding, Purging time.Duration
}

// Forget forgets the cells this replica holds that match pattern (a cell
// name or a pattern): it publishes a forget marker for each, waits until
// it has folded them (so the cells are gone from it when Forget returns),
// and purges each cell's updates below its marker from the stream. Every
// replica drops the cells as it folds the markers; updates after a marker
// start the cell afresh. Publishing markers and purging need the admin
// role; a purge that fails leaves the updates in the stream, harmless to
// replicas (they are below the marker) but still there: the error says so
// (ErrPurgeFailed).
func (r *Replica) Forget(ctx context.Context, pattern, reason string) (ForgetStats, error) {
	start := time.Now()
	var st ForgetStats
	if err := cellname.ValidatePattern(pattern); err != nil {
		return st, fmt.Errorf("forget: %w", err)
	}
	if !r.IsReady() {
		return st, fmt.Errorf("forget: %w: a replica must have folded the log to know the cells", ErrNotReady)
	}
	var cells []fold.Cell
	r.mu.RLock()
	r.core.Each(func(c fold.Cell) bool {
		if cellname.Match(pattern, c.Name) {
			cells = append(cells, c)
		}
		return true
	})
	r.mu.RUnlock()
	slices.SortFunc(cells, func(a, b fold.Cell) int { return strings.Compare(a.Name, b.Name) })
	st.Cells = len(cells)
	markers := make([]uint64, len(cells)) // each cell's marker's sequence, 0 if not stored
	var errs []error
	r.publishMarkers(ctx, cells, pattern, reason, markers, &errs)
	for _, m := range markers {
		if m != 0 {
			st.Markers++
		} else {
			st.Failed++
		}
	}
	marked := time.Since(start)
	if last := slices.Max(append(markers, 0)); last > 0 {
		if err := r.waitFolded(ctx, last); err != nil {
			errs = append(errs, fmt.Errorf("forget: waiting for the markers to be folded: %w", err))
		}
	}
	folded := time.Since(start)
	st.Purged, st.Failed = r.purgeForgotten(ctx, cells, markers, st.Failed, &errs)
	st.Took = time.Since(start)
	st.Marking, st.Folding, st.Purging = marked, folded-marked, st.Took-folded
	r.log.Info("forgotten", "pattern", pattern, "cells", st.Cells, "markers", st.Markers, "purged", st.Purged, "failed", st.Failed,
		"took", st.Took.Round(time.Millisecond), "marking", st.Marking.Round(time.Millisecond), "purging", st.Purging.Round(time.Millisecond))
	return st, errors.Join(errs...)
}

// publishMarkers publishes the forget markers of cells, a window of them in
// flight at a time, and notes each one's sequence in markers.
func (r *Replica) publishMarkers(ctx context.Context, cells []fold.Cell, pattern, reason string, markers []uint64, errs *[]error) {
	const window = 512
	type pending struct {
		i int
		f jetstream.PubAckFuture
	}
	inflight := make([]pending, 0, window)
	fail := func(err error) {
		if len(*errs) < 3 {
			*errs = append(*errs, err)
		}
	}
	collect := func() {
		for _, p := range inflight {
			select {
			case ack := <-p.f.Ok():
				markers[p.i] = ack.Sequence
			case err := <-p.f.Err():
				fail(fmt.Errorf("forget %q: marker: %w", cells[p.i].Name, err))
			case <-ctx.Done():
				fail(fmt.Errorf("forget: %w", ctx.Err()))
			}
		}
		inflight = inflight[:0]
	}
	for i, c := range cells {
		if ctx.Err() != nil {
			break
		}
		msg, err := r.markerMsg(c, Marker{Cell: c.Name, Pattern: pattern, Reason: reason}, false)
		var f jetstream.PubAckFuture
		if err == nil {
			f, err = r.js.PublishMsgAsync(msg)
		}
		if err != nil {
			fail(fmt.Errorf("forget %q: marker: %w", c.Name, err))
			continue
		}
		if inflight = append(inflight, pending{i, f}); len(inflight) == window {
			collect()
		}
	}
	collect()
}

// publishMarker publishes the forget marker of c. guarded, it is stored only
// if nothing came to the cell after c.Last (Nats-Expected-Last-Subject-
// Sequence, checked on the cell's update subject): an expiry must not
// forget a cell refined meanwhile.
func (r *Replica) publishMarker(ctx context.Context, c fold.Cell, m Marker, guarded bool) (uint64, error) {
	msg, err := r.markerMsg(c, m, guarded)
	if err != nil {
		return 0, err
	}
	pctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
	defer cancel()
	ack, err := r.js.PublishMsg(pctx, msg)
	if err != nil {
		return 0, fmt.Errorf("forget %q: marker: %w", c.Name, err)
	}
	return ack.Sequence, nil
}

// markerMsg is the forget marker of c, signed when the replica signs.
func (r *Replica) markerMsg(c fold.Cell, m Marker, guarded bool) (*nats.Msg, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	msg := nats.NewMsg(r.subjects.Forget(c.Name))
	msg.Data = body
	msg.Header.Set(HeaderOrigin, r.cfg.Origin)
	if guarded {
		msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(c.Last, 10))
		msg.Header.Set(headerExpectedLastSubject, r.subjects.Subject(c.Name))
	}
	if err := r.sign(msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// headerExpectedLastSubject names the subject Nats-Expected-Last-Subject-
// Sequence is checked on, when it is not the message's own (nats-server
// 2.11 and later).
const headerExpectedLastSubject = "Nats-Expected-Last-Subject-Sequence-Subject"

// purgeWorkers is how many purges are in flight at once.
const purgeWorkers = 32

// purgeForgotten purges each cell's updates below its marker (0: none
// stored), a few at a time, and returns how many were purged and the
// failures counted so far plus its own.
func (r *Replica) purgeForgotten(ctx context.Context, cells []fold.Cell, markers []uint64, failed int, errs *[]error) (int, int) {
	stream, err := r.js.Stream(ctx, r.cfg.Stream)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("forget: %w", err))
		return 0, failed + len(cells)
	}
	purged := 0
	names := make([]string, len(cells))
	for i, c := range cells {
		names[i] = c.Name
	}
	r.purgeEach(ctx, stream, names, markers, purgeWorkers, func(i int, subject string, err error) bool {
		if err == nil {
			purged++
		} else {
			failed++
			if len(*errs) < 3 {
				*errs = append(*errs, fmt.Errorf("forget: purge of %s below %d: %w (%w)", subject, markers[i], ErrPurgeFailed, err))
			}
		}
		return true
	})
	return purged, failed
}

// purgeEach purges each cell's update subject below its sequence (0:
// skipped), workers at a time. done hears each result, one at a time, and
// says whether to go on handing out purges. A purge the server does not
// permit comes back as its permission violation: the server answers it
// asynchronously, and the request itself only times out.
func (r *Replica) purgeEach(ctx context.Context, stream jetstream.Stream, cells []string, below []uint64, workers int, done func(i int, subject string, err error) bool) {
	var (
		mu   sync.Mutex
		stop bool
		wg   sync.WaitGroup
		next = make(chan int)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				subject := r.subjects.Subject(cells[i])
				attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := stream.Purge(attempt, jetstream.WithPurgeSubject(subject), jetstream.WithPurgeSequence(below[i]))
				cancel()
				if err != nil {
					if le := r.cfg.Conn.LastError(); errors.Is(le, nats.ErrPermissionViolation) && strings.Contains(le.Error(), "STREAM.PURGE") {
						err = le
					}
				}
				mu.Lock()
				if !done(i, subject, err) {
					stop = true
				}
				mu.Unlock()
			}
		}()
	}
	for i := range cells {
		mu.Lock()
		halt := stop
		mu.Unlock()
		if halt || ctx.Err() != nil {
			break
		}
		if below[i] != 0 {
			next <- i
		}
	}
	close(next)
	wg.Wait()
}

// ExpireRule forgets the cells matching Cells that no update has refined
// for TTL (see Config.Expire).
type ExpireRule struct {
	Cells string
	TTL   time.Duration
}

// expireEvery is how often the replica looks for expired cells: a tenth
// of the shortest TTL, between one second and a minute. An idle cell is
// forgotten within its TTL plus this.
func expireEvery(rules []ExpireRule) time.Duration {
	every := time.Minute
	for _, r := range rules {
		every = min(every, r.TTL/10)
	}
	return max(every, time.Second)
}

// expireLoop forgets the cells that outlived their TTL, until the replica
// closes. A cell expires when the stream's timestamp of its last update
// (the same at every replica) is older than its TTL by this host's clock.
// The marker is guarded by the cell's last sequence, so an update that
// came meanwhile keeps it; several replicas may publish a marker for the
// same expiry, which is harmless (forgetting twice is forgetting).
func (r *Replica) expireLoop() {
	select {
	case <-r.ready:
	case <-r.ctx.Done():
		return
	}
	every := expireEvery(r.cfg.Expire)
	for r.sleep(every) {
		now := time.Now()
		var due []fold.Cell
		var ttls []time.Duration
		r.mu.RLock()
		r.core.Each(func(c fold.Cell) bool {
			for _, rule := range r.cfg.Expire {
				if cellname.Match(rule.Cells, c.Name) {
					if c.At != 0 && now.Sub(time.Unix(0, c.At)) > rule.TTL {
						due, ttls = append(due, c), append(ttls, rule.TTL)
					}
					break // the first rule that matches decides
				}
			}
			return true
		})
		r.mu.RUnlock()
		for i, c := range due {
			seq, err := r.publishMarker(r.ctx, c, Marker{Cell: c.Name, Expired: ttls[i].String()}, true)
			switch {
			case wrongLastSequence(err):
				r.log.Debug("expiry: the cell was refined meanwhile; kept", "cell", c.Name)
				continue
			case err != nil:
				if r.ctx.Err() == nil {
					r.log.Warn("expiry: marker not published", "cell", c.Name, "err", err)
				}
				continue
			}
			r.log.Info("cell expired", "cell", c.Name, "ttl", ttls[i], "idle", now.Sub(time.Unix(0, c.At)).Round(time.Second), "marker_seq", seq)
			var errs []error
			r.purgeForgotten(r.ctx, []fold.Cell{c}, []uint64{seq}, 0, &errs)
			if len(errs) > 0 {
				r.log.Warn("expiry: the cell's updates were not purged", "cell", c.Name, "err", errs[0])
			}
		}
	}
}
