package broker_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
)

// Credential and TLS files are checked when they are given, each refusal
// naming the file and what is wrong with it.
func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	garbage := write("garbage", "this is not a credentials file\n")
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := user.Seed()
	nkeyFile := write("user.nk", string(seed)+"\n")
	files := brokertest.NewTLSFiles(t)
	for _, c := range []struct {
		cfg  broker.ConnConfig
		want string // "" for accepted
	}{
		{broker.ConnConfig{CredsFile: garbage}, "credentials file " + garbage},
		{broker.ConnConfig{CredsFile: filepath.Join(dir, "missing.creds")}, "no such file"},
		{broker.ConnConfig{NKeyFile: garbage}, "nkey file " + garbage},
		{broker.ConnConfig{NKeyFile: nkeyFile}, ""},
		{broker.ConnConfig{CAFile: garbage}, "CA file " + garbage + ": no PEM certificate"},
		{broker.ConnConfig{CAFile: files.CA}, ""},
		{broker.ConnConfig{CertFile: files.ClientCert, KeyFile: garbage}, "client certificate"},
		{broker.ConnConfig{CertFile: files.ClientCert, KeyFile: files.ClientKey}, ""},
	} {
		err := c.cfg.CheckFiles()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v refused: %v", c.cfg, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: %v, want an error mentioning %q", c.cfg, err, c.want)
		}
	}
}

// A connection that keeps failing on its credentials keeps retrying, and
// says why on its watch: the cause, not a timeout.
func TestConnWatchAuthorizationViolation(t *testing.T) {
	srv := brokertest.RunServer(t, brokertest.WithConfigFile(brokertest.WriteFile(t, "nats.conf", usersConfig)))
	w := &broker.ConnWatch{}
	nc, err := broker.Connect(broker.ConnConfig{URLs: []string{srv.ClientURL()}, User: "weather", Password: "wrong",
		RetryOnFailedConnect: true, Watch: w}, brokertest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitFor(t, "a failed attempt", func() bool { return w.Failures() >= 1 })
	if err := w.Err(); err == nil || !strings.Contains(err.Error(), "Authorization Violation") {
		t.Fatalf("watch = %v, want the authorization violation", err)
	}
	// nats.go gives up after two violations in a row unless told not to:
	// let several attempts fail, then fix the server's side; the
	// connection must get through by itself.
	start := time.Now()
	waitFor(t, "several attempts", func() bool { return time.Since(start) > 3*time.Second })
	cfg := srv.Config()
	srv.Shutdown()
	cfg.ConfigFile = brokertest.WriteFile(t, "fixed.conf", `authorization { users = [ { user: weather, password: "wrong" } ] }`)
	fixed, err := broker.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer fixed.Shutdown()
	waitFor(t, "the connection to get through once the server accepts it", func() bool { return w.Err() == nil })
}

// A TLS server whose authority the client does not trust: the cause is the
// certificate, and it is said.
func TestConnWatchUnknownAuthority(t *testing.T) {
	files := brokertest.NewTLSFiles(t)
	srv := brokertest.RunServer(t, brokertest.WithConfigFile(brokertest.WriteFile(t, "nats.conf", tlsConfig(files, false))))
	w := &broker.ConnWatch{}
	nc, err := broker.Connect(broker.ConnConfig{URLs: []string{srv.ClientURL()}, RetryOnFailedConnect: true, Watch: w}, brokertest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitFor(t, "a failed attempt", func() bool { return w.Failures() >= 1 })
	if err := w.Err(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("watch = %v, want the certificate's problem", err)
	}
}
