package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

// Headers of a read of a supported cell (see docs/provenance.md).
const (
	// HeaderSupport lists the premises the value read rests on,
	// comma-separated (empty when it rests on none).
	HeaderSupport = "Dprop-Support"
	// HeaderConflict lists, when the value read is a contradiction, the
	// premises that cannot all hold (a nogood).
	HeaderConflict = "Dprop-Conflict"
	// HeaderWithdrawn lists the premises the read did not believe.
	HeaderWithdrawn = "Dprop-Withdrawn"
	// HeaderInconsistent is "true" when the worldview of the read believes
	// every premise of a recorded nogood.
	HeaderInconsistent = "Dprop-Inconsistent"
)

// Explained is the body of GET /v1/cells/{cell}?explain=true: what a cell
// says under a worldview, and why.
type Explained struct {
	Cell string `json:"cell"`
	// Value is the strongest consequence under the worldview, in the wire
	// form of the inner type (the value itself for a cell that is not
	// supported).
	Value json.RawMessage `json:"value"`
	// Support is the premises Value rests on.
	Support []string `json:"support"`
	// Conflict, when Value is a contradiction, is the premises that
	// cannot all hold.
	Conflict []string `json:"conflict,omitempty"`
	// Withdrawn is the premises the read did not believe.
	Withdrawn []string `json:"withdrawn"`
	// Inconsistent lists the recorded nogoods the worldview believes
	// wholly.
	Inconsistent [][]string `json:"inconsistent,omitempty"`
	// Stored is the cell's value as stored: every claim.
	Stored json.RawMessage `json:"stored"`
	Seq    uint64          `json:"seq"`
}

// Premises is the body of GET /v1/premises and of a withdrawal or
// restoration.
type Premises struct {
	Premises []propagators.PremiseState `json:"premises"`
	// Withdrawn is the current worldview: the premises not believed.
	Withdrawn []string `json:"withdrawn"`
	// Nogoods are the premise sets found inconsistent, and Inconsistent
	// those the current worldview believes wholly.
	Nogoods      [][]string `json:"nogoods"`
	Inconsistent [][]string `json:"inconsistent,omitempty"`
}

// WorldviewStatus is the worldview section of /readyz: present when the
// replica holds a worldview or nogoods. An inconsistent worldview does not
// make the replica unready: it is an answer, not a fault.
type WorldviewStatus struct {
	Withdrawn    []string   `json:"withdrawn"`
	Nogoods      int        `json:"nogoods"`
	Inconsistent [][]string `json:"inconsistent,omitempty"`
}

// readParams are the parameters of a read that concern supported cells.
type readParams struct {
	explain, stored bool
	worldview       propagators.Worldview
	hypothetical    bool // ?worldview= was given
}

// supportedRead reads and checks explain, stored and worldview.
func (s *Server) supportedRead(q url.Values) (readParams, error) {
	var p readParams
	for _, b := range []struct {
		name string
		v    *bool
	}{{"explain", &p.explain}, {"stored", &p.stored}} {
		if v := q.Get(b.name); v != "" {
			var err error
			if *b.v, err = strconv.ParseBool(v); err != nil {
				return p, fmt.Errorf("%s %q: want true or false", b.name, v)
			}
		}
	}
	if p.explain && p.stored {
		return p, errors.New("explain and stored: give one (explain's answer holds the stored value too)")
	}
	p.worldview = s.r.Worldview()
	if q.Has("worldview") {
		out, in, err := propagators.ParseWorldview(q.Get("worldview"))
		if err != nil {
			return p, err
		}
		p.worldview, p.hypothetical = p.worldview.With(out, in), true
	}
	return p, nil
}

