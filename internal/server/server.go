// Package server wires kplane together: the datastore, credentials, the EKS
// and STS endpoints, and the control-plane reconciler. Its surface follows
// etcd's embed package: one Config, Start (which returns once serving), Err
// for a fatal error, and Close.
package server

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kplane/kplane/internal/access"
	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/authn"
	"github.com/kplane/kplane/internal/awsjson"
	"github.com/kplane/kplane/internal/cwlogs"
	"github.com/kplane/kplane/internal/ec2"
	"github.com/kplane/kplane/internal/eks"
	"github.com/kplane/kplane/internal/iam"
	"github.com/kplane/kplane/internal/kms"
	"github.com/kplane/kplane/internal/kmsplugin"
	"github.com/kplane/kplane/internal/runinfo"
	"github.com/kplane/kplane/internal/ssm"
	"github.com/kplane/kplane/internal/store"
	"github.com/kplane/kplane/internal/versions"
)

// Defaults of `kplane serve`.
const (
	DefaultListen    = "127.0.0.1:4599"
	DefaultRegion    = "us-west-2"
	DefaultAccountID = "000000000000"
)

// Config is everything `kplane serve` can be told.
type Config struct {
	DataDir string
	// Listen is the EKS/STS endpoint's address; loopback unless told otherwise.
	Listen    string
	Region    string
	AccountID string
	// EtcdEndpoints points kplane at an external etcd cluster instead of the
	// embedded one, reached with EtcdTLS.
	EtcdEndpoints []string
	EtcdTLS       store.EtcdTLS
	// ClusterQuota is the most clusters the account may have.
	ClusterQuota int
	// Zones are the region's availability zones (default REGIONa, b, c).
	Zones []string
	// UnsupportedZones are zones CreateCluster refuses (UnsupportedAvailabilityZoneException).
	UnsupportedZones []string
	// Versions are the Kubernetes versions clusters can run: the support
	// calendar narrowed to the minors whose components kplane has
	// (versions.Calendar.Offered). Empty: the built-in minor (BuiltInOnly).
	Versions versions.Calendar
	Log      *slog.Logger
	// Deps are the parts the caller wires in; each may be left out.
	Deps Dependencies
}

// Dependencies are what the server is given to work with, apart from its
// settings: the reconciler and what the API asks of the clusters it runs.
type Dependencies struct {
	// Reconciler drives clusters to their recorded intent; nil runs none
	// (clusters then stay as the API recorded them).
	Reconciler Reconciler
	// ReadAwsAuth reads a running cluster's aws-auth ConfigMap (CONFIG_MAP modes).
	ReadAwsAuth func(context.Context, *store.ClusterRecord) (access.AwsAuth, error)
	// AuthenticatorLog gives cluster id's "authenticator" log file and
	// whether that log type is enabled.
	AuthenticatorLog func(*store.ClusterRecord) (string, bool)
	// ClusterLogFiles gives a cluster's enabled EKS log types and each
	// one's files, which kplane ships to CloudWatch Logs; nil ships none.
	ClusterLogFiles func(*store.ClusterRecord) map[string][]string
	// KMSSocket gives where a cluster's KMS v2 plugin listens (its apiserver
	// encrypts Secrets through it); nil serves no plugin.
	KMSSocket func(*store.ClusterRecord) string
	// ServiceAccountKey gives a cluster's service-account public key, which
	// kplane publishes at the cluster's OIDC issuer.
	ServiceAccountKey func(*store.ClusterRecord) (crypto.PublicKey, error)
	// Metrics are further collectors served at /_kplane/metrics (the
	// endpoints' load balancer).
	Metrics []prometheus.Collector
}

// Reconciler is what drives clusters. Run works until ctx ends and
// returns once it has stopped all it started; Close waits for that.
type Reconciler interface {
	Run(ctx context.Context, st *store.Store, info runinfo.Info) error
}

// Server is a running kplane.
type Server struct {
	Config
	Store *store.Store
	Root  *auth.Credential
	// URL is the base URL of the EKS/STS endpoint.
	URL string
	// HTTPSURL is the same endpoint over TLS (one port serves both), with a
	// certificate from kplane's CA at CAFile; the clusters' OIDC issuers
	// are under it.
	HTTPSURL string
	CAFile   string

	http      *http.Server
	listener  net.Listener
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error
	errc      chan error
	// reconciled is closed when the reconciler's Run has returned.
	reconciled chan struct{}
	shipped    chan struct{} // closed when the CloudWatch Logs shipper has stopped
}

