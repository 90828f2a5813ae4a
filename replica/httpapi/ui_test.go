package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dprop/dprop/propagators/network"
	"github.com/dprop/dprop/propagators/network/graph"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/httpapi"
)

// The web page's files are served to anyone, with headers that keep the
// page to itself; an unknown file is a 404.
func TestUIFiles(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{Access: testAccess(t, testPrincipals())})
	for path, ctype := range map[string]string{"/ui/": "text/html", "/ui/app.js": "text/javascript", "/ui/style.css": "text/css", "/ui/icon.svg": "image/svg+xml"} {
		a := sc.do(t, "GET", path, "").want(t, http.StatusOK)
		if !strings.HasPrefix(a.header.Get("Content-Type"), ctype) {
			t.Errorf("%s: Content-Type %q", path, a.header.Get("Content-Type"))
		}
		for h, want := range map[string]string{"Content-Security-Policy": "script-src 'self'", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"} {
			if !strings.Contains(a.header.Get(h), want) {
				t.Errorf("%s: %s %q lacks %q", path, h, a.header.Get(h), want)
			}
		}
		if etag := a.header.Get("ETag"); etag == "" {
			t.Errorf("%s: no ETag", path)
		} else {
			sc.do(t, "GET", path, "", "If-None-Match", etag).want(t, http.StatusNotModified)
		}
	}
	if a := sc.do(t, "GET", "/ui/", ""); !strings.Contains(a.body, `<script type="module" src="app.js">`) {
		t.Errorf("index: %s", a.body)
	}
	sc.do(t, "GET", "/ui/nothing.js", "").want(t, http.StatusNotFound)
	sc.do(t, "POST", "/ui/", "").want(t, http.StatusMethodNotAllowed)
	// The page's API calls still need a token, and a rebinding name is
	// refused even the page.
	sc.do(t, "GET", "/v1/cells", "").want(t, http.StatusUnauthorized)
	sc.do(t, "GET", "/ui/", "", "Host", "evil.example:37767").want(t, http.StatusMisdirectedRequest)
	if n := httpapi.UIBytes(); n < 10_000 || n > 200_000 {
		t.Errorf("UIBytes = %d", n)
	}
}