// writeRead answers a read of cell c: as stored, or for a supported cell
// (or with explain) its strongest consequence under the worldview.
func (s *Server) writeRead(w http.ResponseWriter, r *http.Request, c fold.Cell, p readParams) {
	_, isSupported := c.Value.(*lattice.Supported)
	if p.stored || (!isSupported && !p.explain) {
		s.writeCell(w, r, c)
		return
	}
	con := p.worldview.Consequence(c.Value)
	inconsistent := p.worldview.Inconsistent(s.r.Nogoods())
	h := w.Header()
	if isSupported {
		h.Set(HeaderSupport, strings.Join(con.Support, ","))
		h.Set(HeaderWithdrawn, strings.Join(p.worldview.Withdrawn(), ","))
		if con.Contradicts() {
			h.Set(HeaderConflict, strings.Join(con.Support, ","))
		}
		if len(inconsistent) > 0 {
			h.Set(HeaderInconsistent, "true")
		}
	}
	shown := c
	shown.Value = con.Value
	// The entity tag is that of what is shown: the consequence and its
	// support, which change with the worldview as well as with the cell.
	shown.ETag = fold.ETag(lattice.NewMap(map[string]lattice.Value{
		"value":   con.Value,
		"support": lattice.NewSet(strs(con.Support)...),
		"stored":  c.Value,
		"explain": lattice.Flag{Value: p.explain},
	}))
	if !p.explain {
		s.writeCell(w, r, shown)
		return
	}
	ex := Explained{Cell: c.Name, Value: lattice.Encode(con.Value), Support: nonNil(con.Support),
		Withdrawn: nonNil(p.worldview.Withdrawn()), Inconsistent: inconsistent, Stored: lattice.Encode(c.Value), Seq: c.Seq}
	if con.Contradicts() {
		ex.Conflict = con.Support
	}
	h.Set("ETag", shown.ETag)
	h.Set("Cache-Control", "no-cache")
	if noneMatch(r.Header.Values("If-None-Match"), shown.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeJSON(w, http.StatusOK, ex)
}

func strs(ss []string) []lattice.Elem {
	out := make([]lattice.Elem, len(ss))
	for i, s := range ss {
		out[i] = lattice.Str(s)
	}
	return out
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// premisesOf is the answer of the premises endpoints.
func (s *Server) premisesOf() Premises {
	wv := s.r.Worldview()
	ng := s.r.Nogoods()
	p := Premises{Premises: s.r.Premises(), Withdrawn: nonNil(wv.Withdrawn()), Nogoods: ng, Inconsistent: wv.Inconsistent(ng)}
	if p.Premises == nil {
		p.Premises = []propagators.PremiseState{}
	}
	if p.Nogoods == nil {
		p.Nogoods = [][]string{}
	}
	return p
}

// premises answers GET /v1/premises.
func (s *Server) premises(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.premisesOf())
}

// withdraw answers POST /v1/premises/{premise}/withdraw, and reinstate
// POST /v1/premises/{premise}/reinstate: the worldview cell is refined for
// every replica, and the answer is the premises once this replica has
// folded it.
func (s *Server) withdraw(w http.ResponseWriter, r *http.Request)  { s.setPremise(w, r, false) }
func (s *Server) reinstate(w http.ResponseWriter, r *http.Request) { s.setPremise(w, r, true) }

func (s *Server) setPremise(w http.ResponseWriter, r *http.Request, believed bool) {
	p := r.PathValue("premise")
	if err := lattice.ValidatePremise(p); err != nil {
		s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, "", fmt.Errorf("premise: %w", err))
		return
	}
	var opts []replica.RefineOption
	if origin := r.Header.Get(HeaderOrigin); origin != "" {
		if len(origin) > MaxIdempotencyKey {
			s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, "", fmt.Errorf("%s longer than %d bytes", HeaderOrigin, MaxIdempotencyKey))
			return
		}
		opts = append(opts, replica.WithOrigin(origin))
	}
	allowWait(w, r, s.opts.RefineTimeout)
	ctx, cancel := s.bound(r, s.opts.RefineTimeout)
	defer cancel()
	if _, err := s.r.SetPremise(ctx, p, believed, opts...); err != nil {
		s.fail(w, r, propagators.WorldviewCell, err)
		return
	}
	writeJSON(w, http.StatusOK, s.premisesOf())
}

