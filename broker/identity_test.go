package broker_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
)

// On a server whose configuration demands users (and TLS), the broker
// still provisions its stream: it connects in process as an identity of
// its own, in the users' account, where a writer then finds the stream.
func TestBrokerIdentityUnderAuthAndTLS(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("w-secret"), bcrypt.MinCost)
	w, err := broker.NewUser("w", broker.RoleWriter, broker.Scope{Cells: "weather.>"}, string(hash), "")
	if err != nil {
		t.Fatal(err)
	}
	files := brokertest.NewTLSFiles(t)
	conf := broker.ServerConfig("", []broker.User{w}) + tlsConfig(files, false)
	srv := brokertest.RunServer(t, brokertest.WithConfigFile(brokertest.WriteFile(t, "nats.conf", conf)))
	nc, err := srv.Connect(broker.ConnConfig{Name: "provisioning"}, brokertest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := broker.EnsureStream(testContext(t), brokertest.JetStream(t, nc), broker.StreamConfig{}); err != nil {
		t.Fatalf("provisioning as the broker: %v", err)
	}
	writer := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}, User: "w", Password: "w-secret",
		InboxPrefix: broker.InboxFor("w"), CAFile: files.CA})
	if _, err := brokertest.JetStream(t, writer).Publish(testContext(t), "dprop.cell.weather.a", []byte(`{"type":"max","value":1}`)); err != nil {
		t.Fatalf("the writer does not find the stream the broker made: %v", err)
	}
	// Nobody else gets in without a credential.
	if nc, err := broker.Connect(broker.ConnConfig{URLs: []string{srv.ClientURL()}, CAFile: files.CA}, nil); err == nil {
		nc.Close()
		t.Fatal("connected without a credential")
	}
}

// Config.Users adds users to a server without a configuration file: the
// admin NKey that dprop up --auth makes gets in, nothing else does.
func TestConfigUsers(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	admin, err := broker.NewUser("admin", broker.RoleAdmin, broker.Scope{}, "", pub)
	if err != nil {
		t.Fatal(err)
	}
	srv := brokertest.RunServer(t, func(c *broker.Config) { c.Users = []broker.User{admin} })
	seedFile := filepath.Join(t.TempDir(), "admin.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}, NKeyFile: seedFile})
	if _, err := broker.EnsureStream(testContext(t), brokertest.JetStream(t, nc), broker.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	if nc, err := broker.Connect(broker.ConnConfig{URLs: []string{srv.ClientURL()}}, nil); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("anonymous connection: %v, want an authorization violation", err)
	}
	internal, err := srv.Connect(broker.ConnConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	internal.Close()
}
