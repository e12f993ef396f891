//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"testing"

	"github.com/kplane/kplane/internal/node"
	"github.com/kplane/kplane/internal/nodenet"
)

// clusterVPC is the part of a cluster's VPC that test nodes need: the VPC,
// the cluster's first subnet and the VPC's pod range.
type clusterVPC struct {
	id       string
	cidr     netip.Prefix
	subnet   netip.Prefix
	zone     string
	podRange netip.Prefix
}

// clusterVPCOf reads cluster name's VPC and first subnet with the aws CLI.
func clusterVPCOf(t *testing.T, k *kplane, name string) clusterVPC {
	t.Helper()
	var vc struct {
		VpcID     string   `json:"vpcId"`
		SubnetIDs []string `json:"subnetIds"`
	}
	if err := json.Unmarshal([]byte(k.mustAWS("eks", "describe-cluster", "--name", name, "--query", "cluster.resourcesVpcConfig")), &vc); err != nil {
		t.Fatal(err)
	}
	var sn []struct{ CidrBlock, AvailabilityZone string }
	if err := json.Unmarshal([]byte(k.mustAWS("ec2", "describe-subnets", "--subnet-ids", vc.SubnetIDs[0], "--query", "Subnets")), &sn); err != nil || len(sn) != 1 {
		t.Fatalf("describe-subnets: %v %+v", err, sn)
	}
	var vpcs []struct{ CidrBlock string }
	if err := json.Unmarshal([]byte(k.mustAWS("ec2", "describe-vpcs", "--vpc-ids", vc.VpcID, "--query", "Vpcs")), &vpcs); err != nil || len(vpcs) != 1 {
		t.Fatalf("describe-vpcs: %v %+v", err, vpcs)
	}
	v := clusterVPC{
		id:     vc.VpcID,
		cidr:   netip.MustParsePrefix(vpcs[0].CidrBlock),
		subnet: netip.MustParsePrefix(sn[0].CidrBlock),
		zone:   sn[0].AvailabilityZone,
	}
	var err error
	if v.podRange, err = nodenet.PodRange(v.cidr, netip.MustParsePrefix("10.100.0.0/16")); err != nil {
		t.Fatal(err)
	}
	return v
}

// hostAddr is the subnet's address at offset n (n > 1: past the gateway).
func (v clusterVPC) hostAddr(n int) netip.Addr {
	a := v.subnet.Addr()
	for range n {
		a = a.Next()
	}
	return a
}

// startVPCNode starts a node as a nodegroup's would run: in a network
// namespace of the cluster's VPC made by internal/nodenet, at the subnet's
// address at offset n, with the pod CIDR the VPC routes to it, reaching
// the cluster endpoint at its subnet's gateway. Cleanup stops the node,
// then removes its namespace.
func startVPCNode(t *testing.T, k *kplane, c *cluster, v clusterVPC, n int) *testNode {
	t.Helper()
	addr := v.hostAddr(n)
	podCIDR, err := nodenet.PodCIDR(v.cidr, v.podRange, addr)
	if err != nil {
		t.Fatal(err)
	}
	m := nodenet.New(nodenet.DirFor(k.dataDir))
	nn := nodenet.Node{ID: fmt.Sprintf("i-0e2e%013x", n), VPC: v.id, Subnet: v.subnet, Addr: addr, PodCIDR: podCIDR}
	if err := m.EnsureNode(nn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.RemoveNode(nn.ID); err != nil {
			t.Errorf("remove node namespace %s: %v", nn.ID, err)
		}
	})
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return startNodeAt(t, k, c, addr.String(), nodePlace{
		instanceID: nn.ID, zone: v.zone,
		nsPath:      m.NodePath(nn.ID),
		apiURL:      "https://" + net.JoinHostPort(nodenet.Gateway(v.subnet).String(), u.Port()),
		podCIDR:     podCIDR.String(),
		clusterCIDR: v.podRange.String(),
	}, func(*node.Spec) {})
}
