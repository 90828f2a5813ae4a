package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

// Headers of the API. Names are canonical (as http.Header keys them).
const (
	// HeaderSeq is the stream sequence of the cell's last change.
	HeaderSeq = "Dprop-Seq"
	// HeaderType is the cell's type (absent while it has none).
	HeaderType = "Dprop-Type"
	// HeaderUpdates counts the updates folded into the cell.
	HeaderUpdates = "Dprop-Updates"
	// HeaderContradiction is present when the cell's value is a
	// contradiction; it holds the contradiction's reason, with bytes outside
	// printable ASCII (and '%') percent-encoded as UTF-8.
	HeaderContradiction = "Dprop-Contradiction"
	// HeaderStale is "true" on every response while the replica may lag
	// behind the stream: during its resync, or when Options.Stale says so.
	HeaderStale = "Dprop-Stale"
	// HeaderOrigin names the writer of a refine (passed on as the message's
	// Dprop-Origin header).
	HeaderOrigin = replica.HeaderOrigin
	// HeaderIdempotencyKey names one update of the cell: a retried refine
	// with the same key and value is stored once; the same key with
	// another value is refused (422, ReasonKeyReused). It becomes the
	// message's Nats-Msg-Id, scoped to the cell.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderDuplicate is "true" on a refine's answer when the update was
	// already stored under its Idempotency-Key, so nothing new was stored.
	HeaderDuplicate = "Dprop-Duplicate"
	// HeaderFolded is "false" on a refine's (or an operation's) 200 answer
	// when the log acknowledged the update but the sidecar had not folded
	// it within --outbox-after (its fold lags, or the broker went away
	// right after acknowledging): the value is the sidecar's view with the
	// update merged in, marked pending (Dprop-Pending) until the fold
	// passes it. Absent otherwise.
	HeaderFolded = "Dprop-Folded"
	// HeaderSigner and HeaderSignature carry a refine's signature, made by
	// the client over the cell's subject and the canonical encoding of the
	// value (see replica.SignUpdate): checked, then passed on unchanged as
	// the message's headers of the same names.
	HeaderSigner    = replica.HeaderSigner
	HeaderSignature = replica.HeaderSignature
)

// MaxSignatureHeader bounds the Dprop-Signer and Dprop-Signature headers
// of a refine (an NKey is 56 characters, a signature 86).
const MaxSignatureHeader = 256

// MaxIdempotencyKey bounds the length of an Idempotency-Key header.
const MaxIdempotencyKey = 256

// Cell is a cell as GET /v1/cells lists it and as Client returns it.
type Cell struct {
	Name string `json:"cell"`
	// Type is the cell's type ("" while it has none).
	Type string `json:"type"`
	// ETag is the strong entity tag, quoted as in the ETag header, so it can
	// be sent in If-None-Match as is.
	ETag string `json:"etag"`
	// Seq is the stream sequence of the cell's last change.
	Seq uint64 `json:"seq"`
	// Updates counts the updates folded into the cell.
	Updates uint64 `json:"updates"`
	// Value is the value in canonical wire form; in listings only with
	// values=true.
	Value json.RawMessage `json:"value,omitempty"`
	// Contradiction is the reason when the value is a contradiction.
	Contradiction string `json:"contradiction,omitempty"`
	// Time is when the stream stored the cell's last change; in listings
	// only with times=true, and absent when the stream no longer holds
	// that message.
	Time time.Time `json:"time,omitzero"`
	// Pending is the number of the sidecar's updates the value includes
	// that its fold of the log does not yet (Dprop-Pending; 0: the value
	// is the log's).
	Pending int `json:"pending,omitempty"`
	// Support is, for a supported cell read as its strongest consequence,
	// the premises the value rests on (Dprop-Support); Conflict, when that
	// value is a contradiction, the premises that cannot all hold; and
	// Withdrawn the premises the read did not believe (Client only).
	Support   []string `json:"support,omitempty"`
	Conflict  []string `json:"conflict,omitempty"`
	Withdrawn []string `json:"withdrawn,omitempty"`
	// Accepted is true when a refine was answered 202: the log could not
	// take it in time, and the sidecar keeps it in its outbox, synced, to
	// deliver (Client only).
	Accepted bool `json:"-"`
	// Stale is true when the answer carried Dprop-Stale (Client only).
	Stale bool `json:"-"`
	// Duplicate is true when a refine's answer carried Dprop-Duplicate: the
	// update was already stored under its idempotency key (Client only).
	Duplicate bool `json:"-"`
	// Unfolded is true when a refine's answer carried Dprop-Folded: false:
	// the log has the update, the sidecar had not folded it yet (Client
	// only).
	Unfolded bool `json:"-"`
}

// Event is the data of one Server-Sent Event: a real change of a cell, or
// its value when the stream starts.
type Event struct {
	Cell string `json:"cell"`
	Type string `json:"type"`
	// Seq is the stream sequence of the change (also the event's id); for
	// a supported cell, the later of the cell's last change and the
	// worldview's, as its consequence depends on both.
	Seq  uint64 `json:"seq"`
	ETag string `json:"etag"`
	// Value is the cell's new value in canonical wire form.
	Value json.RawMessage `json:"value"`
	// Forgotten marks the event of a cell forgotten (SSE event type
	// "forgotten"): its value is nothing now; what comes next starts it
	// afresh.
	Forgotten bool `json:"forgotten,omitempty"`
	// Pending is the number of this sidecar's updates the value includes
	// that its fold of the log does not yet (see Dprop-Pending).
	Pending int `json:"pending,omitempty"`
	// Consequence and Support are, for a supported cell, its strongest
	// consequence under the worldview when the event was sent and the
	// premises it rests on (Value stays the stored claims). A change of
	// the worldview sends each supported cell watched again, with its
	// new consequence.
	Consequence json.RawMessage `json:"consequence,omitempty"`
	Support     []string        `json:"support,omitempty"`
}

