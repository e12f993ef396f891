package controlplane

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/kplane/kplane/internal/lb"
	"github.com/kplane/kplane/internal/nodenet"
	"github.com/kplane/kplane/internal/store"
)

// DefaultReplicas is how many control-plane replicas a cluster gets at most:
// one per availability zone of its subnets, as EKS spreads its control plane.
const DefaultReplicas = 2

// replicaZones are the zones the cluster's replicas run in: the distinct
// zones of its subnets, sorted, at most max. A cluster whose subnets cannot
// be found (the inventory changed under it) still gets one replica.
func replicaZones(rec *store.ClusterRecord, n *store.Network, max int) []string {
	var zones []string
	if vc := rec.Cluster.ResourcesVpcConfig; vc != nil && n != nil {
		for _, id := range vc.SubnetIDs {
			if s, ok := n.Subnet(id); ok && !slices.Contains(zones, s.AvailabilityZone) {
				zones = append(zones, s.AvailabilityZone)
			}
		}
	}
	slices.Sort(zones)
	if len(zones) == 0 {
		zones = []string{"default"}
	}
	if max > 0 && len(zones) > max {
		zones = zones[:max]
	}
	return zones
}

// endpointAccess turns the cluster's endpoint settings into the balancer's
// rule: the VPC's CIDR and its pods' range (nodes do not masquerade pods,
// whose addresses are the VPC's on EKS), and the operator's
// --private-sources, which stand in for addresses inside every VPC on one
// machine, are the private side.
func endpointAccess(rec *store.ClusterRecord, n *store.Network, privateSources []netip.Prefix) lb.Access {
	a := lb.Access{Public: true, PublicCIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}}
	vc := rec.Cluster.ResourcesVpcConfig
	if vc == nil {
		return a
	}
	a.Public, a.Private = vc.EndpointPublicAccess, vc.EndpointPrivateAccess
	if vc.PublicAccessCidrs != nil {
		a.PublicCIDRs = nil
		for _, c := range vc.PublicAccessCidrs {
			if p, err := netip.ParsePrefix(c); err == nil {
				a.PublicCIDRs = append(a.PublicCIDRs, p.Masked())
			}
		}
	}
	a.PrivateCIDRs = slices.Clone(privateSources)
	if n != nil {
		for _, v := range n.VPCs {
			if v.ID != vc.VpcID {
				continue
			}
			p, err := netip.ParsePrefix(v.CidrBlock)
			if err != nil {
				continue
			}
			a.PrivateCIDRs = append(a.PrivateCIDRs, p.Masked())
			var svc netip.Prefix
			if knc := rec.Cluster.KubernetesNetworkConfig; knc != nil {
				svc, _ = netip.ParsePrefix(knc.ServiceIpv4Cidr)
			}
			if pods, err := nodenet.PodRange(p.Masked(), svc); err == nil {
				a.PrivateCIDRs = append(a.PrivateCIDRs, pods)
			}
		}
	}
	return a
}

// readyzCheck is the balancer's health check of one replica: GET /readyz
// with the cluster's CA and admin certificate (anonymous requests are off).
func (p *LocalProvisioner) readyzCheck(cfg ClusterConfig) func(context.Context, lb.Backend) error {
	return func(ctx context.Context, b lb.Backend) error {
		client, err := p.adminClient(cfg)
		if err != nil {
			return err
		}
		code, body, err := getStatus(ctx, client, "https://"+b.Addr+"/readyz")
		if err != nil {
			return err
		}
		if code != 200 {
			return &readyzError{code: code, body: firstLine(body)}
		}
		return nil
	}
}

type readyzError struct {
	code int
	body string
}

func (e *readyzError) Error() string { return "readyz: HTTP " + strconv.Itoa(e.code) + " " + e.body }

// endpointAddr is the host:port of the cluster's endpoint (cfg of a replica
// or of the cluster: SecurePort is then the endpoint's port).
func endpointAddr(cfg ClusterConfig) string {
	cfg = cfg.withDefaults()
	port := cfg.EndpointPort
	if port == 0 {
		port = cfg.SecurePort
	}
	return net.JoinHostPort(cfg.AdvertiseAddress, strconv.Itoa(port))
}

// backendAddr is the host:port the balancer dials for a replica.
func backendAddr(cfg ClusterConfig) string {
	cfg = cfg.withDefaults()
	host := cfg.BindAddress
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(cfg.SecurePort))
}
