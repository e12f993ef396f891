package store

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/pki"
)

// tlsFiles are valid files of every kind Config.TLS names.
type tlsFiles struct {
	ca, cert, key, clientCA, clientCAKey string
}

func makeTLSFiles(t *testing.T) tlsFiles {
	t.Helper()
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	ca, err := pki.LoadOrCreateCA(p("ca.crt"), p("ca.key"), "ca")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.LoadOrIssue(p("kplane.crt"), p("kplane.key"), ca, pki.Spec{CommonName: "kplane", Client: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.LoadOrCreateCA(p("client-ca.crt"), p("client-ca.key"), "client-ca"); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.LoadOrIssue(p("nocn.crt"), p("nocn.key"), ca, pki.Spec{Client: true}); err != nil {
		t.Fatal(err)
	}
	return tlsFiles{ca: p("ca.crt"), cert: p("kplane.crt"), key: p("kplane.key"),
		clientCA: p("client-ca.crt"), clientCAKey: p("client-ca.key")}
}

func (f tlsFiles) tls() EtcdTLS {
	return EtcdTLS{CAFile: f.ca, CertFile: f.cert, KeyFile: f.key, ClientCACertFile: f.clientCA, ClientCAKeyFile: f.clientCAKey}
}

// Every wrong setting is an error at start that says what is wrong.
func TestConfigValidate(t *testing.T) {
	f := makeTLSFiles(t)
	dir := filepath.Dir(f.ca)
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	ep := []string{"https://127.0.0.1:2379"}
	with := func(mut func(*EtcdTLS)) EtcdTLS { x := f.tls(); mut(&x); return x }
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" is valid
	}{
		{"embedded", Config{DataDir: dir}, ""},
		{"beside the embedded", Config{DataDir: dir, Endpoints: ep}, ""},
		{"external", Config{DataDir: dir, Endpoints: ep, TLS: f.tls()}, ""},
		{"external without client CA", Config{Endpoints: ep, TLS: with(func(x *EtcdTLS) { x.ClientCACertFile, x.ClientCAKeyFile = "", "" })}, ""},
		{"beside without data dir", Config{Endpoints: ep}, "data directory"},
		{"plain http", Config{DataDir: dir, Endpoints: []string{"http://127.0.0.1:2379"}, TLS: f.tls()}, "plain http"},
		{"plain http beside", Config{DataDir: dir, Endpoints: []string{"http://127.0.0.1:2379"}}, "plain http"},
		{"one of several http", Config{Endpoints: []string{ep[0], "http://127.0.0.1:2380"}, TLS: f.tls()}, "plain http"},
		{"no scheme", Config{Endpoints: []string{"127.0.0.1:2379"}, TLS: f.tls()}, "not a URL"},
		{"TLS without endpoints", Config{DataDir: dir, TLS: f.tls()}, "no etcd endpoints"},
		{"no CA file", Config{Endpoints: ep, TLS: with(func(x *EtcdTLS) { x.CAFile = "" })}, "CA file"},
		{"no cert or key", Config{Endpoints: ep, TLS: with(func(x *EtcdTLS) { x.CertFile, x.KeyFile = "", "" })}, "client certificate, client key"},
		{"missing CA file", Config{Endpoints: ep, TLS: with(func(x *EtcdTLS) { x.CAFile = filepath.Join(dir, "nope.crt") })}, "nope.crt: no such file"},
		{"CA file not PEM", Config{Endpoints: ep, TLS: with(func(x *EtcdTLS) { x.CAFile = notPEM })}, "no PEM certificate"},
		{"missing key", Config{Endpoints: ep, TLS: with(func(x *EtcdTLS) { x.KeyFile = filepath.Join(dir, "nope.key") })}, "nope.key: no such file"},
		{"key of another cert", Config{Endpoints: ep, TLS: with(func(x *EtcdTLS) { x.KeyFile = f.clientCAKey })}, "client pair"},
		{"cert without CN", Config{Endpoints: ep, TLS: with(func(x *EtcdTLS) {
			x.CertFile, x.KeyFile = filepath.Join(dir, "nocn.crt"), filepath.Join(dir, "nocn.key")
		})}, "no common name"},
		{"client CA without key", Config{Endpoints: ep, TLS: with(func(x *EtcdTLS) { x.ClientCAKeyFile = "" })}, "both its certificate and its key"},
		{"client CA is a leaf", Config{Endpoints: ep, TLS: with(func(x *EtcdTLS) { x.ClientCACertFile, x.ClientCAKeyFile = f.cert, f.key })}, "not a CA certificate"},
		{"client CA key mismatch", Config{Endpoints: ep, TLS: with(func(x *EtcdTLS) { x.ClientCAKeyFile = f.key })}, "does not belong"},
		{"client CA key not PEM", Config{Endpoints: ep, TLS: with(func(x *EtcdTLS) { x.ClientCAKeyFile = notPEM })}, "no PEM private key"},
		{"missing client CA", Config{Endpoints: ep, TLS: with(func(x *EtcdTLS) { x.ClientCACertFile = filepath.Join(dir, "nope-ca.crt") })}, "nope-ca.crt: no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want an error with %q, got %v", tc.want, err)
			}
		})
	}
}

// A client CA made by openssl or cfssl has a PKCS#1 or SEC 1 key; both load
// and issue certificates.
func TestLoadCAKeyFormats(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	for _, tc := range []struct {
		name string
		key  any
		pem  *pem.Block
	}{
		{"RSA PKCS#1", rsaKey, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}},
		{"EC SEC 1", ecKey, &pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"},
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour * 24 * 365 * 5),
				IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, publicOf(tc.key), tc.key)
			if err != nil {
				t.Fatal(err)
			}
			certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
			os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
			os.WriteFile(keyFile, pem.EncodeToMemory(tc.pem), 0o600)
			ca, err := loadCA(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := pki.LoadOrIssue(filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key"), ca, pki.Spec{CommonName: "kplane-cluster-x", Client: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := leaf.Cert.CheckSignatureFrom(ca.Cert); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func publicOf(k any) any {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return &k.PublicKey
	case *ecdsa.PrivateKey:
		return &k.PublicKey
	}
	return nil
}
