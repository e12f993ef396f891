package controlplane

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/kplane/kplane/internal/fileutil"
	"github.com/kplane/kplane/internal/lb"
	"github.com/kplane/kplane/internal/nodenet"
	"github.com/kplane/kplane/internal/store"
)

// A cluster's control plane and its VPC's nodes (internal/nodenet):
//
//   - nodes reach the cluster's endpoint at the gateway of one of the
//     cluster's subnets (the subnet's base + 1, the VPC router's address on
//     AWS; kplane records no address of its own for the cluster's network
//     interfaces), on the endpoint's port: the balancer also listens inside
//     the VPC's namespace, with the same access rules (sources in the VPC's
//     CIDR are private), and the serving certificate names those gateways;
//   - kube-apiserver reaches kubelets and pods through its egress selector:
//     an HTTP CONNECT proxy of kplane's on a unix socket of the cluster's
//     directory, which dials from inside the VPC's namespace.
//
// The VPC's namespace exists while the VPC has nodes (nodenet makes it with
// the first and removes it with the last); the endpoint's socket there is
// opened once it exists and again when it was made anew (its inode is in
// the socket's key).

// vpcNet is the provisioner's per-cluster state of the above.
type vpcNet struct {
	mu     sync.Mutex
	m      *nodenet.Manager
	egress map[string]*nodenet.Egress // by cluster id
}

// EndpointForNodes is the URL of cluster rec's endpoint as its nodes reach
// it from inside its VPC: the gateway of the cluster's subnet in zone (or of
// its first subnet), on the endpoint's port.
func EndpointForNodes(rec *store.ClusterRecord, n *store.Network, zone string) (string, error) {
	subnets := clusterSubnets(rec, n)
	if len(subnets) == 0 || rec.Port == 0 {
		return "", fmt.Errorf("cluster %s: no subnet or no endpoint port", rec.Cluster.Name)
	}
	gw := nodenet.Gateway(subnets[0].cidr)
	for _, s := range subnets {
		if s.zone == zone {
			gw = nodenet.Gateway(s.cidr)
			break
		}
	}
	return "https://" + net.JoinHostPort(gw.String(), strconv.Itoa(rec.Port)), nil
}

type clusterSubnet struct {
	cidr netip.Prefix
	zone string
}

func clusterSubnets(rec *store.ClusterRecord, n *store.Network) []clusterSubnet {
	vc := rec.Cluster.ResourcesVpcConfig
	if vc == nil || n == nil {
		return nil
	}
	var out []clusterSubnet
	for _, id := range vc.SubnetIDs {
		for _, s := range n.Subnets {
			if s.ID != id {
				continue
			}
			if p, err := netip.ParsePrefix(s.CidrBlock); err == nil && p.Addr().Is4() {
				out = append(out, clusterSubnet{p.Masked(), s.AvailabilityZone})
			}
		}
	}
	return out
}

// vpcEndpoint prepares cluster rec's side of its VPC: the gateways in the
// serving certificate, the egress proxy and the apiserver's flag for it in
// base, and returns the balancer's socket inside the VPC (none while the VPC
// has no namespace). Nothing when the provisioner runs no node network.
func (p *LocalProvisioner) vpcEndpoint(rec *store.ClusterRecord, n *store.Network, base *ClusterConfig, dataDir string, port int) ([]lb.Socket, error) {
	if !p.NodeNetwork || rec.Cluster.ResourcesVpcConfig == nil || rec.Cluster.ResourcesVpcConfig.VpcID == "" {
		return nil, nil
	}
	vpc := rec.Cluster.ResourcesVpcConfig.VpcID
	m := p.nodeNet(dataDir)
	var cidrs []netip.Prefix
	for _, s := range clusterSubnets(rec, n) {
		cidrs = append(cidrs, s.cidr)
		base.ExtraSANs = append(base.ExtraSANs, nodenet.Gateway(s.cidr).String())
	}

	sock := filepath.Join(base.Dir, "egress.sock")
	if len(sock) > 100 { // sun_path holds 108 bytes
		sock = m.EgressSocket(base.ID)
	}
	if err := p.ensureEgress(m, base.ID, vpc, sock); err != nil {
		return nil, fmt.Errorf("egress proxy: %w", err)
	}
	file := filepath.Join(base.Dir, "egress-selector.yaml")
	if err := fileutil.WriteFileIfChanged(file, nodenet.EgressSelectorConfig(sock), 0o600); err != nil {
		return nil, err
	}
	base.ExtraAPIServerArgs = append(base.ExtraAPIServerArgs, "--egress-selector-config-file="+file)

	ino := m.VPCInode(vpc)
	if ino == 0 {
		return nil, nil
	}
	if err := m.EnsureGateways(vpc, cidrs); err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("0.0.0.0", strconv.Itoa(port))
	return []lb.Socket{{
		Key: fmt.Sprintf("%s@%d %s", vpc, ino, addr),
		Listen: func() (net.Listener, error) {
			return m.ListenVPC(context.Background(), vpc, nil, addr)
		},
	}}, nil
}

func (p *LocalProvisioner) nodeNet(dataDir string) *nodenet.Manager {
	p.vpc.mu.Lock()
	defer p.vpc.mu.Unlock()
	if p.vpc.m == nil {
		p.vpc.m = nodenet.New(nodenet.DirFor(dataDir))
	}
	return p.vpc.m
}

func (p *LocalProvisioner) ensureEgress(m *nodenet.Manager, id, vpc, sock string) error {
	p.vpc.mu.Lock()
	defer p.vpc.mu.Unlock()
	if p.vpc.egress[id] != nil {
		return nil
	}
	e, err := m.ListenEgress(sock, vpc, slog.Default().With("cluster", id))
	if err != nil {
		return err
	}
	if p.vpc.egress == nil {
		p.vpc.egress = map[string]*nodenet.Egress{}
	}
	p.vpc.egress[id] = e
	return nil
}

// closeEgress stops cluster id's egress proxy ("" for every cluster's).
func (p *LocalProvisioner) closeEgress(id string) {
	p.vpc.mu.Lock()
	defer p.vpc.mu.Unlock()
	for key, e := range p.vpc.egress {
		if id == "" || key == id {
			e.Close()
			delete(p.vpc.egress, key)
		}
	}
}
