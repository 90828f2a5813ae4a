package httpapi_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/replica/httpapi"
)

// tlsConfig loads a CA pool and, if cert is not "", a key pair.
func tlsConfig(t *testing.T, ca, cert, key string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s: no certificate", ca)
	}
	cfg := &tls.Config{RootCAs: pool, ClientCAs: pool}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg
}

// Client certificates verified by the server's TLS layer name principals
// by their Subject CN: a mapped certificate gets its scopes, one that no
// entry names gets 401, one of another authority is refused at the
// handshake, and without one only the probes (and tokens) pass.
func TestAuthClientCertificates(t *testing.T) {
	sc := authSidecar(t)
	files := brokertest.NewTLSFiles(t)
	billingCert, billingKey := files.NewClientCert(t, "billing-svc")
	sc.api.SetAccess(testAccess(t, append(testPrincipals(),
		httpapi.Principal{Name: "billing", Cert: "billing-svc", Read: []string{"weather.>"}})))

	ts := httptest.NewUnstartedServer(sc.api)
	ts.Config = sc.api.HTTPServer()
	server := tlsConfig(t, files.CA, files.ServerCert, files.ServerKey)
	server.ClientAuth = tls.VerifyClientCertIfGiven
	ts.TLS = server
	ts.StartTLS()
	t.Cleanup(ts.Close)

	client := func(cfg *tls.Config, opts ...httpapi.ClientOption) *httpapi.Client {
		return httpapi.NewClient(ts.URL, nil, append(opts, httpapi.WithTLSConfig(cfg))...)
	}
	var apiErr *httpapi.APIError

	billing := client(tlsConfig(t, files.CA, billingCert, billingKey))
	if c, err := billing.Get(ctxT(t), "weather.boston.temp"); err != nil || string(c.Value) != day1 {
		t.Fatalf("a mapped certificate: %s, %v", c.Value, err)
	}
	if _, err := billing.Get(ctxT(t), "traffic.i90"); !errors.As(err, &apiErr) || apiErr.Status != 403 ||
		!strings.Contains(apiErr.Message, `certificate "billing" may not read cell "traffic.i90" (it may read weather.>)`) {
		t.Fatalf("a mapped certificate outside its scope: %v", err)
	}
	// A token decides, whatever the certificate.
	if _, err := client(tlsConfig(t, files.CA, billingCert, billingKey), httpapi.WithToken(tokNobody)).Get(ctxT(t), "weather.boston.temp"); !errors.As(err, &apiErr) || apiErr.Status != 401 {
		t.Fatalf("a wrong token with a good certificate: %v", err)
	}

	unmapped := client(tlsConfig(t, files.CA, files.ClientCert, files.ClientKey))
	if _, err := unmapped.Get(ctxT(t), "weather.boston.temp"); !errors.As(err, &apiErr) || apiErr.Status != 401 ||
		!strings.Contains(apiErr.Message, `client certificate "dprop test client" is not one this sidecar accepts`) {
		t.Fatalf("a certificate no entry names: %v", err)
	}
	if got := metric(t, sc.reg, "dprop_http_auth_refused_total", "reason", "unknown_certificate"); got != 1 {
		t.Errorf("unknown_certificate refusals: %v, want 1", got)
	}

	none := client(tlsConfig(t, files.CA, "", ""))
	if _, err := none.Get(ctxT(t), "weather.boston.temp"); !errors.As(err, &apiErr) || apiErr.Status != 401 {
		t.Fatalf("no certificate: %v", err)
	}
	if rd, err := none.Ready(ctxT(t)); err != nil || !rd.Ready {
		t.Fatalf("/readyz without a certificate: %+v, %v", rd, err)
	}
	if _, err := client(tlsConfig(t, files.CA, "", ""), httpapi.WithToken(tokReader)).Get(ctxT(t), "weather.boston.temp"); err != nil {
		t.Fatalf("a token over TLS without a certificate: %v", err)
	}

	other := brokertest.NewTLSFiles(t) // another authority
	foreign := client(tlsConfig(t, files.CA, other.ClientCert, other.ClientKey))
	_, err := foreign.Get(ctxT(t), "weather.boston.temp")
	if err == nil || errors.As(err, &apiErr) {
		t.Fatalf("a certificate of another authority: %v, want the handshake refused", err)
	}
	t.Logf("a certificate of another authority: %v", err)

	// WithTLSConfig needs an *http.Transport, and says so.
	odd := httpapi.NewClient(ts.URL, &http.Client{Transport: roundTripperFunc(nil)}, httpapi.WithTLSConfig(server))
	if _, err := odd.Get(ctxT(t), "weather.boston.temp"); err == nil || !strings.Contains(err.Error(), "needs an *http.Transport") {
		t.Fatalf("WithTLSConfig on another RoundTripper: %v", err)
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
