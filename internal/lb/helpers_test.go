package lb

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
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testPKI is a CA, a serving certificate for 127.0.0.1 and a client
// certificate, as a cluster's apiserver and admin would have.
type testPKI struct {
	pool   *x509.CertPool
	server tls.Certificate
	client tls.Certificate
}

var (
	pkiOnce sync.Once
	pki     testPKI
)

func getPKI(t testing.TB) testPKI {
	pkiOnce.Do(func() {
		caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		caTmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		ca, _ := x509.ParseCertificate(caDER)
		issue := func(serial int64, cn string, server bool) tls.Certificate {
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
				KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			}
			if server {
				tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
				tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
			if err != nil {
				panic(err)
			}
			return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
		}
		pki.pool = x509.NewCertPool()
		pki.pool.AddCert(ca)
		pki.server = issue(2, "kube-apiserver", true)
		pki.client = issue(3, "kubernetes-admin", false)
	})
	return pki
}

// testBackend stands in for a replica's kube-apiserver: HTTPS that answers
// /readyz (200 or 500, switchable) and, on any other path, its name and the
// client certificate's common name.
type testBackend struct {
	name     string
	addr     string
	srv      *http.Server
	notReady atomic.Bool
}

func startBackend(t testing.TB, name string) *testBackend {
	t.Helper()
	p := getPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &testBackend{name: name, addr: ln.Addr().String()}
	b.srv = &http.Server{
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{p.server},
			ClientAuth:   tls.VerifyClientCertIfGiven, ClientCAs: p.pool,
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/readyz" {
				if b.notReady.Load() {
					http.Error(w, "not ready", http.StatusInternalServerError)
					return
				}
				io.WriteString(w, "ok")
				return
			}
			user := "anonymous"
			if len(r.TLS.PeerCertificates) > 0 {
				user = r.TLS.PeerCertificates[0].Subject.CommonName
			}
			fmt.Fprintf(w, "%s %s", b.name, user)
		}),
		ErrorLog: log.New(io.Discard, "", 0), // handshakes cut by kill() are expected
	}
	go b.srv.ServeTLS(ln, "", "")
	t.Cleanup(b.kill)
	// Until ServeTLS runs, kill() would not close the listener, whose
	// backlog still takes connections: a "killed" replica would answer the
	// balancer's dial (seen under -race in TestAllDead). Return once it serves.
	check := readyzCheck(t)
	waitFor(t, 5*time.Second, name+" serving", func() bool { return check(context.Background(), b.backend()) == nil })
	return b
}

// kill stops the replica as if its process died: the port closes and open
// connections are cut.
func (b *testBackend) kill() { b.srv.Close() }

func (b *testBackend) backend() Backend { return Backend{Name: b.name, Addr: b.addr} }

// readyzCheck is the Check kplane gives the balancer: HTTPS GET /readyz
// with the cluster's CA and a client certificate.
func readyzCheck(t testing.TB) func(context.Context, Backend) error {
	p := getPKI(t)
	c := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.client}},
		DisableKeepAlives: true, // a probe per connection, as kubelet probes; nothing idles after a test
	}}
	return func(ctx context.Context, b Backend) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+b.Addr+"/readyz", nil)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	}
}

// clientFrom is an HTTPS client with the admin certificate whose
// connections come from src (e.g. 127.0.0.2), one new connection per
// request, so each request is one trip through the balancer's accept path.
func clientFrom(t testing.TB, src string) *http.Client {
	p := getPKI(t)
	d := &net.Dialer{Timeout: 2 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext:       d.DialContext,
		TLSClientConfig:   &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.client}},
		DisableKeepAlives: true,
	}}
}

// get GETs https://addr/ and returns the body ("NAME USER").
func get(c *http.Client, addr string) (string, error) {
	resp, err := c.Get("https://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// newTestBalancer is a Balancer that Close()s at the end of the test.
func newTestBalancer(t testing.TB, cfg Config) *Balancer {
	b := New(cfg)
	t.Cleanup(b.Close)
	return b
}

// ensure creates a listener on a free loopback port and returns its address.
func ensure(t testing.TB, b *Balancer, name string, l Listener) string {
	t.Helper()
	if l.Addr == "" {
		l.Addr = "127.0.0.1:0"
	}
	if err := b.Ensure(name, l); err != nil {
		t.Fatal(err)
	}
	return b.Addr(name)
}

// waitFor polls cond every 10ms until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not after %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// healthy is the Healthy flag of the named backend in Status.
func healthy(b *Balancer, listener, backend string) (ok, checked bool) {
	for _, s := range b.Status(listener) {
		if s.Name == backend {
			return s.Healthy, s.Checked
		}
	}
	return false, false
}

// isClosedByPeer reports whether err is how a client sees a connection the
// balancer closed or reset.
func isClosedByPeer(err error) bool {
	return err != nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "reset by peer") || strings.Contains(err.Error(), "EOF") ||
		strings.Contains(err.Error(), "broken pipe"))
}
