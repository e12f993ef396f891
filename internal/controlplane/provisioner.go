package controlplane

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
)

// LocalProvisioner runs each cluster's control plane through an Executor on
// this machine, with its data in kplane's datastore under its own prefix.
type LocalProvisioner struct {
	Executor *LocalExecutor
	// Store is kplane's datastore (set by the reconciler); the control
	// planes reach the same etcd, each with a user limited to its prefix.
	Store *store.Store
	// BindAddress is where apiservers listen (default 127.0.0.1).
	BindAddress string

	mu sync.Mutex
	// ports handed out and not yet recorded, so two clusters never get one port.
	ports map[int]string
	// applied is, per cluster, the desired config last given to the executor
	// and when it last changed: a process started before that change does
	// not count as ready for it.
	applied map[string]appliedConfig
	// bootstrapped remembers the process start that was seen bootstrapped.
	bootstrapped map[string]time.Time
	// bound remembers the process start whose cluster-wide access bindings exist.
	bound map[string]time.Time
	// granted are the clusters given etcd credentials in this run.
	granted map[string]store.TLSFiles
	// names maps the ids of running clusters to their names, and seen holds
	// the executor state last reported for each, for watchStates.
	names   map[string]string
	seen    map[string]ComponentState
	changes chan string
}

// stateWatchInterval is how often the executor's in-memory states are
// compared, so a process that dies and comes back between two resyncs still
// shows in the cluster's health.
const stateWatchInterval = 100 * time.Millisecond

type appliedConfig struct {
	key     string
	changed time.Time
}

func (p *LocalProvisioner) bind(st *store.Store) {
	if p.Store == nil {
		p.Store = st
	}
}

// Changes sends the name of a cluster whose control-plane process changed
// state (died, restarted, became ready); the reconciler looks at it at once.
func (p *LocalProvisioner) Changes(ctx context.Context) <-chan string {
	p.mu.Lock()
	if p.changes == nil {
		p.changes = make(chan string, 256)
		go p.watchStates(ctx)
	}
	p.mu.Unlock()
	return p.changes
}

func (p *LocalProvisioner) watchStates(ctx context.Context) {
	tick := time.NewTicker(stateWatchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p.mu.Lock()
		names := maps.Clone(p.names)
		p.mu.Unlock()
		for id, name := range names {
			st := p.Executor.State(id)
			p.mu.Lock()
			last, ok := p.seen[id]
			if p.seen == nil {
				p.seen = map[string]ComponentState{}
			}
			p.seen[id] = st
			p.mu.Unlock()
			if ok && (last.Phase != st.Phase || last.Ready != st.Ready || last.Restarts != st.Restarts || last.PID != st.PID) {
				select {
				case p.changes <- name:
				default:
				}
			}
		}
	}
}

// ClusterDir is where cluster id keeps its files.
func ClusterDir(dataDir, id string) string { return filepath.Join(dataDir, "clusters", id) }

func (p *LocalProvisioner) config(rec *store.ClusterRecord, info server.Info, port int) ClusterConfig {
	cfg := ConfigFor(rec, info.DataDir)
	cfg.BindAddress, cfg.SecurePort, cfg.EtcdServers = p.BindAddress, port, p.Store.Endpoints
	return cfg
}

