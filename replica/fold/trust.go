package fold

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/dprop/dprop/cellname"
)

// This file holds signed updates and the trust policy that decides, per
// cell, whose updates count. See "Signed updates" in the package doc.

// SignatureTag opens the bytes a signature of an update signs (see
// SignedBytes): no other message signed with an NKey (a NATS server's
// connect nonce, a JWT) starts with it, so a signature of an update is a
// signature of nothing else.
const SignatureTag = "dprop-update-v1"

// Errors a trust policy refuses updates with (each a *RefusedError's Err,
// wrapped with the detail).
var (
	// ErrUnsigned: the cell's rule takes signed updates only, or no rule
	// of the policy matches the cell, and the update carries no
	// signature.
	ErrUnsigned = errors.New("unsigned update where the trust policy requires a signature")
	// ErrUntrustedSigner: the update is signed, by a key the cell's rule
	// does not trust (or no rule matches the cell).
	ErrUntrustedSigner = errors.New("signer not trusted for this cell")
	// ErrBadSignature: the update names a trusted signer, but its
	// signature is missing, malformed, or does not verify over its subject
	// and payload (tampered, made for another cell, or by another key).
	ErrBadSignature = errors.New("bad signature")
)

// SignedBytes returns the bytes a signature of an update signs: the tag
// SignatureTag, a NUL byte, the subject the update is published on (the
// cell's subject with its prefix, such as dprop.cell.weather.boston.temp),
// a NUL byte, and the payload exactly as published (a canonical
// encoding, for what dprop publishes). A subject holds no NUL byte (a cell
// name is [A-Za-z0-9_-] tokens), so no two (subject, payload) pairs give
// the same bytes: a signature made for one cell does not verify on
// another.
func SignedBytes(subject string, payload []byte) []byte {
	return AppendSignedBytes(make([]byte, 0, len(SignatureTag)+2+len(subject)+len(payload)), subject, payload)
}

// AppendSignedBytes appends SignedBytes(subject, payload) to dst.
func AppendSignedBytes(dst []byte, subject string, payload []byte) []byte {
	dst = append(dst, SignatureTag...)
	dst = append(dst, 0)
	dst = append(dst, subject...)
	dst = append(dst, 0)
	return append(dst, payload...)
}

// EncodeSignature is how a signature travels in the Dprop-Signature
// header: unpadded base64url (RFC 4648 §5), 86 characters for Ed25519.
func EncodeSignature(sig []byte) string { return base64.RawURLEncoding.EncodeToString(sig) }

// Verify checks that sig (the Dprop-Signature header) is a valid signature
// by signer (the Dprop-Signer header: a public user NKey, U...) of the
// update payload on subject. It says nothing of whether the signer is
// trusted; a Trust says that. The error wraps ErrBadSignature.
func Verify(subject string, payload []byte, signer, sig string) error {
	key, err := ParseSigner(signer)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return verify(key, subject, payload, sig)
}

// ParseSigner decodes a public user NKey (U..., 56 characters) into its
// Ed25519 key. A seed (S...) is refused with a warning that it is secret.
func ParseSigner(signer string) (ed25519.PublicKey, error) {
	if strings.HasPrefix(signer, "S") {
		return nil, fmt.Errorf("signer %.2s…: that is a seed, a secret: give its public key (U...), which dprop keygen prints", signer)
	}
	raw, err := nkeys.Decode(nkeys.PrefixByteUser, []byte(signer))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("signer %q is not a public user NKey (U followed by 55 base32 characters)", short(signer))
	}
	return ed25519.PublicKey(raw), nil
}

// verify checks sig, as the Dprop-Signature header has it, against key.
func verify(key ed25519.PublicKey, subject string, payload []byte, sig string) error {
	if sig == "" {
		return fmt.Errorf("%w: no Dprop-Signature header", ErrBadSignature)
	}
	var raw [ed25519.SignatureSize + 3]byte // room to notice a longer one
	if base64.RawURLEncoding.DecodedLen(len(sig)) > len(raw) {
		return fmt.Errorf("%w: Dprop-Signature is %d characters, want %d", ErrBadSignature, len(sig), base64.RawURLEncoding.EncodedLen(ed25519.SignatureSize))
	}
	n, err := base64.RawURLEncoding.Decode(raw[:], []byte(sig))
	if err != nil || n != ed25519.SignatureSize {
		return fmt.Errorf("%w: Dprop-Signature is not %d bytes in unpadded base64url", ErrBadSignature, ed25519.SignatureSize)
	}
	bp := encBufs.Get().(*[]byte)
	msg := AppendSignedBytes((*bp)[:0], subject, payload)
	ok := ed25519.Verify(key, msg, raw[:n])
	if cap(msg) <= 64<<10 {
		*bp = msg[:0]
		encBufs.Put(bp)
	}
	if !ok {
		return fmt.Errorf("%w: it does not verify over subject %s and the payload (tampered, signed for another cell, or by another key)", ErrBadSignature, subject)
	}
	return nil
}

