package controlplane

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
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
	vpc         vpcNet

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

// Ensure implements Provisioner: the cluster's replicas run, the balancer
// owns its endpoint and sends to the ready ones.
//
// Replicas start one after another: a replica (re)starts with a new spec
// only once the one before it is ready with the current spec, so a create
// costs one apiserver start-up at a time and a change rolls through the
// replicas without a moment where none answers.
func (p *LocalProvisioner) Ensure(ctx context.Context, rec *store.ClusterRecord, info runinfo.Info) (Observed, error) {
	port, err := p.port(rec)
	if err != nil {
		return Observed{}, err
	}
	base := p.config(rec, info, port)
	if err := base.Validate(); err != nil {
		return Observed{Port: port, Failed: fmt.Errorf("invalid control plane configuration: %w", err)}, nil
	}
	etcd, err := p.etcdAccess(ctx, base)
	if err != nil {
		return Observed{}, fmt.Errorf("etcd credentials: %w", err)
	}
	base.EtcdCAFile, base.EtcdCertFile, base.EtcdKeyFile = etcd.CAFile, etcd.CertFile, etcd.KeyFile
	// kube-apiserver compacts etcd as upstream (every 5 minutes), taking turns
	// with kplane and the other clusters through the one key outside its
	// prefix that its etcd user may use (store.GrantCluster).
	webhook, err := webhookArgs(base, info.URL)
	if err != nil {
		return Observed{}, err
	}
	base.ExtraAPIServerArgs = webhook
	network, err := p.Store.Network(ctx)
	if err != nil {
		return Observed{}, err
	}
	inVPC, err := p.vpcEndpoint(rec, network, &base, info.DataDir, port)
	if err != nil {
		return Observed{}, fmt.Errorf("endpoint inside the VPC: %w", err)
	}
	changedAt := p.noteConfig(base)
	p.mu.Lock()
	p.clusterLocked(rec.Cluster.ID).name = rec.Cluster.Name
	p.mu.Unlock()

	obs := Observed{Endpoint: base.Endpoint(), Port: port}
	var backends []lb.Backend
	var ready *ClusterConfig     // a replica ready with the current spec and bootstrapped
	var answering *ClusterConfig // a replica ready with the current spec
	previousCurrent := true
	zones := replicaZones(rec, network, p.replicas())
	for _, zone := range zones {
		cfg := base
		cfg.Replica, cfg.EndpointPort = zone, port
		if cfg.SecurePort, err = p.replicaPort(cfg.ProcessKey()); err != nil {
			return Observed{}, err
		}
		p.mu.Lock()
		p.clusterLocked(cfg.ID).replicas[cfg.ProcessKey()] = true
		p.mu.Unlock()
		st := p.Executor.State(cfg.ProcessKey())
		// The first replica starts at once; each further one once the one
		// before it serves the current spec and the cluster is bootstrapped,
		// so it does not take CPU from the first one's start-up.
		if previousCurrent && (cfg.Replica == zones[0] || ready != nil) {
			if err := p.Executor.Ensure(ctx, cfg); err != nil {
				obs.Issues = append(obs.Issues, replicaIssue(zone, len(zones), "control plane process: "+err.Error()))
				previousCurrent = false
				continue
			}
			st = p.Executor.State(cfg.ProcessKey())
		}
		if st.Phase == supervise.PhaseStopped {
			previousCurrent = false // waits for the replica before it
			continue
		}
		// A replica joins the endpoint once it has answered /readyz; from then
		// on the balancer's own checks decide (a restarted one stays listed).
		if st.Ready || !st.LastReadyAt.IsZero() {
			backends = append(backends, lb.Backend{Name: zone, Addr: backendAddr(cfg)})
		}
		current := st.Ready && st.StartedAt.After(changedAt)
		if !current && (st.Restarts > 0 || st.Phase == supervise.PhaseBackOff) {
			obs.Issues = append(obs.Issues, replicaIssue(zone, len(zones), restartMessage(st)))
		}
		if current && answering == nil {
			answering = &cfg
		}
		if current && ready == nil && p.isBootstrapped(ctx, cfg, st) {
			ready = &cfg
		}
		previousCurrent = current
	}
	p.stopExtraReplicas(ctx, rec.Cluster.ID, zones)
	if err := p.Balancer.Ensure(rec.Cluster.ID, lb.Listener{
		Addr:     endpointAddr(base),
		Backends: backends,
		Access:   endpointAccess(rec, network, p.PrivateSources),
		Check:    p.readyzCheck(base),
		Also:     inVPC,
	}); err != nil {
		obs.Issues = append(obs.Issues, shapes.ClusterIssue{Code: "ClusterUnreachable", Message: "endpoint: " + err.Error()})
		return obs, nil
	}
	ca, err := ReadCACertPEM(base)
	if err != nil {
		return Observed{}, err
	}
	obs.CAData = base64.StdEncoding.EncodeToString(ca)
	// Ready: one replica serves with the current spec, and no replica still
	// runs an older one (a change rolls through all of them before it
	// counts). A replica being restarted has no pid for a moment but its
	// StartedAt is still the old process's; a later replica's first start
	// does not hold a create up.
	stale := false
	for _, zone := range zones {
		st := p.Executor.State(base.ID + "/" + zone)
		stale = stale || st.Phase != supervise.PhaseStopped && !st.StartedAt.After(changedAt)
	}
	obs.Ready = ready != nil && !stale
	obs.Bootstrapping = answering != nil && ready == nil
	if ready != nil {
		p.mu.Lock()
		p.clusterLocked(rec.Cluster.ID).serving = ready
		p.mu.Unlock()
	}
	if ready == nil {
		for i := range obs.Issues {
			obs.Issues[i].Code = "ClusterUnreachable" // no replica serves
		}
	}
	// Access bindings go in as soon as an apiserver answers, while the
	// controller-manager still bootstraps, not after.
	if answering != nil {
		if err := p.accessBindings(ctx, *answering, rec, p.Executor.State(answering.ProcessKey()).StartedAt); err != nil {
			obs.Issues = append(obs.Issues, shapes.ClusterIssue{Code: "Other", Message: "access policy bindings: " + err.Error()})
		}
	}
	return obs, nil
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

// Remove implements Provisioner: the endpoint, the replicas, the cluster's
// etcd keys and its files all go.
func (p *LocalProvisioner) Remove(ctx context.Context, rec *store.ClusterRecord, info runinfo.Info) error {
	id := rec.Cluster.ID
	if p.Balancer != nil {
		p.Balancer.Remove(id)
	}
	p.closeEgress(id)
	keys := []string{id} // a process of the cluster's own, unreplicated
	p.mu.Lock()
	if c := p.clusters[id]; c != nil {
		for key := range c.replicas {
			keys = append(keys, key)
		}
	}
	p.mu.Unlock()
	for _, key := range keys {
		if err := p.Executor.Stop(ctx, key); err != nil {
			return err
		}
	}
	dir := ClusterDir(info.DataDir, id)
	replicaDirs, _ := filepath.Glob(filepath.Join(dir, "replicas", "*"))
	for _, d := range append(replicaDirs, dir) {
		if _, err := KillStale(d); err != nil {
			return err
		}
	}
	if err := p.Store.DeleteClusterData(ctx, id); err != nil {
		return err
	}
	if err := p.Store.RevokeCluster(ctx, id); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p.mu.Lock()
	if c := p.clusters[id]; c != nil && c.client != nil {
		c.client.CloseIdleConnections()
	}
	delete(p.clusters, id)
	for port, owner := range p.ports {
		if owner == id || strings.HasPrefix(owner, id+"/") {
			delete(p.ports, port)
		}
	}
	p.mu.Unlock()
	return nil
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
