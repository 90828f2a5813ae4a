package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/dprop/dprop/replica/httpapi"
)

// publishClaims publishes supported claims to cell as `nats pub` would:
// no headers, straight to the cell's subject.
func publishClaims(t *testing.T, url, cell string, claims ...string) {
	t.Helper()
	nc := connect(t, url)
	for _, c := range claims {
		if err := nc.Publish("dprop.cell."+cell, []byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// Two plain publishes of claims on different premises make a supported
// cell that no propagator reads contradictory: the sidecar records exactly
// that nogood, and /readyz reports the worldview inconsistent.
func TestNogoodOfPlainPublishes(t *testing.T) {
	url := runBroker(t).ClientURL()
	sc := newSidecar(t, url, httpapi.Options{})
	publishClaims(t, url, "probe.temp",
		`{"type":"supported","values":[{"premises":["probe-a"],"value":{"type":"interval","lo":1,"hi":2}}]}`,
		`{"type":"supported","values":[{"premises":["probe-b"],"value":{"type":"interval","lo":3,"hi":4}}]}`)
	var rd httpapi.Readiness
	deadline := time.Now().Add(testTimeout)
	for {
		if err := json.Unmarshal([]byte(sc.do(t, "GET", "/readyz", "").want(t, http.StatusOK).body), &rd); err != nil {
			t.Fatal(err)
		}
		if rd.Worldview != nil && rd.Worldview.Nogoods > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no nogood recorded: readyz worldview %+v", rd.Worldview)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rd.Worldview.Nogoods != 1 || fmt.Sprint(rd.Worldview.Inconsistent) != "[[probe-a probe-b]]" {
		t.Fatalf("readyz worldview: %+v", rd.Worldview)
	}
	p, err := sc.c.Premises(ctxT(t))
	if err != nil || fmt.Sprint(p.Nogoods) != "[[probe-a probe-b]]" {
		t.Fatalf("premises: %+v %v", p, err)
	}
	a := sc.do(t, "GET", "/v1/cells/probe.temp", "").want(t, http.StatusOK)
	if a.header.Get(httpapi.HeaderConflict) != "probe-a,probe-b" || a.header.Get(httpapi.HeaderInconsistent) != "true" {
		t.Fatalf("contradicted read: %s %v", a.body, a.header)
	}
}

// A change of the worldview sends an event of each supported cell watched,
// with its new consequence, though its stored claims did not change.
func TestSupportedEventsFollowWorldview(t *testing.T) {
	url := runBroker(t).ClientURL()
	sc := newSidecar(t, url, httpapi.Options{})
	publishClaims(t, url, "probe.temp",
		`{"type":"supported","values":[{"premises":["coarse"],"value":{"type":"interval","lo":1,"hi":10}},`+
			`{"premises":["fine"],"value":{"type":"interval","lo":2,"hi":3}}]}`)
	for _, path := range []string{"probe.temp", "probe.>"} {
		t.Run(path, func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctxT(t))
			defer cancel()
			events := make(chan httpapi.Event, 16)
			done := make(chan error, 1)
			go func() {
				done <- sc.c.Watch(ctx, path, func(ev httpapi.Event) error {
					events <- ev
					return nil
				})
			}()
			next := func() httpapi.Event {
				t.Helper()
				select {
				case ev := <-events:
					return ev
				case err := <-done:
					t.Fatalf("watch ended: %v", err)
				case <-time.After(testTimeout):
					t.Fatal("no event")
				}
				return httpapi.Event{}
			}
			first := next()
			if string(first.Consequence) != `{"type":"interval","lo":2,"hi":3}` || !slices.Equal(first.Support, []string{"fine"}) {
				t.Fatalf("first event: %s on %v", first.Consequence, first.Support)
			}
			if _, err := sc.c.SetPremise(ctxT(t), "fine", false); err != nil {
				t.Fatal(err)
			}
			ev := next()
			if ev.Cell != "probe.temp" || string(ev.Consequence) != `{"type":"interval","lo":1,"hi":10}` ||
				!slices.Equal(ev.Support, []string{"coarse"}) || string(ev.Value) != string(first.Value) || ev.Seq <= first.Seq {
				t.Fatalf("after withdrawing fine: %+v (first %+v)", ev, first)
			}
			if _, err := sc.c.SetPremise(ctxT(t), "fine", true); err != nil {
				t.Fatal(err)
			}
			if ev := next(); string(ev.Consequence) != `{"type":"interval","lo":2,"hi":3}` || !slices.Equal(ev.Support, []string{"fine"}) {
				t.Fatalf("after believing fine again: %s on %v", ev.Consequence, ev.Support)
			}
		})
	}
}

// A stream opened again after a worldview change it missed starts with the
// new consequence, at a seq above the one seen before: a client that skips
// what it has seen by seq (as dprop watch does on resuming) keeps it.
func TestSupportedEventsResumeAfterWorldviewChange(t *testing.T) {
	url := runBroker(t).ClientURL()
	sc := newSidecar(t, url, httpapi.Options{})
	publishClaims(t, url, "probe.temp",
		`{"type":"supported","values":[{"premises":["coarse"],"value":{"type":"interval","lo":1,"hi":10}},`+
			`{"premises":["fine"],"value":{"type":"interval","lo":2,"hi":3}}]}`)
	first := func() httpapi.Event {
		t.Helper()
		var got httpapi.Event
		err := sc.c.Watch(ctxT(t), "probe.temp", func(ev httpapi.Event) error {
			got = ev
			return errStop
		})
		if !errors.Is(err, errStop) {
			t.Fatal(err)
		}
		return got
	}
	before := first()
	if string(before.Consequence) != `{"type":"interval","lo":2,"hi":3}` {
		t.Fatalf("before: %+v", before)
	}
	if _, err := sc.c.SetPremise(ctxT(t), "fine", false); err != nil {
		t.Fatal(err)
	}
	after := first()
	if string(after.Consequence) != `{"type":"interval","lo":1,"hi":10}` || after.Seq <= before.Seq || after.ETag != before.ETag {
		t.Fatalf("after withdrawing fine: %+v (before %+v)", after, before)
	}
	// Nothing changed since: the same seq again, which a resuming client skips.
	if again := first(); again.Seq != after.Seq || string(again.Consequence) != string(after.Consequence) {
		t.Fatalf("again: %+v (after %+v)", again, after)
	}
}
