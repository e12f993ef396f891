package localnodes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/controlplane"
	"github.com/kplane/kplane/internal/node"
	"github.com/kplane/kplane/internal/nodecreds"
	"github.com/kplane/kplane/internal/nodegroup"
	"github.com/kplane/kplane/internal/nodenet"
	"github.com/kplane/kplane/internal/runinfo"
	"github.com/kplane/kplane/internal/supervise"
	"github.com/kplane/kplane/internal/versions"
)

// Config of an Executor.
type Config struct {
	// DataDir is kplane's data directory (clusters' PKI; nodes' directories, see NodesDir).
	DataDir string
	// Executable is the kplane binary nodes run (default os.Executable()).
	Executable string
	// Net makes the nodes' namespaces (nodenet.New(nodenet.DirFor(DataDir)) if nil).
	Net *nodenet.Manager
	Log *slog.Logger
	// JoinTimeout is how long a running node may stay unregistered or not
	// Ready before the nodegroup shows EKS's NodeCreationFailure "Instances
	// failed to join the kubernetes cluster" for it (default 2 minutes; a
	// node here is Ready in seconds).
	JoinTimeout time.Duration
	// NetworkMade is told the cluster of a node whose network was just
	// made: the control plane then listens in the VPC's namespace at once
	// (which the first node of a VPC creates) instead of at its next look,
	// before the node's kubelet first dials the endpoint.
	NetworkMade func(cluster string)
	// NodeEgressOff keeps nodes fully offline: no registry proxy (see
	// nodenet.RegistryProxy), so only the sandbox image and imported
	// archives run. By default each node's containerd pulls through one.
	NodeEgressOff bool
	// RegistryConfigDir is the nodes' containerd registry config_path
	// (hosts.toml per registry host); "" = node.DefaultRegistryConfigDir.
	RegistryConfigDir string
}

// Executor implements nodegroup.NodeExecutor with real nodes on this machine.
type Executor struct {
	cfg Config
	sup *supervise.Supervisor
	// filters: the security-group filter each node's namespace holds (filter.go).
	filters appliedFilters

	mu      sync.Mutex
	clients map[string]*clusterClient         // by cluster id
	changes chan string                       // keys of nodegroups whose Nodes changed (NodeChanges)
	proxies map[string]*nodenet.RegistryProxy // by instance id (registryproxy.go)
	// reached is the last step (stepRegistered, stepReady) each instance's
	// Node was seen at, for the step log.
	reached map[string]string
	// instanceCredentials mints node-role credentials (Bind); nil = nodes
	// join with a client certificate signed by the cluster CA.
	instanceCredentials func(ctx context.Context, roleArn, sessionName string, d time.Duration) (*auth.Credential, error)
}

// Bind gives the executor what the running kplane offers: nodes join
// through IAM once it can mint their node role's credentials.
func (e *Executor) Bind(info runinfo.Info) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.instanceCredentials = info.InstanceCredentials
}

var _ nodegroup.NodeExecutor = (*Executor)(nil)

// New returns an Executor. It first cleans what nodes of a kplane killed
// on this data directory left (agents, their containers and cgroups): the
// nodegroup reconciler brings the nodes that should run back.
func New(cfg Config) (*Executor, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Net == nil {
		cfg.Net = nodenet.New(nodenet.DirFor(cfg.DataDir))
	}
	if cfg.JoinTimeout == 0 {
		cfg.JoinTimeout = 2 * time.Minute
	}
	sup, err := supervise.New(supervise.Options{
		Executable: cfg.Executable,
		// The agent tears its node down on SIGTERM (node.TeardownTimeout).
		StopGracePeriod: node.TeardownTimeout + 10*time.Second,
		Logf:            func(format string, args ...any) { cfg.Log.Info(fmt.Sprintf(format, args...)) },
	})
	if err != nil {
		return nil, err
	}
	e := &Executor{cfg: cfg, sup: sup, clients: map[string]*clusterClient{}, changes: make(chan string, 256), reached: map[string]string{},
		proxies: map[string]*nodenet.RegistryProxy{}}
	e.cleanLeftovers()
	return e, nil
}

func agentArgs(dir string) []string { return []string{"node-run", "--dir", dir} }