// Start opens the datastore, makes sure the account exists, and serves.
// It returns once the server answers requests; when it fails, what it had
// opened is closed again.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	root, err := auth.LoadOrCreateRoot(cfg.DataDir, cfg.AccountID)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	st, err := store.Open(ctx, store.Config{DataDir: cfg.DataDir, Endpoints: cfg.EtcdEndpoints, TLS: cfg.EtcdTLS, Logger: log})
	if err != nil {
		return nil, err
	}
	var l net.Listener
	defer func() { // the one cleanup path of a failed start
		if err != nil {
			if l != nil {
				l.Close()
			}
			st.Close()
		}
	}()
	net_, err := st.EnsureDefaultNetwork(ctx, cfg.Zones)
	if err != nil {
		return nil, fmt.Errorf("network inventory: %w", err)
	}
	logNetwork(log, net_)
	if err := st.RecordCredential(ctx, root.AccessKeyID, root.Arn); err != nil {
		return nil, err
	}
	principals, err := iam.New(st, cfg.DataDir, cfg.AccountID, cfg.Region, root)
	if err != nil {
		return nil, fmt.Errorf("iam: %w", err)
	}
	roleArn, err := principals.EnsureDefaultRole(ctx)
	if err != nil {
		return nil, fmt.Errorf("iam: %w", err)
	}
	log.Info("iam: default cluster role", "roleArn", roleArn)
	keys, err := kms.New(st, cfg.DataDir, cfg.AccountID, cfg.Region)
	if err != nil {
		return nil, fmt.Errorf("kms: %w", err)
	}
	if l, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, err
	}
	tlsCfg, err := servingTLS(cfg.DataDir, l.Addr().(*net.TCPAddr))
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	s := &Server{
		Config: cfg, Store: st, Root: root, listener: l,
		URL:      "http://" + l.Addr().String(),
		HTTPSURL: "https://" + l.Addr().String(),
		CAFile:   filepath.Join(cfg.DataDir, CAFileName),
		errc:     make(chan error, 2),
	}
	api := eks.New(eks.Config{
		Store: st, Region: cfg.Region, AccountID: cfg.AccountID, ClusterQuota: cfg.ClusterQuota,
		Versions: cfg.Versions, UnsupportedZones: cfg.UnsupportedZones, IssuerBase: s.HTTPSURL + OIDCPrefix, Log: log,
		RoleExists: principals.RoleExists, KeyUsable: keys.KeyUsable, Authorizer: principals,
	})
	verifier := &auth.Verifier{Region: cfg.Region, Credentials: principals.Credentials()}
	tokens := &auth.TokenVerifier{Verifier: verifier, Region: cfg.Region, SelfHosts: selfHosts(l.Addr().(*net.TCPAddr))}
	authLog := log
	if cfg.Deps.AuthenticatorLog != nil {
		file := func(id string) (string, bool) {
			if rec := st.ClusterByID(id); rec != nil {
				return cfg.Deps.AuthenticatorLog(rec)
			}
			return "", false
		}
		authLog = slog.New(&authenticatorLog{next: log.Handler(), file: file, mu: &sync.Mutex{}})
	}
	webhook := authn.NewHandler(tokens, clusterNameByID(st), &access.Mapper{Store: st, ReadAwsAuth: cfg.Deps.ReadAwsAuth}, authLog)
	issuers := &oidcHandler{store: st, key: cfg.Deps.ServiceAccountKey}
	principals.SetIssuerKeys(issuers.issuerKey)
	h := newHandler(api, principals.Handler(verifier, requestID), verifier, st, issuers, log)
	h.internal.Handle(authn.WebhookPath, http.StripPrefix(strings.TrimSuffix(authn.WebhookPath, "/"), webhook))
	for _, c := range cfg.Deps.Metrics {
		if err := h.metrics.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	logs := cwlogs.New(st, cfg.DataDir, cfg.AccountID, cfg.Region)
	if err := logs.SweepOrphans(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("cloudwatch logs: %w", err)
	}
	// Every JSON 1.1 service is authorized with IAM's policies.
	params := ssm.New(cfg.Region, ssmVersions(cfg.Versions))
	for _, svc := range []*awsjson.Service{keys.Handler(verifier, requestID), logs.Handler(verifier, requestID), params.Handler(verifier, requestID)} {
		svc.Authorizer = principals
		h.json = append(h.json, svc)
	}
	h.ec2 = ec2.NewHandler(ec2.Config{Store: st, Verifier: verifier, Region: cfg.Region, AccountID: cfg.AccountID,
		Zones: cfg.Zones, RequestID: requestID, Authorizer: principals, Log: log})
	s.http = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	rctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		if err := s.http.Serve(newSniffingListener(l, tlsCfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errc <- err
		}
	}()
	if cfg.Deps.KMSSocket != nil {
		go (&kmsplugin.Server{KMS: keys, Store: st, Socket: cfg.Deps.KMSSocket, Log: log}).Run(rctx)
	}
	s.shipped = make(chan struct{})
	if cfg.Deps.ClusterLogFiles != nil {
		go func() {
			defer close(s.shipped)
			(&cwlogs.Shipper{Service: logs, Store: st, Files: cfg.Deps.ClusterLogFiles, Log: log}).Run(rctx)
		}()
	} else {
		close(s.shipped)
	}
	s.reconciled = make(chan struct{})
	if cfg.Deps.Reconciler != nil {
		info := runinfo.Info{DataDir: cfg.DataDir, Region: cfg.Region, AccountID: cfg.AccountID, URL: s.URL, Root: root,
			InstanceCredentials: principals.InstanceSession, KMSKeyIssue: keys.ClusterKeyIssue}
		go func() {
			defer close(s.reconciled)
			if err := cfg.Deps.Reconciler.Run(rctx, st, info); err != nil && rctx.Err() == nil {
				s.errc <- fmt.Errorf("reconciler: %w", err)
			}
		}()
	} else {
		close(s.reconciled)
	}
	log.Info("kplane serving", "url", s.URL, "region", cfg.Region, "account", cfg.AccountID,
		"dataDir", cfg.DataDir, "credentials", filepath.Join(cfg.DataDir, "credentials"), "etcd", st.Endpoints)
	return s, nil
}

