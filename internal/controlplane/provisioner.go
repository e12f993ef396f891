package controlplane

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kplane/kplane/internal/access"
	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/lb"
	"github.com/kplane/kplane/internal/runinfo"
	"github.com/kplane/kplane/internal/store"
	"github.com/kplane/kplane/internal/supervise"
)

// LocalProvisioner runs each cluster's control plane through an Executor on
// this machine, with its data in kplane's datastore under its own prefix.
type LocalProvisioner struct {
	Executor Executor
	// Store is kplane's datastore (set by the reconciler); the control
	// planes reach the same etcd, each with a user limited to its prefix.
	Store *store.Store
	// EndpointAddress is the IP the clusters' endpoints (the balancer's
	// listeners) listen on and that their endpoint URLs and serving
	// certificates name (default 127.0.0.1). Replicas listen on loopback
	// whatever it is, so nothing reaches them around the endpoint's access
	// rules from another machine.
	EndpointAddress string
	// Balancer owns every cluster's endpoint and sends to its replicas.
	Balancer *lb.Balancer
	// Replicas is the most control-plane replicas a cluster gets, one per
	// zone of its subnets (0: DefaultReplicas).
	Replicas int
	// PrivateSources are client addresses that count as inside every VPC
	// for endpoint access (on one machine nothing else is).
	PrivateSources []netip.Prefix
	// NodeNetwork: worker nodes may live in VPC namespaces of this kplane
	// (internal/nodenet, needs root). Each cluster's endpoint then also
	// listens inside its VPC and its apiserver reaches nodes through the
	// egress proxy (vpcnet.go).
	NodeNetwork bool
	// RuntimeConfig is, per Kubernetes minor, kube-apiserver's
	// --runtime-config for that minor's clusters (an operator's choice to
	// serve an API that is off by default; EKS serves none).
	RuntimeConfig map[string]string
	vpc           vpcNet

	mu sync.Mutex
	// ports handed out (endpoints: cluster id; replicas: process key), so
	// two never get one port. A replica's port lasts for this kplane run.
	ports map[int]string
	// clusters is what this run knows of each cluster, by id; Remove drops it.
	clusters map[string]*clusterState
	changes  chan string
}

var _ interface {
	Provisioner
	StoreBinder
	ChangeNotifier
	Shutdowner
} = (*LocalProvisioner)(nil)

// BindStore implements StoreBinder: Store, unless set, is the reconciler's.
func (p *LocalProvisioner) BindStore(st *store.Store) {
	if p.Store == nil {
		p.Store = st
	}
}

// ClusterDir is where cluster id keeps its files.
func ClusterDir(dataDir, id string) string { return filepath.Join(dataDir, "clusters", id) }

func (p *LocalProvisioner) config(rec *store.ClusterRecord, info runinfo.Info, port int) ClusterConfig {
	cfg := ConfigFor(rec, info.DataDir)
	cfg.AdvertiseAddress, cfg.SecurePort, cfg.EtcdServers = p.EndpointAddress, port, p.Store.Endpoints
	if rc := p.RuntimeConfig[rec.Cluster.Version]; rc != "" {
		cfg.ExtraAPIServerArgs = append(cfg.ExtraAPIServerArgs, "--runtime-config="+rc)
	}
	return cfg
}

// ConfigFor is the control-plane configuration that the cluster's record
// asks for; the provisioner adds where it runs (address, port, etcd).
func ConfigFor(rec *store.ClusterRecord, dataDir string) ClusterConfig {
	c := rec.Cluster
	cfg := ClusterConfig{
		Name: c.Name, ID: c.ID, Dir: ClusterDir(dataDir, c.ID), SecurePort: rec.Port,
		KubernetesVersion: c.Version,
		EtcdPrefix:        store.ClusterDataPrefix(c.ID),
	}
	// The address the endpoint was given (kplane serve --endpoint-address),
	// for commands beside the server (kplane kubeconfig).
	if u, err := url.Parse(c.Endpoint); err == nil && net.ParseIP(u.Hostname()) != nil {
		cfg.AdvertiseAddress = u.Hostname()
	}
	if k := c.KubernetesNetworkConfig; k != nil {
		cfg.ServiceCIDR = k.ServiceIpv4Cidr
	}
	if c.Identity != nil && c.Identity.OIDC != nil {
		cfg.ServiceAccountIssuer = c.Identity.OIDC.Issuer
	}
	if c.Logging != nil {
		cfg.LogTypes = c.Logging.EnabledLogTypes()
	}
	if len(c.EncryptionConfig) > 0 {
		cfg.KMSSocket = KMSSocketPath(dataDir, c.ID)
	}
	return cfg
}

// etcdAccess returns the cluster's etcd client files, granting them once per
// kplane run (granting is idempotent).
func (p *LocalProvisioner) etcdAccess(ctx context.Context, cfg ClusterConfig) (store.TLSFiles, error) {
	p.mu.Lock()
	granted := p.clusterLocked(cfg.ID).granted
	p.mu.Unlock()
	if granted != nil {
		return *granted, nil
	}
	f, err := p.Store.GrantCluster(ctx, cfg.ID, filepath.Join(cfg.Dir, "pki"))
	if err != nil {
		return f, err
	}
	p.mu.Lock()
	p.clusterLocked(cfg.ID).granted = &f
	p.mu.Unlock()
	return f, nil
}

