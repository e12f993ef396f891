package nodegroup

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/nodenet"
	"github.com/kplane/kplane/internal/store"
)

// An instance's filter holds its groups' rules, with a group a rule names
// expanded to its members: instances with their pod CIDRs, and the VPC
// router addresses for the groups of a cluster's control plane.
func TestFilterForExpandsGroups(t *testing.T) {
	const vpc = "vpc-1"
	n := &store.Network{
		VPCs: []store.VPC{{ID: vpc, CidrBlock: "172.31.0.0/16"}, {ID: "vpc-2", CidrBlock: "10.0.0.0/16"}},
		Subnets: []store.Subnet{
			{ID: "subnet-a", VpcID: vpc, CidrBlock: "172.31.0.0/20"},
			{ID: "subnet-b", VpcID: vpc, CidrBlock: "172.31.16.0/20"},
			{ID: "subnet-x", VpcID: "vpc-2", CidrBlock: "10.0.0.0/20"},
		},
		SecurityGroups: []store.SecurityGroup{
			{ID: "sg-cluster", VpcID: vpc, Rules: []store.SecurityGroupRule{
				{Protocol: "-1", FromPort: -1, ToPort: -1, ReferencedGroupID: "sg-cluster"},
				{Egress: true, Protocol: "-1", FromPort: -1, ToPort: -1, CidrIPv4: "0.0.0.0/0"},
			}},
			{ID: "sg-nodes", VpcID: vpc, Rules: []store.SecurityGroupRule{
				{Protocol: "tcp", FromPort: 10250, ToPort: 10250, ReferencedGroupID: "sg-extra"},
				{Protocol: "udp", FromPort: 53, ToPort: 53, CidrIPv4: "172.31.0.0/16"},
				{Protocol: "icmpv6", FromPort: -1, ToPort: -1, CidrIPv6: "::/0"},
				{Protocol: "tcp", FromPort: 22, ToPort: 22, ReferencedGroupID: "sg-nobody"},
			}},
		},
	}
	cluster := &store.ClusterRecord{Cluster: shapes.Cluster{Name: "c1",
		ResourcesVpcConfig:      &shapes.VpcConfigResponse{VpcID: vpc, ClusterSecurityGroupID: "sg-cluster", SecurityGroupIDs: []string{"sg-extra"}},
		KubernetesNetworkConfig: &shapes.KubernetesNetworkConfig{ServiceIpv4Cidr: "10.100.0.0/16"}}}
	a := store.Instance{ID: "i-a", Cluster: "c1", VpcID: vpc, PrivateIP: "172.31.0.4", SecurityGroupIDs: []string{"sg-cluster"}}
	b := store.Instance{ID: "i-b", Cluster: "c1", VpcID: vpc, PrivateIP: "172.31.16.9", SecurityGroupIDs: []string{"sg-cluster", "sg-nodes"}}
	gone := store.Instance{ID: "i-gone", Cluster: "c1", VpcID: vpc, PrivateIP: "172.31.0.5", SecurityGroupIDs: []string{"sg-cluster"}, State: store.InstanceTerminated}
	other := store.Instance{ID: "i-x", VpcID: "vpc-2", PrivateIP: "10.0.0.4", SecurityGroupIDs: []string{"sg-cluster"}}
	insts := []store.Instance{a, b, gone, other}

	fa := filterFor(a, n, insts, []*store.ClusterRecord{cluster})
	podRange, _ := nodenet.PodRange(netip.MustParsePrefix("172.31.0.0/16"), netip.MustParsePrefix("10.100.0.0/16"))
	podsOf := func(ip string) netip.Prefix {
		p, err := nodenet.PodCIDR(netip.MustParsePrefix("172.31.0.0/16"), podRange, netip.MustParseAddr(ip))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	routers := []netip.Prefix{netip.MustParsePrefix("172.31.0.1/32"), netip.MustParsePrefix("172.31.16.1/32")}
	wantSelf := append(slices.Clone(routers),
		netip.MustParsePrefix("172.31.0.4/32"), podsOf("172.31.0.4"),
		netip.MustParsePrefix("172.31.16.9/32"), podsOf("172.31.16.9"))
	if len(fa.Ingress) != 1 || fa.Ingress[0].Protocol != 0 || !sameSet(fa.Ingress[0].Peers, wantSelf) {
		t.Fatalf("a's ingress = %+v, want all traffic from %v (members of sg-cluster: the routers, a and b with their pods; not the terminated one, not vpc-2's)", fa.Ingress, wantSelf)
	}
	if len(fa.Egress) != 1 || !sameSet(fa.Egress[0].Peers, []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}) {
		t.Fatalf("a's egress = %+v, want all to 0.0.0.0/0", fa.Egress)
	}

	fb := filterFor(b, n, insts, []*store.ClusterRecord{cluster})
	var kubelet, dns *nodenet.FilterRule
	for i, r := range fb.Ingress {
		switch {
		case r.Protocol == 6 && r.FromPort == 10250:
			kubelet = &fb.Ingress[i]
		case r.Protocol == 17 && r.FromPort == 53:
			dns = &fb.Ingress[i]
		}
	}
	if kubelet == nil || !sameSet(kubelet.Peers, routers) {
		t.Errorf("b's kubelet rule = %+v, want tcp 10250 from the routers (sg-extra is the control plane's)", kubelet)
	}
	if dns == nil || dns.ToPort != 53 || !sameSet(dns.Peers, []netip.Prefix{netip.MustParsePrefix("172.31.0.0/16")}) {
		t.Errorf("b's DNS rule = %+v, want udp 53 from 172.31.0.0/16", dns)
	}
	// sg-cluster's self rule, the kubelet and DNS rules; not the IPv6 one,
	// nor the one naming a group with no member.
	if len(fb.Ingress) != 3 {
		t.Errorf("b's ingress has %d rules, want 3: %+v", len(fb.Ingress), fb.Ingress)
	}
}

func sameSet(a, b []netip.Prefix) bool {
	if len(a) != len(b) {
		return false
	}
	for _, p := range a {
		if !slices.Contains(b, p) {
			return false
		}
	}
	return true
}

func TestIPProtocol(t *testing.T) {
	for in, want := range map[string]int{"-1": 0, "tcp": 6, "udp": 17, "icmp": 1, "6": 6, "132": 132, "icmpv6": -1, "58": -1, "x": -1, "256": -1} {
		got, ok := ipProtocol(in)
		if (want < 0) == ok || ok && int(got) != want {
			t.Errorf("ipProtocol(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
}
