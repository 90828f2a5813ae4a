package fold

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

// The signed bytes are exactly the tag, the subject and the payload,
// separated by NUL bytes.
func TestSignedBytes(t *testing.T) {
	got := string(SignedBytes("dprop.cell.a", []byte(`{"type":"max","value":1}`)))
	if want := "dprop-update-v1\x00dprop.cell.a\x00{\"type\":\"max\",\"value\":1}"; got != want {
		t.Errorf("SignedBytes = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	alice := traceKey("alice")
	subject, payload := "dprop.cell.a", []byte(`{"type":"max","value":1}`)
	raw, err := alice.kp.Sign(SignedBytes(subject, payload))
	if err != nil {
		t.Fatal(err)
	}
	sig := EncodeSignature(raw)
	if len(sig) != 86 {
		t.Errorf("signature header of %d characters, want 86", len(sig))
	}
	if err := Verify(subject, payload, alice.pub, sig); err != nil {
		t.Errorf("a good signature: %v", err)
	}
	seed, _ := alice.kp.Seed()
	account, err := nkeys.FromRawSeed(nkeys.PrefixByteAccount, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	accountPub, _ := account.PublicKey()
	for _, tc := range []struct {
		name, subject, payload, signer, sig, want string
	}{
		{"tampered payload", subject, `{"type":"max","value":2}`, alice.pub, sig, "does not verify"},
		{"another subject", "dprop.cell.b", string(payload), alice.pub, sig, "does not verify"},
		{"another key", subject, string(payload), traceKey("bob").pub, sig, "does not verify"},
		{"no signature", subject, string(payload), alice.pub, "", "no Dprop-Signature"},
		{"padded", subject, string(payload), alice.pub, sig + "==", "base64url"},
		{"standard base64", subject, string(payload), alice.pub, strings.NewReplacer("-", "+", "_", "/").Replace(sig) + "+", "base64url"},
		{"too long", subject, string(payload), alice.pub, strings.Repeat("A", 4096), "4096 characters, want 86"},
		{"a seed as signer", subject, string(payload), string(seed), sig, "that is a seed"},
		{"not a key", subject, string(payload), "UNOTAKEY", sig, "not a public user NKey"},
		{"an account key", subject, string(payload), accountPub, sig, "not a public user NKey"},
	} {
		err := Verify(tc.subject, []byte(tc.payload), tc.signer, tc.sig)
		if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrBadSignature saying %q", tc.name, err, tc.want)
		}
		if tc.name == "a seed as signer" && strings.Contains(err.Error(), string(seed[2:10])) {
			t.Errorf("the error repeats the seed: %v", err)
		}
	}
}

// NewTrust reports every problem, each with its rule.
func TestNewTrustProblems(t *testing.T) {
	_, err := NewTrust([]TrustRule{
		{Cells: "weather.>", Signers: []string{traceKey("alice").pub}},
		{Cells: "bad..pattern", Signers: []string{"UNOPE"}},
		{Cells: "a.>.b"},
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"rule 2: cells:", "rule 2: signer \"UNOPE\"", "rule 3: cells:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "rule 1") {
		t.Errorf("a good rule reported:\n%v", err)
	}
}

// The hash is of what the policy decides: the signers' order and
// repetitions do not change it; the rules' order, a pattern, a key or
// unsigned do.
func TestTrustHash(t *testing.T) {
	a, b, c := traceKey("alice").pub, traceKey("bob").pub, traceKey("carol").pub
	hash := func(rules ...TrustRule) string {
		t.Helper()
		tr, err := NewTrust(rules)
		if err != nil {
			t.Fatal(err)
		}
		return tr.Hash()
	}
	base := hash(TrustRule{Cells: "x.>", Signers: []string{a, b}}, TrustRule{Cells: ">", Unsigned: true})
	if h := hash(TrustRule{Cells: "x.>", Signers: []string{b, a, b}}, TrustRule{Cells: ">", Unsigned: true}); h != base {
		t.Errorf("signers reordered and repeated: another hash")
	}
	for name, h := range map[string]string{
		"rules reordered": hash(TrustRule{Cells: ">", Unsigned: true}, TrustRule{Cells: "x.>", Signers: []string{a, b}}),
		"another pattern": hash(TrustRule{Cells: "y.>", Signers: []string{a, b}}, TrustRule{Cells: ">", Unsigned: true}),
		"another key":     hash(TrustRule{Cells: "x.>", Signers: []string{a, c}}, TrustRule{Cells: ">", Unsigned: true}),
		"unsigned":        hash(TrustRule{Cells: "x.>", Signers: []string{a, b}, Unsigned: true}, TrustRule{Cells: ">", Unsigned: true}),
	} {
		if h == base {
			t.Errorf("%s: the same hash", name)
		}
	}
}
