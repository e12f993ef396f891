package controlplane

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/lb"
	"github.com/kplane/kplane/internal/runinfo"
	"github.com/kplane/kplane/internal/store"
	"github.com/kplane/kplane/internal/supervise"
)

// provisionSteps is how a cluster's control plane is made, in order, and
// (read upwards) how it is taken apart. Ensure runs the list every pass;
// Remove runs the cleanups last to first.
func (p *LocalProvisioner) provisionSteps() []step[*provisioning] {
	return []step[*provisioning]{
		// The endpoint's port, and what this kplane run knows of the cluster.
		{"port", p.ensurePort, p.forgetCluster},
		// The cluster's configuration; its directory holds every file below.
		{"config", p.ensureConfig, p.removeFiles},
		// An etcd user limited to the cluster's prefix, and its client certificates.
		{"etcd user", p.ensureEtcdUser, p.revokeEtcdUser},
		// The cluster's Kubernetes data under its prefix (kube-apiserver writes it).
		{"etcd data", nil, p.deleteEtcdData},
		// The webhook kubeconfig through which the apiserver asks kplane who a token is.
		{"token webhook", p.ensureTokenWebhook, nil},
		// With node networking: the endpoint inside the VPC and the apiserver's egress to nodes.
		{"VPC endpoint", p.ensureVPCEndpoint, p.closeVPCEndpoint},
		// One process per zone through the Executor, which prepares each one's
		// PKI, kubeconfigs, audit and encryption config and spec (Prepare).
		{"replicas", p.ensureReplicas, p.stopReplicas},
		// The endpoint: the balancer's listener sends to the replicas that answer.
		{"endpoint", p.ensureEndpoint, p.removeEndpoint},
		// Ready once a replica serves the current spec and none runs an older one.
		{"readiness", p.observeReadiness, nil},
		// RBAC bindings of the access entries' policies, once an apiserver answers.
		{"access bindings", p.ensureAccessBindings, nil},
	}
}

// provisioning is one Ensure (or Remove) of a cluster: its record, and what
// the steps found and made for the steps after them.
type provisioning struct {
	rec  *store.ClusterRecord
	info runinfo.Info
	id   string

	port      int
	base      ClusterConfig // the replicas' common config
	network   *store.Network
	inVPC     []lb.Socket
	changedAt time.Time // when the desired config last changed
	zones     []string
	backends  []lb.Backend
	ready     *ClusterConfig // a replica ready with the current spec and bootstrapped
	answering *ClusterConfig // a replica ready with the current spec
	obs       Observed
}

// Ensure implements Provisioner: the cluster's replicas run, the balancer
// owns its endpoint and sends to the ready ones (provisionSteps).
func (p *LocalProvisioner) Ensure(ctx context.Context, rec *store.ClusterRecord, info runinfo.Info) (Observed, error) {
	pr := &provisioning{rec: rec, info: info, id: rec.Cluster.ID}
	if err := ensureSteps(ctx, p.provisionSteps(), pr); err != nil {
		return Observed{}, err
	}
	return pr.obs, nil
}

// Remove implements Provisioner: the endpoint, the replicas, the cluster's
// etcd keys and user, its files and what this run kept of it all go.
func (p *LocalProvisioner) Remove(ctx context.Context, rec *store.ClusterRecord, info runinfo.Info) error {
	return cleanupSteps(ctx, p.provisionSteps(), &provisioning{rec: rec, info: info, id: rec.Cluster.ID})
}

func (p *LocalProvisioner) ensurePort(_ context.Context, pr *provisioning) error {
	var err error
	pr.port, err = p.port(pr.rec)
	return err
}

// forgetCluster drops what this run kept of the cluster, its ports included.
func (p *LocalProvisioner) forgetCluster(_ context.Context, pr *provisioning) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.clusters[pr.id]; c != nil && c.client != nil {
		c.client.CloseIdleConnections()
	}
	delete(p.clusters, pr.id)
	for port, owner := range p.ports {
		if owner == pr.id || strings.HasPrefix(owner, pr.id+"/") {
			delete(p.ports, port)
		}
	}
	return nil
}

// ensureConfig builds the config the record asks for; an invalid one ends
// the pass with the cluster failed.
func (p *LocalProvisioner) ensureConfig(_ context.Context, pr *provisioning) error {
	pr.base = p.config(pr.rec, pr.info, pr.port)
	if err := pr.base.Validate(); err != nil {
		pr.obs = Observed{Port: pr.port, Failed: fmt.Errorf("invalid control plane configuration: %w", err)}
		return errHalt
	}
	return nil
}