// ConfigFor is the control-plane configuration that the cluster's record
// asks for; the provisioner adds where it runs (address, port, etcd).
func ConfigFor(rec *store.ClusterRecord, dataDir string) ClusterConfig {
	c := rec.Cluster
	cfg := ClusterConfig{
		Name: c.Name, ID: c.ID, Dir: ClusterDir(dataDir, c.ID), SecurePort: rec.Port,
		EtcdPrefix: store.ClusterDataPrefix(c.ID), KubernetesVersion: c.Version,
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
	return cfg
}

// Ensure implements Provisioner.
func (p *LocalProvisioner) Ensure(ctx context.Context, rec *store.ClusterRecord, info server.Info) (Observed, error) {
	port, err := p.port(rec)
	if err != nil {
		return Observed{}, err
	}
	cfg := p.config(rec, info, port)
	if err := cfg.Validate(); err != nil {
		return Observed{Port: port, Failed: fmt.Errorf("invalid control plane configuration: %w", err)}, nil
	}
	etcd, err := p.etcdAccess(ctx, cfg)
	if err != nil {
		return Observed{}, fmt.Errorf("etcd credentials: %w", err)
	}
	cfg.EtcdCAFile, cfg.EtcdCertFile, cfg.EtcdKeyFile = etcd.CAFile, etcd.CertFile, etcd.KeyFile
	// The cluster's etcd user reaches only its own prefix, and kube-apiserver's
	// compactor writes a key outside it; etcd compacts itself instead.
	cfg.ExtraAPIServerArgs = []string{"--etcd-compaction-interval=0"}
	webhook, err := webhookArgs(cfg, info.URL)
	if err != nil {
		return Observed{}, err
	}
	cfg.ExtraAPIServerArgs = append(cfg.ExtraAPIServerArgs, webhook...)
	changedAt := p.noteConfig(cfg)
	if err := p.Executor.Ensure(ctx, cfg); err != nil {
		return Observed{Port: port, Issues: []shapes.ClusterIssue{{Code: "ClusterUnreachable", Message: "control plane process: " + err.Error()}}}, nil
	}
	ca, err := ReadCACertPEM(cfg)
	if err != nil {
		return Observed{}, err
	}
	obs := Observed{Endpoint: cfg.Endpoint(), CAData: base64.StdEncoding.EncodeToString(ca), Port: port}
	p.mu.Lock()
	if p.names == nil {
		p.names = map[string]string{}
	}
	p.names[rec.Cluster.ID] = rec.Cluster.Name
	p.mu.Unlock()
	st := p.Executor.State(rec.Cluster.ID)
	current := st.Ready && st.StartedAt.After(changedAt)
	obs.Ready = current && p.isBootstrapped(ctx, cfg, st)
	if obs.Ready {
		if err := p.accessBindings(ctx, cfg, rec, st.StartedAt); err != nil {
			obs.Issues = append(obs.Issues, shapes.ClusterIssue{Code: "Other", Message: "access policy bindings: " + err.Error()})
		}
	}
	if !current && (st.Restarts > 0 || st.Phase == PhaseBackOff) {
		obs.Issues = append(obs.Issues, restartIssue(st))
	}
	return obs, nil
}

// etcdAccess returns the cluster's etcd client files, granting them once per
// kplane run (granting is idempotent).
func (p *LocalProvisioner) etcdAccess(ctx context.Context, cfg ClusterConfig) (store.TLSFiles, error) {
	p.mu.Lock()
	f, ok := p.granted[cfg.ID]
	p.mu.Unlock()
	if ok {
		return f, nil
	}
	f, err := p.Store.GrantCluster(ctx, cfg.ID, filepath.Join(cfg.Dir, "pki"))
	if err != nil {
		return f, err
	}
	p.mu.Lock()
	if p.granted == nil {
		p.granted = map[string]store.TLSFiles{}
	}
	p.granted[cfg.ID] = f
	p.mu.Unlock()
	return f, nil
}

// noteConfig records cfg's desired state and returns when it last changed.
func (p *LocalProvisioner) noteConfig(cfg ClusterConfig) time.Time {
	key := fmt.Sprint(cfg.LogTypes, cfg.SecurePort, cfg.ServiceAccountIssuer, cfg.EtcdServers)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.applied == nil {
		p.applied = map[string]appliedConfig{}
	}
	a, ok := p.applied[cfg.ID]
	if !ok {
		a = appliedConfig{key: key} // first sight: any running process counts
	} else if a.key != key {
		a = appliedConfig{key: key, changed: time.Now()}
	}
	p.applied[cfg.ID] = a
	return a.changed
}

// accessBindings keeps the RBAC bindings of access policies in the cluster.
func (p *LocalProvisioner) accessBindings(ctx context.Context, cfg ClusterConfig, rec *store.ClusterRecord, started time.Time) error {
	p.mu.Lock()
	clusterWide := !p.bound[cfg.ID].Equal(started)
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
	if p.bound == nil {
		p.bound = map[string]time.Time{}
	}
	p.bound[cfg.ID] = started
	p.mu.Unlock()
	return nil
}

// isBootstrapped checks, once per process start, that the apiserver and
// controller-manager have made the default namespaces and service account.
func (p *LocalProvisioner) isBootstrapped(ctx context.Context, cfg ClusterConfig, st ComponentState) bool {
	p.mu.Lock()
	seen := p.bootstrapped[cfg.ID]
	p.mu.Unlock()
	if seen.Equal(st.StartedAt) {
		return true
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if CheckBootstrapped(cctx, cfg) != nil {
		return false
	}
	p.mu.Lock()
	if p.bootstrapped == nil {
		p.bootstrapped = map[string]time.Time{}
	}
	p.bootstrapped[cfg.ID] = st.StartedAt
	p.mu.Unlock()
	return true
}

// port returns the cluster's recorded port, or a newly allocated one that no
// other cluster holds.
func (p *LocalProvisioner) port(rec *store.ClusterRecord) (int, error) {
	if rec.Port != 0 {
		return rec.Port, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ports == nil {
		p.ports = map[int]string{}
	}
	for port, id := range p.ports {
		if id == rec.Cluster.ID {
			return port, nil
		}
	}
	for range 100 {
		port, err := AllocatePort()
		if err != nil {
			return 0, err
		}
		if _, taken := p.ports[port]; !taken {
			p.ports[port] = rec.Cluster.ID
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port")
}

// Remove implements Provisioner: the process, the cluster's etcd keys and its
// files all go.
func (p *LocalProvisioner) Remove(ctx context.Context, rec *store.ClusterRecord, info server.Info) error {
	id := rec.Cluster.ID
	if err := p.Executor.Stop(ctx, id); err != nil {
		return err
	}
	dir := ClusterDir(info.DataDir, id)
	if _, err := KillStale(dir); err != nil {
		return err
	}
	if _, err := p.Store.Client.Delete(ctx, store.ClusterDataPrefix(id)+"/", clientv3.WithPrefix()); err != nil {
		return err
	}
	if err := p.Store.RevokeCluster(ctx, id); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p.mu.Lock()
	delete(p.applied, id)
	delete(p.bootstrapped, id)
	delete(p.granted, id)
	delete(p.bound, id)
	delete(p.names, id)
	delete(p.seen, id)
	for port, owner := range p.ports {
		if owner == id {
			delete(p.ports, port)
		}
	}
	p.mu.Unlock()
	return nil
}

// Shutdown stops every control plane this kplane runs (a clean stop of kplane).
func (p *LocalProvisioner) Shutdown(ctx context.Context) error {
	return p.Executor.StopAll(ctx)
}

// restartIssue is the health issue of a control plane being restarted.
func restartIssue(st ComponentState) shapes.ClusterIssue {
	restart := st.Restarts
	if st.Phase == PhaseBackOff {
		restart++ // the count moves when the next process starts
	}
	msg := fmt.Sprintf("control plane process exited; kplane is restarting it (restart %d)", restart)
	if st.LastExitReason != "" {
		msg += "; last exit: " + firstLine(st.LastExitReason)
	}
	return shapes.ClusterIssue{Code: "ClusterUnreachable", Message: msg}
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
