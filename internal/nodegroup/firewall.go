package nodegroup

import (
	"net/netip"
	"slices"
	"strconv"

	"github.com/kplane/kplane/internal/nodenet"
	"github.com/kplane/kplane/internal/store"
)

// filterFor is what inst's security groups let through its network
// interface: their rules, with every group a rule names expanded to the
// addresses of its members in the VPC.
//
// Members of a group are the live instances that carry it, with their pod
// CIDRs (pods use their instance's groups, as with the VPC CNI without
// security groups for pods), and, for a group of a cluster's control plane
// (its cluster security group and resourcesVpcConfig.securityGroupIds), the
// VPC router address of every subnet of the VPC: the control plane reaches
// nodes from there (apiserver to kubelet, webhooks), as EKS's control plane
// reaches them from its network interfaces in the cluster's subnets.
//
// Rules for IPv6 and prefix lists allow nothing here: the VPC carries IPv4 only.
func filterFor(inst store.Instance, n *store.Network, insts []store.Instance, clusters []*store.ClusterRecord) nodenet.Filter {
	members := groupMembers(inst.VpcID, n, insts, clusters)
	var f nodenet.Filter
	for _, id := range inst.SecurityGroupIDs {
		g, ok := n.SecurityGroup(id)
		if !ok {
			continue
		}
		for _, r := range g.Rules {
			proto, ok := ipProtocol(r.Protocol)
			if !ok {
				continue
			}
			var peers []netip.Prefix
			switch {
			case r.CidrIPv4 != "":
				if p, err := netip.ParsePrefix(r.CidrIPv4); err == nil {
					peers = []netip.Prefix{p.Masked()}
				}
			case r.ReferencedGroupID != "":
				peers = members[r.ReferencedGroupID]
			}
			if len(peers) == 0 {
				continue
			}
			fr := nodenet.FilterRule{Protocol: proto, FromPort: r.FromPort, ToPort: r.ToPort, Peers: peers}
			if proto == 0 {
				fr.FromPort, fr.ToPort = -1, -1
			}
			if r.Egress {
				f.Egress = append(f.Egress, fr)
			} else {
				f.Ingress = append(f.Ingress, fr)
			}
		}
	}
	return f
}

// groupMembers maps each security group to the addresses of its members in vpc.
func groupMembers(vpc string, n *store.Network, insts []store.Instance, clusters []*store.ClusterRecord) map[string][]netip.Prefix {
	out := map[string][]netip.Prefix{}
	add := func(group string, p netip.Prefix) {
		if !slices.Contains(out[group], p) {
			out[group] = append(out[group], p)
		}
	}
	vpcCIDR := netip.Prefix{}
	if v, ok := n.VPC(vpc); ok {
		vpcCIDR, _ = netip.ParsePrefix(v.CidrBlock)
	}
	serviceCIDR := map[string]netip.Prefix{}
	var routers []netip.Prefix
	for _, sn := range n.Subnets {
		if p, err := netip.ParsePrefix(sn.CidrBlock); err == nil && sn.VpcID == vpc {
			routers = append(routers, netip.PrefixFrom(p.Masked().Addr().Next(), 32))
		}
	}
	for _, c := range clusters {
		vc := c.Cluster.ResourcesVpcConfig
		if vc == nil {
			continue
		}
		if knc := c.Cluster.KubernetesNetworkConfig; knc != nil {
			serviceCIDR[c.Cluster.Name], _ = netip.ParsePrefix(knc.ServiceIpv4Cidr)
		}
		if vc.VpcID != vpc {
			continue
		}
		for _, g := range append([]string{vc.ClusterSecurityGroupID}, vc.SecurityGroupIDs...) {
			for _, r := range routers {
				add(g, r)
			}
		}
	}
	for _, i := range insts {
		addr, err := netip.ParseAddr(i.PrivateIP)
		if i.VpcID != vpc || !i.Live() || err != nil {
			continue
		}
		var pods netip.Prefix
		if podRange, err := nodenet.PodRange(vpcCIDR, serviceCIDR[i.Cluster]); err == nil {
			pods, _ = nodenet.PodCIDR(vpcCIDR, podRange, addr)
		}
		for _, g := range i.SecurityGroupIDs {
			add(g, netip.PrefixFrom(addr, 32))
			if pods.IsValid() {
				add(g, pods)
			}
		}
	}
	return out
}

// ipProtocol is the IP protocol number of an EC2 rule's protocol (0 for
// -1, all); false for what the VPC does not carry (icmpv6, IPv6 numbers).
func ipProtocol(p string) (uint8, bool) {
	switch p {
	case "-1", "all":
		return 0, true
	case "tcp":
		return 6, true
	case "udp":
		return 17, true
	case "icmp":
		return 1, true
	case "icmpv6", "58":
		return 0, false
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 255 {
		return 0, false
	}
	return uint8(n), true
}
