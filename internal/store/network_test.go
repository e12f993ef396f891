package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kplane/kplane/internal/eks/shapes"
)

var testZones = []string{"us-west-2a", "us-west-2b", "us-west-2c"}

// testCluster is a cluster record placed in subnets, using groups.
func testCluster(name string, subnets, groups []string) *ClusterRecord {
	return &ClusterRecord{Cluster: shapes.Cluster{
		Name: name, ID: "0123456789abcdef-" + name, Status: shapes.StatusCreating,
		ResourcesVpcConfig: &shapes.VpcConfigResponse{
			SubnetIDs: subnets, SecurityGroupIDs: groups, ClusterSecurityGroupID: NewResourceID("sg"),
		},
	}}
}

// newVPC makes a VPC with a subnet in two zones.
func newVPC(t *testing.T, s *Store, cidr string, subnets ...string) (VPC, []Subnet) {
	t.Helper()
	ctx := context.Background()
	vpc := VPC{ID: NewResourceID("vpc"), CidrBlock: cidr}
	if _, err := s.CreateVPC(ctx, vpc); err != nil {
		t.Fatal(err)
	}
	var out []Subnet
	for i, c := range subnets {
		sn := Subnet{ID: NewResourceID("subnet"), VpcID: vpc.ID, CidrBlock: c, AvailabilityZone: testZones[i%2]}
		if err := s.CreateSubnet(ctx, sn); err != nil {
			t.Fatalf("CreateSubnet %s: %v", c, err)
		}
		out = append(out, sn)
	}
	return vpc, out
}

// etcd compares a range key by key and an empty range as one absent key:
// the reference scheme relies on CreateRevision(prefix) = 0 WithPrefix
// holding exactly when the prefix is empty.
func TestRangeCompareOnEmptyPrefix(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	holds := func() bool {
		t.Helper()
		resp, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision("/test/p/"), "=", 0).WithPrefix()).Commit()
		if err != nil {
			t.Fatal(err)
		}
		return resp.Succeeded
	}
	if !holds() {
		t.Fatal("empty prefix: compare fails")
	}
	s.client.Put(ctx, "/test/p", "the prefix itself without the slash is outside")
	s.client.Put(ctx, "/test/q/a", "a neighbour")
	if !holds() {
		t.Fatal("keys beside the prefix: compare fails")
	}
	s.client.Put(ctx, "/test/p/a", "")
	s.client.Put(ctx, "/test/p/b", "")
	if holds() {
		t.Fatal("two keys under the prefix: compare holds")
	}
	s.client.Delete(ctx, "/test/p/a")
	if holds() {
		t.Fatal("one key under the prefix: compare holds")
	}
	s.client.Delete(ctx, "/test/p/b")
	if !holds() {
		t.Fatal("prefix emptied again: compare fails")
	}
	// ModRevision < rev+1 WithPrefix: nothing under the prefix was written after rev.
	resp, _ := s.client.Put(ctx, "/test/p/c", "")
	rev := resp.Header.Revision
	notSince := func(rev int64) bool {
		r, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision("/test/p/"), "<", rev+1).WithPrefix()).Commit()
		if err != nil {
			t.Fatal(err)
		}
		return r.Succeeded
	}
	if !notSince(rev) || notSince(rev-1) {
		t.Fatal("ModRevision range compare")
	}
}

