package replica_test

import (
	"errors"
	"testing"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
)

// An idempotency key names one update of one cell: a repeat is reported as
// a duplicate and stored once, another value under the key is refused with
// ErrKeyReused, and the same key on another cell is another update.
func TestRefineIdempotencyKey(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL())
	nc := connect(t, srv.ClientURL())
	ctx := ctxT(t)
	refine := func(cell string, v lattice.Value) (replica.RefineReport, error) {
		var rep replica.RefineReport
		_, err := r.Refine(ctx, cell, v, replica.WithIdempotencyKey("k"), replica.WithReport(&rep))
		return rep, err
	}
	first, err := refine("a", lattice.Max{Value: 1})
	if err != nil || first.Duplicate || first.Seq == 0 {
		t.Fatalf("first: %+v %v", first, err)
	}
	again, err := refine("a", lattice.Max{Value: 1})
	if err != nil || !again.Duplicate || again.Seq != first.Seq {
		t.Fatalf("repeat: %+v %v, want a duplicate of %d", again, err, first.Seq)
	}
	if _, err := refine("a", lattice.Max{Value: 2}); !errors.Is(err, replica.ErrKeyReused) {
		t.Fatalf("another value under the key: %v, want ErrKeyReused", err)
	}
	if enc(r.Value("a")) != `{"type":"max","value":1}` {
		t.Fatalf("a = %s", enc(r.Value("a")))
	}
	other, err := refine("b", lattice.Max{Value: 2})
	if err != nil || other.Duplicate || enc(r.Value("b")) != `{"type":"max","value":2}` {
		t.Fatalf("the key on another cell: %+v %v", other, err)
	}
	if last, _ := brokertestStream(t, nc); last != 2 {
		t.Fatalf("the stream holds %d messages, want 2", last)
	}
}
