// Package etcdtest runs an etcd cluster for tests: in-process members of
// go.etcd.io/etcd/server/v3/embed, each stoppable and restartable on its data,
// served the way an operator would run an external etcd for kplane: https
// with client-certificate auth, members verified with one CA (CAFile) and
// clients with another (ClientCACertFile), peers over TLS too.
package etcdtest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/kplane/kplane/internal/pki"
)

// Cluster is a running test etcd cluster.
type Cluster struct {
	// CAFile verifies the members' serving certificates.
	CAFile string
	// ClientCACertFile and ClientCAKeyFile are the CA the members trust for
	// client certificates (their --trusted-ca-file).
	ClientCACertFile, ClientCAKeyFile string
	Members                           []*Member

	tb       testing.TB
	dir      string
	serverCA *pki.Pair
	clientCA *pki.Pair
}

// Member is one etcd member with fixed URLs and a data directory that
// outlive its stops.
type Member struct {
	Name      string
	ClientURL url.URL
	PeerURL   url.URL
	dir       string
	logFile   string

	mu   sync.Mutex
	etcd *embed.Etcd
}

// readyTimeout bounds how long a member may take to join or rejoin; the
// machine may be busy with control planes.
const readyTimeout = 2 * time.Minute

// Start runs an n-member cluster under a temporary directory and stops it in
// tb.Cleanup.
func Start(tb testing.TB, n int) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb, dir: tb.TempDir()}
	c.makePKI()
	for i := range n {
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: freeURL(tb),
			PeerURL:   freeURL(tb),
		}
		m.dir = filepath.Join(c.dir, m.Name)
		m.logFile = filepath.Join(c.dir, m.Name+".log")
		c.Members = append(c.Members, m)
	}
	tb.Cleanup(c.Close)
	for _, m := range c.Members {
		e, err := embed.StartEtcd(c.config(m))
		if err != nil {
			tb.Fatalf("etcdtest: start %s: %v", m.Name, err)
		}
		m.set(e)
	}
	for _, m := range c.Members {
		c.waitReady(m)
	}
	return c
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.ClientURL.String())
	}
	return out
}

// Stop stops member i (a clean stop; its data stays).
func (c *Cluster) Stop(i int) {
	c.tb.Helper()
	m := c.Members[i]
	e := m.set(nil)
	if e == nil {
		c.tb.Fatalf("etcdtest: %s is not running", m.Name)
	}
	e.Close()
}

// Restart starts stopped member i again on its data and URLs and waits until
// it has rejoined the cluster.
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	m := c.Members[i]
	if m.running() {
		c.tb.Fatalf("etcdtest: %s is running", m.Name)
	}
	e, err := embed.StartEtcd(c.config(m))
	if err != nil {
		c.tb.Fatalf("etcdtest: restart %s: %v (log %s)", m.Name, err, m.logFile)
	}
	m.set(e)
	c.waitReady(m)
}

// Close stops every running member.
func (c *Cluster) Close() {
	for _, m := range c.Members {
		if e := m.set(nil); e != nil {
			e.Close()
		}
	}
}

func (m *Member) set(e *embed.Etcd) *embed.Etcd {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.etcd
	m.etcd = e
	return old
}

func (m *Member) running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.etcd != nil
}

func (c *Cluster) waitReady(m *Member) {
	c.tb.Helper()
	m.mu.Lock()
	e := m.etcd
	m.mu.Unlock()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		c.tb.Fatalf("etcdtest: %s: %v (log %s)", m.Name, err, m.logFile)
	case <-time.After(readyTimeout):
		c.tb.Fatalf("etcdtest: %s not ready within %v (log %s)", m.Name, readyTimeout, m.logFile)
	}
}

// config is member m's configuration; the same at every start, so a restart
// finds its data and its peers where they were. (The initial-cluster
// settings only matter at the first start: later ones read the WAL.)
func (c *Cluster) config(m *Member) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = m.Name
	cfg.Dir = m.dir
	cfg.ListenClientUrls = []url.URL{m.ClientURL}
	cfg.AdvertiseClientUrls = []url.URL{m.ClientURL}
	cfg.ListenPeerUrls = []url.URL{m.PeerURL}
	cfg.AdvertisePeerUrls = []url.URL{m.PeerURL}
	var initial []string
	for _, o := range c.Members {
		initial = append(initial, o.Name+"="+o.PeerURL.String())
	}
	cfg.InitialCluster = strings.Join(initial, ",")
	cfg.InitialClusterToken = "etcdtest"
	cfg.ClusterState = embed.ClusterStateFlagNew
	cert, key := c.memberPair(m)
	cfg.ClientTLSInfo = transport.TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: c.ClientCACertFile, ClientCertAuth: true}
	cfg.PeerTLSInfo = transport.TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: c.CAFile, ClientCertAuth: true}
	cfg.ListenMetricsUrls = nil
	// kube-apiservers on kplane do not compact (their etcd user reaches only
	// their prefix), so an etcd for kplane compacts itself.
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "10m"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(fileLogger(m.logFile))
	return cfg
}

// fileLogger writes etcd's warnings and errors to name, for a failing test to
// point at; etcd's info log would drown the test's own.
func fileLogger(name string) *zap.Logger {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return zap.NewNop()
	}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(f), zapcore.WarnLevel))
}

// freeURL is https://127.0.0.1:PORT with a port free right now.
func freeURL(tb testing.TB) url.URL {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return url.URL{Scheme: "https", Host: l.Addr().String()}
}