func TestDefaultNetwork(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	n, err := s.EnsureDefaultNetwork(ctx, testZones)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.VPCs) != 1 || !n.VPCs[0].IsDefault || len(n.Subnets) != 3 || len(n.SecurityGroups) != 1 {
		t.Fatalf("default network: %+v", n)
	}
	for i, sn := range n.Subnets {
		if !sn.DefaultForAz || sn.AvailabilityZone != testZones[i] || sn.CidrBlock != defaultSubnetCIDR(i) || sn.Available() != 4091 {
			t.Fatalf("subnet %d: %+v (available %d)", i, sn, sn.Available())
		}
	}
	// The default VPC cannot go while it has subnets; its subnets can.
	if err := s.DeleteVPC(ctx, n.VPCs[0].ID); !errors.Is(err, ErrInUse) {
		t.Fatalf("DeleteVPC with subnets: %v", err)
	}
	if err := s.DeleteSecurityGroup(ctx, n.SecurityGroups[0].ID); !errors.Is(err, ErrCannotDelete) {
		t.Fatalf("delete default group: %v", err)
	}
	again, err := s.EnsureDefaultNetwork(ctx, testZones)
	if err != nil || len(again.Subnets) != 3 || again.VPCs[0].ID != n.VPCs[0].ID {
		t.Fatalf("second start: %+v %v", again, err)
	}
	// As on AWS the default VPC may go, once empty; it does not come back.
	for _, sn := range n.Subnets {
		if err := s.DeleteSubnet(ctx, sn.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteVPC(ctx, n.VPCs[0].ID); err != nil {
		t.Fatal(err)
	}
	if again, err := s.EnsureDefaultNetwork(ctx, testZones); err != nil || len(again.VPCs) != 0 || len(again.SecurityGroups) != 0 {
		t.Fatalf("start after the default VPC went: %+v %v", again, err)
	}
}

// A data directory from before the reference keys: the next start writes them.
func TestEnsureNetworkIndexUpgradesOldInventory(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	vpc := VPC{ID: "vpc-old", CidrBlock: "172.31.0.0/16", IsDefault: true}
	sn := Subnet{ID: "subnet-old", VpcID: vpc.ID, AvailabilityZone: "us-west-2a", CidrBlock: "172.31.0.0/20"}
	sg := SecurityGroup{ID: "sg-old", VpcID: vpc.ID, Name: "web"}
	for k, v := range map[string]any{vpcKey(vpc.ID): vpc, subnetKey(sn.ID): sn, sgKey(sg.ID): sg} {
		if _, err := s.client.Txn(ctx).Then(putJSON(k, v)).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	s.client.Put(ctx, metaPrefix+"default-network", vpc.ID)
	n, err := s.EnsureDefaultNetwork(ctx, testZones)
	if err != nil {
		t.Fatal(err)
	}
	n, _ = s.Network(ctx)
	if len(n.Subnets) != 1 || !n.Subnets[0].DefaultForAz {
		t.Fatalf("default subnet not marked: %+v", n.Subnets)
	}
	if err := s.DeleteVPC(ctx, vpc.ID); !errors.Is(err, ErrInUse) {
		t.Fatalf("DeleteVPC: %v", err)
	}
	if err := s.CreateSecurityGroup(ctx, SecurityGroup{ID: "sg-new", VpcID: vpc.ID, Name: "web"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate name after upgrade: %v", err)
	}
}

func TestNetworkWrites(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	vpc, subnets := newVPC(t, s, "10.0.0.0/16", "10.0.0.0/24", "10.0.1.0/24")
	for _, c := range []struct {
		cidr string
		want error
	}{
		{"10.0.0.0/16", ErrOverlap},
		{"10.0.0.128/25", ErrOverlap},
		{"10.0.0.0/23", ErrOverlap},
		{"10.1.0.0/24", ErrOutOfRange},
		{"10.0.0.0/15", ErrOutOfRange},
		{"10.0.2.0/24", nil},
	} {
		err := s.CreateSubnet(ctx, Subnet{ID: NewResourceID("subnet"), VpcID: vpc.ID, CidrBlock: c.cidr, AvailabilityZone: testZones[0]})
		if !errors.Is(err, c.want) {
			t.Errorf("CreateSubnet %s: %v, want %v", c.cidr, err, c.want)
		}
	}
	// Subnets of other VPCs may overlap.
	newVPC(t, s, "10.0.0.0/16", "10.0.0.0/24")
	if err := s.CreateSubnet(ctx, Subnet{ID: NewResourceID("subnet"), VpcID: "vpc-nope", CidrBlock: "10.0.0.0/24"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("subnet in a missing VPC: %v", err)
	}

	web := SecurityGroup{ID: NewResourceID("sg"), VpcID: vpc.ID, Name: "web", Description: "d"}
	if err := s.CreateSecurityGroup(ctx, web); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSecurityGroup(ctx, SecurityGroup{ID: NewResourceID("sg"), VpcID: vpc.ID, Name: "web"}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate group name: %v", err)
	}
	if err := s.CreateSecurityGroup(ctx, SecurityGroup{ID: NewResourceID("sg"), VpcID: "vpc-nope", Name: "web"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("group in a missing VPC: %v", err)
	}

	n, _ := s.FullNetwork(ctx)
	if len(n.Subnets) != 4 || len(n.SecurityGroups) != 3 { // two default groups and web
		t.Fatalf("inventory: %d subnets, %d groups", len(n.Subnets), len(n.SecurityGroups))
	}

	// Tags: all or nothing.
	err := s.ChangeTags(ctx, []string{vpc.ID, subnets[0].ID, web.ID}, func(id string, tags map[string]string) error {
		tags["team"] = "a"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.ChangeTags(ctx, []string{vpc.ID, "subnet-nope"}, func(string, map[string]string) error { return nil })
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.ID != "subnet-nope" || !errors.Is(err, ErrNotFound) {
		t.Fatalf("tags on a missing subnet: %v", err)
	}
	n, _ = s.Network(ctx)
	v, _ := n.VPC(vpc.ID)
	sn, _ := n.Subnet(subnets[0].ID)
	g, _ := n.SecurityGroup(web.ID)
	if v.Tags["team"] != "a" || sn.Tags["team"] != "a" || g.Tags["team"] != "a" || sn.CidrBlock != subnets[0].CidrBlock {
		t.Fatalf("tags: %+v %+v %+v", v, sn, g)
	}
	s.ChangeTags(ctx, []string{vpc.ID}, func(_ string, tags map[string]string) error { delete(tags, "team"); return nil })
	n, _ = s.Network(ctx)
	if v, _ := n.VPC(vpc.ID); v.Tags != nil {
		t.Fatalf("tag not deleted: %+v", v)
	}

	// Deletes: a VPC only when empty, then with its default group.
	if err := s.DeleteVPC(ctx, vpc.ID); !errors.Is(err, ErrInUse) {
		t.Fatalf("DeleteVPC with subnets: %v", err)
	}
	n, _ = s.Network(ctx)
	for _, sn := range n.Subnets {
		if sn.VpcID == vpc.ID {
			if err := s.DeleteSubnet(ctx, sn.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.DeleteSubnet(ctx, subnets[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteSubnet: %v", err)
	}
	if err := s.DeleteVPC(ctx, vpc.ID); !errors.Is(err, ErrInUse) {
		t.Fatalf("DeleteVPC with a group: %v", err)
	}
	if err := s.DeleteSecurityGroup(ctx, web.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteVPC(ctx, vpc.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteVPC(ctx, vpc.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteVPC: %v", err)
	}
	n, _ = s.FullNetwork(ctx)
	for _, g := range n.SecurityGroups {
		if g.VpcID == vpc.ID {
			t.Fatalf("group left behind: %+v", g)
		}
	}
	resp, _ := s.client.Get(ctx, sgNamesPrefix+vpc.ID+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if resp.Count != 0 {
		t.Fatal("name keys left behind")
	}
}

func TestClusterHoldsItsNetwork(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	vpc, subnets := newVPC(t, s, "10.0.0.0/16", "10.0.0.0/28", "10.0.1.0/28")
	web := SecurityGroup{ID: NewResourceID("sg"), VpcID: vpc.ID, Name: "web"}
	if err := s.CreateSecurityGroup(ctx, web); err != nil {
		t.Fatal(err)
	}
	ids := []string{subnets[0].ID, subnets[1].ID}
	rec := testCluster("one", ids, []string{web.ID})
	rec.Cluster.ResourcesVpcConfig.VpcID = vpc.ID
	if _, _, err := s.CreateCluster(ctx, rec, "", 100); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSubnet(ctx, ids[0]); !errors.Is(err, ErrInUse) {
		t.Fatalf("DeleteSubnet in use: %v", err)
	}
	if err := s.DeleteSecurityGroup(ctx, web.ID); !errors.Is(err, ErrInUse) {
		t.Fatalf("DeleteSecurityGroup in use: %v", err)
	}
	clusterSG := rec.Cluster.ResourcesVpcConfig.ClusterSecurityGroupID
	if err := s.DeleteSecurityGroup(ctx, clusterSG); !errors.Is(err, ErrInUse) {
		t.Fatalf("DeleteSecurityGroup of the cluster's group: %v", err)
	}
	n, _ := s.FullNetwork(ctx)
	g, ok := n.SecurityGroup(clusterSG)
	if !ok || g.Name != "eks-cluster-sg-one-01234567" || g.VpcID != vpc.ID ||
		g.Tags["aws:eks:cluster-name"] != "one" || g.Tags["kubernetes.io/cluster/one"] != "owned" {
		t.Fatalf("cluster security group: %+v %v", g, ok)
	}
	if sn, _ := n.Subnet(ids[0]); sn.Used != 1 || sn.Available() != 10 {
		t.Fatalf("usage: %+v", sn)
	}
	if plain, _ := s.Network(ctx); len(plain.SecurityGroups) != 2 {
		t.Fatalf("Network lists the cluster's group: %+v", plain.SecurityGroups)
	}
	// Tags on the cluster's group.
	if err := s.ChangeTags(ctx, []string{clusterSG}, func(_ string, tags map[string]string) error { tags["x"] = "y"; return nil }); err != nil {
		t.Fatal(err)
	}
	// A second cluster may use the first one's group.
	two := testCluster("two", ids, []string{clusterSG})
	if _, _, err := s.CreateCluster(ctx, two, "", 100); err != nil {
		t.Fatal(err)
	}
	var ne *ClusterNetworkError
	if _, _, err := s.CreateCluster(ctx, testCluster("three", ids, []string{"sg-nope"}), "", 100); !errors.As(err, &ne) || !ne.Missing || ne.ID != "sg-nope" {
		t.Fatalf("missing group: %v", err)
	}

	for _, name := range []string{"one", "two"} {
		if err := s.RemoveCluster(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := s.ClusterSecurityGroup(ctx, clusterSG); ok {
		t.Fatal("the cluster's group outlived it")
	}
	if err := s.DeleteSecurityGroup(ctx, web.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := s.DeleteSubnet(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	resp, _ := s.client.Get(ctx, refsPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if resp.Count != 0 {
		t.Fatalf("%d references left", resp.Count)
	}
}

// A /28 has 16 addresses, 5 reserved: clusters fit while 6 are free.
func TestSubnetFreeAddresses(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	_, subnets := newVPC(t, s, "10.0.0.0/16", "10.0.0.0/28", "10.0.1.0/24")
	ids := []string{subnets[0].ID, subnets[1].ID}
	for i := 0; i < 6; i++ {
		if _, _, err := s.CreateCluster(ctx, testCluster(fmt.Sprint("c", i), ids, nil), "", 100); err != nil {
			t.Fatalf("cluster %d: %v", i, err)
		}
	}
	var ne *ClusterNetworkError
	if _, _, err := s.CreateCluster(ctx, testCluster("full", ids, nil), "", 100); !errors.As(err, &ne) || ne.ID != ids[0] || ne.Free != 5 || ne.Missing {
		t.Fatalf("full subnet: %v", err)
	}
	n, _ := s.Network(ctx)
	if sn, _ := n.Subnet(ids[0]); sn.Available() != 5 {
		t.Fatalf("available: %d", sn.Available())
	}
}

// DeleteSubnet racing CreateCluster: exactly one wins, and the loser says so.
func TestConcurrentDeleteSubnetAndCreateCluster(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	_, keep := newVPC(t, s, "10.0.0.0/16", "10.0.0.0/24")
	deleted, created := 0, 0
	for i := 0; i < 20; i++ {
		sn := Subnet{ID: NewResourceID("subnet"), VpcID: keep[0].VpcID, CidrBlock: fmt.Sprintf("10.0.%d.0/24", i+1), AvailabilityZone: testZones[1]}
		if err := s.CreateSubnet(ctx, sn); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprint("race", i)
		var delErr, createErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); delErr = s.DeleteSubnet(ctx, sn.ID) }()
		go func() {
			defer wg.Done()
			_, _, createErr = s.CreateCluster(ctx, testCluster(name, []string{keep[0].ID, sn.ID}, nil), "", 100)
		}()
		wg.Wait()
		var ne *ClusterNetworkError
		switch {
		case delErr == nil && errors.As(createErr, &ne) && ne.Missing && ne.ID == sn.ID:
			deleted++
		case createErr == nil && errors.Is(delErr, ErrInUse):
			created++
			if err := s.RemoveCluster(ctx, name); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("round %d: delete %v, create %v", i, delErr, createErr)
		}
		n, _ := s.Network(ctx)
		_, exists := n.Subnet(sn.ID)
		if _, err := s.GetCluster(ctx, name); err == nil && !exists {
			t.Fatalf("round %d: a cluster in a deleted subnet", i)
		}
	}
	t.Logf("%d deletes won, %d creates won", deleted, created)
}

// Concurrent overlapping CreateSubnets: exactly one is stored.
func TestConcurrentCreateSubnetNoOverlap(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	vpc, _ := newVPC(t, s, "10.0.0.0/16")
	// Every one holds 10.0.0.1, so any two overlap.
	cidrs := []string{"10.0.0.0/24", "10.0.0.0/25", "10.0.0.0/23", "10.0.0.0/26", "10.0.0.0/22", "10.0.0.0/28"}
	errs := make([]error, len(cidrs))
	var wg sync.WaitGroup
	for i, c := range cidrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateSubnet(ctx, Subnet{ID: NewResourceID("subnet"), VpcID: vpc.ID, CidrBlock: c, AvailabilityZone: testZones[0]})
		}()
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrOverlap):
			t.Errorf("%s: %v", cidrs[i], err)
		}
	}
	n, _ := s.Network(ctx)
	if ok != 1 || len(n.Subnets) != 1 {
		t.Fatalf("%d creates succeeded, %d subnets stored", ok, len(n.Subnets))
	}
}