func (p *LocalProvisioner) removeFiles(_ context.Context, pr *provisioning) error {
	return os.RemoveAll(ClusterDir(pr.info.DataDir, pr.id))
}

func (p *LocalProvisioner) ensureEtcdUser(ctx context.Context, pr *provisioning) error {
	etcd, err := p.etcdAccess(ctx, pr.base)
	if err != nil {
		return fmt.Errorf("etcd credentials: %w", err)
	}
	// kube-apiserver compacts etcd as upstream (every 5 minutes), taking turns
	// with kplane and the other clusters through the one key outside its
	// prefix that its etcd user may use (store.GrantCluster).
	pr.base.EtcdCAFile, pr.base.EtcdCertFile, pr.base.EtcdKeyFile = etcd.CAFile, etcd.CertFile, etcd.KeyFile
	return nil
}

func (p *LocalProvisioner) revokeEtcdUser(ctx context.Context, pr *provisioning) error {
	return p.Store.RevokeCluster(ctx, pr.id)
}

func (p *LocalProvisioner) deleteEtcdData(ctx context.Context, pr *provisioning) error {
	return p.Store.DeleteClusterData(ctx, pr.id)
}

func (p *LocalProvisioner) ensureTokenWebhook(_ context.Context, pr *provisioning) error {
	webhook, err := webhookArgs(pr.base, pr.info.URL)
	if err != nil {
		return err
	}
	pr.base.ExtraAPIServerArgs = append(pr.base.ExtraAPIServerArgs, webhook...)
	return nil
}

func (p *LocalProvisioner) ensureVPCEndpoint(ctx context.Context, pr *provisioning) error {
	var err error
	if pr.network, err = p.Store.Network(ctx); err != nil {
		return err
	}
	if pr.inVPC, err = p.vpcEndpoint(pr.rec, pr.network, &pr.base, pr.info.DataDir, pr.port); err != nil {
		return fmt.Errorf("endpoint inside the VPC: %w", err)
	}
	return nil
}

func (p *LocalProvisioner) closeVPCEndpoint(_ context.Context, pr *provisioning) error {
	p.closeEgress(pr.id)
	return nil
}

