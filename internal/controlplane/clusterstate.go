package controlplane

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/kplane/kplane/internal/store"
	"github.com/kplane/kplane/internal/supervise"
)

// What a LocalProvisioner keeps per cluster in memory, and what it derives
// from it: the config last applied, the ports handed out, the executor
// states it watches for changes.

// clusterState is what the provisioner keeps of one cluster in this kplane
// run. None of it is the cluster's state: a restarted kplane rebuilds it
// from the store and the running processes.
type clusterState struct {
	name string
	// zones are the replicas the cluster was last given.
	zones []string
	// serving is a replica last seen ready (kplane's own calls into the
	// cluster go there, not through the endpoint's access rules).
	serving *ClusterConfig
	// client is the cluster's admin HTTP client (health checks).
	client *http.Client
	// applied is the desired config last given to the executor and when it
	// last changed: a process started before that change does not count as
	// ready for it (nil until the first Ensure).
	applied *appliedConfig
	// granted are the cluster's etcd credentials, given once per run.
	granted *store.TLSFiles
	// bound is the process start whose cluster-wide access bindings exist.
	bound time.Time
	// replicas are the process keys of the replicas given to the executor
	// in this run (those Remove stops).
	replicas map[string]bool
	// bootstrapped is, per replica process key, the process start that was
	// seen bootstrapped.
	bootstrapped map[string]time.Time
	// seen is, per replica process key, the executor state last reported
	// (watchStates).
	seen map[string]supervise.State
}

// clusterLocked returns id's state, made on first use; p.mu must be held.
func (p *LocalProvisioner) clusterLocked(id string) *clusterState {
	if p.clusters == nil {
		p.clusters = map[string]*clusterState{}
	}
	c := p.clusters[id]
	if c == nil {
		c = &clusterState{replicas: map[string]bool{}, bootstrapped: map[string]time.Time{}, seen: map[string]supervise.State{}}
		p.clusters[id] = c
	}
	return c
}

// stateWatchInterval is how often the executor's in-memory states are
// compared, so a process that dies and comes back between two resyncs still
// shows in the cluster's health.
const stateWatchInterval = 100 * time.Millisecond

type appliedConfig struct {
	key     string
	changed time.Time
	// before is the config this one replaced (one step back, for a rollback).
	before *appliedConfig
}

// Poke asks the reconciler to look at cluster now (its nodes' network
// changed: a VPC namespace the endpoint must listen in may be new). It never
// blocks; before the reconciler listens it does nothing.
func (p *LocalProvisioner) Poke(cluster string) {
	p.mu.Lock()
	ch := p.changes
	p.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- cluster:
	default:
	}
}

// Changes implements ChangeNotifier: it sends the name of a cluster whose
// control-plane process changed state (died, restarted, became ready).
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
		type replica struct{ id, key, cluster string }
		var replicas []replica
		p.mu.Lock()
		for id, c := range p.clusters {
			for key := range c.replicas {
				replicas = append(replicas, replica{id, key, c.name})
			}
		}
		p.mu.Unlock()
		for _, r := range replicas {
			st := p.Executor.State(r.key)
			p.mu.Lock()
			var last supervise.State
			ok := false
			if c := p.clusters[r.id]; c != nil { // not removed meanwhile
				last, ok = c.seen[r.key]
				c.seen[r.key] = st
			}
			p.mu.Unlock()
			if ok && (last.Phase != st.Phase || last.Ready != st.Ready || last.Restarts != st.Restarts || last.PID != st.PID) {
				select {
				case p.changes <- r.cluster:
				default:
				}
			}
		}
	}
}

// noteConfig records cfg's desired state and returns when it last changed.
// The key holds every setting an update may change in the replicas' flags
// (the KMS plugin's socket: encryption): a change it misses would count the
// old processes as current, and a stopping replica still answers for a
// moment (--shutdown-delay-duration).
func (p *LocalProvisioner) noteConfig(cfg ClusterConfig) time.Time {
	key := fmt.Sprint(cfg.LogTypes, cfg.SecurePort, cfg.ServiceAccountIssuer, cfg.EtcdServers, cfg.KubernetesVersion, cfg.KMSSocket)
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clusterLocked(cfg.ID)
	switch {
	case c.applied == nil:
		c.applied = &appliedConfig{key: key} // first sight: any running process counts
	case c.applied.key == key:
	case c.applied.before != nil && c.applied.before.key == key:
		// Back to the config before the last change (a failed update rolled
		// back): replicas the change never reached still run it.
		c.applied = c.applied.before
	default:
		c.applied = &appliedConfig{key: key, changed: time.Now(), before: &appliedConfig{key: c.applied.key, changed: c.applied.changed}}
	}
	return c.applied.changed
}

// port returns the cluster's recorded endpoint port, or a newly allocated
// one that nothing else holds.
func (p *LocalProvisioner) port(rec *store.ClusterRecord) (int, error) {
	if rec.Port != 0 {
		return rec.Port, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ports == nil {
		p.ports = map[int]string{}
	}
	return p.allocateLocked(rec.Cluster.ID)
}

// replicaPort returns the port of the replica called key, allocated once
// per kplane run; the endpoint's port is the one that stays.
func (p *LocalProvisioner) replicaPort(key string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ports == nil {
		p.ports = map[int]string{}
	}
	return p.allocateLocked(key)
}

// allocateLocked returns owner's port, or a new one no one else holds.
func (p *LocalProvisioner) allocateLocked(owner string) (int, error) {
	for port, o := range p.ports {
		if o == owner {
			return port, nil
		}
	}
	for range 100 {
		port, err := AllocatePort()
		if err != nil {
			return 0, err
		}
		if _, taken := p.ports[port]; !taken {
			p.ports[port] = owner
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port")
}
