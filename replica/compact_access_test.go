package replica_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
)

// Compaction needs the admin role: a sidecar's own credential may publish
// joins but not purge, so its compaction stops at the first refused purge
// and says why, having added no more than a batch of joins to the log; an
// admin's compaction shortens the log.
func TestCompactionNeedsAdmin(t *testing.T) {
	var users []broker.User
	for _, role := range []string{broker.RoleSidecar, broker.RoleAdmin} {
		hash, _ := bcrypt.GenerateFromPassword([]byte(role), bcrypt.MinCost)
		u, err := broker.NewUser(role, role, broker.Scope{}, string(hash), "")
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	srv := brokertest.RunServer(t, brokertest.WithConfigFile(brokertest.WriteFile(t, "nats.conf", broker.ServerConfig("", users))))
	as := func(role string) *replica.Replica {
		nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}, User: role, Password: role, InboxPrefix: broker.InboxFor(role)})
		r, err := replica.Start(ctxT(t), replica.Config{Conn: nc, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		waitReady(t, r)
		return r
	}
	bnc, err := srv.Connect(broker.ConnConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bnc.Close()
	if _, err := broker.EnsureStream(ctxT(t), brokertest.JetStream(t, bnc), broker.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	sidecar := as(broker.RoleSidecar)
	const cells = 600
	for i := range 3 * cells {
		if _, err := sidecar.Refine(ctxT(t), fmt.Sprintf("c%d", i%cells), lattice.Max{Value: float64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	before, err := brokertestStream(t, bnc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sidecar.Compact(ctxT(t), replica.CompactOptions{Mode: replica.CompactRollup})
	if !errors.Is(err, replica.ErrPurgeFailed) || !errors.Is(err, nats.ErrPermissionViolation) {
		t.Fatalf("a sidecar's compaction: %v, want ErrPurgeFailed and the server's permissions violation", err)
	}
	after, _ := brokertestStream(t, bnc)
	if grew := after - before; grew == 0 || grew > 256 {
		t.Errorf("the refused compaction added %d joins to the log, want 1 to 256", grew)
	}
	admin := as(broker.RoleAdmin)
	waitFor(t, "the admin replica to catch up", func() bool { return admin.Progress().Applied >= after })
	st, err := admin.Compact(ctxT(t), replica.CompactOptions{Mode: replica.CompactRollup})
	if err != nil || st.RolledUp == 0 {
		t.Fatalf("the admin's compaction: %v, %+v", err, st)
	}
}