// accessBindings keeps the RBAC bindings of access policies in the cluster.
func (p *LocalProvisioner) accessBindings(ctx context.Context, cfg ClusterConfig, rec *store.ClusterRecord, started time.Time) error {
	p.mu.Lock()
	clusterWide := !p.clusterLocked(cfg.ID).bound.Equal(started)
	p.mu.Unlock()
	var entries []*store.AccessEntryRecord
	if ac := rec.Cluster.AccessConfig; ac != nil && ac.AuthenticationMode != "" && ac.AuthenticationMode != "CONFIG_MAP" {
		var err error
		if entries, err = p.Store.ListAccessEntries(ctx, rec.Cluster.Name); err != nil {
			return err
		}
	}
	if !clusterWide && !hasNamespaced(entries) {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := ensureAccessBindings(cctx, cfg, entries, clusterWide); err != nil {
		return err
	}
	p.mu.Lock()
	p.clusterLocked(cfg.ID).bound = started
	p.mu.Unlock()
	return nil
}

// isBootstrapped checks, once per process start, that the apiserver and
// controller-manager have made the default namespaces and service account.
func (p *LocalProvisioner) isBootstrapped(ctx context.Context, cfg ClusterConfig, st supervise.State) bool {
	p.mu.Lock()
	seen := p.clusterLocked(cfg.ID).bootstrapped[cfg.ProcessKey()]
	p.mu.Unlock()
	if seen.Equal(st.StartedAt) {
		return true
	}
	client, err := p.adminClient(cfg)
	if err != nil {
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if checkBootstrapped(cctx, client, cfg.LocalEndpoint()) != nil {
		return false
	}
	p.mu.Lock()
	p.clusterLocked(cfg.ID).bootstrapped[cfg.ProcessKey()] = st.StartedAt
	p.mu.Unlock()
	return true
}

// replicas is how many replicas a cluster may have.
func (p *LocalProvisioner) replicas() int {
	if p.Replicas > 0 {
		return p.Replicas
	}
	return DefaultReplicas
}

// stopExtraReplicas stops replicas a cluster no longer has (fewer zones).
func (p *LocalProvisioner) stopExtraReplicas(ctx context.Context, id string, zones []string) {
	p.mu.Lock()
	c := p.clusterLocked(id)
	old := c.zones
	c.zones = zones
	p.mu.Unlock()
	for _, z := range old {
		if !slices.Contains(zones, z) {
			_ = p.Executor.Stop(ctx, id+"/"+z)
		}
	}
}

// adminClient is the cluster's admin HTTP client, made once.
func (p *LocalProvisioner) adminClient(cfg ClusterConfig) (*http.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cs := p.clusterLocked(cfg.ID)
	if cs.client != nil {
		return cs.client, nil
	}
	c, err := tlsClient(cfg.CertFile(CertCA), cfg.CertFile(CertAdmin), cfg.KeyFile(CertAdmin), 2*time.Second)
	if err != nil {
		return nil, err
	}
	cs.client = c
	return c, nil
}

// ReadAwsAuth reads the cluster's aws-auth ConfigMap from a replica that
// serves it (the token webhook asks, in CONFIG_MAP modes).
func (p *LocalProvisioner) ReadAwsAuth(ctx context.Context, rec *store.ClusterRecord) (access.AwsAuth, error) {
	cfg, err := p.servingReplica(rec)
	if err != nil {
		return access.AwsAuth{}, err
	}
	return readAwsAuth(ctx, cfg)
}

// servingReplica is a replica of rec's cluster last seen ready.
func (p *LocalProvisioner) servingReplica(rec *store.ClusterRecord) (ClusterConfig, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.clusters[rec.Cluster.ID]; c != nil && c.serving != nil {
		return *c.serving, nil
	}
	return ClusterConfig{}, fmt.Errorf("cluster %s: no control plane replica is serving", rec.Cluster.Name)
}

// Shutdown implements Shutdowner: it stops every control plane this kplane
// runs and the endpoints (a clean stop of kplane).
func (p *LocalProvisioner) Shutdown(ctx context.Context) error {
	if p.Balancer != nil {
		defer p.Balancer.Close()
	}
	defer p.closeEgress("")
	return p.Executor.StopAll(ctx)
}

// replicaIssue is the health issue of one replica that is down. It is
// ClusterUnreachable when it is the cluster's only one (Ensure also makes
// it so when no replica serves).
func replicaIssue(zone string, replicas int, msg string) shapes.ClusterIssue {
	if replicas == 1 {
		return shapes.ClusterIssue{Code: "ClusterUnreachable", Message: msg}
	}
	return shapes.ClusterIssue{Code: "Other", Message: "control plane replica in " + zone + " is down: " + msg}
}

// restartMessage says that a replica's process is being restarted.
func restartMessage(st supervise.State) string {
	restart := st.Restarts
	if st.Phase == supervise.PhaseBackOff {
		restart++ // the count moves when the next process starts
	}
	msg := fmt.Sprintf("control plane process exited; kplane is restarting it (restart %d)", restart)
	if st.LastExitReason != "" {
		msg += "; last exit: " + firstLine(st.LastExitReason)
	}
	return msg
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// ServiceAccountPublicKey reads the key cluster rec's apiserver signs
// service-account tokens with (published at the cluster's OIDC issuer).
func ServiceAccountPublicKey(rec *store.ClusterRecord, dataDir string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(ConfigFor(rec, dataDir).ServiceAccountPublicKeyFile())
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("service-account key: no PEM block")
	}
	return x509.ParsePKIXPublicKey(block.Bytes)
}