// why answers GET /v1/cells/{cell}/why[?depth=N][&changes=M].
func (s *Server) why(w http.ResponseWriter, r *http.Request) {
	cell := r.PathValue("cell")
	if err := s.held(cell); err != nil {
		s.fail(w, r, cell, err)
		return
	}
	raw, ok := s.query(w, r, cell, "depth", "changes")
	if !ok {
		return
	}
	var q replica.WhyQuery
	for _, p := range []struct {
		name string
		v    *int
	}{{"depth", &q.Depth}, {"changes", &q.Changes}} {
		if v := raw.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, cell, fmt.Errorf("%s %q: want a positive number", p.name, v))
				return
			}
			*p.v = n
		}
	}
	ctx, cancel := s.bound(r, s.opts.RefineTimeout)
	defer cancel()
	why, err := s.r.Why(ctx, cell, q)
	if err != nil {
		if errors.Is(err, replica.ErrBadWhyQuery) {
			s.writeError(w, r, http.StatusBadRequest, ReasonBadParameter, cell, err)
			return
		}
		s.fail(w, r, cell, err)
		return
	}
	writeJSON(w, http.StatusOK, why)
}

// worldviewStatus is the worldview section of /readyz (nil when the
// replica holds neither a worldview nor nogoods).
func (s *Server) worldviewStatus() *WorldviewStatus {
	_, hasW := s.r.Get(propagators.WorldviewCell)
	_, hasN := s.r.Get(propagators.NogoodsCell)
	if !hasW && !hasN {
		return nil
	}
	wv := s.r.Worldview()
	ng := s.r.Nogoods()
	return &WorldviewStatus{Withdrawn: nonNil(wv.Withdrawn()), Nogoods: len(ng), Inconsistent: wv.Inconsistent(ng)}
}

// ReadOptions qualify Client.Read.
type ReadOptions struct {
	// Stored asks for a supported cell's stored value, every claim,
	// instead of its strongest consequence (for re-publishing).
	Stored bool
	// Worldview changes the worldview for this read only: premises
	// prefixed with "-" are withdrawn, with "+" believed
	// ("-superintendent,+fall-time").
	Worldview string
}

func (o ReadOptions) query() url.Values {
	q := url.Values{}
	if o.Stored {
		q.Set("stored", "true")
	}
	if o.Worldview != "" {
		q.Set("worldview", o.Worldview)
	}
	return q
}

// Read returns the cell as Get does; a supported cell is read as its
// strongest consequence under the worldview (or as stored, with Stored),
// with Cell.Support, Conflict and Withdrawn set.
func (c *Client) Read(ctx context.Context, cell string, o ReadOptions) (Cell, error) {
	return c.cellCall(ctx, http.MethodGet, cell, o.query(), nil, nil)
}

// Explain returns what the cell says under the worldview (changed by
// worldview for this read, as in ReadOptions) and why.
func (c *Client) Explain(ctx context.Context, cell, worldview string) (Explained, error) {
	q := ReadOptions{Worldview: worldview}.query()
	q.Set("explain", "true")
	var ex Explained
	err := c.getJSON(ctx, "/v1/cells/"+url.PathEscape(cell), q, &ex)
	return ex, err
}

// Why explains the cell from the log, depth levels deep (0: the server's
// default), listing at most changes changes per cell (0: the default).
func (c *Client) Why(ctx context.Context, cell string, depth, changes int) (replica.Why, error) {
	q := url.Values{}
	if depth > 0 {
		q.Set("depth", strconv.Itoa(depth))
	}
	if changes > 0 {
		q.Set("changes", strconv.Itoa(changes))
	}
	var why replica.Why
	err := c.getJSON(ctx, "/v1/cells/"+url.PathEscape(cell)+"/why", q, &why)
	return why, err
}

// Premises returns the premises, the worldview and the nogoods.
func (c *Client) Premises(ctx context.Context) (Premises, error) {
	var p Premises
	err := c.getJSON(ctx, "/v1/premises", nil, &p)
	return p, err
}

// SetPremise withdraws premise p (believed false) or believes it again
// (true), for every replica, and returns the premises once the sidecar
// has folded the change.
func (c *Client) SetPremise(ctx context.Context, p string, believed bool) (Premises, error) {
	action := "withdraw"
	if believed {
		action = "reinstate"
	}
	resp, err := c.request(ctx, http.MethodPost, "/v1/premises/"+url.PathEscape(p)+"/"+action, nil, []byte{}, nil)
	if err != nil {
		return Premises{}, err
	}
	defer resp.Body.Close()
	var out Premises
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return Premises{}, fmt.Errorf("POST /v1/premises/%s/%s: decoding the answer: %w", p, action, err)
	}
	return out, nil
}
