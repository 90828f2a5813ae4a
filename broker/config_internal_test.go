package broker

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func writeConfigFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const fileWithEverything = `
server_name: from-file
listen: "10.0.0.1:5222"
http: "10.0.0.1:8222"
jetstream { store_dir: "/var/lib/from-file" }
cluster {
  name: file-cluster
  listen: "10.0.0.1:6222"
  routes: ["nats-route://10.0.0.2:6222", "nats-route://10.0.0.3:6222"]
}
`

// The file fills what Config leaves empty; what Config sets wins.
func TestConfigFileRule(t *testing.T) {
	path := writeConfigFile(t, fileWithEverything)

	fromFile := Config{ConfigFile: path}
	if err := fromFile.validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{
		StoreDir:   "/var/lib/from-file",
		Listen:     "10.0.0.1:5222",
		ServerName: "from-file",
		Monitor:    "10.0.0.1:8222",
		Cluster: ClusterConfig{
			Name:   "file-cluster",
			Listen: "10.0.0.1:6222",
			Routes: []string{"nats-route://10.0.0.2:6222", "nats-route://10.0.0.3:6222"},
		},
	}
	checkResolved(t, fromFile, want)

	explicit := Config{
		ConfigFile: path,
		StoreDir:   "/data",
		Listen:     "127.0.0.1:-1",
		ServerName: "mine",
		Monitor:    "127.0.0.1:0",
		Cluster: ClusterConfig{
			Name:   "my-cluster",
			Listen: "127.0.0.1:7222",
			Routes: []string{"nats-route://127.0.0.1:7223"},
		},
	}
	want = explicit
	if err := explicit.validate(); err != nil {
		t.Fatal(err)
	}
	checkResolved(t, explicit, want)

	opts, err := explicit.serverOptions()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Host != "127.0.0.1" || opts.Port != -1 || opts.HTTPPort != -1 || opts.Cluster.Port != 7222 ||
		opts.StoreDir != "/data" || !opts.JetStream || !opts.NoSigs || len(opts.Routes) != 1 {
		t.Errorf("server options: host %s port %d http %d cluster %d store %s js %t nosigs %t routes %v",
			opts.Host, opts.Port, opts.HTTPPort, opts.Cluster.Port, opts.StoreDir, opts.JetStream, opts.NoSigs, opts.Routes)
	}
}

func checkResolved(t *testing.T, got, want Config) {
	t.Helper()
	if got.StoreDir != want.StoreDir || got.Listen != want.Listen || got.ServerName != want.ServerName ||
		got.Monitor != want.Monitor || got.Cluster.Name != want.Cluster.Name ||
		got.Cluster.Listen != want.Cluster.Listen || !slices.Equal(got.Cluster.Routes, want.Cluster.Routes) {
		t.Errorf("resolved config:\n got %+v\nwant %+v", got, want)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{StoreDir: "/data"}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen || c.Monitor != "" || c.Cluster.Listen != "" || c.ReadyTimeout != DefaultReadyTimeout || c.Logger == nil {
		t.Errorf("defaults: %+v", c)
	}
	c = Config{StoreDir: "/data", Cluster: ClusterConfig{Listen: ":6222"}}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Cluster.Name != DefaultClusterName {
		t.Errorf("cluster name %q, want %q", c.Cluster.Name, DefaultClusterName)
	}
	// A port in the file without a host stays on loopback.
	c = Config{ConfigFile: writeConfigFile(t, "port: 4333\njetstream { store_dir: /x }\n")}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:4333" {
		t.Errorf("listen %q, want 127.0.0.1:4333", c.Listen)
	}
}

type levelRecorder struct{ got []slog.Level }

func (r *levelRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *levelRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.got = append(r.got, rec.Level)
	return nil
}
func (r *levelRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *levelRecorder) WithGroup(string) slog.Handler      { return r }

func TestLogLevels(t *testing.T) {
	rec := &levelRecorder{}
	l := newSlogLogger(slog.New(rec))
	l.Noticef("n %d", 1)
	l.Warnf("w")
	l.Errorf("e")
	l.Fatalf("f %s", "first")
	l.Fatalf("f %s", "second")
	l.Debugf("d")
	l.Tracef("t")
	want := []slog.Level{slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelError, slog.LevelError, slog.LevelDebug, slog.LevelDebug}
	if !slices.Equal(rec.got, want) {
		t.Errorf("levels %v, want %v", rec.got, want)
	}
	if got := l.fatalMessage(); got != "f first" {
		t.Errorf("fatal message %q, want the first one", got)
	}
}