// Readiness is the body of GET /readyz.
type Readiness struct {
	// Ready is the overall answer: the replica has resynced, runs, is not
	// stale and every extra check passes.
	Ready bool `json:"ready"`
	// Resynced reports whether the replica has folded everything that was
	// in the stream when it started.
	Resynced bool    `json:"resynced"`
	Applied  uint64  `json:"applied"`
	Target   uint64  `json:"target"`
	Pending  uint64  `json:"pending"`
	Cells    int     `json:"cells"`
	Fraction float64 `json:"fraction"`
	// Closed is true once the replica has been closed.
	Closed bool `json:"closed,omitempty"`
	// Stream says why the replica is not attached to its stream (it was
	// deleted, the broker cannot be reached, ...), since StreamSince (RFC
	// 3339); absent while it is attached.
	Stream      string `json:"stream,omitempty"`
	StreamSince string `json:"stream_since,omitempty"`
	// LastIncident describes the latest stream incident (deleted, created
	// anew, purged), if any: it does not change the status by itself.
	LastIncident string `json:"last_incident,omitempty"`
	// Quiescent is present when the server was given Options.Quiescent.
	Quiescent *bool `json:"quiescent,omitempty"`
	// Stale reports whether answers may lag behind the stream (see
	// Dprop-Stale).
	Stale *bool `json:"stale,omitempty"`
	// Checks maps each extra check to "ok" or its error.
	Checks map[string]string `json:"checks,omitempty"`
	// TrustPolicy is the hash of the replica's trust policy
	// (fold.Trust.Hash), absent without one: replicas of a stream that
	// show different hashes may refuse different updates.
	TrustPolicy string `json:"trust_policy,omitempty"`
	// Signer is the public key the replica signs what it publishes with,
	// absent without one.
	Signer string `json:"signer,omitempty"`
	// Outbox is what the sidecar's outbox holds, absent without one. A
	// sidecar with pending updates is still ready: it serves, and shows
	// them as pending.
	Outbox *Outbox `json:"outbox,omitempty"`
	// Networks says what runs here of each live network (replicas with
	// --networks, or a network file with templates): its shared members,
	// and the instances of each template known and running here.
	Networks []replica.NetworkStatus `json:"networks,omitempty"`
	// Writer is the replica's writer id (replica.Replica.WriterID): the
	// writer its operations count, add and assign under.
	Writer string `json:"writer"`
	// Worldview is the worldview of supported cells: the premises
	// withdrawn, how many nogoods are known and those it believes wholly
	// (an inconsistent worldview). Absent while the replica holds no
	// worldview or nogoods cell; it does not change the status.
	Worldview *WorldviewStatus `json:"worldview,omitempty"`
}

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Error  string `json:"error"`
	Cell   string `json:"cell,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// CellsPage is one page of a listing: the body of GET /v1/cells.
type CellsPage struct {
	// Cells are sorted by name.
	Cells []Cell `json:"cells"`
	// Next is the cursor of the next page, "" on the last one. It is
	// opaque: pass it back as it is (ListOptions.After, or the after
	// parameter).
	Next string `json:"next,omitempty"`
}

// cellOf converts a replica cell; the value is included when withValue.
func cellOf(c fold.Cell, withValue bool) Cell {
	out := Cell{Name: c.Name, Type: c.Type, ETag: c.ETag, Seq: c.Seq, Updates: c.Updates, Pending: c.Pending}
	if withValue {
		out.Value = lattice.Encode(c.Value)
	}
	if con, ok := c.Value.(*lattice.Contradiction); ok {
		out.Contradiction = con.Reason()
	}
	return out
}

// headerText makes s safe as a header value: bytes outside printable ASCII,
// and '%', are percent-encoded. url.PathUnescape reverses it.
func headerText(s string) string {
	safe := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '%' {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	var b strings.Builder
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// cellFromHeaders fills a Cell from the headers of a GET or POST answer.
func cellFromHeaders(name string, h http.Header, body []byte) Cell {
	c := Cell{Name: name, Type: h.Get(HeaderType), ETag: h.Get("ETag"), Value: body, Stale: h.Get(HeaderStale) == "true",
		Duplicate: h.Get(HeaderDuplicate) == "true", Unfolded: h.Get(HeaderFolded) == "false"}
	c.Seq, _ = strconv.ParseUint(h.Get(HeaderSeq), 10, 64)
	c.Updates, _ = strconv.ParseUint(h.Get(HeaderUpdates), 10, 64)
	c.Pending, _ = strconv.Atoi(h.Get(HeaderPending))
	c.Support, c.Conflict, c.Withdrawn = premiseList(h.Get(HeaderSupport)), premiseList(h.Get(HeaderConflict)), premiseList(h.Get(HeaderWithdrawn))
	if r := h.Get(HeaderContradiction); r != "" {
		if u, err := url.PathUnescape(r); err == nil {
			r = u
		}
		c.Contradiction = r
	}
	return c
}

// premiseList splits a comma-separated header of premises ("" is none).
func premiseList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
