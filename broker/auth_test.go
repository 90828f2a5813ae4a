package broker_test

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/nats-io/nats.go"
)

const usersConfig = `
authorization {
  users = [
    { user: admin, password: "admin-secret" }
    { user: weather, password: "weather-secret", permissions: {
        publish: { allow: ["dprop.cell.weather.>"] }
        subscribe: { allow: ["_INBOX.>"] }
    } }
  ]
}
`

func TestUsersAndPermissions(t *testing.T) {
	ctx := testContext(t)
	srv := brokertest.RunServer(t, brokertest.WithConfigFile(brokertest.WriteFile(t, "nats.conf", usersConfig)))

	admin := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}, User: "admin", Password: "admin-secret"})
	stream, err := broker.EnsureStream(ctx, brokertest.JetStream(t, admin), broker.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}

	weather := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}, User: "weather", Password: "weather-secret"})
	wjs := brokertest.JetStream(t, weather)
	if _, err := wjs.Publish(ctx, "dprop.cell.weather.boston.temp", []byte(`{"type":"range","min":34,"max":48}`)); err != nil {
		t.Fatalf("permitted publish: %v", err)
	}

	// A forbidden publish is refused by the server, which says so.
	if err := weather.Publish("dprop.cell.traffic.i90", []byte(`{"type":"range","min":1,"max":2}`)); err != nil {
		t.Fatal(err)
	}
	if err := weather.FlushWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a permissions violation", func() bool {
		return errors.Is(weather.LastError(), nats.ErrPermissionViolation)
	})
	if !strings.Contains(weather.LastError().Error(), "dprop.cell.traffic.i90") {
		t.Errorf("violation does not name the subject: %v", weather.LastError())
	}

	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream holds %d messages, want 1 (the permitted one)", info.State.Msgs)
	}
}

func TestConnectRefused(t *testing.T) {
	srv := brokertest.RunServer(t, brokertest.WithConfigFile(brokertest.WriteFile(t, "nats.conf", usersConfig)))
	for _, cfg := range []broker.ConnConfig{
		{User: "weather", Password: "wrong"},
		{},
	} {
		cfg.URLs = []string{srv.ClientURL()}
		nc, err := broker.Connect(cfg, nil)
		if err == nil {
			nc.Close()
			t.Fatalf("connected as %q with a wrong password", cfg.User)
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("error %v, want nats.ErrAuthorization", err)
		}
		if !strings.Contains(err.Error(), srv.ClientURL()) {
			t.Errorf("error %v does not name the URL", err)
		}
	}
}

func TestConnectConfigRefused(t *testing.T) {
	for _, cfg := range []broker.ConnConfig{
		{User: "a", Token: "t"},
		{CredsFile: "x.creds", NKeyFile: "x.nk"},
		{Password: "p"},
		{CertFile: "c.pem"},
		{URLs: []string{"nats://a:4222,,nats://b:4222"}},
	} {
		if nc, err := broker.Connect(cfg, nil); err == nil {
			nc.Close()
			t.Errorf("%+v accepted", cfg)
		}
	}
}

func TestConnectErrorHidesPassword(t *testing.T) {
	_, err := broker.Connect(broker.ConnConfig{URLs: []string{"nats://u:hunter2@127.0.0.1:1"}}, nil)
	if err == nil {
		t.Fatal("connected to port 1")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error does not name the URL: %v", err)
	}
}

func tlsConfig(files brokertest.TLSFiles, verifyClients bool) string {
	return fmt.Sprintf(`
tls {
  cert_file: %q
  key_file: %q
  ca_file: %q
  verify: %t
}
`, files.ServerCert, files.ServerKey, files.CA, verifyClients)
}

func TestTLS(t *testing.T) {
	ctx := testContext(t)
	files := brokertest.NewTLSFiles(t)
	srv := brokertest.RunServer(t, brokertest.WithConfigFile(brokertest.WriteFile(t, "nats.conf", tlsConfig(files, false))))
	if !strings.HasPrefix(srv.ClientURL(), "tls://") {
		t.Errorf("client URL %s, want tls://", srv.ClientURL())
	}

	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}, CAFile: files.CA})
	if !nc.TLSRequired() {
		t.Error("connection is not TLS")
	}
	if _, err := broker.EnsureStream(ctx, brokertest.JetStream(t, nc), broker.StreamConfig{}); err != nil {
		t.Fatal(err)
	}

	_, err := broker.Connect(broker.ConnConfig{URLs: []string{srv.ClientURL()}}, nil)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: %v, want a certificate error", err)
	}
}

func TestTLSClientCertificate(t *testing.T) {
	files := brokertest.NewTLSFiles(t)
	srv := brokertest.RunServer(t, brokertest.WithConfigFile(brokertest.WriteFile(t, "nats.conf", tlsConfig(files, true))))

	brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}, CAFile: files.CA, CertFile: files.ClientCert, KeyFile: files.ClientKey})

	nc, err := broker.Connect(broker.ConnConfig{URLs: []string{srv.ClientURL()}, CAFile: files.CA}, nil)
	if err == nil {
		nc.Close()
		t.Error("connected without a client certificate")
	}
}

// With RetryOnFailedConnect, a client may start before its server.
func TestConnectBeforeServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	nc := brokertest.Connect(t, broker.ConnConfig{
		URLs:                 []string{"nats://" + addr},
		RetryOnFailedConnect: true,
		ReconnectWait:        20 * time.Millisecond,
	})
	if nc.IsConnected() {
		t.Fatal("connected before the server started")
	}
	brokertest.RunServer(t, func(c *broker.Config) { c.Listen = addr })
	waitFor(t, "the client to connect", nc.IsConnected)
}

// The connect log names the server even when the connection is closed
// before nats.go runs the handler (as when Ctrl-C comes at once).
func TestConnectLogNamesServer(t *testing.T) {
	srv := brokertest.RunServer(t)
	logs, logger := brokertest.NewRecorder()
	for range 20 {
		nc, err := broker.Connect(broker.ConnConfig{URLs: []string{srv.ClientURL()}}, logger)
		if err != nil {
			t.Fatal(err)
		}
		nc.Close()
	}
	waitFor(t, "the connect handlers to run", func() bool { return len(logs.Records("broker connected")) == 20 })
	for _, rec := range logs.Records("broker connected") {
		if got := brokertest.Attr(rec, "url"); got != srv.ClientURL() {
			t.Fatalf("broker connected url=%q, want %q", got, srv.ClientURL())
		}
	}
}
