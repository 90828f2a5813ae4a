package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/fold"
	"github.com/dprop/dprop/replica/httpapi"
)

// rawStream opens an event stream and returns a function reading its next
// line.
func rawStream(t *testing.T, sc *sidecar, path string) (http.Header, func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctxT(t))
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", sc.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := sc.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	return resp.Header, func() string {
		t.Helper()
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		return strings.TrimSuffix(line, "\n")
	}
}

// The wire format: the current value first, then one event per real
// change, each with event, id and one data line.
func TestEventStreamFormat(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	const path = "/v1/cells/weather.boston.temp"
	sc.do(t, "POST", path, day1).want(t, 200)
	h, next := rawStream(t, sc, path+"/events")
	if h.Get("Content-Type") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" {
		t.Fatalf("headers %v", h)
	}
	want := func(lines ...string) {
		t.Helper()
		for _, w := range lines {
			if got := next(); got != w {
				t.Fatalf("line %q, want %q", got, w)
			}
		}
	}
	want(": dprop events for weather.boston.temp", "retry: 1000", "")
	etag := func(s string) string {
		v, err := lattice.Decode([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(fold.ETag(v), `"`, `\"`)
	}
	want("event: change", "id: 1",
		`data: {"cell":"weather.boston.temp","type":"range","seq":1,"etag":"`+etag(day1)+`","value":`+day1+`}`, "")
	sc.do(t, "POST", path, day2).want(t, 200) // inside day1: no change, no event
	sc.do(t, "POST", path, week).want(t, 200)
	want("event: change")
	id := next()
	if id == "id: 1" { // a repeat of the first change (see watching.next)
		want(`data: {"cell":"weather.boston.temp","type":"range","seq":1,"etag":"`+etag(day1)+`","value":`+day1+`}`, "", "event: change")
		id = next()
	}
	if id != "id: 3" {
		t.Fatalf("line %q, want id: 3", id)
	}
	want(`data: {"cell":"weather.boston.temp","type":"range","seq":3,"etag":"`+etag(week)+`","value":`+week+`}`, "")
}

// Idle streams get heartbeat comments.
func TestEventStreamHeartbeat(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{Heartbeat: 5 * time.Millisecond})
	_, next := rawStream(t, sc, "/v1/events?match=quiet.>")
	for range 3 {
		for next() != ": heartbeat" {
		}
	}
}

// watching is a Client.Watch running in the background.
type watching struct {
	events chan httpapi.Event
	done   chan struct{} // closed when Watch has returned err
	err    error
	cancel context.CancelFunc
	last   map[string]uint64 // the last sequence seen per cell (next)
}

