package replica

import (
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/fold"
)

// This file signs what a replica publishes, and passes on the signatures
// its callers made (see "Signed updates" in fold's package doc, and
// docs/signing.md).

// Signer signs updates with an Ed25519 key. An nkeys.KeyPair of a user
// key (nkeys.CreateUser, or a seed read with nkeys.FromSeed) is one. It
// must be safe for concurrent use.
type Signer interface {
	// PublicKey returns the public user NKey (U...).
	PublicKey() (string, error)
	// Sign returns the Ed25519 signature of input.
	Sign(input []byte) ([]byte, error)
}

var _ Signer = nkeys.KeyPair(nil)

// SignUpdate signs the update payload on subject with s, and returns the
// values of the Dprop-Signer and Dprop-Signature headers. The payload must
// be the bytes published: for a refine through a sidecar, the canonical
// encoding of the value (lattice.Encode of the decoded body), which is
// what the sidecar publishes.
func SignUpdate(s Signer, subject string, payload []byte) (signer, signature string, err error) {
	pub, err := s.PublicKey()
	if err != nil {
		return "", "", fmt.Errorf("sign: public key: %w", err)
	}
	raw, err := s.Sign(fold.SignedBytes(subject, payload))
	if err != nil {
		return "", "", fmt.Errorf("sign: %w", err)
	}
	return pub, fold.EncodeSignature(raw), nil
}

// checkSigner checks that s makes signatures its own public key verifies,
// and returns that key.
func checkSigner(s Signer) (string, error) {
	const subject = "dprop.cell.signer-check"
	payload := lattice.Encode(lattice.Nothing{})
	pub, sig, err := SignUpdate(s, subject, payload)
	if err != nil {
		return "", err
	}
	if !nkeys.IsValidPublicUserKey(pub) {
		return "", fmt.Errorf("sign key: public key %q is not a user NKey (U...): make one with dprop keygen", pub)
	}
	if err := fold.Verify(subject, payload, pub, sig); err != nil {
		return "", fmt.Errorf("sign key %s: its signatures do not verify: %w", pub, err)
	}
	return pub, nil
}

// WithSignature passes on a signature the caller made of the update: the
// Dprop-Signer and Dprop-Signature header values, set on the message as
// they are. Refine first checks that it verifies over the cell's subject
// and the canonical encoding of the value (what is published), and
// refuses it otherwise (fold.ReasonBadSignature), publishing nothing. The
// replica's own key (Config.SignKey) does not sign such an update.
func WithSignature(signer, signature string) RefineOption {
	return func(o *refineOptions) { o.signer, o.signature = signer, signature }
}

// authenticate signs msg, an update of cell, or passes on the caller's
// signature after checking it, and checks that the trust policy would let
// it count: the refusals a replica would make of it, made before
// publishing. Errors are *fold.RefusedError, or the failure of the
// replica's Signer.
func (r *Replica) authenticate(cell string, msg *nats.Msg, o *refineOptions) error {
	signer := r.signPub
	switch {
	case o.signer != "" || o.signature != "":
		if err := fold.Verify(msg.Subject, msg.Data, o.signer, o.signature); err != nil {
			return &fold.RefusedError{Cell: cell, Reason: fold.ReasonBadSignature, Err: err}
		}
		signer = o.signer
		msg.Header.Set(HeaderSigner, o.signer)
		msg.Header.Set(HeaderSignature, o.signature)
	case r.cfg.SignKey != nil:
		if err := r.sign(msg); err != nil {
			return err
		}
	}
	return r.CheckSigner(cell, signer)
}

// sign signs msg with the replica's key (Config.SignKey), if it has one.
func (r *Replica) sign(msg *nats.Msg) error { return signMsg(msg, r.cfg.SignKey) }

// signMsg signs msg, as it is, with s (nothing if s is nil).
func signMsg(msg *nats.Msg, s Signer) error {
	if s == nil {
		return nil
	}
	signer, sig, err := SignUpdate(s, msg.Subject, msg.Data)
	if err != nil {
		return fmt.Errorf("%s: %w", msg.Subject, err)
	}
	msg.Header.Set(HeaderSigner, signer)
	msg.Header.Set(HeaderSignature, sig)
	return nil
}

// CheckSigner reports whether the trust policy lets an update of cell
// signed by signer ("" for an unsigned one) count, provided its signature
// verifies: a *fold.RefusedError (fold.ReasonUnsigned,
// fold.ReasonUntrustedSigner) if not.
func (r *Replica) CheckSigner(cell, signer string) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.core.CheckSigner(cell, signer)
}

// Signer returns the public key this replica signs with ("" if none).
func (r *Replica) Signer() string { return r.signPub }

// Trust returns the trust policy the replica folds with (nil for none).
func (r *Replica) Trust() *fold.Trust { return r.cfg.Trust }

// trustHash is t's hash, "" for no policy.
func trustHash(t *fold.Trust) string {
	if t == nil {
		return ""
	}
	return t.Hash()
}

// policyName names a policy by its hash in messages.
func policyName(hash string) string {
	if hash == "" {
		return "none"
	}
	return hash[:min(12, len(hash))] + "…"
}
