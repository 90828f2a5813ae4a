package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/httpapi"
)

// The services of the top-level docker-compose.yml that the test runs,
// and the part each sidecar plays in the faults.
var (
	brokers  = []string{"broker1", "broker2", "broker3"}
	sidecars = []string{"writer-sidecar", "celsius", "reader-sidecar"}
)

const (
	// keeper is killed, then restarted with its data volume and without.
	keeper = "writer-sidecar"
	// cutOff is cut off the brokers' network (scenarios 2, 9, 10): it
	// holds weather.>, so its writers write every kind of cell, and the
	// set's elements, each written once, show any update lost from its
	// outbox. faults.override.yml gives it a network of its own where its
	// published port outlives the cut.
	cutOff = "writer-sidecar"
	// compactor compacts the log every DPROP_COMPACT_EVERY.
	compactor = "celsius"
	// meshNetwork is the compose network of brokers and sidecars.
	meshNetwork = "nats"
)

// PortVariable is the variable of docker-compose.yml that sets the host
// port a service is published on (DPROP_PORT_WRITER_SIDECAR, ...).
func PortVariable(service string) string {
	return "DPROP_PORT_" + strings.ToUpper(strings.ReplaceAll(service, "-", "_"))
}

// Cluster is the running compose project: its brokers, its sidecars, and
// how the test reaches them from the host — the sidecars' APIs and the
// brokers' monitoring on the ports the compose file publishes on
// 127.0.0.1, the brokers' NATS port (which it does not publish) at their
// addresses on the compose network. It is safe for concurrent use.
type Cluster struct {
	Compose  *Compose
	Brokers  []string
	Sidecars []string
	// Ports are the host ports services are published on: a broker's
	// monitoring, a sidecar's API.
	Ports map[string]int
	// Held says which cells each sidecar holds (its --cells), as its
	// /v1/status reports it; set by Describe.
	Held Holds
	Mesh string // the docker network of brokers and sidecars
	hc   *http.Client
}

// NewCluster describes the project c runs, its services published on
// ports.
func NewCluster(ctx context.Context, c *Compose, ports map[string]int) (*Cluster, error) {
	cl := &Cluster{
		Compose:  c,
		Brokers:  brokers,
		Sidecars: sidecars,
		Ports:    ports,
		Held:     Holds{},
		hc: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
		}},
	}
	var err error
	if cl.Mesh, err = c.Network(ctx, meshNetwork); err != nil {
		return nil, err
	}
	return cl, nil
}

// Describe asks each sidecar which cells it holds.
func (cl *Cluster) Describe(ctx context.Context) error {
	for _, s := range cl.Sidecars {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := cl.Client(s).Status(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("%s: status: %w", s, err)
		}
		cl.Held[s] = st.Replica.Cells
	}
	return nil
}

// url is the base URL of a service published on the host.
func (cl *Cluster) url(service string) string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(cl.Ports[service]))
}

// Client returns a client of the sidecar's API, through its published
// port.
func (cl *Cluster) Client(sidecar string) *httpapi.Client {
	return httpapi.NewClient(cl.url(sidecar), cl.hc)
}

// Monitor GETs path from the broker's monitoring, through its published
// port, and decodes its JSON answer into v.
func (cl *Cluster) Monitor(ctx context.Context, broker, path string, v any) error {
	return cl.getJSON(ctx, cl.url(broker)+path, v)
}

// State returns every cell the sidecar holds, with its value.
func (cl *Cluster) State(ctx context.Context, sidecar string) (map[string]lattice.Value, error) {
	var body struct{ Cells []httpapi.Cell }
	if err := cl.getJSON(ctx, cl.url(sidecar)+"/v1/cells?values=true", &body); err != nil {
		return nil, fmt.Errorf("%s: %w", sidecar, err)
	}
	st := make(map[string]lattice.Value, len(body.Cells))
	for _, c := range body.Cells {
		v, err := lattice.Decode(c.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: cell %s: %w", sidecar, c.Name, err)
		}
		st[c.Name] = v
	}
	return st, nil
}

