package httpapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
	"github.com/dprop/dprop/replica/httpapi"
)

// A sidecar with a trust policy: a refine's signature is checked (400
// bad_signature) and passed on, what the policy forbids is refused (403)
// before publishing, and the policy's hash shows on /readyz and /metrics.
func TestRefineSigned(t *testing.T) {
	srv := runBroker(t)
	alice, sidecarKey := userKey(t), userKey(t)
	alicePub, _ := alice.PublicKey()
	sidecarPub, _ := sidecarKey.PublicKey()
	policy, err := fold.NewTrust([]fold.TrustRule{
		{Cells: "weather.>", Signers: []string{alicePub}},
		{Cells: "jobs.>", Signers: []string{sidecarPub}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{}, func(c *replica.Config) { c.Trust, c.SignKey = policy, sidecarKey })
	js := brokertest.JetStream(t, connect(t, srv.ClientURL()))
	ctx := ctxT(t)
	const cell = "weather.boston.temp"
	body := `{"type":"range","min":34,"max":48}`
	// What the sidecar publishes is the canonical encoding: a body written
	// otherwise is signed as it will be published.
	loose := `{ "max": 48, "min": 34, "type": "range" }`
	sign := func(subject, payload string) (string, string) {
		signer, sig, err := replica.SignUpdate(alice, subject, []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		return signer, sig
	}

	before := streamLastSeq(t, js)
	signer, sig := sign("dprop.cell."+cell, body)
	otherSigner, otherSig := sign("dprop.cell.weather.other", body)
	looseSigner, looseSig := sign("dprop.cell."+cell, loose)
	for _, tc := range []struct {
		name         string
		cell, body   string
		header       []string
		status       int
		reason, says string
	}{
		{"unsigned, signed by the sidecar's untrusted key", cell, body, nil, 403, fold.ReasonUntrustedSigner, "does not trust " + sidecarPub},
		{"a signature made for another cell", cell, body, []string{"Dprop-Signer", otherSigner, "Dprop-Signature", otherSig}, 400, fold.ReasonBadSignature, "does not verify over subject dprop.cell." + cell},
		{"a signature of the body as sent, not of its canonical encoding", cell, loose, []string{"Dprop-Signer", looseSigner, "Dprop-Signature", looseSig}, 400, fold.ReasonBadSignature, "does not verify"},
		{"a signature without a signer", cell, body, []string{"Dprop-Signature", sig}, 400, fold.ReasonBadSignature, "not a public user NKey"},
		{"alice's valid signature, on a cell outside her patterns", "jobs.x", body, []string{"Dprop-Signer", signer, "Dprop-Signature", mustSign(t, alice, "dprop.cell.jobs.x", body)}, 403, fold.ReasonUntrustedSigner, "does not trust"},
		{"an oversized header", cell, body, []string{"Dprop-Signer", strings.Repeat("U", 300), "Dprop-Signature", sig}, 400, fold.ReasonBadSignature, "longer than"},
	} {
		a := sc.do(t, http.MethodPost, "/v1/cells/"+tc.cell, tc.body, tc.header...)
		var eb struct{ Error, Reason string }
		_ = json.Unmarshal([]byte(a.body), &eb)
		if a.status != tc.status || eb.Reason != tc.reason || !strings.Contains(eb.Error, tc.says) {
			t.Errorf("%s: %d %s, want %d %s saying %q", tc.name, a.status, a.body, tc.status, tc.reason, tc.says)
		}
	}
	if after := streamLastSeq(t, js); after != before {
		t.Fatalf("refused refines published: the stream went from %d to %d", before, after)
	}

	// Signed as it will be published: stored with the client's headers as
	// they came, and counted by every replica.
	c, err := sc.c.Refine(ctx, cell, []byte(body), httpapi.WithSignature(signer, sig))
	if err != nil || string(c.Value) != body {
		t.Fatalf("signed refine: %+v %v", c, err)
	}
	stream, err := js.Stream(ctx, "DPROP")
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream.GetLastMsgForSubject(ctx, "dprop.cell."+cell)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get(replica.HeaderSigner) != signer || m.Header.Get(replica.HeaderSignature) != sig || string(m.Data) != body {
		t.Errorf("stored message: %s %v", m.Data, m.Header)
	}
	// The sidecar signs what carries no signature of its own.
	if _, err := sc.c.Refine(ctx, "jobs.x", []byte(`{"type":"max","value":1}`)); err != nil {
		t.Fatalf("refine signed by the sidecar: %v", err)
	}
	// Through the client: a refusal says why.
	_, err = sc.c.Refine(ctx, cell, []byte(body))
	var apiErr *httpapi.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 403 || apiErr.Reason != fold.ReasonUntrustedSigner {
		t.Errorf("client refine of a protected cell: %v", err)
	}

	// A plain nats pub is refused by the fold, counted under its reason.
	nm := nats.NewMsg("dprop.cell." + cell)
	nm.Data = []byte(`{"type":"range","min":0,"max":100}`)
	ack, err := js.PublishMsg(ctx, nm)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the plain update to be folded", func() bool { return sc.r.Progress().Applied >= ack.Sequence })
	for reason, want := range map[string]float64{fold.ReasonUnsigned: 1, fold.ReasonBadSignature: 0, fold.ReasonUntrustedSigner: 0} {
		if got := metric(t, sc.reg, "dprop_updates_refused_total", "reason", reason); got != want {
			t.Errorf("dprop_updates_refused_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	if got := metric(t, sc.reg, "dprop_trust_policy_info", "hash", policy.Hash()); got != 1 {
		t.Errorf("dprop_trust_policy_info{hash=%q} = %v, want 1", policy.Hash(), got)
	}
	var rd httpapi.Readiness
	if err := json.Unmarshal([]byte(sc.do(t, http.MethodGet, "/readyz", "").want(t, 200).body), &rd); err != nil {
		t.Fatal(err)
	}
	if rd.TrustPolicy != policy.Hash() || rd.Signer != sidecarPub {
		t.Errorf("/readyz: trust_policy %q signer %q, want %q and %q", rd.TrustPolicy, rd.Signer, policy.Hash(), sidecarPub)
	}
}

// Without a policy, the trust reasons are exported at 0 and the policy
// as "none".
func TestMetricsWithoutPolicy(t *testing.T) {
	sc := newSidecar(t, runBroker(t).ClientURL(), httpapi.Options{})
	body := sc.do(t, http.MethodGet, "/metrics", "").want(t, 200).body
	for _, want := range []string{
		`dprop_updates_refused_total{reason="unsigned"} 0`,
		`dprop_updates_refused_total{reason="bad_signature"} 0`,
		`dprop_updates_refused_total{reason="untrusted_signer"} 0`,
		`dprop_trust_policy_info{hash="none"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(sc.do(t, http.MethodGet, "/readyz", "").body, "trust_policy") {
		t.Error("/readyz names a trust policy the replica does not have")
	}
	// A signature that does not verify is refused even where no policy
	// asks for one: the client meant to sign, and got it wrong.
	sc.do(t, http.MethodPost, "/v1/cells/a", `{"type":"max","value":1}`, "Dprop-Signer", "UNOPE", "Dprop-Signature", "x").want(t, 400)
	if _, err := sc.c.Refine(ctxT(t), "a", []byte(`{"type":"max","value":1}`)); err != nil {
		t.Errorf("unsigned refine without a policy: %v", err)
	}
}

func userKey(t testing.TB) nkeys.KeyPair {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func mustSign(t testing.TB, kp nkeys.KeyPair, subject, payload string) string {
	t.Helper()
	_, sig, err := replica.SignUpdate(kp, subject, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}