// ensureReplicas starts the replicas one after another: a replica (re)starts
// with a new spec only once the one before it is ready with the current
// spec, so a create costs one apiserver start-up at a time and a change
// rolls through the replicas without a moment where none answers.
func (p *LocalProvisioner) ensureReplicas(ctx context.Context, pr *provisioning) error {
	pr.changedAt = p.noteConfig(pr.base)
	p.mu.Lock()
	p.clusterLocked(pr.id).name = pr.rec.Cluster.Name
	p.mu.Unlock()

	pr.obs = Observed{Endpoint: pr.base.Endpoint(), Port: pr.port}
	previousCurrent := true
	pr.zones = replicaZones(pr.rec, pr.network, p.replicas())
	states := map[string]supervise.State{}
	for _, zone := range pr.zones {
		states[zone] = p.Executor.State(pr.id + "/" + zone)
	}
	for _, zone := range pr.zones {
		cfg := pr.base
		cfg.Replica, cfg.EndpointPort = zone, pr.port
		var err error
		if cfg.SecurePort, err = p.replicaPort(cfg.ProcessKey()); err != nil {
			return err
		}
		p.mu.Lock()
		p.clusterLocked(cfg.ID).replicas[cfg.ProcessKey()] = true
		p.mu.Unlock()
		st := states[zone]
		// The first replica starts at once; each further one once the one
		// before it serves the current spec and the cluster is bootstrapped,
		// so it does not take CPU from the first one's start-up.
		mayEnsure := previousCurrent && (cfg.Replica == pr.zones[0] || pr.ready != nil)
		restart := restartDue(st, pr.changedAt)
		if mayEnsure && restart && anotherStarting(states, zone) {
			mayEnsure = false // the endpoint would be left with no replica
		}
		if mayEnsure {
			if restart && p.Balancer != nil {
				// Out of the endpoint's rotation before its shutdown begins.
				p.Balancer.Drain(pr.id, lb.Backend{Name: zone, Addr: backendAddr(cfg)})
			}
			if err := p.Executor.Ensure(ctx, cfg); err != nil {
				pr.obs.Issues = append(pr.obs.Issues, replicaIssue(zone, len(pr.zones), "control plane process: "+err.Error()))
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
			pr.backends = append(pr.backends, lb.Backend{Name: zone, Addr: backendAddr(cfg)})
		}
		current := st.Ready && st.StartedAt.After(pr.changedAt)
		if !current && (st.Restarts > 0 || st.Phase == supervise.PhaseBackOff) {
			pr.obs.Issues = append(pr.obs.Issues, replicaIssue(zone, len(pr.zones), restartMessage(st)))
		}
		if current && pr.answering == nil {
			pr.answering = &cfg
		}
		if current && pr.ready == nil && p.isBootstrapped(ctx, cfg, st) {
			pr.ready = &cfg
		}
		previousCurrent = current
	}
	p.stopExtraReplicas(ctx, pr.id, pr.zones)
	return nil
}

// restartDue reports whether Ensure would restart a replica in state st to
// apply a change made at changedAt: it serves a spec from before it.
func restartDue(st supervise.State, changedAt time.Time) bool {
	return st.Ready && !st.StartedAt.After(changedAt)
}

// anotherStarting reports whether a replica other than zone's has a process
// that has not answered /readyz yet: a cluster updated right after its
// create may still be starting its second replica, and restarting the
// first one then would leave its endpoint with none to send to.
func anotherStarting(states map[string]supervise.State, zone string) bool {
	for z, st := range states {
		if z != zone && st.Phase == supervise.PhaseStarting && st.PID != 0 {
			return true
		}
	}
	return false
}

// stopReplicas stops the cluster's processes, and any a previous kplane
// run left behind.
func (p *LocalProvisioner) stopReplicas(ctx context.Context, pr *provisioning) error {
	keys := []string{pr.id} // a process of the cluster's own, unreplicated
	p.mu.Lock()
	if c := p.clusters[pr.id]; c != nil {
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
	dir := ClusterDir(pr.info.DataDir, pr.id)
	replicaDirs, _ := filepath.Glob(filepath.Join(dir, "replicas", "*"))
	for _, d := range append(replicaDirs, dir) {
		if _, err := KillStale(d); err != nil {
			return err
		}
	}
	return nil
}

// ensureEndpoint gives the balancer the cluster's listener; one that cannot
// listen ends the pass with the cluster unreachable.
func (p *LocalProvisioner) ensureEndpoint(_ context.Context, pr *provisioning) error {
	if err := p.Balancer.Ensure(pr.id, lb.Listener{
		Addr:     endpointAddr(pr.base),
		Backends: pr.backends,
		Access:   endpointAccess(pr.rec, pr.network, p.PrivateSources),
		Check:    p.readyzCheck(pr.base),
		Also:     pr.inVPC,
	}); err != nil {
		pr.obs.Issues = append(pr.obs.Issues, shapes.ClusterIssue{Code: "ClusterUnreachable", Message: "endpoint: " + err.Error()})
		return errHalt
	}
	ca, err := ReadCACertPEM(pr.base)
	if err != nil {
		return err
	}
	pr.obs.CAData = base64.StdEncoding.EncodeToString(ca)
	return nil
}

func (p *LocalProvisioner) removeEndpoint(_ context.Context, pr *provisioning) error {
	if p.Balancer != nil {
		p.Balancer.Remove(pr.id)
	}
	return nil
}

// observeReadiness: ready when one replica serves with the current spec and
// no replica still runs an older one (a change rolls through all of them
// before it counts). A replica being restarted has no pid for a moment but
// its StartedAt is still the old process's; a later replica's first start
// does not hold a create up.
func (p *LocalProvisioner) observeReadiness(_ context.Context, pr *provisioning) error {
	stale := false
	for _, zone := range pr.zones {
		st := p.Executor.State(pr.base.ID + "/" + zone)
		stale = stale || st.Phase != supervise.PhaseStopped && !st.StartedAt.After(pr.changedAt)
	}
	pr.obs.Ready = pr.ready != nil && !stale
	pr.obs.Bootstrapping = pr.answering != nil && pr.ready == nil
	if pr.ready != nil {
		p.mu.Lock()
		p.clusterLocked(pr.id).serving = pr.ready
		p.mu.Unlock()
	}
	if pr.ready == nil {
		for i := range pr.obs.Issues {
			pr.obs.Issues[i].Code = "ClusterUnreachable" // no replica serves
		}
	}
	return nil
}

// ensureAccessBindings puts the bindings in as soon as an apiserver
// answers, while the controller-manager still bootstraps, not after. A
// failure is an issue of the cluster's health, not of the pass.
func (p *LocalProvisioner) ensureAccessBindings(ctx context.Context, pr *provisioning) error {
	if pr.answering == nil {
		return nil
	}
	if err := p.accessBindings(ctx, *pr.answering, pr.rec, p.Executor.State(pr.answering.ProcessKey()).StartedAt); err != nil {
		pr.obs.Issues = append(pr.obs.Issues, shapes.ClusterIssue{Code: "Other", Message: "access policy bindings: " + err.Error()})
	}
	return nil
}
