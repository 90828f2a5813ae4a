package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators/network"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/httpapi"
)

// barometer runs the barometer with premises in one sidecar and waits for
// the network to settle.
func barometer(t *testing.T) *sidecar {
	t.Helper()
	n, err := network.Load("../../testdata/networks/barometer-premises.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Build()
	if err != nil {
		t.Fatal(err)
	}
	sc := newSidecar(t, runBroker(t).ClientURL(), httpapi.Options{}, func(c *replica.Config) {
		c.Declared, c.Initial, c.Propagators = b.Types, b.Initial, b.Propagators
	})
	quiet(t, sc)
	return sc
}

func quiet(t *testing.T, sc *sidecar) {
	t.Helper()
	if err := sc.r.WaitQuiescent(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestSupportedReads(t *testing.T) {
	sc := barometer(t)
	a := sc.do(t, "GET", "/v1/cells/building.height", "").want(t, http.StatusOK)
	if a.body != `{"type":"interval","lo":45,"hi":45}` || a.header.Get(httpapi.HeaderSupport) != "superintendent" ||
		a.header.Get(httpapi.HeaderWithdrawn) != "" || a.header.Get(httpapi.HeaderType) != lattice.TypeSupported {
		t.Fatalf("read: %s %v", a.body, a.header)
	}
	// The ETag is that of what is shown.
	sc.do(t, "GET", "/v1/cells/building.height", "", "If-None-Match", a.header.Get("ETag")).want(t, http.StatusNotModified)

	// Withdraw the superintendent, for every replica.
	p, err := sc.c.SetPremise(ctxT(t), "superintendent", false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Withdrawn, []string{"superintendent"}) || len(p.Premises) != 3 {
		t.Fatalf("after withdrawing: %+v", p)
	}
	quiet(t, sc)
	c, err := sc.c.Read(ctxT(t), "building.height", httpapi.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Support, []string{"fall-time", "shadows"}) || !slices.Equal(c.Withdrawn, []string{"superintendent"}) {
		t.Fatalf("withdrawn: %s on %v (withdrawn %v)", c.Value, c.Support, c.Withdrawn)
	}
	sc.do(t, "GET", "/v1/cells/building.height", "", "If-None-Match", a.header.Get("ETag")).want(t, http.StatusOK)

	// What if he were believed (a "+" in a query arrives as a space), or
	// the shadows were not: nothing changes.
	for q, want := range map[string]string{
		"%2Bsuperintendent":          `{"type":"interval","lo":45,"hi":45}`,
		"+superintendent":            `{"type":"interval","lo":45,"hi":45}`,
		"-shadows,%2Bsuperintendent": `{"type":"interval","lo":45,"hi":45}`,
	} {
		a := sc.do(t, "GET", "/v1/cells/building.height?worldview="+q, "").want(t, http.StatusOK)
		if a.body != want {
			t.Errorf("worldview %s: %s, want %s", q, a.body, want)
		}
	}
	if ws := sc.r.Worldview().Withdrawn(); !slices.Equal(ws, []string{"superintendent"}) {
		t.Fatalf("a what-if read changed the worldview: %v", ws)
	}

	// explain: the consequence, its support and the stored claims.
	ex, err := sc.c.Explain(ctxT(t), "building.height", "")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := lattice.Decode(ex.Stored)
	if err != nil || stored.Type() != lattice.TypeSupported || !slices.Equal(ex.Support, []string{"fall-time", "shadows"}) || ex.Conflict != nil {
		t.Fatalf("explain: %+v (%v)", ex, err)
	}
	// stored: the value to re-publish.
	raw := sc.do(t, "GET", "/v1/cells/building.height?stored=true", "").want(t, http.StatusOK)
	if raw.body != string(ex.Stored) || raw.header.Get(httpapi.HeaderSupport) != "" {
		t.Fatalf("stored: %s %v", raw.body, raw.header)
	}

	for _, bad := range []string{"worldview=-two%20words", "explain=maybe", "explain=true&stored=true", "stored=1&stored=0"} {
		a := sc.do(t, "GET", "/v1/cells/building.height?"+bad, "").want(t, http.StatusBadRequest)
		if !strings.Contains(a.body, httpapi.ReasonBadParameter) {
			t.Errorf("%s: %s", bad, a.body)
		}
	}
	sc.do(t, "POST", "/v1/premises/two%20words/withdraw", "").want(t, http.StatusBadRequest)

	// A nogood: the read says which premises conflict, /readyz that the
	// worldview is inconsistent.
	bad, _ := lattice.Support(lattice.Interval{Lo: 1, Hi: 1.1}, "cheap-stopwatch")
	sc.do(t, "POST", "/v1/cells/fall.time", string(lattice.Encode(bad))).want(t, http.StatusOK)
	quiet(t, sc)
	a = sc.do(t, "GET", "/v1/cells/fall.time", "").want(t, http.StatusOK)
	if a.header.Get(httpapi.HeaderConflict) != "cheap-stopwatch,fall-time" || a.header.Get(httpapi.HeaderInconsistent) != "true" {
		t.Fatalf("contradicted read: %s %v", a.body, a.header)
	}
	var rd httpapi.Readiness
	if err := json.Unmarshal([]byte(sc.do(t, "GET", "/readyz", "").want(t, http.StatusOK).body), &rd); err != nil {
		t.Fatal(err)
	}
	if rd.Worldview == nil || rd.Worldview.Nogoods != 1 || fmt.Sprint(rd.Worldview.Inconsistent) != "[[cheap-stopwatch fall-time]]" {
		t.Fatalf("readyz worldview: %+v", rd.Worldview)
	}
	if _, err := sc.c.SetPremise(ctxT(t), "cheap-stopwatch", false); err != nil {
		t.Fatal(err)
	}
	p, err = sc.c.Premises(ctxT(t))
	if err != nil || len(p.Inconsistent) != 0 || len(p.Nogoods) != 1 {
		t.Fatalf("premises after withdrawing the cheap stopwatch: %+v %v", p, err)
	}
}

func TestWhyEndpoint(t *testing.T) {
	sc := barometer(t)
	why, err := sc.c.Why(ctxT(t), "fall.time_sq", 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if why.Cell != "fall.time_sq" || len(why.Changes) == 0 || len(why.Changes) > 3 {
		t.Fatalf("why: %+v", why)
	}
	var derived *replica.WhyChange
	for i := range why.Changes {
		if why.Changes[i].Propagator != "" {
			derived = &why.Changes[i]
		}
	}
	if derived == nil || len(derived.Inputs) == 0 {
		t.Fatalf("no derived change in %+v", why.Changes)
	}
	for _, in := range derived.Inputs {
		if in.Seq == 0 {
			continue // read empty: nothing to explain
		}
		if in.Why == nil || len(in.Value) == 0 {
			t.Fatalf("input %s@%d: not explained at depth 2", in.Cell, in.Seq)
		}
		for _, c := range in.Why.Changes {
			if c.Seq > in.Seq || c.Inputs != nil && c.Inputs[0].Why != nil {
				t.Errorf("input %s@%d explained by change %d, or past the depth", in.Cell, in.Seq, c.Seq)
			}
		}
	}
	for _, bad := range []string{"depth=0", "depth=17", "changes=x", "depth=1&depth=2"} {
		sc.do(t, "GET", "/v1/cells/building.height/why?"+bad, "").want(t, http.StatusBadRequest)
	}
	sc.do(t, "GET", "/v1/cells/a..b/why", "").want(t, http.StatusBadRequest)
}

// A threshold read of a supported cell waits for its strongest
// consequence: believing a premise again satisfies it as a new claim would.
func TestSupportedThresholdRead(t *testing.T) {
	sc := barometer(t)
	if _, err := sc.c.SetPremise(ctxT(t), "superintendent", false); err != nil {
		t.Fatal(err)
	}
	quiet(t, sc)
	exact := `{"type":"interval","lo":45,"hi":45}`
	sc.do(t, "GET", "/v1/cells/building.height?timeout=100ms&await="+url.QueryEscape(exact), "").want(t, http.StatusGatewayTimeout)
	// Already reached: the bounds the other two premises give.
	a := sc.do(t, "GET", "/v1/cells/building.height?await="+url.QueryEscape(`{"type":"interval","lo":40,"hi":50}`), "").want(t, http.StatusOK)
	if a.header.Get(httpapi.HeaderSupport) != "fall-time,shadows" {
		t.Fatalf("reached at once: %s %v", a.body, a.header)
	}
	done := make(chan answer, 1)
	go func() {
		done <- sc.do(t, "GET", "/v1/cells/building.height?timeout=20s&await="+url.QueryEscape(exact), "")
	}()
	waitFor(t, "the threshold read to wait", func() bool { return metric(t, sc.reg, "dprop_http_pending_awaits") == 1 })
	if _, err := sc.c.SetPremise(ctxT(t), "superintendent", true); err != nil {
		t.Fatal(err)
	}
	a = <-done
	if a.status != http.StatusOK || a.body != exact || a.header.Get(httpapi.HeaderSupport) != "superintendent" {
		t.Fatalf("after reinstating: %d %s %v", a.status, a.body, a.header)
	}
	// A supported threshold waits for the stored claims, as for any cell.
	sc.do(t, "GET", "/v1/cells/building.height?await="+url.QueryEscape(`{"type":"supported","values":[]}`), "").want(t, http.StatusOK)
	// A threshold of another inner type is a valid wait (the lattice keeps
	// claims of any type), which this cell never reaches.
	sc.do(t, "GET", "/v1/cells/building.height?timeout=50ms&await="+url.QueryEscape(`{"type":"max","value":1}`), "").want(t, http.StatusGatewayTimeout)
}

// An event of a supported cell carries its consequence and support beside
// the stored claims.
func TestSupportedEvents(t *testing.T) {
	sc := barometer(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var got httpapi.Event
	err := sc.c.Watch(ctx, "building.height", func(ev httpapi.Event) error {
		got = ev
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Fatal(err)
	}
	stored, derr := lattice.Decode(got.Value)
	if derr != nil || stored.Type() != lattice.TypeSupported || string(got.Consequence) != `{"type":"interval","lo":45,"hi":45}` ||
		!slices.Equal(got.Support, []string{"superintendent"}) {
		t.Fatalf("event %+v (%v)", got, derr)
	}
}

var errStop = errors.New("stop")
