package replica

import (
	"bytes"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
)

// wireSize counts as NATS does: a message of exactly the server's maximum
// payload, headers included, is published, and one byte more is refused.
func TestWireSizeIsWhatNATSCounts(t *testing.T) {
	srv := brokertest.RunServer(t)
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}})
	maxPayload := int(nc.MaxPayload())
	msg := nats.NewMsg("dprop.cell.x")
	msg.Header.Set(HeaderOrigin, "writer-1")
	msg.Header.Set(jetstream.MsgIDHeader, "dprop-key-0123456789abcdef0123456789abcdef")
	msg.Data = bytes.Repeat([]byte("x"), maxPayload-wireSize(msg))
	if n := wireSize(msg); n != maxPayload {
		t.Fatalf("wireSize %d, want %d", n, maxPayload)
	}
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatalf("a message of exactly the maximum payload: %v", err)
	}
	msg.Data = append(msg.Data, 'x')
	if err := nc.PublishMsg(msg); !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("a message one byte over the maximum payload: %v, want nats.ErrMaxPayload", err)
	}
}
