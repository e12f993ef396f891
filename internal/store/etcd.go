// Package store is kplane's datastore access: an embedded etcd (or an external
// etcd cluster) holding every cluster, update, idempotency token and the network
// inventory. Writes are etcd transactions; reads of clusters come from a
// watch-fed cache that each write waits on, so a caller reads its own writes.
package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/kplane/kplane/internal/fileutil"
	"github.com/kplane/kplane/internal/pki"
)

// Config says which etcd to use.
type Config struct {
	// DataDir holds the embedded etcd's data (DataDir/etcd).
	DataDir string
	// Endpoints of an external etcd cluster (https://HOST:PORT), reached
	// with TLS. Empty means the embedded etcd. Endpoints without TLS are the
	// embedded etcd of a kplane serving from DataDir (commands beside it).
	Endpoints []string
	TLS       EtcdTLS
	// ClientAddr is where the embedded etcd serves clients (the control planes
	// reach it there). Default 127.0.0.1 with a free port.
	ClientAddr string
	Logger     *slog.Logger
	// CompactInterval is how often kplane compacts etcd's history, as
	// kube-apiserver would (default DefaultCompactInterval).
	CompactInterval time.Duration
}

// Store is an open datastore.
type Store struct {
	client    *clientv3.Client
	Endpoints []string
	etcd      *embed.Etcd
	// issuer signs each cluster apiserver's etcd client certificate: the
	// embedded etcd's CA, or the client CA an external etcd trusts (nil when
	// not given: then clusters cannot be granted access).
	issuer *pki.Pair
	// serverCA is the file a cluster's apiserver verifies etcd's members with.
	serverCA  string
	clusters  *clusterCache
	compactor *compactor
	log       *slog.Logger
	faults    faults
}

// Open starts the embedded etcd when no endpoints are given, connects, turns
// etcd's auth on with kplane as root if it is off, and fills the cluster cache.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{log: cfg.Logger, Endpoints: cfg.Endpoints}
	var tlsConfig *tls.Config
	var p *etcdPKI    // the embedded etcd's files
	var ext *external // or an external etcd's settings
	user := rootUser
	if !cfg.TLS.IsZero() {
		x, err := loadExternal(cfg.TLS)
		if err != nil {
			return nil, err
		}
		tlsConfig, user, s.issuer, s.serverCA = x.tls, x.user, x.issuer, x.caFile
		ext = x
	} else {
		// The embedded etcd, ours to start or already started by `kplane serve`.
		var err error
		if p, err = ensureEtcdPKI(cfg.DataDir); err != nil {
			return nil, err
		}
		s.issuer, s.serverCA = p.ca, p.path("ca.crt")
		if tlsConfig, err = clientTLS(p.root); err != nil {
			return nil, err
		}
	}
	if len(s.Endpoints) == 0 {
		if p == nil {
			return nil, errors.New("store: external etcd TLS settings are given but no etcd endpoints")
		}
		e, endpoint, err := startEmbedded(ctx, cfg, p)
		if err != nil {
			return nil, err
		}
		s.etcd = e
		s.Endpoints = []string{endpoint}
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   s.Endpoints,
		DialTimeout: 5 * time.Second,
		TLS:         tlsConfig,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("store: connect %v: %w", s.Endpoints, err)
	}
	s.client = cli
	if s.etcd != nil || !cfg.TLS.IsZero() {
		// A request to members that cannot be reached waits for them; kplane
		// should fail at start instead, saying where it looked.
		actx, cancel := context.WithTimeout(ctx, contactTimeout)
		err := enableAuth(actx, cli, user)
		cancel()
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("store: etcd auth at %v: %w", s.Endpoints, err)
		}
	}
	if ext != nil && ext.issuer != nil {
		if err := checkClientCA(ctx, s.Endpoints, ext); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.clusters = newClusterCache(cli, cfg.Logger)
	if err := s.clusters.start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if cfg.CompactInterval == 0 {
		cfg.CompactInterval = DefaultCompactInterval
	}
	s.compactor = startCompactor(cli, cfg.CompactInterval, cfg.Logger)
	return s, nil
}

// contactTimeout bounds kplane's first requests to etcd at start.
const contactTimeout = 30 * time.Second