// watch runs Client.Watch in the background; events arrive on w.events.
func watch(t *testing.T, c *httpapi.Client, pattern string) *watching {
	t.Helper()
	ctx, cancel := context.WithCancel(ctxT(t))
	w := &watching{events: make(chan httpapi.Event, 100), done: make(chan struct{}), cancel: cancel, last: map[string]uint64{}}
	go func() {
		defer close(w.done)
		w.err = c.Watch(ctx, pattern, func(ev httpapi.Event) error {
			select {
			case w.events <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-w.done
	})
	return w
}

// result waits for Watch to return.
func (w *watching) result(t *testing.T) error {
	t.Helper()
	select {
	case <-w.done:
		return w.err
	case <-time.After(testTimeout):
		t.Fatal("watch did not return")
		return nil
	}
}

// next returns the next event that is news: a repeat of a change already
// seen (same cell, same sequence) is skipped. The replica may send one when
// a watch starts while a fold is being announced (see the report on
// replica.handle); values are cumulative, so a repeat is harmless.
func (w *watching) next(t *testing.T) httpapi.Event {
	t.Helper()
	for {
		select {
		case ev := <-w.events:
			if ev.Seq <= w.last[ev.Cell] {
				continue
			}
			w.last[ev.Cell] = ev.Seq
			return ev
		case <-time.After(testTimeout):
			t.Fatal("no event")
			return httpapi.Event{}
		}
	}
}

func (sc *sidecar) waitStreams(t *testing.T, n float64) {
	t.Helper()
	waitFor(t, "event streams to be "+strings.Repeat("|", int(n)), func() bool {
		return metric(t, sc.reg, "dprop_http_event_streams") == n
	})
}

// A cell that does not exist yet can be watched: events start when it
// appears. A pattern's stream starts with every matching cell.
func TestWatchLaterCellAndPattern(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	sc.do(t, "POST", "/v1/cells/weather.boston.temp", day1).want(t, 200)
	sc.do(t, "POST", "/v1/cells/weather.nyc.temp", day2).want(t, 200)

	later := watch(t, sc.c, "later.x")
	pattern := watch(t, sc.c, "weather.*.temp")
	sc.waitStreams(t, 2)

	var first []string
	for range 2 {
		ev := pattern.next(t)
		first = append(first, ev.Cell+" "+string(ev.Value))
	}
	slices.Sort(first)
	if want := []string{"weather.boston.temp " + day1, "weather.nyc.temp " + day2}; !slices.Equal(first, want) {
		t.Fatalf("current values %q, want %q", first, want)
	}

	sc.do(t, "POST", "/v1/cells/later.x", `{"type":"flag","value":true}`).want(t, 200)
	if ev := later.next(t); ev.Cell != "later.x" || string(ev.Value) != `{"type":"flag","value":true}` || ev.Type != "flag" || ev.Seq != 3 {
		t.Fatalf("later.x: %+v", ev)
	}
	sc.do(t, "POST", "/v1/cells/weather.other.humidity", `{"type":"max","value":1}`).want(t, 200) // no match
	sc.do(t, "POST", "/v1/cells/weather.sf.temp", week).want(t, 200)
	if ev := pattern.next(t); ev.Cell != "weather.sf.temp" || string(ev.Value) != week || ev.Seq != 5 {
		t.Fatalf("pattern: %+v", ev)
	}
	sc.do(t, "GET", "/v1/events?match=weather.>.x", "").want(t, 400)
	if a := sc.do(t, "HEAD", "/v1/events", "").want(t, 200); a.header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD of a stream: %v", a.header)
	}
}

// A client that leaves ends its stream: the watcher is released and no
// goroutine stays behind.
func TestEventStreamDisconnect(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	sc.do(t, "POST", "/v1/cells/a.x", `{"type":"max","value":1}`).want(t, 200)
	tr := &http.Transport{}
	c := httpapi.NewClient(sc.ts.URL, &http.Client{Transport: tr})
	baseline := runtime.NumGoroutine()

	var ws []*watching
	for _, p := range []string{"a.x", "a.>", "b.y", ">", "a.x"} {
		ws = append(ws, watch(t, c, p))
	}
	sc.waitStreams(t, 5)
	for _, w := range ws {
		w.cancel()
		if err := w.result(t); !errors.Is(err, context.Canceled) {
			t.Fatalf("watch returned %v, want context.Canceled", err)
		}
	}
	sc.waitStreams(t, 0)
	tr.CloseIdleConnections()
	waitFor(t, "goroutines to settle", func() bool { return runtime.NumGoroutine() <= baseline })
	// The replica no longer notifies the streams' watchers: changes flow
	// and the cell is still served.
	sc.do(t, "POST", "/v1/cells/a.x", `{"type":"max","value":2}`).want(t, 200)
}

// Close ends open streams (as http.Server.Shutdown does through
// RegisterOnShutdown), and so does closing the replica.
func TestEventStreamEndsOnShutdown(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	w := watch(t, sc.c, "a.>")
	sc.waitStreams(t, 1)
	ctx, cancel := context.WithTimeout(ctxT(t), testTimeout)
	defer cancel()
	go func() { _ = sc.ts.Config.Shutdown(ctx) }()
	if err := w.result(t); !errors.Is(err, httpapi.ErrStreamEnded) {
		t.Fatalf("watch returned %v, want ErrStreamEnded", err)
	}

	sc2 := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	w = watch(t, sc2.c, "a.x")
	sc2.waitStreams(t, 1)
	sc2.r.Close()
	if err := w.result(t); !errors.Is(err, httpapi.ErrStreamEnded) {
		t.Fatalf("watch returned %v after the replica closed, want ErrStreamEnded", err)
	}
}