// cleanLeftovers kills and tears down every node a previous kplane left.
func (e *Executor) cleanLeftovers() {
	for _, dir := range NodeDirs(e.cfg.DataDir) {
		if killed, err := supervise.KillStale(dir, agentArgs(dir)); err != nil {
			e.cfg.Log.Warn("killing a stale node agent", "dir", dir, "err", err)
		} else if killed {
			e.cfg.Log.Info("killed a stale node agent", "dir", dir)
		}
		if err := node.Teardown(dir); err != nil {
			e.cfg.Log.Warn("tearing down a node left by a previous run", "dir", dir, "err", err)
		}
	}
}

// EnsureNode implements nodegroup.NodeExecutor.
func (e *Executor) EnsureNode(ctx context.Context, spec nodegroup.NodeSpec) (nodegroup.NodeState, error) {
	if spec.PodCIDR == "" || spec.EndpointInVPC == "" || spec.SubnetCIDR == "" {
		return nodegroup.NodeState{Problem: "The instance's network is not known yet (its VPC or subnet cannot be read)"}, nil
	}
	dir := NodeDir(e.cfg.DataDir, spec.InstanceID)
	if st, ok := e.ensureRoleCredentials(ctx, spec, dir); !ok {
		return st, nil
	}
	if _, running := e.sup.Running(spec.InstanceID); !running {
		st, err := e.start(ctx, spec, dir)
		if err != nil || st.Failed != "" {
			return st, err
		}
	}
	if problem := e.ensureFilter(spec); problem != "" {
		return nodegroup.NodeState{Running: true, Problem: problem}, nil
	}
	return e.observe(ctx, spec, dir), nil
}

// start prepares the node's network, files and credentials and starts its agent.
func (e *Executor) start(ctx context.Context, spec nodegroup.NodeSpec, dir string) (nodegroup.NodeState, error) {
	if err := e.ensureNetwork(spec); err != nil {
		return nodegroup.NodeState{Problem: "Could not make the instance's network: " + err.Error()}, nil
	}
	e.step(spec, "network ready")
	if e.cfg.NetworkMade != nil {
		e.cfg.NetworkMade(spec.ClusterName)
	}
	if problem := e.ensureFilter(spec); problem != "" {
		return nodegroup.NodeState{Problem: problem}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nodegroup.NodeState{}, err
	}
	if err := writeOwner(dir, owner{ClusterName: spec.ClusterName, ClusterID: spec.ClusterID, Nodegroup: spec.Nodegroup}); err != nil {
		return nodegroup.NodeState{}, err
	}
	if err := copyClusterImages(e.cfg.DataDir, spec.ClusterID, dir); err != nil {
		return nodegroup.NodeState{}, err
	}
	ns, err := e.nodeSpec(ctx, spec, dir)
	if err != nil {
		return nodegroup.NodeState{Problem: err.Error()}, nil
	}
	if ns.RegistryProxy, err = e.ensureRegistryProxy(spec); err != nil {
		return nodegroup.NodeState{Problem: "Could not give the instance its way to image registries: " + err.Error()}, nil
	}
	e.step(spec, "certificates issued")
	if err := node.Check(ns, node.Paths{Dir: dir}); err != nil {
		return nodegroup.NodeState{Failed: "The node cannot run on this host: " + err.Error()}, nil
	}
	if err := node.WriteSpec(dir, ns); err != nil {
		return nodegroup.NodeState{}, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return nodegroup.NodeState{}, err
	}
	// What restarts the agent: its spec without labels and taints, which
	// the executor applies to the Node object itself.
	ns.Labels, ns.Taints = nil, nil
	specBytes, _ := json.Marshal(ns)
	// The kubelet and kube-proxy of the nodegroup's minor (kubelet may not be
	// newer than the cluster's apiserver).
	exe, err := versions.Executable(e.sup.Executable(), spec.KubernetesVersion)
	if err != nil {
		return nodegroup.NodeState{Failed: err.Error()}, nil
	}
	err = e.sup.Ensure(ctx, supervise.Process{
		Key: spec.InstanceID, Kind: "node", Dir: dir, Args: agentArgs(dir), Spec: specBytes, Executable: exe,
		// What a dead agent left (containerd, shims, containers in the
		// node's cgroups) goes before the next one starts.
		Prepare: func() error { return node.Teardown(dir) },
	})
	if err != nil {
		e.cfg.Log.Warn("node agent start", "instance", spec.InstanceID, "err", err)
	}
	e.step(spec, "agent started")
	return nodegroup.NodeState{}, nil
}