// selfHosts are the host:port forms users put in AWS_ENDPOINT_URL_STS for
// this listener, which get-token writes into their tokens.
func selfHosts(addr *net.TCPAddr) []string {
	port := fmt.Sprint(addr.Port)
	hosts := []string{net.JoinHostPort(addr.IP.String(), port), "localhost:" + port}
	if addr.IP.IsUnspecified() {
		hosts = append(hosts, "127.0.0.1:"+port)
	}
	return hosts
}

// clusterNameByID finds a cluster's name for the token webhook.
func clusterNameByID(st *store.Store) func(string) (string, bool) {
	return func(id string) (string, bool) {
		if rec := st.ClusterByID(id); rec != nil {
			return rec.Cluster.Name, true
		}
		return "", false
	}
}

func (c *Config) defaults() error {
	if c.DataDir == "" {
		return errors.New("server: DataDir is required")
	}
	if len(c.Versions.Versions) == 0 {
		c.Versions = BuiltInOnly()
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return err
	}
	c.DataDir = abs
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.AccountID == "" {
		c.AccountID = DefaultAccountID
	}
	if !auth.ValidAccountID(c.AccountID) {
		return fmt.Errorf("server: account id %q must be 12 digits", c.AccountID)
	}
	if c.ClusterQuota == 0 {
		c.ClusterQuota = 100
	}
	if len(c.Zones) == 0 {
		c.Zones = []string{c.Region + "a", c.Region + "b", c.Region + "c"}
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return nil
}

func logNetwork(log *slog.Logger, n *store.Network) {
	for _, v := range n.VPCs {
		log.Info("network: vpc", "vpcId", v.ID, "cidr", v.CidrBlock, "default", v.IsDefault)
	}
	for _, sn := range n.Subnets {
		log.Info("network: subnet", "subnetId", sn.ID, "vpcId", sn.VpcID, "zone", sn.AvailabilityZone, "cidr", sn.CidrBlock)
	}
	for _, g := range n.SecurityGroups {
		if g.Cluster == "" {
			log.Info("network: security group", "groupId", g.ID, "vpcId", g.VpcID, "name", g.Name)
		}
	}
}

// Err reports a fatal error of the HTTP server or the reconciler.
func (s *Server) Err() <-chan error { return s.errc }

// Close stops serving, stops the reconciler (which stops what it runs),
// and closes the datastore. It returns what went wrong doing so; a second
// Close returns the same.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var errs []error
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http: %w", err))
		}
		s.cancel()
		<-s.reconciled
		<-s.shipped
		if err := s.Store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("datastore: %w", err))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
