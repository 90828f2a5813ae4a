package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

// cellEvents answers GET /v1/cells/{cell}/events.
func (s *Server) cellEvents(w http.ResponseWriter, r *http.Request) {
	cell := r.PathValue("cell")
	if err := s.held(cell); err != nil {
		s.fail(w, r, cell, err)
		return
	}
	s.stream(w, r, cell)
}

// patternEvents answers GET /v1/events?match=PATTERN (all cells without
// match).
func (s *Server) patternEvents(w http.ResponseWriter, r *http.Request) {
	q, ok := s.query(w, r, "", "match")
	if !ok {
		return
	}
	match := q.Get("match")
	if match == "" {
		match = ">"
	}
	if err := cellname.ValidatePattern(match); err != nil {
		s.writeError(w, r, http.StatusBadRequest, fold.ReasonBadSubject, "", fmt.Errorf("match: %w", err))
		return
	}
	s.stream(w, r, match)
}

// stream writes the changes of the cells matching pattern as Server-Sent
// Events: first the current value of each, then every real change. Values
// only grow, so the first event of a cell says all that came before it and
// a reconnecting client needs no Last-Event-ID: it gets the current state
// again. The stream ends when the client leaves, on Close, or when the
// replica closes.
//
// A stream has no read deadline (the client sends nothing more), and each
// write has the server's WriteTimeout: a stream lives as long as its client
// reads, and one that stops reading is cut. Streams are bounded by
// Options.MaxStreams. A change of the worldview re-announces the supported
// cells watched, with their new consequence.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, pattern string) {
	if !s.noBody(w, r, pattern) {
		return
	}
	if !s.streams.acquire() {
		s.busy(w, r, pattern, "event streams", s.opts.MaxStreams, "--http-max-streams")
		return
	}
	defer s.streams.release()
	watcher, err := s.r.WatchConsequences(pattern, true)
	if err != nil {
		s.fail(w, r, pattern, err)
		return
	}
	defer watcher.Close()
	ctx, cancel := s.bound(r, 0)
	defer cancel()
	go s.endOnAccessChange(ctx, r, cancel)
	keep := readFilter(r) // a pattern's cells that the principal may read

	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	// Sent at once, so the client knows the watch is in place.
	buf := []byte(": dprop events for " + pattern + "\nretry: 1000\n\n")
	for {
		_ = rc.SetWriteDeadline(writeDeadline(r, 0))
		if _, err := w.Write(buf); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		heartbeat := time.Now().Add(s.opts.Heartbeat)
		ev, err := s.next(ctx, watcher, heartbeat)
		for err == nil && keep != nil && !keep(ev.Cell) {
			ev, err = s.next(ctx, watcher, heartbeat)
		}
		switch {
		case err == nil:
			buf = appendEvent(buf[:0], ev, s.worldviewNow)
		case errors.Is(err, errHeartbeat):
			buf = append(buf[:0], ": heartbeat\n\n"...)
		default:
			return // client gone, Close, the replica closed, or the principal's access changed
		}
	}
}

var errHeartbeat = errors.New("heartbeat due")

// next waits for the watcher's next event until the heartbeat is due.
func (s *Server) next(ctx context.Context, w *replica.Watcher, heartbeat time.Time) (replica.Event, error) {
	hctx, cancel := context.WithDeadlineCause(ctx, heartbeat, errHeartbeat)
	defer cancel()
	ev, err := w.Next(hctx)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(hctx), errHeartbeat) {
		return ev, errHeartbeat
	}
	return ev, err
}

// worldviewNow returns the worldview and the stream sequence of its last
// change (0: never changed).
func (s *Server) worldviewNow() (propagators.Worldview, uint64) {
	c, _ := s.r.Get(propagators.WorldviewCell)
	return propagators.WorldviewOf(c.Value), c.Seq
}

// appendEvent appends ev in the event-stream format:
//
//	event: change
//	id: <seq>
//	data: {"cell":...,"type":...,"seq":...,"etag":...,"value":...}
//
// A supported value's event carries its consequence under worldview() too,
// and its seq (and id) is the later of the cell's and the worldview's last
// change: what the event shows depends on both, so a client that resumes
// and skips what it has seen by seq does not skip a consequence changed
// by a worldview change it missed.
func appendEvent(dst []byte, ev replica.Event, worldview func() (propagators.Worldview, uint64)) []byte {
	if ev.AfterForget {
		// Coalesced: the reader must learn of the forget before the value.
		forgot := ev
		forgot.Forgotten, forgot.AfterForget, forgot.Value, forgot.Type, forgot.ETag = true, false, lattice.Nothing{}, "", ""
		dst = appendEvent(dst, forgot, worldview)
	}
	var con *lattice.Consequence
	if _, ok := ev.Value.(*lattice.Supported); ok && worldview != nil {
		wv, seq := worldview()
		c := wv.Consequence(ev.Value)
		con, ev.Seq = &c, max(ev.Seq, seq)
	}
	if ev.Forgotten {
		dst = append(dst, "event: forgotten\nid: "...)
	} else {
		dst = append(dst, "event: change\nid: "...)
	}
	dst = strconv.AppendUint(dst, ev.Seq, 10)
	dst = append(dst, "\ndata: "...)
	b := bytes.NewBuffer(dst)
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	// Encode ends with a newline; JSON holds none inside, so data is one line.
	out := Event{Cell: ev.Cell, Type: ev.Type, Seq: ev.Seq, ETag: ev.ETag, Value: lattice.Encode(ev.Value), Forgotten: ev.Forgotten, Pending: ev.Pending}
	if con != nil {
		out.Consequence, out.Support = lattice.Encode(con.Value), nonNil(con.Support)
	}
	if err := enc.Encode(out); err != nil {
		// Unreachable: the value is canonical JSON. Keep the stream sound.
		return append(dst[:0], ": event of "+ev.Cell+" could not be encoded\n\n"...)
	}
	return append(b.Bytes(), '\n')
}
