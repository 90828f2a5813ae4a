package httpapi_test

import (
	"context"
	"errors"
	"testing"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/httpapi"
)

// A panicking propagator is isolated: reported in the metrics and as an
// event, while another propagator of the same replica keeps working.
func TestPropagatorFailuresInMetrics(t *testing.T) {
	srv := runBroker(t)
	events := make(chan propagators.Event, 16)
	boom := propagators.NewFunc("boom", []string{"in"}, []string{"out.boom"}, func(context.Context, *propagators.Inputs) ([]propagators.Refinement, error) {
		panic("boom")
	})
	fails := propagators.NewFunc("fails", []string{"in"}, []string{"out.fails"}, func(context.Context, *propagators.Inputs) ([]propagators.Refinement, error) {
		return nil, errors.New("no luck")
	})
	copyIn, err := propagators.Copy("copy", propagators.Cell{Name: "in", Type: "max"}, propagators.Cell{Name: "out.copy", Type: "max"})
	if err != nil {
		t.Fatal(err)
	}
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{}, func(c *replica.Config) {
		c.Propagators = []propagators.Propagator{boom, fails, copyIn}
		c.OnPropagatorEvent = func(ev propagators.Event) {
			select {
			case events <- ev:
			default:
			}
		}
	})
	if _, err := sc.r.Refine(ctxT(t), "in", lattice.Max{Value: 7}); err != nil {
		t.Fatal(err)
	}
	if c, err := sc.r.Await(ctxT(t), "out.copy", lattice.Max{Value: 7}); err != nil || !lattice.Equal(c.Value, lattice.Max{Value: 7}) {
		t.Fatalf("the healthy propagator did not run: %v %v", c, err)
	}
	// The runtime counts a refinement once its Refine returns, which may be
	// just after the value is visible: wait for the counters too.
	waitFor(t, "failures, runs and refinements in the metrics", func() bool {
		return metric(t, sc.reg, "dprop_propagator_failures_total", "kind", "panic") >= 1 &&
			metric(t, sc.reg, "dprop_propagator_failures_total", "kind", "error") >= 1 &&
			metric(t, sc.reg, "dprop_propagator_runs_total") >= 3 &&
			metric(t, sc.reg, "dprop_propagator_refinements_total") >= 1
	})
	seen := map[string]bool{}
	for len(seen) < 2 {
		ev := <-events
		seen[ev.Propagator] = true
	}
	if !seen["boom"] || !seen["fails"] {
		t.Errorf("events from %v", seen)
	}
	if sc.r.IsReady() != true {
		t.Error("the replica stopped")
	}
}
