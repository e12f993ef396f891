package etcdtest

import (
	"net"
	"path/filepath"

	"github.com/kplane/kplane/internal/pki"
)

// makePKI makes two CAs: one signs the members' certificates (serving and
// peer), the other is the only one trusted for clients. Keeping them apart
// checks that kplane verifies members with one and issues clients from the
// other.
func (c *Cluster) makePKI() {
	c.tb.Helper()
	dir := filepath.Join(c.dir, "pki")
	var err error
	c.CAFile = filepath.Join(dir, "server-ca.crt")
	if c.serverCA, err = pki.LoadOrCreateCA(c.CAFile, filepath.Join(dir, "server-ca.key"), "etcdtest-server-ca"); err != nil {
		c.tb.Fatal(err)
	}
	c.ClientCACertFile, c.ClientCAKeyFile = filepath.Join(dir, "client-ca.crt"), filepath.Join(dir, "client-ca.key")
	if c.clientCA, err = pki.LoadOrCreateCA(c.ClientCACertFile, c.ClientCAKeyFile, "etcdtest-client-ca"); err != nil {
		c.tb.Fatal(err)
	}
}

// memberPair is member m's certificate, for clients and for its peers.
func (c *Cluster) memberPair(m *Member) (certFile, keyFile string) {
	c.tb.Helper()
	certFile, keyFile = filepath.Join(c.dir, "pki", m.Name+".crt"), filepath.Join(c.dir, "pki", m.Name+".key")
	if _, err := pki.LoadOrIssue(certFile, keyFile, c.serverCA, pki.Spec{
		CommonName: m.Name, DNSNames: []string{"localhost"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true, Client: true,
	}); err != nil {
		c.tb.Fatal(err)
	}
	return certFile, keyFile
}

// IssueClient issues a client certificate with common name cn (the etcd user
// it authenticates as) from the client CA.
func (c *Cluster) IssueClient(cn string) (certFile, keyFile string) {
	c.tb.Helper()
	certFile, keyFile = filepath.Join(c.dir, "clients", cn+".crt"), filepath.Join(c.dir, "clients", cn+".key")
	if _, err := pki.LoadOrIssue(certFile, keyFile, c.clientCA, pki.Spec{CommonName: cn, Client: true}); err != nil {
		c.tb.Fatal(err)
	}
	return certFile, keyFile
}