func temperatureGraph(t *testing.T) *graph.Graph {
	t.Helper()
	n, err := network.Load("../../testdata/networks/temperature.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.FromNetwork(n)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// GET /v1/network has the cells and propagators of the network file, with
// each propagator's counters here; /v1/network/graph draws it; a token
// must read every cell the network declares.
func TestNetwork(t *testing.T) {
	srv := runBroker(t)
	n, err := network.Load("../../testdata/networks/temperature.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Build()
	if err != nil {
		t.Fatal(err)
	}
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{Network: temperatureGraph(t)}, func(c *replica.Config) {
		c.Declared, c.Propagators = b.Types, b.Propagators
	})
	sc.do(t, "POST", "/v1/cells/weather.boston.temp_f", `{"type":"range","min":31,"max":57}`).want(t, http.StatusOK)
	var net httpapi.Network
	waitFor(t, "the propagator to run", func() bool {
		a := sc.do(t, "GET", "/v1/network", "").want(t, http.StatusOK)
		if err := json.Unmarshal([]byte(a.body), &net); err != nil {
			t.Fatal(err)
		}
		return len(net.Propagators) == 1 && net.Propagators[0].Refinements >= 1
	})
	p := net.Propagators[0]
	if net.File != "../../testdata/networks/temperature.yaml" || len(net.Cells) != 2 || net.Cells[0].Name != "weather.boston.temp_f" ||
		p.Name != "boston-f-to-c" || p.Kind != "linear" || p.Group != "celsius" || !p.Here || p.Runs < 1 || p.Failures != 0 {
		t.Errorf("network: %+v", net)
	}
	a := sc.do(t, "GET", "/v1/network/graph", "").want(t, http.StatusOK)
	if a.header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(a.body, `id="cell:weather.boston.temp_c"`) {
		t.Errorf("graph: %v %s", a.header, a.body)
	}
	if a := sc.do(t, "GET", "/v1/network/graph?format=dot", "").want(t, http.StatusOK); !strings.Contains(a.body, "digraph") {
		t.Errorf("dot: %s", a.body)
	}
	sc.do(t, "GET", "/v1/network/graph?format=png", "").want(t, http.StatusBadRequest)

	sc.api.SetAccess(testAccess(t, append(testPrincipals(),
		httpapi.Principal{Name: "boston", TokenSHA256: httpapi.HashToken("dprop_boston-token"), Read: []string{"weather.boston.>"}})))
	sc.do(t, "GET", "/v1/network", "").want(t, http.StatusUnauthorized)
	sc.do(t, "GET", "/v1/network", "", "Authorization", "Bearer "+tokReader).want(t, http.StatusOK)
	sc.do(t, "GET", "/v1/network/graph", "", "Authorization", "Bearer "+tokOps).want(t, http.StatusForbidden)
	sc.do(t, "GET", "/v1/network", "", "Authorization", "Bearer dprop_boston-token").want(t, http.StatusOK)
}

// A sidecar without a network says so.
func TestNoNetwork(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	sc.do(t, "GET", "/v1/network", "").want(t, http.StatusNotFound)
	sc.do(t, "GET", "/v1/network/graph", "").want(t, http.StatusNotFound)
}

// times=true gives each listed cell the time the stream stored its last
// change.
func TestListTimes(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	before := time.Now().Add(-time.Second)
	sc.do(t, "POST", "/v1/cells/weather.boston.temp", day1).want(t, http.StatusOK)
	var page struct {
		Cells []httpapi.Cell `json:"cells"`
	}
	a := sc.do(t, "GET", "/v1/cells?times=true", "").want(t, http.StatusOK)
	if err := json.Unmarshal([]byte(a.body), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Cells) != 1 || page.Cells[0].Time.Before(before) || page.Cells[0].Time.After(time.Now().Add(time.Second)) {
		t.Errorf("times=true: %s", a.body)
	}
	if a := sc.do(t, "GET", "/v1/cells", "").want(t, http.StatusOK); strings.Contains(a.body, `"time"`) {
		t.Errorf("a time without times=true: %s", a.body)
	}
	sc.do(t, "GET", "/v1/cells?times=yes", "").want(t, http.StatusBadRequest)
}

// GET /v1/network of a sidecar that runs live networks and no network
// file: each network with its members, and per template its patterns and
// the instances known and running here, as /readyz says them.
func TestNetworkLive(t *testing.T) {
	srv := runBroker(t)
	plain := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	plain.do(t, "GET", "/v1/network", "").want(t, http.StatusNotFound)

	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{}, func(c *replica.Config) { c.LiveNetworks = true })
	var net httpapi.Network
	get := func() {
		t.Helper()
		a := sc.do(t, "GET", "/v1/network", "").want(t, http.StatusOK)
		net = httpapi.Network{}
		if err := json.Unmarshal([]byte(a.body), &net); err != nil {
			t.Fatal(err)
		}
	}
	get()
	if net.File != "" || net.Cells == nil || net.Propagators == nil || len(net.Live) != 0 {
		t.Errorf("no network applied yet: %+v", net)
	}
	n, err := network.Parse("weather.yaml", []byte(`
cells:
  - {name: weather.<city>.temp_f, type: range}
  - {name: weather.<city>.temp_c, type: range}
propagators:
  - {kind: linear, name: c.<city>, inputs: [weather.<city>.temp_f], outputs: [weather.<city>.temp_c], params: {k: 5/9, m: -160/9}}
`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Build()
	if err != nil {
		t.Fatal(err)
	}
	live := replica.Network{Name: "weather", Shared: true, Propagators: b.Propagators, Fingerprints: b.Fingerprints, TypeOf: b.TypeOf}
	for _, tm := range b.Templates {
		live.Templates = append(live.Templates, tm)
	}
	if err := sc.r.SetNetwork(live); err != nil {
		t.Fatal(err)
	}
	for _, city := range []string{"boston", "lima"} {
		sc.do(t, "POST", "/v1/cells/weather."+city+".temp_f", `{"type":"range","min":32,"max":50}`).want(t, http.StatusOK)
	}
	waitFor(t, "two instances running and a member", func() bool {
		get()
		return len(net.Live) == 1 && len(net.Live[0].Templates) == 1 && net.Live[0].Templates[0].Running == 2 && len(net.Live[0].Members) == 1
	})
	nw, ts := net.Live[0], net.Live[0].Templates[0]
	if nw.Name != "weather" || !nw.Shared || ts.Name != "c.<city>" || ts.Instances != 2 || ts.Kind != "linear" ||
		!slices.Equal(ts.Inputs, []string{"weather.<city>.temp_f"}) || !slices.Equal(ts.Outputs, []string{"weather.<city>.temp_c"}) {
		t.Errorf("live network: %+v", nw)
	}
	// The JSON names them as /readyz does.
	a := sc.do(t, "GET", "/v1/network", "").want(t, http.StatusOK)
	for _, want := range []string{`"live":[{"name":"weather","shared":true,"members":[`, `"instances":2,"running":2,"kind":"linear","inputs":[`} {
		if !strings.Contains(a.body, want) {
			t.Errorf("GET /v1/network: no %s in %s", want, a.body)
		}
	}
	sc.do(t, "GET", "/v1/network/graph", "").want(t, http.StatusNotFound)
}
