package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/internal/brokertest"
)

// A three-node cluster with a replicated stream loses no acknowledged
// update when the stream's leader goes down and comes back.
func TestClusterLeaderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	ctx := testContext(t)
	c := brokertest.RunCluster(t, 3)
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: c.URLs(), ReconnectWait: 50 * time.Millisecond})
	js := brokertest.JetStream(t, nc)
	stream, err := broker.EnsureStream(ctx, js, broker.StreamConfig{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}

	acked := map[uint64]string{} // stream sequence → body
	publish := func(i int) {
		t.Helper()
		body := fmt.Sprintf(`{"type":"range","min":%d,"max":100}`, i)
		ack := publishRetrying(t, ctx, js, "dprop.cell.x", body, fmt.Sprintf("update-%d", i))
		acked[ack.Sequence] = body
	}
	for i := range 10 {
		publish(i)
	}

	leader := streamLeader(t, ctx, stream)
	down := c.IndexOf(leader)
	if down < 0 {
		t.Fatalf("stream leader %q is not a cluster member", leader)
	}
	c.Stop(down)
	for i := 10; i < 20; i++ {
		publish(i)
	}
	if now := streamLeader(t, ctx, stream); now == leader {
		t.Fatalf("stream leader is still %s after it stopped", now)
	}

	c.Restart(down)
	c.WaitJetStream()
	waitFor(t, leader+" to catch up with the stream", func() bool {
		info, err := streamInfo(ctx, stream)
		if err != nil || info.Cluster == nil {
			return false
		}
		for _, p := range info.Cluster.Replicas {
			if p.Name == leader {
				return p.Current && !p.Offline && p.Lag == 0
			}
		}
		return false
	})

	// Hand the leadership back to the restarted server, then read every
	// message through the leader: a leader holds everything that was
	// acknowledged.
	waitFor(t, leader+" to lead the stream again", func() bool {
		if streamLeader(t, ctx, stream) == leader {
			return true
		}
		stepDown(ctx, nc, cellname.DefaultStream, leader)
		return false
	})
	if len(acked) != 20 {
		t.Fatalf("%d distinct acknowledged sequences, want 20", len(acked))
	}
	for seq, body := range acked {
		subject, data := leaderGet(t, ctx, nc, cellname.DefaultStream, seq)
		if subject != "dprop.cell.x" || data != body {
			t.Errorf("sequence %d: %s %s, want dprop.cell.x %s", seq, subject, data, body)
		}
	}
	var msgs uint64
	waitUntil(t, "stream info", func() error {
		info, err := streamInfo(ctx, stream)
		if err == nil {
			msgs = info.State.Msgs
		}
		return err
	})
	if msgs != 20 {
		t.Errorf("stream holds %d messages, want 20", msgs)
	}
}

// publishRetrying publishes until JetStream acknowledges, as a client
// does while the cluster moves a leader. The message ID makes retries of
// a publish that was stored after all harmless.
func publishRetrying(t *testing.T, ctx context.Context, js jetstream.JetStream, subject, body, id string) *jetstream.PubAck {
	t.Helper()
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		ack, err := js.Publish(attempt, subject, []byte(body), jetstream.WithMsgID(id))
		cancel()
		if err == nil {
			return ack
		}
		if ctx.Err() != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
	}
}

// streamLeader returns the name of the stream's leader, waiting for the
// stream to have one.
func streamLeader(t *testing.T, ctx context.Context, stream jetstream.Stream) string {
	t.Helper()
	var leader string
	waitUntil(t, "the stream to have a leader", func() error {
		info, err := streamInfo(ctx, stream)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return errors.New("no leader")
		}
		leader = info.Cluster.Leader
		return nil
	})
	return leader
}

// streamInfo asks for the stream's info once. A request can be lost while
// a leader moves, so each one gets a short timeout of its own.
func streamInfo(ctx context.Context, stream jetstream.Stream) (*jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return stream.Info(ctx)
}

// stepDown asks the stream's leader to hand over to the server named to.
// Errors are ignored: the caller checks who leads.
func stepDown(ctx context.Context, nc *nats.Conn, stream, to string) {
	req := fmt.Sprintf(`{"placement":{"preferred":%q}}`, to)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, _ = nc.RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN."+stream, []byte(req))
}

// leaderGet reads message seq through the stream leader (the direct get
// API would let any replica answer), trying again while the cluster is
// busy electing.
func leaderGet(t *testing.T, ctx context.Context, nc *nats.Conn, stream string, seq uint64) (subject, data string) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("message %d", seq), func() error {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		msg, err := nc.RequestWithContext(attempt, "$JS.API.STREAM.MSG.GET."+stream, fmt.Appendf(nil, `{"seq":%d}`, seq))
		if err != nil {
			return err
		}
		var resp struct {
			Message *struct {
				Subject string `json:"subject"`
				Data    []byte `json:"data"`
			} `json:"message"`
			Error *jetstream.APIError `json:"error"`
		}
		if err := json.Unmarshal(msg.Data, &resp); err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		if resp.Error != nil {
			if resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
				t.Fatalf("get %d: %v", seq, resp.Error)
			}
			return resp.Error
		}
		subject, data = resp.Message.Subject, string(resp.Message.Data)
		return nil
	})
	return subject, data
}
