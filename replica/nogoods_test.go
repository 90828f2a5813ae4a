package replica_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/replica"
)

// sweep is one look of a replica's nogoods recorder.
type sweep struct {
	withdrawn []string
	recorded  [][]string
}

// A supported cell that no propagator reads, made contradictory by two
// plain publishes of claims on different premises: the replica records
// exactly that nogood, once, and a later worldview change that makes the
// cell contradictory again does not record it again.
func TestNogoodOfUnreadCell(t *testing.T) {
	sweeps := make(chan sweep, 100)
	t.Cleanup(replica.SetNogoodsHook(func(withdrawn []string, recorded [][]string) {
		select {
		case sweeps <- sweep{slices.Clone(withdrawn), recorded}:
		default:
		}
	}))
	url := runBroker(t).ClientURL()
	r := startReplica(t, url)
	nc := connect(t, url)
	for _, claim := range []string{
		`{"type":"supported","values":[{"premises":["probe-a"],"value":{"type":"interval","lo":1,"hi":2}}]}`,
		`{"type":"supported","values":[{"premises":["probe-b"],"value":{"type":"interval","lo":3,"hi":4}}]}`,
	} {
		if err := nc.Publish("dprop.cell.probe.temp", []byte(claim)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	next := func(what string, withdrawn ...string) sweep {
		t.Helper()
		deadline := time.After(testTimeout)
		for {
			select {
			case s := <-sweeps:
				if slices.Equal(s.withdrawn, withdrawn) && (what != "recorded" || len(s.recorded) > 0) {
					return s
				}
			case <-deadline:
				t.Fatalf("no look of the recorder (%s) with %v withdrawn; nogoods %v", what, withdrawn, r.Nogoods())
			}
		}
	}
	want := "[[probe-a probe-b]]"
	if s := next("recorded"); fmt.Sprint(s.recorded) != want {
		t.Fatalf("recorded %v, want %v", s.recorded, want)
	}
	if got := fmt.Sprint(r.Nogoods()); got != want {
		t.Fatalf("nogoods %s, want %s", got, want)
	}
	if bad := r.Worldview().Inconsistent(r.Nogoods()); fmt.Sprint(bad) != want {
		t.Fatalf("inconsistent %v", bad)
	}

	// Withdrawing a premise leaves no contradiction; believing it again
	// brings it back, already recorded.
	if _, err := r.SetPremise(ctxT(t), "probe-a", false); err != nil {
		t.Fatal(err)
	}
	if s := next("withdrawn", "probe-a"); len(s.recorded) != 0 {
		t.Fatalf("recorded %v with probe-a withdrawn", s.recorded)
	}
	if _, err := r.SetPremise(ctxT(t), "probe-a", true); err != nil {
		t.Fatal(err)
	}
	if s := next("believed again"); len(s.recorded) != 0 {
		t.Fatalf("recorded %v again", s.recorded)
	}
	if n := messagesOf(t, nc, propagators.NogoodsCell); n != 1 {
		t.Fatalf("%d updates of %s, want 1", n, propagators.NogoodsCell)
	}
}

// messagesOf counts the updates of cell in the stream.
func messagesOf(t *testing.T, nc *nats.Conn, cell string) uint64 {
	t.Helper()
	subject := "dprop.cell." + cell
	s, err := brokertest.JetStream(t, nc).Stream(ctxT(t), cellname.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctxT(t), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}