// short cuts a header value for an error message.
func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// TrustRule is one rule of a trust policy.
type TrustRule struct {
	// Cells is the pattern of the cells the rule decides for.
	Cells string
	// Signers are the public user NKeys (U...) whose signed updates count
	// on those cells.
	Signers []string
	// Unsigned says whether updates without a trusted signer count too.
	// An update signed by a key the rule does not list then counts as an
	// unsigned one (its signature is not checked); one that names a
	// listed signer must verify.
	Unsigned bool
	// Forgetters are the public user NKeys (U...) whose signed forget
	// markers count on those cells: under a policy, forgetting is an admin
	// key's, never unsigned, whatever Unsigned says. A rule without
	// forgetters keeps its cells from being forgotten.
	Forgetters []string
}

// Trust is a trust policy: which signers may refine which cells, and where
// unsigned updates count. Its rules are tried in order and the first whose
// pattern matches the cell decides; a cell no rule matches takes no
// update at all (end with a rule for ">" to say what the others take). A
// nil *Trust is no policy: every update counts, signed or not, and no
// signature is looked at. A Trust is immutable and safe for concurrent
// use.
type Trust struct {
	rules []trustRule
	canon []byte
	hash  string
}

type trustRule struct {
	cells     string
	keys      map[string]ed25519.PublicKey // by the NKey string
	unsigned  bool
	forgetter map[string]ed25519.PublicKey // keys that may forget the cells
}

// NewTrust compiles rules into a policy, checking every pattern and key.
// The error lists every problem, each naming its rule (from 1).
func NewTrust(rules []TrustRule) (*Trust, error) {
	t := &Trust{rules: make([]trustRule, 0, len(rules))}
	var errs []error
	for i, r := range rules {
		tr := trustRule{cells: r.Cells, keys: make(map[string]ed25519.PublicKey, len(r.Signers)), unsigned: r.Unsigned,
			forgetter: make(map[string]ed25519.PublicKey, len(r.Forgetters))}
		for _, s := range r.Forgetters {
			key, err := ParseSigner(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("rule %d: forgetters: %w", i+1, err))
				continue
			}
			tr.forgetter[s] = key
		}
		if err := cellname.ValidatePattern(r.Cells); err != nil {
			errs = append(errs, fmt.Errorf("rule %d: cells: %w", i+1, err))
		}
		for _, s := range r.Signers {
			key, err := ParseSigner(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("rule %d: %w", i+1, err))
				continue
			}
			tr.keys[s] = key
		}
		t.rules = append(t.rules, tr)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t.canon = t.canonical()
	sum := sha256.Sum256(t.canon)
	t.hash = hex.EncodeToString(sum[:])
	return t, nil
}

