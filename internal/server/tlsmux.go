package server

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/kplane/kplane/internal/pki"
)

// kplane's CA, under the data directory: it signs the endpoint's serving
// certificate, so clients that trust it (terraform's tls_certificate, an OIDC
// consumer, `aws --ca-bundle`) reach the clusters' issuers over https.
const (
	CAFileName       = "pki/ca.crt"
	caKeyFileName    = "pki/ca.key"
	servingCertName  = "pki/serving.crt"
	servingKeyName   = "pki/serving.key"
	sniffTimeout     = 10 * time.Second
	tlsHandshakeByte = 0x16 // the first byte of a TLS record carrying a handshake
)

// servingTLS loads or makes kplane's CA and a serving certificate for the
// listener's address, sent with the CA so that the chain ends in the root a
// client pins (as terraform-aws-eks takes the root's SHA-1 as the OIDC
// provider's thumbprint).
func servingTLS(dataDir string, addr *net.TCPAddr) (*tls.Config, error) {
	ca, err := pki.LoadOrCreateCA(filepath.Join(dataDir, CAFileName), filepath.Join(dataDir, caKeyFileName), "kplane-ca")
	if err != nil {
		return nil, err
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if !addr.IP.IsLoopback() {
		ips = append(ips, addr.IP)
	}
	leaf, err := pki.LoadOrIssue(filepath.Join(dataDir, servingCertName), filepath.Join(dataDir, servingKeyName), ca,
		pki.Spec{CommonName: "kplane", DNSNames: []string{"localhost"}, IPs: ips, Server: true})
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Cert.Raw, ca.Cert.Raw}, PrivateKey: leaf.Key, Leaf: leaf.Cert}},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}, nil
}

// sniffingListener serves plain HTTP and HTTPS on one port: a connection
// whose first byte opens a TLS handshake is handed out as a *tls.Conn (which
// net/http then serves as HTTPS), any other as it is. The aws CLI keeps
// using http://HOST:PORT while the issuers are https://HOST:PORT/oidc/...
// Sniffing runs per connection, so a silent client does not hold up Accept.
type sniffingListener struct {
	net.Listener
	tls   *tls.Config
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	err   error // Accept's error once the listener has failed; read after done
}

func newSniffingListener(l net.Listener, cfg *tls.Config) *sniffingListener {
	s := &sniffingListener{Listener: l, tls: cfg, conns: make(chan net.Conn), done: make(chan struct{})}
	go s.acceptLoop()
	return s
}

func (s *sniffingListener) acceptLoop() {
	for {
		c, err := s.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.closeWith(err)
			return
		}
		go s.sniff(c)
	}
}

func (s *sniffingListener) sniff(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(sniffTimeout))
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return
	}
	var out net.Conn = &peekedConn{Conn: c, r: br}
	if first[0] == tlsHandshakeByte {
		out = tls.Server(out, s.tls)
	}
	select {
	case s.conns <- out:
	case <-s.done:
		c.Close()
	}
}

func (s *sniffingListener) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.done:
		if s.err != nil {
			return nil, s.err
		}
		return nil, net.ErrClosed
	}
}

func (s *sniffingListener) Close() error { return s.closeWith(nil) }

// closeWith closes once; acceptErr (the listener's failure, if that is why)
// is set before done closes, so Accept reads it safely.
func (s *sniffingListener) closeWith(acceptErr error) error {
	var err error
	s.once.Do(func() {
		s.err = acceptErr
		close(s.done)
		err = s.Listener.Close()
	})
	return err
}

// peekedConn reads first what sniffing buffered.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }
