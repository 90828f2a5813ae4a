package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/propagators/network"
	"github.com/dprop/dprop/propagators/network/graph"
)

// runningNetwork is what a sidecar runs of its network file: for the
// banner of dprop up and for the check, once ready, that the propagators
// which derived the log's cells run somewhere.
type runningNetwork struct {
	file      string
	cells     int
	selectors []string // --propagators as given; nil: all
	groups    []string // the file's groups
	declared  []string // every propagator of the file
	running   []string // those that run here

	// The cells to suggest: an input of the first propagator that runs
	// here, its type, and what that propagator derives. An input that
	// holds a constant of the network is no example (another value would
	// contradict it): the next one is taken, and "" if there is none.
	input, inputType, output string

	graph *graph.Graph // the network as the web page draws it
}

func newRunningNetwork(file string, n *network.Network, all *network.Built, running []propagators.Propagator, selectors []string) *runningNetwork {
	rn := &runningNetwork{file: file, cells: len(all.Types), selectors: selectors, groups: n.Groups()}
	for _, p := range all.Propagators {
		rn.declared = append(rn.declared, p.Name())
	}
	for _, t := range all.Templates { // a template counts as one: its instances follow the cells
		rn.declared = append(rn.declared, t.Name())
	}
	for _, p := range running {
		rn.running = append(rn.running, p.Name())
	}
	for _, p := range running {
		if rn.output == "" {
			rn.output = derived(p, "")
		}
		for _, in := range p.Inputs() {
			if _, constant := all.Initial[in]; !constant {
				rn.input, rn.inputType, rn.output = in, all.Types[in], derived(p, in)
				return rn
			}
		}
	}
	return rn
}

// derived is the first output of p other than in (a propagator such as
// linear refines its input too), "" if none.
func derived(p propagators.Propagator, in string) string {
	for _, out := range p.Outputs() {
		if out != in {
			return out
		}
	}
	return ""
}

// describe says which propagators run here, for the banner.
func (rn *runningNetwork) describe() string {
	which := "all groups"
	switch {
	case len(rn.selectors) > 0:
		which = "--propagators " + strings.Join(rn.selectors, ",")
	case len(rn.groups) > 0:
		which = "groups " + strings.Join(rn.groups, ", ")
	}
	if len(rn.running) == 0 {
		return fmt.Sprintf("runs none of its %d propagators (%s)", len(rn.declared), which)
	}
	return fmt.Sprintf("runs %d of %d propagators (%s): %s", len(rn.running), len(rn.declared), which, nameList(rn.running))
}

// nameList lists names, the first eight of them.
func nameList(names []string) string {
	const most = 8
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:most], ", ") + fmt.Sprintf(" and %d more", len(names)-most)
}

// checkPropagators waits until the replica is ready, then says whether the
// log holds refinements by propagators that do not run here.
func (s *sidecar) checkPropagators() {
	select {
	case <-s.rep.Ready():
	case <-s.rep.Done():
		return
	}
	var running, declared []string
	if s.net != nil {
		running, declared = s.net.running, s.net.declared
	}
	inLog := s.rep.LogPropagators()
	if s.rep.Networks() != nil {
		// Live networks: template instances, and propagators shared with
		// other replicas, are named in the log without running here, by
		// design; and the networks of the log may not be loaded yet.
		for _, n := range s.rep.PropagatorNodes() {
			running = append(running, n.Name)
		}
		declared = inLog
	}
	if level, msg, names := propagatorNotice(inLog, running, declared); msg != "" {
		s.log.Log(context.Background(), level, msg, "propagators", names)
	}
}

// propagatorNotice compares the propagators whose refinements the log
// holds with those that run here (running) and those of the network file
// loaded here (declared), and says what to tell the operator, if anything:
//
//   - a warning when none of the log's propagators runs here and some
//     belong to no network loaded here: their cells will not follow their
//     inputs unless a replica runs their network (dprop up restarted
//     without --network, say);
//   - a notice when the others run elsewhere by choice: some of the log's
//     propagators run here, or the missing ones are of the network loaded
//     here but not selected (--propagators);
//   - nothing when all of them run here.
func propagatorNotice(inLog, running, declared []string) (level slog.Level, msg string, names []string) {
	var missing, foreign []string
	runsSome := false
	for _, p := range inLog {
		switch {
		case slices.Contains(running, p):
			runsSome = true
		case slices.Contains(declared, p):
			missing = append(missing, p)
		default:
			missing = append(missing, p)
			foreign = append(foreign, p)
		}
	}
	switch {
	case len(missing) == 0:
		return 0, "", nil
	case !runsSome && len(foreign) > 0:
		return slog.LevelWarn, fmt.Sprintf("cells derived by %s will not follow their inputs unless a replica runs their network: restart with --network FILE",
			nameList(foreign)), foreign
	}
	return slog.LevelInfo, fmt.Sprintf("propagators %s refined cells of the log but do not run here; other replicas may run them", nameList(missing)), missing
}
