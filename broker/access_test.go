package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
)

// accessServer runs a server with one user per role on weather.> (admin on
// everything), password "<role>-secret", and the stream provisioned.
func accessServer(t *testing.T) *broker.Server {
	t.Helper()
	var users []broker.User
	for _, role := range broker.Roles {
		hash, err := bcrypt.GenerateFromPassword([]byte(role+"-secret"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		u, err := broker.NewUser(role, role, broker.Scope{Cells: "weather.>"}, string(hash), "")
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	conf := broker.ServerConfig("", users)
	srv := brokertest.RunServer(t, brokertest.WithConfigFile(brokertest.WriteFile(t, "nats.conf", conf)))
	admin := connectAs(t, srv, broker.RoleAdmin)
	js := brokertest.JetStream(t, admin)
	if _, err := broker.EnsureStream(testContext(t), js, broker.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{"dprop.cell.weather.boston", "dprop.cell.traffic.i90"} {
		if _, err := js.Publish(testContext(t), subject, []byte(`{"type":"max","value":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

func connectAs(t *testing.T, srv *broker.Server, role string) *nats.Conn {
	t.Helper()
	return brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}, User: role, Password: role + "-secret",
		InboxPrefix: broker.InboxFor(role)})
}

// action is one thing a user tries; it reports an error when the server
// does not let it happen.
type action struct {
	do func(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) error
}

// denied reports whether err is the server's refusal (or the silence that
// follows a request whose subject the user may not publish to).
func denied(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == 10111 { // JSStreamRollupFailed: "rollup not permitted"
		return true // the stream's refusal
	}
	return err != nil && (errors.Is(err, nats.ErrPermissionViolation) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) || strings.Contains(err.Error(), "Permissions Violation"))
}

var actions = map[string]action{
	"publish inside the subtree (acknowledged)": {do: func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
		_, err := js.Publish(ctx, "dprop.cell.weather.boston", []byte(`{"type":"max","value":1}`))
		return err
	}},
	"publish outside the subtree": {do: func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
		_, err := js.Publish(ctx, "dprop.cell.traffic.i90", []byte(`{"type":"max","value":1}`))
		return err
	}},
	"read the subtree with a filtered ordered consumer": {do: func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
		return readOne(ctx, js, "dprop.cell.weather.>")
	}},
	"read the subtree's updates and forget markers with one filter": {do: func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
		return readOne(ctx, js, "dprop.*.weather.>")
	}},
	"forget a cell of the subtree (publish a forget marker)": {do: func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
		_, err := js.Publish(ctx, "dprop.forget.weather.boston", []byte(`{"cell":"weather.boston"}`))
		return err
	}},
	"read another subtree": {do: func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
		return readOne(ctx, js, "dprop.cell.traffic.>")
	}},
	"create an unfiltered consumer": {do: func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
		_, err := js.CreateConsumer(ctx, "DPROP", jetstream.ConsumerConfig{AckPolicy: jetstream.AckNonePolicy})
		return err
	}},
	"direct get of the last message of a cell of the subtree": {do: func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
		s, err := js.Stream(ctx, "DPROP")
		if err != nil {
			return err
		}
		_, err = s.GetLastMsgForSubject(ctx, "dprop.cell.weather.boston")
		return err
	}},
	"direct get of another subtree's message": {do: func(ctx context.Context, nc *nats.Conn, _ jetstream.JetStream) error {
		_, err := nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET.DPROP.dprop.cell.traffic.i90", nil)
		return err
	}},
	"subscribe to another subtree": {do: func(ctx context.Context, nc *nats.Conn, _ jetstream.JetStream) error {
		return subscribe(ctx, nc, "dprop.cell.traffic.>")
	}},
	"subscribe to another user's inbox": {do: func(ctx context.Context, nc *nats.Conn, _ jetstream.JetStream) error {
		return subscribe(ctx, nc, broker.InboxFor("someone-else")+".>")
	}},
	"purge the stream": {do: func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
		s, err := js.Stream(ctx, "DPROP")
		if err != nil {
			return err
		}
		return s.Purge(ctx, jetstream.WithPurgeSubject("dprop.cell.nothing.here"))
	}},
	"edit the stream": {do: func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
		s, err := js.Stream(ctx, "DPROP")
		if err != nil {
			return err
		}
		cfg := s.CachedInfo().Config
		cfg.Description = "edited"
		_, err = js.UpdateStream(ctx, cfg)
		return err
	}},
	// A rollup erases the subject's history: the stream denies it to
	// everyone (compaction purges instead, as admin).
	"publish a rollup inside the subtree": {do: func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
		m := nats.NewMsg("dprop.cell.weather.boston")
		m.Data = []byte(`{"type":"max","value":0}`)
		m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
		_, err := js.PublishMsg(ctx, m)
		return err
	}},
	"delete a message": {do: func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
		s, err := js.Stream(ctx, "DPROP")
		if err != nil {
			return err
		}
		err = s.DeleteMsg(ctx, 1<<40)
		if err != nil && strings.Contains(err.Error(), "err_code=") {
			return nil // the server took the request: there is just no such message
		}
		return err
	}},
}

func readOne(ctx context.Context, js jetstream.JetStream, filter string) error {
	s, err := js.Stream(ctx, "DPROP")
	if err != nil {
		return err
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return err
	}
	batch, err := c.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		return err
	}
	for range batch.Messages() {
		return nil
	}
	if batch.Error() != nil {
		return batch.Error()
	}
	return errors.New("no message delivered")
}

func subscribe(ctx context.Context, nc *nats.Conn, subject string) error {
	before := nc.LastError()
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := nc.FlushWithContext(ctx); err != nil {
		return err
	}
	// The server refuses a subscription asynchronously.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if err := nc.LastError(); err != nil && err != before {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// Every role against the server, for every action: allowed where the role
// allows it, denied by the server everywhere else.
func TestRolePermissions(t *testing.T) {
	srv := accessServer(t)
	allowed := map[string][]string{
		broker.RoleWriter: {"publish inside the subtree (acknowledged)"},
		broker.RoleReader: {"read the subtree with a filtered ordered consumer", "direct get of the last message of a cell of the subtree",
			"read the subtree's updates and forget markers with one filter"},
		broker.RoleSidecar: {"publish inside the subtree (acknowledged)", "read the subtree with a filtered ordered consumer",
			"direct get of the last message of a cell of the subtree", "read the subtree's updates and forget markers with one filter"},
	}
	for _, role := range broker.Roles {
		t.Run(role, func(t *testing.T) {
			t.Parallel()
			nc := connectAs(t, srv, role)
			js := brokertest.JetStream(t, nc)
			for name, a := range actions {
				ok := role == broker.RoleAdmin && name != "publish a rollup inside the subtree"
				for _, n := range allowed[role] {
					ok = ok || n == name
				}
				// A denied request is answered by silence: give it a
				// short while; an allowed one all the time it needs.
				wait := time.Second
				if ok {
					wait = brokertest.Timeout
				}
				ctx, cancel := context.WithTimeout(testContext(t), wait)
				err := a.do(ctx, nc, js)
				cancel()
				switch {
				case ok && err != nil:
					t.Errorf("%s: %s: %v (want allowed)", role, name, err)
				case !ok && !denied(err):
					t.Errorf("%s: %s: %v (want denied by the server)", role, name, err)
				}
			}
		})
	}
}

// The generated entries are what nats-server's parser accepts, with the
// permissions as written.
func TestUserEntry(t *testing.T) {
	u, err := broker.NewUser("app", broker.RoleSidecar, broker.Scope{Cells: "weather.>"}, "", "UAPP")
	if err != nil {
		t.Fatal(err)
	}
	e := u.Entry()
	for _, want := range []string{`nkey: "UAPP"`, `"dprop.cell.weather.>"`, `"$JS.API.CONSUMER.CREATE.DPROP.*.dprop.*.weather.>"`, `"_INBOX_app.>"`} {
		if !strings.Contains(e, want) {
			t.Errorf("entry lacks %s:\n%s", want, e)
		}
	}
	if _, err := broker.NewUser("x", "owner", broker.Scope{}, "h", ""); !errors.Is(err, broker.ErrUnknownRole) {
		t.Errorf("unknown role: %v", err)
	}
	if _, err := broker.NewUser("x", broker.RoleWriter, broker.Scope{Cells: "a b"}, "h", ""); err == nil {
		t.Error("bad pattern accepted")
	}
}
