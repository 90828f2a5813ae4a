package brokertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TLSFiles are the PEM files of a throwaway certificate authority and of
// a server and a client certificate it signed. The server certificate is
// valid for localhost, 127.0.0.1 and ::1.
type TLSFiles struct {
	CA         string // the authority's certificate
	ServerCert string
	ServerKey  string
	ClientCert string // Subject CN "dprop test client"
	ClientKey  string

	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

// NewTLSFiles makes a certificate authority, a server certificate and a
// client certificate, valid for an hour, in a fresh temporary directory.
// NewClientCert makes more client certificates; another NewTLSFiles makes
// another authority.
func NewTLSFiles(t testing.TB) TLSFiles {
	t.Helper()
	dir := t.TempDir()
	files := TLSFiles{
		dir:        dir,
		CA:         filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey:  filepath.Join(dir, "server-key.pem"),
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "dprop test CA"},
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	caCert, caKey := makeCert(t, caTmpl, nil, nil, files.CA, "")
	files.caCert, files.caKey = caCert, caKey
	makeCert(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, caCert, caKey, files.ServerCert, files.ServerKey)
	files.ClientCert, files.ClientKey = files.NewClientCert(t, "dprop test client")
	return files
}

// NewClientCert makes another client certificate signed by f's authority,
// with Subject CN name, and returns the paths of the certificate and its
// key.
func (f TLSFiles) NewClientCert(t testing.TB, name string) (cert, key string) {
	t.Helper()
	base := filepath.Join(f.dir, "client-"+strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r == os.PathSeparator {
			return '-'
		}
		return r
	}, name))
	cert, key = base+".pem", base+"-key.pem"
	makeCert(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, f.caCert, f.caKey, cert, key)
	return cert, key
}

// makeCert signs tmpl with parent and parentKey (itself when parent is
// nil), writes the certificate to certPath and, if keyPath is not empty,
// the new key to keyPath.
func makeCert(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("brokertest: key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("brokertest: serial: %v", err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Minute)
	tmpl.NotAfter = time.Now().Add(time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatalf("brokertest: certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("brokertest: certificate: %v", err)
	}
	writePEM(t, certPath, "CERTIFICATE", der)
	if keyPath != "" {
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatalf("brokertest: key: %v", err)
		}
		writePEM(t, keyPath, "PRIVATE KEY", keyDER)
	}
	return cert, key
}

func writePEM(t testing.TB, path, kind string, der []byte) {
	t.Helper()
	data := pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("brokertest: %v", err)
	}
}
