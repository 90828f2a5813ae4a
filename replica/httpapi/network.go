package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/dprop/dprop/propagators/network/graph"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

// The network endpoints: GET /v1/network (the network file's cells and
// propagators, with each propagator's counters here) and GET
// /v1/network/graph (its drawing), for the web page's network view.

// Network is the body of GET /v1/network.
type Network struct {
	// File is the network file given with --network; "" (and no cells or
	// propagators) when the sidecar runs only live networks.
	File        string              `json:"file"`
	Description string              `json:"description,omitempty"`
	Cells       []graph.Cell        `json:"cells"`
	Propagators []NetworkPropagator `json:"propagators"`
	// Live says what runs here of the live networks: templates with their
	// instances known and running here, and shared networks' members.
	Live []replica.NetworkStatus `json:"live,omitempty"`
}

// NetworkPropagator is a propagator of the network and what it did here.
type NetworkPropagator struct {
	graph.Propagator
	// Here is true when this sidecar runs the propagator; the counters
	// are its runs here (zero elsewhere).
	Here bool `json:"here"`
	// Runs, Failures and Refinements count its runs, failed runs and
	// refinements, and refinements published, since the sidecar started.
	Runs        uint64 `json:"runs"`
	Failures    uint64 `json:"failures"`
	Refinements uint64 `json:"refinements"`
	// Failing is true while its last run failed; Contradicted once an
	// input was a contradiction (it no longer runs).
	Failing      bool `json:"failing,omitempty"`
	Contradicted bool `json:"contradicted,omitempty"`
}

// drawing is the network's SVG, laid out once, on first use.
type drawing struct {
	once sync.Once
	svg  []byte
}

// network answers GET /v1/network: the network file's, and the live
// networks'; a sidecar with live networks but no file answers with those.
func (s *Server) network(w http.ResponseWriter, r *http.Request) {
	live := s.r.Networks()
	if s.opts.Network == nil && live != nil {
		writeJSON(w, http.StatusOK, Network{Cells: []graph.Cell{}, Propagators: []NetworkPropagator{}, Live: live})
		return
	}
	g, ok := s.networkFor(w, r)
	if !ok {
		return
	}
	out := Network{File: g.File, Description: g.Description, Cells: g.Cells, Propagators: make([]NetworkPropagator, len(g.Propagators))}
	if out.Cells == nil {
		out.Cells = []graph.Cell{}
	}
	here := map[string]int{}
	nodes := s.r.PropagatorNodes()
	for i, n := range nodes {
		here[n.Name] = i
	}
	for i, p := range g.Propagators {
		np := NetworkPropagator{Propagator: p}
		if j, ok := here[p.Name]; ok {
			n := nodes[j]
			np.Here, np.Runs, np.Failures, np.Refinements, np.Failing, np.Contradicted = true, n.Runs, n.Failures, n.Published, n.Failing, n.Poisoned
		}
		out.Propagators[i] = np
	}
	out.Live = live
	writeJSON(w, http.StatusOK, out)
}

// networkGraph answers GET /v1/network/graph[?format=dot]: the drawing as
// SVG (laid out once), or in Graphviz's DOT language.
func (s *Server) networkGraph(w http.ResponseWriter, r *http.Request) {
	q, ok := s.query(w, r, "", "format")
	if !ok {
		return
	}
	g, ok := s.networkFor(w, r)
	if !ok {
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	switch q.Get("format") {
	case "", "svg":
		s.drawing.once.Do(func() { s.drawing.svg = g.SVG() })
		h.Set("Content-Type", "image/svg+xml")
		// An SVG opened on its own runs no script and loads nothing.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		_, _ = w.Write(s.drawing.svg)
	case "dot":
		h.Set("Content-Type", "text/vnd.graphviz; charset=utf-8")
		_, _ = w.Write(g.DOT())
	default:
		s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, "", fmt.Errorf("format %q: want svg or dot", q.Get("format")))
	}
}

// networkFor returns the network, or answers 404 when the sidecar runs
// none, and 403 when r's principal may not read every cell it declares:
// the network names them all.
func (s *Server) networkFor(w http.ResponseWriter, r *http.Request) (*graph.Graph, bool) {
	g := s.opts.Network
	if g == nil {
		s.writeError(w, r, http.StatusNotFound, ReasonNotFound, "", fmt.Errorf("this sidecar runs no network (start it with --network FILE)"))
		return nil, false
	}
	if p := principalOf(r); p != nil {
		for _, c := range g.Cells {
			if !p.MayRead(c.Name) {
				s.metrics.authRefused.WithLabelValues(refusedForbidden).Inc()
				s.writeError(w, r, http.StatusForbidden, ReasonForbidden, c.Name,
					fmt.Errorf("%s %q may not read cell %q, which the network declares: the network needs read on all its cells", p.kind(), p.Name, c.Name))
				return nil, false
			}
		}
	}
	return g, true
}

// timesTimeout bounds reading the times of a page of cells.
const timesTimeout = 5 * time.Second

// changeTimes returns the time of each cell's last change, as the stream
// stored it; on an error (logged) the times not read are zero.
func (s *Server) changeTimes(r *http.Request, page []fold.Cell) []time.Time {
	seqs := make([]uint64, len(page))
	for i, c := range page {
		seqs[i] = c.Seq
	}
	ctx, cancel := context.WithTimeout(r.Context(), timesTimeout)
	defer cancel()
	times, err := s.r.ChangeTimes(ctx, seqs)
	if err != nil {
		s.log.Warn("listing: times of last change not read", "err", err)
	}
	return times
}
