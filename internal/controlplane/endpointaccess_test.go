package controlplane

import (
	"net/netip"
	"testing"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// Pods keep their own addresses (no masquerade on the nodes), so a private
// endpoint takes the VPC's pods as it takes its nodes; nothing else passes.
func TestEndpointAccessPrivateSideHoldsPods(t *testing.T) {
	rec := &store.ClusterRecord{Cluster: shapes.Cluster{
		ResourcesVpcConfig: &shapes.VpcConfigResponse{VpcID: "vpc-1", EndpointPrivateAccess: true, EndpointPublicAccess: false},
	}}
	n := &store.Network{VPCs: []store.VPC{{ID: "vpc-1", CidrBlock: "172.31.0.0/16"}}}
	a := endpointAccess(rec, n, nil)
	for src, want := range map[string]bool{
		"172.31.0.10":   true,  // a node
		"100.64.12.34":  true,  // a pod (the VPC's pod range, 100.64.0.0/10)
		"127.0.0.1":     false, // the host
		"10.192.0.1":    false, // the other pod range, not this VPC's
		"203.0.113.200": false,
	} {
		if got := a.Allowed(netip.MustParseAddr(src)); got != want {
			t.Errorf("private-only endpoint, source %s: allowed %v, want %v", src, got, want)
		}
	}
}
