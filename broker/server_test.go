package broker_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/internal/brokertest"
)

func TestRestartKeepsMessages(t *testing.T) {
	ctx := testContext(t)
	srv := brokertest.RunServer(t)
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}, ReconnectWait: 50 * time.Millisecond})
	js := brokertest.JetStream(t, nc)
	if _, err := broker.EnsureStream(ctx, js, broker.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	bodies := []string{
		`{"type":"range","min":34,"max":48}`,
		`{"type":"range","min":36,"max":40}`,
	}
	for _, body := range bodies {
		if _, err := js.Publish(ctx, "dprop.cell.x", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}

	name := srv.Name()
	srv.Shutdown()
	srv.Shutdown() // twice is fine
	srv = brokertest.RestartServer(t, srv)
	if srv.Name() != name {
		t.Errorf("server name after restart = %q, want %q", srv.Name(), name)
	}

	// The same connection comes back: the port was kept. (IsConnected
	// alone could still be true from before the client saw the shutdown.)
	waitFor(t, "the client to reconnect", func() bool {
		return nc.Stats().Reconnects > 0 && nc.IsConnected()
	})
	stream, err := js.Stream(ctx, cellname.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := stream.CachedInfo().State.Msgs; got != uint64(len(bodies)) {
		t.Fatalf("stream holds %d messages after restart, want %d", got, len(bodies))
	}
	for i, body := range bodies {
		msg, err := stream.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if msg.Subject != "dprop.cell.x" || string(msg.Data) != body {
			t.Errorf("message %d = %s %s, want dprop.cell.x %s", i+1, msg.Subject, msg.Data, body)
		}
	}
}

func TestServerNameKeptInStoreDir(t *testing.T) {
	srv := brokertest.RunServer(t)
	dir := srv.Config().StoreDir
	b, err := os.ReadFile(filepath.Join(dir, "server-name"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != srv.Name() {
		t.Errorf("server-name file holds %q, server is %q", got, srv.Name())
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		t.Errorf("no JetStream store under the store directory: %v", err)
	}
}

func TestStartFails(t *testing.T) {
	taken := brokertest.RunServer(t)
	tests := []struct {
		name string
		cfg  broker.Config
		want string
	}{
		{"no store dir", broker.Config{}, "store directory"},
		{"bad listen", broker.Config{StoreDir: t.TempDir(), Listen: "localhost"}, "listen address"},
		{"bad port", broker.Config{StoreDir: t.TempDir(), Listen: "127.0.0.1:70000"}, "port"},
		{"port taken", broker.Config{StoreDir: t.TempDir(), Listen: taken.Config().Listen}, "listen"},
		{"bad route", broker.Config{StoreDir: t.TempDir(), Cluster: broker.ClusterConfig{
			Listen: "127.0.0.1:-1", Routes: []string{"http://127.0.0.1:6222"},
		}}, "nats-route://"},
		{"routes without listen", broker.Config{StoreDir: t.TempDir(), Cluster: broker.ClusterConfig{
			Routes: []string{"nats-route://127.0.0.1:6222"},
		}}, "cluster listen"},
		{"name with space", broker.Config{StoreDir: t.TempDir(), ServerName: "a b"}, "server name"},
		{"missing config file", broker.Config{StoreDir: t.TempDir(), ConfigFile: "/nonexistent/nats.conf"}, "/nonexistent/nats.conf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := broker.Start(tt.cfg)
			if err == nil {
				srv.Shutdown()
				t.Fatal("Start succeeded")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// A port another process holds is a *ListenError naming the listener, and
// nothing is created in the store directory.
func TestStartPortTakenCreatesNothing(t *testing.T) {
	taken := brokertest.RunServer(t, func(c *broker.Config) { c.Monitor = "127.0.0.1:0" })
	held := taken.Config()
	for _, tt := range []struct {
		name     string
		cfg      func(dir string) broker.Config
		listener string
	}{
		{"client", func(dir string) broker.Config { return broker.Config{StoreDir: dir, Listen: held.Listen} }, broker.ListenerClient},
		{"monitor", func(dir string) broker.Config {
			return broker.Config{StoreDir: dir, Listen: "127.0.0.1:0", Monitor: held.Monitor}
		}, broker.ListenerMonitor},
		{"cluster", func(dir string) broker.Config {
			return broker.Config{StoreDir: dir, Listen: "127.0.0.1:0", Cluster: broker.ClusterConfig{Listen: held.Listen}}
		}, broker.ListenerCluster},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			srv, err := broker.Start(tt.cfg(dir))
			if err == nil {
				srv.Shutdown()
				t.Fatal("Start succeeded on a taken port")
			}
			var le *broker.ListenError
			if !errors.As(err, &le) || le.Listener != tt.listener || !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatalf("error %v (%T): want a *ListenError for the %s listener wrapping EADDRINUSE", err, err, tt.listener)
			}
			if strings.Count(err.Error(), "broker:") != 1 {
				t.Errorf("error %q: want one broker: prefix", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the store directory was created (stat: %v)", err)
			}
		})
	}
}

func TestLogsAndMonitoring(t *testing.T) {
	rec, logger := brokertest.NewRecorder()
	srv := brokertest.RunServer(t, brokertest.WithLogger(logger), func(c *broker.Config) {
		c.Monitor = "127.0.0.1:0"
	})
	at := func(level slog.Level) func(slog.Record) bool {
		return func(r slog.Record) bool { return r.Level == level }
	}
	if !slices.ContainsFunc(rec.Records("Server is ready"), at(slog.LevelInfo)) {
		t.Error("no Info record \"Server is ready\" from nats-server")
	}
	if !slices.ContainsFunc(rec.Records(""), at(slog.LevelDebug)) {
		t.Error("no Debug record although the logger takes them")
	}

	if srv.MonitorURL() == "" {
		t.Fatal("monitoring is off")
	}
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, srv.MonitorURL()+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s", resp.Status)
	}

	if off := brokertest.RunServer(t); off.MonitorURL() != "" {
		t.Errorf("monitoring on by default at %s", off.MonitorURL())
	}
}

func TestWaitJetStreamSingleServer(t *testing.T) {
	srv := brokertest.RunServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a single server is ready at once: no waiting needed
	if err := srv.WaitJetStream(ctx); err != nil {
		t.Fatal(err)
	}
}