func (e *Executor) ensureNetwork(spec nodegroup.NodeSpec) error {
	subnet, err := netip.ParsePrefix(spec.SubnetCIDR)
	if err != nil {
		return err
	}
	addr, err := netip.ParseAddr(spec.PrivateIP)
	if err != nil {
		return err
	}
	pods, err := netip.ParsePrefix(spec.PodCIDR)
	if err != nil {
		return err
	}
	return e.cfg.Net.EnsureNode(nodenet.Node{ID: spec.InstanceID, VPC: spec.VpcID, Subnet: subnet.Masked(), Addr: addr, PodCIDR: pods})
}

// nodeSpec maps the reconciler's NodeSpec to the agent's node.Spec.
func (e *Executor) nodeSpec(ctx context.Context, spec nodegroup.NodeSpec, dir string) (node.Spec, error) {
	ccfg := controlplane.ClusterConfig{Name: spec.ClusterName, ID: spec.ClusterID, Dir: controlplane.ClusterDir(e.cfg.DataDir, spec.ClusterID)}
	certs, err := node.IssueCertificates(ccfg.CertFile(controlplane.CertCA), ccfg.KeyFile(controlplane.CertCA), dir, spec.NodeName, spec.PrivateIP)
	if err != nil {
		return node.Spec{}, fmt.Errorf("node certificates: %w", err)
	}
	ns := node.Spec{
		Name: spec.NodeName, InstanceID: spec.InstanceID, ProviderID: spec.ProviderID,
		NodeIP: spec.PrivateIP, NetNSPath: e.cfg.Net.NodePath(spec.InstanceID),
		PodCIDR: spec.PodCIDR, ClusterCIDR: spec.PodRange, ClusterDomain: "cluster.local",
		APIServerURL: spec.EndpointInVPC, CAFile: certs.CAFile,
		ServingCertFile: certs.ServingCertFile, ServingKeyFile: certs.ServingKeyFile, ServingCertSerial: certs.ServingCertSerial,
		KubeProxyCertFile: certs.KubeProxyCertFile, KubeProxyKeyFile: certs.KubeProxyKeyFile,
		ProxyMode: "iptables",
		// Named by the instance id: node names (private DNS names) repeat
		// across kplanes on one machine, instance ids do not.
		CgroupRoot:        node.DefaultCgroupRoot(spec.InstanceID),
		Labels:            spec.Labels,
		RegistryConfigDir: e.cfg.RegistryConfigDir,
	}
	if dns := ClusterDNS(spec.ServiceIPv4CIDR); dns != "" {
		ns.ClusterDNS = []string{dns}
	}
	for _, t := range spec.Taints {
		ns.Taints = append(ns.Taints, node.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
	}
	if e.joinsThroughIAM() {
		// The token is signed here (ensureRoleCredentials): no credential
		// program starts before the kubelet can register.
		ns.NodeRoleToken = &node.NodeRoleToken{TokenFile: nodecreds.TokenPath(dir)}
	} else {
		ns.ClientCertFile, ns.ClientKeyFile = certs.ClientCertFile, certs.ClientKeyFile
	}
	return ns, nil
}

// ClusterDNS is the service CIDR's .10, where EKS puts the cluster's DNS.
func ClusterDNS(serviceCIDR string) string {
	p, err := netip.ParsePrefix(serviceCIDR)
	if err != nil || !p.Addr().Is4() {
		return ""
	}
	a := p.Masked().Addr().As4()
	a[3] += 10
	return netip.AddrFrom4(a).String()
}

// observe reports the agent's state and, once the Node object exists, its
// readiness, and brings its labels and taints to spec's.
func (e *Executor) observe(ctx context.Context, spec nodegroup.NodeSpec, dir string) nodegroup.NodeState {
	st := e.sup.State(spec.InstanceID)
	switch st.Phase {
	case supervise.PhaseStarting, supervise.PhaseRunning:
	default:
		reason := st.LastExitReason
		if reason == "" {
			reason = string(st.Phase)
		}
		return nodegroup.NodeState{Problem: fmt.Sprintf("The node agent of %s is down and being restarted: %s", spec.InstanceID, reason)}
	}
	out := nodegroup.NodeState{Running: true}
	c, err := e.client(spec)
	if err != nil {
		out.Problem = "Cannot reach the cluster: " + err.Error()
		return out
	}
	e.track(spec.ClusterID, spec.InstanceID, true)
	registered, ready, err := c.syncNode(ctx, spec, st.StartedAt)
	if err != nil {
		e.cfg.Log.Debug("reading node", "node", spec.NodeName, "err", err)
	}
	switch {
	case ready:
		e.reach(spec, stepReady)
	case registered:
		e.reach(spec, stepRegistered)
	}
	out.Ready = ready
	if !ready && !st.StartedAt.IsZero() && time.Since(st.StartedAt) > e.cfg.JoinTimeout {
		// Typically its node role is no longer mapped (aws-auth entry or
		// EC2_LINUX access entry removed): its kubelet's token is refused.
		out.Problem, out.IssueCode = nodegroup.JoinFailureMessage, "NodeCreationFailure"
	}
	return out
}

// Steps of a node's start seen through its Node object.
const (
	stepRegistered = "node registered seen"
	stepReady      = "node ready seen"
)

// reach logs step for spec's node the first time it is seen there.
func (e *Executor) reach(spec nodegroup.NodeSpec, step string) {
	e.mu.Lock()
	last := e.reached[spec.InstanceID]
	e.reached[spec.InstanceID] = step
	e.mu.Unlock()
	if last != step && last != stepReady {
		e.step(spec, step)
	}
}

// step logs, at debug level, that a node reached a step of its start:
// bench/nodebench reads these lines to break a CreateNodegroup down.
func (e *Executor) step(spec nodegroup.NodeSpec, name string) {
	e.cfg.Log.Debug(node.StepMessage, "cluster", spec.ClusterName, "nodegroup", spec.Nodegroup, "instance", spec.InstanceID, "step", name)
}

// RemoveNode implements nodegroup.NodeExecutor: drain (a refusal by a
// PodDisruptionBudget is a *nodegroup.EvictionBlockedError), stop the agent,
// delete the Node object, the node's directory and its network.
func (e *Executor) RemoveNode(ctx context.Context, spec nodegroup.NodeSpec) error {
	dir := NodeDir(e.cfg.DataDir, spec.InstanceID)
	if c, err := e.client(spec); err == nil {
		if err := c.drain(ctx, spec.NodeName, spec.ForceDrain); err != nil {
			return err
		}
	}
	if err := e.sup.Stop(ctx, spec.InstanceID); err != nil {
		return fmt.Errorf("stopping node %s: %w", spec.InstanceID, err)
	}
	if err := node.Teardown(dir); err != nil {
		return err
	}
	if c, err := e.client(spec); err == nil {
		if err := c.deleteNode(ctx, spec.NodeName); err != nil {
			return err
		}
	}
	if err := node.Delete(dir); err != nil {
		return err
	}
	e.forgetFilter(spec.InstanceID)
	e.closeRegistryProxy(spec.InstanceID)
	if err := e.cfg.Net.RemoveNode(spec.InstanceID); err != nil {
		return err
	}
	e.track(spec.ClusterID, spec.InstanceID, false)
	e.mu.Lock()
	delete(e.reached, spec.InstanceID)
	e.mu.Unlock()
	return nil
}

// StopAll stops every node (a clean stop of kplane): agents tear their
// nodes down; directories, Node objects and networks stay, so the nodes
// come back when kplane starts again.
func (e *Executor) StopAll(ctx context.Context) error {
	e.mu.Lock()
	for id, c := range e.clients {
		c.close()
		delete(e.clients, id)
	}
	e.mu.Unlock()
	err := e.sup.StopAll(ctx)
	for _, dir := range NodeDirs(e.cfg.DataDir) {
		err = errors.Join(err, node.Teardown(dir))
	}
	e.closeRegistryProxies()
	return err
}

// copyClusterImages gives a node the archives imported for its cluster.
func copyClusterImages(dataDir, clusterID, dir string) error {
	archives, _ := filepath.Glob(filepath.Join(ClusterImagesDir(dataDir, clusterID), "*.tar"))
	if len(archives) == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "images"), 0o700); err != nil {
		return err
	}
	for _, a := range archives {
		dst := filepath.Join(dir, "images", filepath.Base(a))
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		if err := os.Link(a, dst); err != nil {
			if err := copyFile(a, dst); err != nil {
				return err
			}
		}
	}
	return nil
}
