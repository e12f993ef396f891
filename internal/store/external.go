package store

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/kplane/kplane/internal/pki"
)

// EtcdTLS is how kplane reaches an etcd cluster it did not start. Such an
// etcd must serve clients over https with client-certificate auth
// (--client-cert-auth --trusted-ca-file): etcd knows a client by its
// certificate's CN, and that is the only way to give each cluster's
// kube-apiserver an identity of its own (kube-apiserver has no etcd password).
type EtcdTLS struct {
	// CAFile verifies the members' serving certificates; every cluster's
	// kube-apiserver is given it too.
	CAFile string
	// CertFile and KeyFile are kplane's own client pair. The certificate's
	// CN is kplane's etcd user: root, or a user holding the root role once
	// auth is on (kplane makes it so when it turns auth on itself).
	CertFile, KeyFile string
	// ClientCACertFile and ClientCAKeyFile are a CA the members trust for
	// client certificates. kplane issues each cluster's apiserver its etcd
	// client certificate from it (CN = the cluster's etcd user). Only
	// `kplane serve` needs them; commands run beside it do not.
	ClientCACertFile, ClientCAKeyFile string
}

// IsZero reports whether no external TLS setting is given.
func (t EtcdTLS) IsZero() bool { return t == EtcdTLS{} }

// abs makes every path absolute: the control planes run in other
// directories and are given the CA file by path.
func (t EtcdTLS) abs() EtcdTLS {
	for _, p := range []*string{&t.CAFile, &t.CertFile, &t.KeyFile, &t.ClientCACertFile, &t.ClientCAKeyFile} {
		if *p != "" {
			if a, err := filepath.Abs(*p); err == nil {
				*p = a
			}
		}
	}
	return t
}

// Validate checks the settings before anything is started or dialed, so that
// a wrong path or a bad combination is a clear error at start.
func (c Config) Validate() error {
	if err := checkEndpoints(c.Endpoints); err != nil {
		return err
	}
	if c.TLS.IsZero() {
		// Endpoints without TLS settings are the embedded etcd of a kplane
		// serving from DataDir (commands run beside it use its PKI).
		if len(c.Endpoints) > 0 && c.DataDir == "" {
			return errors.New("store: etcd endpoints without TLS settings need the data directory of the kplane that serves them")
		}
		return nil
	}
	if len(c.Endpoints) == 0 {
		return errors.New("store: external etcd TLS settings are given but no etcd endpoints")
	}
	_, err := loadExternal(c.TLS)
	return err
}

// checkEndpoints accepts https://HOST:PORT URLs. Plain http is refused: etcd
// can tell clusters' apiservers apart only by their TLS client certificates,
// so over http every cluster could read and write every other cluster's
// objects and kplane's own records.
func checkEndpoints(endpoints []string) error {
	for _, e := range endpoints {
		u, err := url.Parse(e)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return fmt.Errorf("store: etcd endpoint %q is not a URL like https://HOST:2379", e)
		}
		if u.Scheme == "http" {
			return fmt.Errorf("store: etcd endpoint %q is plain http, which kplane refuses: each cluster's "+
				"kube-apiserver is kept to its own key prefix by an etcd user named by its TLS client certificate, "+
				"so without https and client-certificate auth any cluster could read and write every other's data; "+
				"serve etcd over https with --client-cert-auth", e)
		}
	}
	return nil
}

// external is an external etcd's loaded TLS settings.
type external struct {
	tls        *tls.Config
	user       string    // kplane's etcd user: its certificate's CN
	issuer     *pki.Pair // the client CA; nil when not given
	issuerFile string
	caFile     string
}

func loadExternal(t EtcdTLS) (*external, error) {
	var missing []string
	for _, f := range []struct{ name, path string }{
		{"CA file", t.CAFile}, {"client certificate", t.CertFile}, {"client key", t.KeyFile},
	} {
		if f.path == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("store: an external etcd needs kplane's %s", strings.Join(missing, ", "))
	}
	if (t.ClientCACertFile == "") != (t.ClientCAKeyFile == "") {
		return nil, errors.New("store: the external etcd's client CA needs both its certificate and its key")
	}
	t = t.abs()
	pool, err := loadCAPool(t.CAFile)
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("store: kplane's etcd client pair %s, %s: %w", t.CertFile, t.KeyFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", t.CertFile, err)
	}
	if leaf.Subject.CommonName == "" {
		return nil, fmt.Errorf("store: %s has no common name; etcd takes kplane's user name from it", t.CertFile)
	}
	x := &external{
		tls:    &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		user:   leaf.Subject.CommonName,
		caFile: t.CAFile,
	}
	if t.ClientCACertFile != "" {
		if x.issuer, err = loadCA(t.ClientCACertFile, t.ClientCAKeyFile); err != nil {
			return nil, err
		}
		x.issuerFile = t.ClientCACertFile
	}
	return x, nil
}

func loadCAPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("store: etcd CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("store: etcd CA file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// loadCA loads a CA pair made by any usual tool: the key may be PKCS#8, SEC 1
// (EC PRIVATE KEY) or PKCS#1 (RSA PRIVATE KEY).
func loadCA(certFile, keyFile string) (*pki.Pair, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("store: etcd client CA certificate: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("store: etcd client CA certificate %s holds no PEM certificate", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("store: etcd client CA certificate %s: %w", certFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("store: etcd client CA certificate %s is not a CA certificate", certFile)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("store: etcd client CA key: %w", err)
	}
	key, err := pki.ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("store: etcd client CA key %s: %w", keyFile, err)
	}
	if !sameKey(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("store: etcd client CA key %s does not belong to %s", keyFile, certFile)
	}
	return &pki.Pair{Cert: cert, Key: key, CertPEM: pem.EncodeToMemory(block)}, nil
}

func sameKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