func startEmbedded(ctx context.Context, cfg Config, p *etcdPKI) (*embed.Etcd, string, error) {
	dir := filepath.Join(cfg.DataDir, "etcd")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	addr := cfg.ClientAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	// The ports are picked free and then bound by etcd, so another process
	// can take one in between (parallel test packages do): pick again.
	for attempt := 1; ; attempt++ {
		e, clientURL, err := startEmbeddedOnce(ctx, cfg, p, dir, addr)
		if err != nil && errors.Is(err, syscall.EADDRINUSE) && attempt < 5 {
			continue
		}
		return e, clientURL, err
	}
}

func startEmbeddedOnce(ctx context.Context, cfg Config, p *etcdPKI, dir, addr string) (*embed.Etcd, string, error) {
	clientURL, err := freeURL(addr)
	if err != nil {
		return nil, "", err
	}
	clientURL.Scheme = "https"
	peerURL, err := freeURL("127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	// etcd's HTTP endpoints (/health, /version) get a port of their own, so
	// the client port serves gRPC alone on gRPC's own transport; shared with
	// HTTP over TLS, gRPC would go through net/http's HTTP/2 server, which
	// costs the control planes' apiservers measurably more CPU per request.
	httpURL, err := freeURL(net.JoinHostPort(clientURL.Hostname(), "0"))
	if err != nil {
		return nil, "", err
	}
	httpURL.Scheme = "https"
	ec := embed.NewConfig()
	ec.Name = "kplane"
	ec.Dir = dir
	ec.ListenClientUrls = []url.URL{*clientURL}
	ec.ListenClientHttpUrls = []url.URL{*httpURL}
	ec.AdvertiseClientUrls = []url.URL{*clientURL}
	ec.ClientTLSInfo = transport.TLSInfo{
		CertFile: p.server.CertFile, KeyFile: p.server.KeyFile,
		TrustedCAFile: p.server.CAFile, ClientCertAuth: true,
	}
	ec.ListenPeerUrls = []url.URL{*peerURL}
	ec.AdvertisePeerUrls = []url.URL{*peerURL}
	ec.InitialCluster = ec.Name + "=" + peerURL.String()
	// etcd's own log is noise to a kplane user (it even reports its normal
	// shutdown as errors); kplane reports what matters itself.
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	ec.ListenMetricsUrls = nil
	// The peer URL changes between starts; a single member does not need it to match.
	ec.StrictReconfigCheck = false
	// No auto-compaction: kplane compacts as kube-apiserver would (compact.go).
	ec.QuotaBackendBytes = 8 << 30
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, "", fmt.Errorf("store: start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, "", fmt.Errorf("store: embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, "", errors.New("store: embedded etcd not ready after 60s")
	case <-ctx.Done():
		e.Close()
		return nil, "", fmt.Errorf("store: embedded etcd: %w", ctx.Err())
	}
	// Commands run beside the server (kplane network, kubeconfig) find it here.
	if err := fileutil.WriteFile(filepath.Join(cfg.DataDir, endpointFile), []byte(clientURL.String()), 0o600); err != nil {
		e.Close()
		return nil, "", err
	}
	if err := removeIfExists(filepath.Join(cfg.DataDir, externalFile)); err != nil {
		e.Close()
		return nil, "", err
	}
	return e, clientURL.String(), nil
}

// EmbeddedEndpoint returns the client URL of the embedded etcd that a kplane
// serving from dataDir runs.
func EmbeddedEndpoint(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, endpointFile))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// freeURL turns host:0 into http://host:PORT with a port free right now.
func freeURL(addr string) (*url.URL, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("store: address %q: %w", addr, err)
	}
	if port == "0" {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, err
		}
		port = fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}, nil
}

// Close stops the cache, the client and the embedded etcd.
func (s *Store) Close() error {
	if s.compactor != nil {
		s.compactor.stop()
	}
	if s.clusters != nil {
		s.clusters.stop()
	}
	var err error
	if s.client != nil {
		err = s.client.Close()
	}
	if s.etcd != nil {
		s.etcd.Close()
	}
	return err
}

// Ping reads a key, so it fails when etcd cannot answer (kplane's readyz).
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.client.Get(ctx, metaPrefix+"readyz")
	return err
}

// Dump returns every key under prefix ("" for all) with its value as etcd
// holds it: for checks of what kplane stores (that no secret is in etcd).
func (s *Store) Dump(ctx context.Context, prefix string) (map[string][]byte, error) {
	key, opt := prefix, clientv3.WithPrefix()
	if prefix == "" {
		key, opt = "\x00", clientv3.WithFromKey()
	}
	resp, err := s.client.Get(ctx, key, opt)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = kv.Value
	}
	return out, nil
}
