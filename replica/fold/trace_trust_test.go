package fold

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nkeys"
)

// This file is the trace runner's part for signed messages: named keys, the
// trust= rules of a core and the signed command (see TestTraces).

// testKey is a named key pair of the traces.
type testKey struct {
	kp  nkeys.KeyPair
	pub string
}

// traceKey returns the key pair named name: made from the name's SHA-256,
// so the same in every run, and public keys in the outputs stay put.
func traceKey(name string) testKey {
	seed := sha256.Sum256([]byte("dprop trace key " + name))
	kp, err := nkeys.FromRawSeed(nkeys.PrefixByteUser, seed[:])
	if err != nil {
		panic(err) // a 32-byte seed always makes a key
	}
	pub, _ := kp.PublicKey()
	return testKey{kp, pub}
}

// traceRule parses PATTERN=NAME,NAME,unsigned.
func traceRule(s string) (TrustRule, error) {
	cells, who, ok := strings.Cut(s, "=")
	if !ok {
		return TrustRule{}, fmt.Errorf("trust=%s: want trust=PATTERN=SIGNER,...", s)
	}
	r := TrustRule{Cells: cells}
	for name := range strings.SplitSeq(who, ",") {
		switch name {
		case "":
		case "unsigned":
			r.Unsigned = true
		default:
			r.Signers = append(r.Signers, traceKey(name).pub)
		}
	}
	return r, nil
}

// traceSigned parses the arguments of a signed command into the message,
// signed as they say.
func traceSigned(rest string) (Message, error) {
	f := strings.SplitN(rest, " ", 4)
	if len(f) != 4 {
		return Message{}, fmt.Errorf("want signed SEQ SUBJECT SIGNER [subject=S] [payload=P] [sig=X] PAYLOAD")
	}
	seq, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return Message{}, err
	}
	m := Message{Subject: f[1], Seq: seq}
	signedSubject, signedPayload, sig, haveSig := f[1], "", "", false
	rest = f[3]
	for {
		opt, more, _ := strings.Cut(rest, " ")
		k, v, ok := strings.Cut(opt, "=")
		if !ok || (k != "subject" && k != "payload" && k != "sig") {
			break
		}
		switch k {
		case "subject":
			signedSubject = v
		case "payload":
			signedPayload = v
		case "sig":
			sig, haveSig = v, true
		}
		rest = more
	}
	m.Data = []byte(rest)
	if signedPayload == "" {
		signedPayload = rest
	}
	key := traceKey(f[2])
	if f[2] != "-" {
		m.Signer = key.pub
	}
	if !haveSig {
		raw, err := key.kp.Sign(SignedBytes(signedSubject, []byte(signedPayload)))
		if err != nil {
			return Message{}, err
		}
		sig = EncodeSignature(raw)
	}
	m.Signature = sig
	return m, nil
}
