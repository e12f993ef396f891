package eks

import (
	"testing"

	"github.com/kplane/kplane/internal/store"
)

// EKS needs six free addresses in every subnet a cluster names.
func TestCreateClusterFreeAddresses(t *testing.T) {
	lim := testLimits()
	network := testNetwork()
	full := store.Subnet{ID: "subnet-full", VpcID: "vpc-main", AvailabilityZone: "us-west-2b", CidrBlock: "172.31.80.0/28", Used: 6}
	spare := store.Subnet{ID: "subnet-spare", VpcID: "vpc-main", AvailabilityZone: "us-west-2c", CidrBlock: "172.31.96.0/28", Used: 5}
	network.Subnets = append(network.Subnets, full, spare)
	if full.Available() != 5 || spare.Available() != 6 {
		t.Fatalf("available: %d %d", full.Available(), spare.Available())
	}
	req := decodeCreate(t, minimalCreateBody)
	req.ResourcesVpcConfig.SubnetIDs = []string{"subnet-a", "subnet-spare"}
	checkError(t, validateCreateCluster(req, network, lim), "", "", nil, "")
	req.ResourcesVpcConfig.SubnetIDs = []string{"subnet-a", "subnet-full"}
	checkError(t, validateCreateCluster(req, network, lim), InvalidParameter,
		"Provided subnets subnet-full Free IPs: 5 , need at least 6 IPs in each subnet to be free for this operation", nil, "a")
}

// What the store finds at write time reads as validation would have said it.
func TestClusterNetworkError(t *testing.T) {
	for _, c := range []struct {
		err  *store.ClusterNetworkError
		want string
	}{
		{&store.ClusterNetworkError{ID: "subnet-1", Missing: true}, "The subnet ID 'subnet-1' does not exist"},
		{&store.ClusterNetworkError{ID: "sg-1", Missing: true}, "The security group 'sg-1' does not exist"},
		{&store.ClusterNetworkError{ID: "subnet-1", Free: 2}, "Provided subnets subnet-1 Free IPs: 2 , need at least 6 IPs in each subnet to be free for this operation"},
	} {
		checkError(t, clusterNetworkError("a", c.err), InvalidParameter, c.want, nil, "a")
	}
}