// States returns every sidecar's state, read concurrently.
func (cl *Cluster) States(ctx context.Context, sidecars ...string) (States, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		out  = States{}
		errs []error
	)
	for _, s := range sidecars {
		wg.Go(func() {
			st, err := cl.State(ctx, s)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			out[s] = st
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func (cl *Cluster) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := cl.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %.200s", u, resp.StatusCode, b)
	}
	return json.Unmarshal(b, v)
}

// connect opens a NATS connection to the first of brokers that answers,
// which does not reconnect.
func (cl *Cluster) connect(ctx context.Context, brokers []string) (*nats.Conn, error) {
	var errs []error
	for _, b := range brokers {
		nc, err := cl.Dial(ctx, b, nats.NoReconnect())
		if err == nil {
			return nc, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// Dial opens a NATS connection to the broker, from the host, at its
// address on the compose network.
func (cl *Cluster) Dial(ctx context.Context, broker string, opts ...nats.Option) (*nats.Conn, error) {
	ip, err := cl.Compose.IP(ctx, broker, cl.Mesh)
	if err != nil || ip == "" {
		return nil, fmt.Errorf("%s: no address (%v)", broker, err)
	}
	opts = append([]nats.Option{nats.Name("dprop fault test"), nats.Timeout(2 * time.Second)}, opts...)
	nc, err := nats.Connect("nats://"+net.JoinHostPort(ip, "4222"), opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", broker, err)
	}
	return nc, nil
}

// Stream returns the stream's info, asking through the first of brokers
// that answers.
func (cl *Cluster) Stream(ctx context.Context, brokers ...string) (*jetstream.StreamInfo, error) {
	var errs []error
	for _, b := range brokers {
		info, err := cl.streamVia(ctx, b)
		if err == nil {
			return info, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func (cl *Cluster) streamVia(ctx context.Context, broker string) (*jetstream.StreamInfo, error) {
	nc, err := cl.connect(ctx, []string{broker})
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, cellname.DefaultStream)
	if err != nil {
		return nil, fmt.Errorf("stream info via %s: %w", broker, err)
	}
	return s.CachedInfo(), nil
}

// StreamHealthy says why the stream is not at full strength ("" when it
// is): a leader and every other replica current.
func StreamHealthy(info *jetstream.StreamInfo) string {
	switch {
	case info.Cluster == nil || info.Cluster.Leader == "":
		return "the stream has no leader"
	case len(info.Cluster.Replicas) != 2:
		return fmt.Sprintf("the stream has %d followers, want 2", len(info.Cluster.Replicas))
	}
	for _, p := range info.Cluster.Replicas {
		if !p.Current || p.Offline {
			return fmt.Sprintf("replica %s of the stream is not current (lag %d, offline %v)", p.Name, p.Lag, p.Offline)
		}
	}
	return ""
}

// ErrPurgedMeanwhile is returned by Fold when a compaction purged the
// stream while it was read.
var ErrPurgedMeanwhile = errors.New("the stream was purged while it was read")

// Fold replays the stream from its start, through the first of brokers
// that answers: the state any new replica would reach. replica.Replay
// reads up to the last message present when it starts, so a compaction
// that purges the stream meanwhile can hide information from it (the
// purged messages are skipped and the compaction's joins come after that
// last message); Fold reports that case as ErrPurgedMeanwhile.
func (cl *Cluster) Fold(ctx context.Context, brokers ...string) (map[string]lattice.Value, error) {
	nc, err := cl.connect(ctx, brokers)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	stream, err := js.Stream(ctx, cellname.DefaultStream)
	if err != nil {
		return nil, err
	}
	first := stream.CachedInfo().State.FirstSeq
	_, cells, err := replica.Replay(ctx, nc, replica.ReplayOptions{})
	if err != nil {
		return nil, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.State.FirstSeq != first {
		return nil, fmt.Errorf("%w (first sequence %d, then %d)", ErrPurgedMeanwhile, first, info.State.FirstSeq)
	}
	st := make(map[string]lattice.Value, len(cells))
	for _, c := range cells {
		st[c.Name] = c.Value
	}
	return st, nil
}

// Placement maps each sidecar to the broker its NATS connection is on, as
// the brokers' monitoring (/connz) reports it. It asks each broker at its
// address on the compose network: a broker that was cut off and
// reconnected has lost its published port (docker does not publish it
// again until the container restarts).
func (cl *Cluster) Placement(ctx context.Context) (map[string]string, error) {
	byIP := map[string]string{}
	for _, s := range cl.Sidecars {
		ip, err := cl.Compose.IP(ctx, s, cl.Mesh)
		if err != nil {
			return nil, err
		}
		byIP[ip] = s
	}
	out, newest := map[string]string{}, map[string]time.Time{}
	for _, b := range cl.Brokers {
		ip, err := cl.Compose.IP(ctx, b, cl.Mesh)
		if err != nil || ip == "" {
			continue
		}
		var connz struct {
			Connections []struct {
				IP, Name string
				Start    time.Time
			}
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err = cl.getJSON(cctx, "http://"+net.JoinHostPort(ip, "8222")+"/connz?limit=1024", &connz)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("connections of %s: %w", b, err)
		}
		for _, c := range connz.Connections {
			// A connection the sidecar gave up (cut off, then back at the
			// same address) stays listed until the broker notices; the
			// newest is the live one.
			if s, ok := byIP[c.IP]; ok && c.Name == "dprop replica" && c.Start.After(newest[s]) {
				out[s], newest[s] = b, c.Start
			}
		}
	}
	return out, nil
}
