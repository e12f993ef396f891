package store

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// checkClientCA makes sure the members accept client certificates from the
// client CA, by presenting a short-lived one (kept in memory) to the first
// member that answers: a CA they do not trust would otherwise show only
// later, as every cluster's apiserver failing to reach etcd.
func checkClientCA(ctx context.Context, endpoints []string, x *external) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "kplane-client-ca-check"},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(10 * time.Minute),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, x.issuer.Cert, key.Public(), x.issuer.Key)
	if err != nil {
		return fmt.Errorf("store: issue from the etcd client CA %s: %w", x.issuerFile, err)
	}
	cfg := x.tls.Clone()
	cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}
	for _, e := range endpoints {
		err := probeTLS(ctx, e, cfg)
		var op *net.OpError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &op) && op.Op == "remote error":
			return fmt.Errorf("store: the etcd members do not accept client certificates from %s (is it in their --trusted-ca-file?): %w", x.issuerFile, err)
		}
		// A member that cannot be reached says nothing; try the next.
	}
	return nil
}

// probeTLS opens a TLS connection to endpoint presenting cfg's certificate
// and reads the server's first HTTP/2 frame. A member that rejects the
// certificate answers with a TLS alert instead: during the handshake (TLS
// 1.2) or on the first read (TLS 1.3, where the client finishes first).
func probeTLS(ctx context.Context, endpoint string, cfg *tls.Config) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return err
	}
	cfg = cfg.Clone()
	cfg.ServerName, cfg.NextProtos = u.Hostname(), []string{"h2"}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	if _, err := conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")); err != nil {
		return err
	}
	_, err = conn.Read(make([]byte, 1))
	return err
}
