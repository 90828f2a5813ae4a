package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/httpapi"
)

// testTimeout bounds every wait in these tests.
const testTimeout = brokertest.Timeout

var (
	ctxT       = brokertest.Context
	waitFor    = brokertest.WaitFor
	testLogger = brokertest.Logger
)

// runBroker starts an embedded server with the DPROP stream provisioned.
func runBroker(t testing.TB) *broker.Server {
	t.Helper()
	return brokertest.RunWithStream(t)
}

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	return brokertest.Connect(t, broker.ConnConfig{URLs: []string{url}})
}

// sidecar is a replica with its HTTP API on an httptest server.
type sidecar struct {
	r   *replica.Replica
	api *httpapi.Server
	ts  *httptest.Server
	c   *httpapi.Client
	reg *prometheus.Registry
}

// newSidecar starts a replica on its own connection, waits until it is
// ready, and serves its API.
func newSidecar(t testing.TB, url string, opts httpapi.Options, mod ...func(*replica.Config)) *sidecar {
	t.Helper()
	sc := newSidecarNoWait(t, url, opts, mod...)
	select {
	case <-sc.r.Ready():
	case <-time.After(testTimeout):
		t.Fatalf("replica not ready: %+v", sc.r.Progress())
	}
	return sc
}

func newSidecarNoWait(t testing.TB, url string, opts httpapi.Options, mod ...func(*replica.Config)) *sidecar {
	t.Helper()
	cfg := replica.Config{Conn: connect(t, url), Logger: testLogger()}
	for _, m := range mod {
		m(&cfg)
	}
	r, err := replica.Start(ctxT(t), cfg)
	if err != nil {
		t.Fatalf("start replica: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	reg := prometheus.NewRegistry()
	if opts.Registry == nil {
		opts.Registry = reg
	}
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	api := httpapi.New(r, opts)
	ts := httptest.NewUnstartedServer(api)
	ts.Config = api.HTTPServer() // the timeouts dprop serves with; Close on Shutdown
	ts.Start()
	t.Cleanup(func() { api.Close(); ts.Close() })
	return &sidecar{r: r, api: api, ts: ts, c: httpapi.NewClient(ts.URL, ts.Client()), reg: reg}
}

// answer is an HTTP answer read whole.
type answer struct {
	status int
	header http.Header
	body   string
}

// do sends a request to the sidecar; header alternates names and values
// ("Host" sets the request's Host).
func (sc *sidecar) do(t testing.TB, method, path, body string, header ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctxT(t), method, sc.ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := sc.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading: %v", method, path, err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func (a answer) want(t testing.TB, status int) answer {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d; body %s", a.status, status, a.body)
	}
	return a
}

// streamLastSeq returns the stream's last sequence.
func streamLastSeq(t testing.TB, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(ctxT(t), cellname.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// metric returns the sum of the values of the series named name whose
// labels include the given name=value pairs.
func metric(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}
