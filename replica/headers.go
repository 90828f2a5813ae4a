package replica

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/replica/fold"
)

// Header names dprop sets on the messages it publishes, all in one place
// (docs/api.md lists them too). Replicas never depend on them to fold,
// except on the signature where a trust policy asks for one (see
// fold.Trust): a plain `nats pub` without headers is folded the same way.
// JetStream's own headers (Nats-Msg-Id, Nats-Rollup,
// Nats-Expected-Last-Subject-Sequence) are jetstream's constants.
const (
	// HeaderOrigin names the writer of an update (a replica id, or what a
	// client chooses).
	HeaderOrigin = "Dprop-Origin"
	// HeaderPropagator names the propagator whose refinement the update
	// is, on what a replica's propagator runtime publishes, and on a
	// compaction's message for a cell a propagator refined. Replicas note
	// it per cell (fold.Cell.Propagator), so that one started without the
	// network can tell which cells will no longer follow their inputs
	// (LogPropagators).
	HeaderPropagator = "Dprop-Propagator"
	// HeaderInputs lists the inputs a propagator read to make the
	// update, each with the stream sequence of the value it read:
	// "fall.time@12,gravity.half@15" (propagators.FormatInputs). Set with
	// HeaderPropagator; why a cell holds what it holds is read from them
	// (Replica.Why).
	HeaderInputs = "Dprop-Inputs"
	// HeaderCheckpoint marks a checkpoint message; its value is the stream
	// sequence the join reflects.
	HeaderCheckpoint = "Dprop-Checkpoint"
	// HeaderSigner is the public user NKey (U...) that signed the update.
	HeaderSigner = "Dprop-Signer"
	// HeaderSignature is the signer's Ed25519 signature of the update's
	// subject and payload (fold.SignedBytes), in unpadded base64url.
	HeaderSignature = "Dprop-Signature"
)

// maxPropagatorHeader bounds a Dprop-Propagator value a replica keeps: a
// longer one, or one with control characters, did not come from dprop and
// is ignored.
const maxPropagatorHeader = 256

// messageOf is a stream message as the fold takes it, headers read.
func messageOf(m jetstream.Msg, meta *jetstream.MsgMetadata) fold.Message {
	msg := fold.Message{Subject: m.Subject(), Seq: meta.Sequence.Stream, Data: m.Data(), Time: meta.Timestamp.UnixNano()}
	h := m.Headers()
	if h == nil {
		return msg
	}
	msg.Rollup = h.Get(jetstream.MsgRollup) != "" || h.Get(HeaderCheckpoint) != ""
	if msg.Rollup {
		// What the join reflects: the checkpoint's mark, or what a rollup
		// was guarded with.
		mark := h.Get(HeaderCheckpoint)
		if mark == "" {
			mark = h.Get(jetstream.ExpectedLastSubjSeqHeader)
		}
		msg.Mark, _ = strconv.ParseUint(mark, 10, 64)
	}
	if p := h.Get(HeaderPropagator); len(p) <= maxPropagatorHeader && !strings.ContainsFunc(p, unicode.IsControl) {
		msg.Propagator = p
	}
	msg.Signer, msg.Signature = h.Get(HeaderSigner), h.Get(HeaderSignature)
	return msg
}
