// Package pki makes and keeps the certificates kplane's parts trust each
// other with: ECDSA P-256 keys, PEM files, keys mode 0600, written atomically,
// and loaded instead of made again when they are still good.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"slices"
	"time"

	"github.com/kplane/kplane/internal/fileutil"
)

// Validity of what this package issues; a pair this close to expiry is renewed.
const (
	CAValidity    = 10 * 365 * 24 * time.Hour
	LeafValidity  = 365 * 24 * time.Hour
	RenewalMargin = 30 * 24 * time.Hour
)

// Pair is a certificate and its private key.
type Pair struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
}

// Spec says what a certificate is for.
type Spec struct {
	CommonName   string
	Organization []string
	DNSNames     []string
	IPs          []net.IP
	Server       bool // serverAuth
	Client       bool // clientAuth
}

// LoadOrCreateCA returns the CA at certFile/keyFile, making it if absent.
func LoadOrCreateCA(certFile, keyFile, commonName string) (*Pair, error) {
	if p, err := load(certFile, keyFile); err == nil && p.Cert.IsCA && time.Until(p.Cert.NotAfter) > RenewalMargin {
		return p, nil
	}
	return create(certFile, keyFile, Spec{CommonName: commonName}, nil)
}

// LoadOrIssue returns the pair at certFile/keyFile if ca signed it for spec
// and it is not near expiry; otherwise it issues a new one.
func LoadOrIssue(certFile, keyFile string, ca *Pair, spec Spec) (*Pair, error) {
	if p, err := load(certFile, keyFile); err == nil && matches(p.Cert, ca, spec) {
		return p, nil
	}
	return create(certFile, keyFile, spec, ca)
}

func matches(c *x509.Certificate, ca *Pair, spec Spec) bool {
	if c.CheckSignatureFrom(ca.Cert) != nil || time.Until(c.NotAfter) < RenewalMargin ||
		c.Subject.CommonName != spec.CommonName || !slices.Equal(c.Subject.Organization, spec.Organization) {
		return false
	}
	for _, d := range spec.DNSNames {
		if !slices.Contains(c.DNSNames, d) {
			return false
		}
	}
	for _, ip := range spec.IPs {
		if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func create(certFile, keyFile string, spec Spec, ca *Pair) (*Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.CommonName, Organization: spec.Organization},
		NotBefore:    now.Add(-5 * time.Minute),
		DNSNames:     spec.DNSNames,
		IPAddresses:  spec.IPs,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	parent, signer := tmpl, crypto.Signer(key)
	if ca == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		tmpl.NotAfter = now.Add(CAValidity)
	} else {
		parent, signer = ca.Cert, ca.Key
		tmpl.NotAfter = now.Add(LeafValidity)
		if spec.Server {
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		}
		if spec.Client {
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	p := &Pair{Cert: cert, Key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	if err := fileutil.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	if err := fileutil.WriteFile(certFile, p.CertPEM, 0o644); err != nil {
		return nil, err
	}
	return p, nil
}

func load(certFile, keyFile string) (*Pair, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("pki: not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok || !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("pki: %s does not match %s", keyFile, certFile)
	}
	return &Pair{Cert: cert, Key: signer, CertPEM: certPEM}, nil
}

// ParsePrivateKey reads the first private key in PEM data (PKCS#8, EC or
// PKCS#1 RSA), skipping other blocks such as EC PARAMETERS.
func ParsePrivateKey(b []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("pki: no PEM private key")
		}
		var k any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("pki: key type %T cannot sign", k)
		}
		return s, nil
	}
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ad, err1 := x509.MarshalPKIXPublicKey(a)
	bd, err2 := x509.MarshalPKIXPublicKey(b)
	return err1 == nil && err2 == nil && bytes.Equal(ad, bd)
}

// Load reads the pair at certFile/keyFile (for example a cluster's CA, to
// sign with it).
func Load(certFile, keyFile string) (*Pair, error) { return load(certFile, keyFile) }