// canonical is the policy as JSON with its rules in order, each rule's
// signers sorted and without duplicates, no insignificant space: what it
// decides, whatever the file looked like. Patterns and NKeys need no
// escaping.
func (t *Trust) canonical() []byte {
	var b bytes.Buffer
	b.WriteString(`{"version":1,"rules":[`)
	for i, r := range t.rules {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"cells":` + strconv.Quote(r.cells) + `,"signers":[`)
		for j, k := range r.signers() {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(k))
		}
		b.WriteString(`],"unsigned":` + strconv.FormatBool(r.unsigned))
		if len(r.forgetter) > 0 { // absent when none, so that older policies keep their hash
			b.WriteString(`,"forgetters":[`)
			for j, k := range sortedKeys(r.forgetter) {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.Quote(k))
			}
			b.WriteByte(']')
		}
		b.WriteByte('}')
	}
	b.WriteString("]}")
	return b.Bytes()
}

func (r trustRule) signers() []string { return sortedKeys(r.keys) }

// sortedKeys returns the NKeys of keys, sorted.
func sortedKeys(keys map[string]ed25519.PublicKey) []string {
	out := make([]string, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Canonical returns the policy's canonical form (see Hash). The caller
// must not modify it.
func (t *Trust) Canonical() []byte { return t.canon }

// Hash is the SHA-256, in hex, of the canonical form: the same for two
// policies that decide alike rule by rule, however their files are laid
// out (order of keys, comments, names given to keys, order of signers).
// Replicas that fold with different hashes may refuse different updates.
func (t *Trust) Hash() string { return t.hash }

// Rules returns the policy's rules in order, each rule's signers sorted (a
// fresh slice).
func (t *Trust) Rules() []TrustRule {
	out := make([]TrustRule, len(t.rules))
	for i, r := range t.rules {
		out[i] = TrustRule{Cells: r.cells, Signers: r.signers(), Unsigned: r.unsigned, Forgetters: sortedKeys(r.forgetter)}
	}
	return out
}

// rule returns the index of the first rule matching cell, or -1.
func (t *Trust) rule(cell string) int {
	for i := range t.rules {
		if cellname.Match(t.rules[i].cells, cell) {
			return i
		}
	}
	return -1
}

// decide is the policy's verdict on an update of cell whose Dprop-Signer
// header is signer, signed saying whether it carries either signature
// header: a refusal (ErrUnsigned, ErrUntrustedSigner, ErrBadSignature), or
// nil and the key its signature must verify with (nil if it counts
// unchecked).
func (t *Trust) decide(cell, signer string, signed bool) (ed25519.PublicKey, error) {
	i := t.rule(cell)
	if i < 0 {
		if !signed {
			return nil, fmt.Errorf("%w: no rule of the trust policy matches cell %q, so it takes no update", ErrUnsigned, cell)
		}
		return nil, fmt.Errorf("%w: no rule of the trust policy matches cell %q, so it takes no update", ErrUntrustedSigner, cell)
	}
	r := &t.rules[i]
	if signer != "" {
		if key, ok := r.keys[signer]; ok {
			return key, nil
		}
	}
	switch {
	case r.unsigned:
		return nil, nil
	case !signed:
		return nil, fmt.Errorf("%w: rule %d (cells %q) takes updates signed by its %d signer(s) only", ErrUnsigned, i+1, r.cells, len(r.keys))
	case signer == "":
		return nil, fmt.Errorf("%w: a Dprop-Signature without a Dprop-Signer", ErrBadSignature)
	}
	return nil, fmt.Errorf("%w: rule %d (cells %q) does not trust %s", ErrUntrustedSigner, i+1, r.cells, short(signer))
}

// admitForget applies the policy to forget marker m of cell: it counts only
// signed by a forgetter of the cell's rule, with a signature that verifies.
func (t *Trust) admitForget(cell string, m *Message) error {
	i := t.rule(cell)
	var r *trustRule
	if i >= 0 {
		r = &t.rules[i]
	}
	switch {
	case r == nil || len(r.forgetter) == 0:
		what := fmt.Sprintf("no rule of the trust policy matches cell %q", cell)
		if r != nil {
			what = fmt.Sprintf("rule %d (cells %q) lists no forgetters", i+1, r.cells)
		}
		if m.Signer == "" && m.Signature == "" {
			return fmt.Errorf("%w: forget marker: %s, so the cell cannot be forgotten", ErrUnsigned, what)
		}
		return fmt.Errorf("%w: forget marker: %s, so the cell cannot be forgotten", ErrUntrustedSigner, what)
	case m.Signer == "" && m.Signature == "":
		return fmt.Errorf("%w: forget marker: rule %d (cells %q) takes markers signed by its %d forgetter(s) only", ErrUnsigned, i+1, r.cells, len(r.forgetter))
	case m.Signer == "":
		return fmt.Errorf("%w: a Dprop-Signature without a Dprop-Signer", ErrBadSignature)
	}
	key, ok := r.forgetter[m.Signer]
	if !ok {
		return fmt.Errorf("%w: forget marker: rule %d (cells %q) does not trust %s to forget", ErrUntrustedSigner, i+1, r.cells, short(m.Signer))
	}
	return verify(key, m.Subject, m.Data, m.Signature)
}

// admit applies the policy to message m on cell: nil if it counts.
func (t *Trust) admit(cell string, m *Message) error {
	key, err := t.decide(cell, m.Signer, m.Signer != "" || m.Signature != "")
	if err != nil || key == nil {
		return err
	}
	return verify(key, m.Subject, m.Data, m.Signature)
}
