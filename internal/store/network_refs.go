package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Reference keys make the inventory's invariants hold under concurrent
// calls. Whatever depends on a resource writes a key under the resource's
// prefix in the transaction that creates the dependant, and removes it in the
// transaction that removes the dependant:
//
//	/kplane/network-refs/VPC_ID/subnet/SUBNET_ID      a subnet of the VPC
//	/kplane/network-refs/VPC_ID/sg/GROUP_ID           a (non-default) security group of the VPC
//	/kplane/network-refs/SUBNET_ID/cluster/NAME       a cluster placed in the subnet
//	/kplane/network-refs/GROUP_ID/cluster/NAME        a cluster using the security group
//
// A delete commits only if its resource's prefix is empty: etcd compares a
// range key by key, and an empty range as one absent key, so
// CreateRevision(prefix) = 0 WithPrefix holds exactly when no key is there
// (TestRangeCompareOnEmptyPrefix checks this). A create that depends on a
// resource requires the resource's key in the same transaction. Either the
// delete or the create commits first, and the other then fails its compare.
//
// A subnet's cluster references also count the addresses clusters take in it.
const (
	refsPrefix = prefix + "network-refs/"
	// sgNamesPrefix indexes security groups by VPC and name, which EC2 keeps unique.
	sgNamesPrefix = prefix + "network-names/"
)

// Kinds of dependants.
const (
	refSubnet  = "subnet"
	refGroup   = "sg"
	refCluster = "cluster"
)

func refPrefix(target string) string { return refsPrefix + target + "/" }
func refKey(target, kind, dependant string) string {
	return refPrefix(target) + kind + "/" + dependant
}
func refOp(target, kind, dependant string) clientv3.Op {
	return clientv3.OpPut(refKey(target, kind, dependant), "")
}

// parseRefKey splits a reference key into its parts.
func parseRefKey(k string) (target, kind, dependant string, ok bool) {
	rest, ok := strings.CutPrefix(k, refsPrefix)
	if !ok {
		return "", "", "", false
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) != 3 {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

func sgNameKey(vpc, name string) string { return sgNamesPrefix + vpc + "/" + name }

// unused is the compare that holds only while nothing references target.
func unused(target string) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(refPrefix(target)), "=", 0).WithPrefix()
}

// ClusterNetworkError is why CreateCluster could not take the network it
// names: a subnet or security group that is gone, or a subnet without the
// free addresses a cluster needs.
type ClusterNetworkError struct {
	ID      string // a subnet or security group id
	Missing bool
	Free    int // the subnet's free addresses, when not Missing
}

func (e *ClusterNetworkError) Error() string {
	if e.Missing {
		return fmt.Sprintf("store: %s does not exist", e.ID)
	}
	return fmt.Sprintf("store: subnet %s has %d free addresses, fewer than %d", e.ID, e.Free, MinFreeAddresses)
}

// claimNetwork reads the subnets and security groups rec names and returns
// the compares and writes that claim them in the cluster's transaction: each
// still exists, no other cluster took addresses in the subnets since this
// read (so the free-address check stays true), and a reference per resource
// keeps it from being deleted while the cluster exists.
func (s *Store) claimNetwork(ctx context.Context, rec *ClusterRecord) ([]clientv3.Cmp, []clientv3.Op, error) {
	vc := rec.Cluster.ResourcesVpcConfig
	if vc == nil {
		return nil, nil, nil
	}
	name := rec.Cluster.Name
	var reads []clientv3.Op
	for _, id := range vc.SubnetIDs {
		reads = append(reads, clientv3.OpGet(subnetKey(id)),
			clientv3.OpGet(refPrefix(id), clientv3.WithPrefix(), clientv3.WithKeysOnly()))
	}
	for _, id := range vc.SecurityGroupIDs {
		reads = append(reads, clientv3.OpGet(sgKey(id), clientv3.WithCountOnly()),
			clientv3.OpGet(clusterSGKey(id), clientv3.WithCountOnly()))
	}
	if len(reads) == 0 {
		return nil, nil, nil
	}
	resp, err := s.Client.Txn(ctx).Then(reads...).Commit()
	if err != nil {
		return nil, nil, err
	}
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	r := resp.Responses
	for i, id := range vc.SubnetIDs {
		kvs := r[2*i].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return nil, nil, &ClusterNetworkError{ID: id, Missing: true}
		}
		var sn Subnet
		if err := json.Unmarshal(kvs[0].Value, &sn); err != nil {
			return nil, nil, fmt.Errorf("store: %s: %w", kvs[0].Key, err)
		}
		for _, kv := range r[2*i+1].GetResponseRange().Kvs {
			if _, kind, who, ok := parseRefKey(string(kv.Key)); ok && !(kind == refCluster && who == name) {
				n, _ := addressesOf(kind) // other clusters' interfaces and instances
				sn.Used += n
			}
		}
		if free := sn.Available(); free < MinFreeAddresses {
			return nil, nil, &ClusterNetworkError{ID: id, Free: free}
		}
		cmps = append(cmps,
			clientv3.Compare(clientv3.CreateRevision(subnetKey(id)), ">", 0),
			clientv3.Compare(clientv3.ModRevision(refPrefix(id)), "<", resp.Header.Revision+1).WithPrefix())
		ops = append(ops, refOp(id, refCluster, name))
	}
	base := 2 * len(vc.SubnetIDs)
	for i, id := range vc.SecurityGroupIDs {
		// A group is the users' or another cluster's (EKS lets clusters share those).
		key := sgKey(id)
		if r[base+2*i].GetResponseRange().Count == 0 {
			if r[base+2*i+1].GetResponseRange().Count == 0 {
				return nil, nil, &ClusterNetworkError{ID: id, Missing: true}
			}
			key = clusterSGKey(id)
		}
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(key), ">", 0))
		ops = append(ops, refOp(id, refCluster, name))
	}
	return cmps, ops, nil
}

// releaseOps delete the references rec's cluster holds.
func releaseOps(rec *ClusterRecord) []clientv3.Op {
	vc := rec.Cluster.ResourcesVpcConfig
	if vc == nil {
		return nil
	}
	var ops []clientv3.Op
	for _, id := range append(append([]string{}, vc.SubnetIDs...), vc.SecurityGroupIDs...) {
		ops = append(ops, clientv3.OpDelete(refKey(id, refCluster, rec.Cluster.Name)))
	}
	return ops
}

// ensureNetworkIndex writes the reference and name keys an inventory from
// before they existed lacks, and marks the default VPC's subnets
// DefaultForAz, so a data directory from an older kplane keeps its
// invariants. It runs at start; on an up-to-date inventory it writes nothing.
func (s *Store) ensureNetworkIndex(ctx context.Context, n *Network) error {
	resp, err := s.Client.Txn(ctx).Then(
		clientv3.OpGet(refsPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly()),
		clientv3.OpGet(sgNamesPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())).Commit()
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, r := range resp.Responses {
		for _, kv := range r.GetResponseRange().Kvs {
			have[string(kv.Key)] = true
		}
	}
	var ops []clientv3.Op
	want := func(key, value string) {
		if !have[key] {
			have[key] = true
			ops = append(ops, clientv3.OpPut(key, value))
		}
	}
	exists := map[string]bool{}
	marked := false
	for _, sn := range n.Subnets {
		exists[sn.ID] = true
		want(refKey(sn.VpcID, refSubnet, sn.ID), "")
		marked = marked || sn.DefaultForAz
	}
	for _, g := range n.SecurityGroups {
		exists[g.ID] = true
		if g.Name != "default" {
			want(refKey(g.VpcID, refGroup, g.ID), "")
		}
		want(sgNameKey(g.VpcID, g.Name), g.ID)
	}
	for _, rec := range s.clusters.all() {
		if vc := rec.Cluster.ResourcesVpcConfig; vc != nil {
			for _, id := range append(append([]string{}, vc.SubnetIDs...), vc.SecurityGroupIDs...) {
				if exists[id] {
					want(refKey(id, refCluster, rec.Cluster.Name), "")
				}
			}
		}
	}
	if !marked {
		ops = append(ops, markDefaultSubnets(n)...)
	}
	// etcd caps the operations of one transaction (128 by default).
	for len(ops) > 0 {
		k := min(len(ops), 100)
		if _, err := s.Client.Txn(ctx).Then(ops[:k]...).Commit(); err != nil {
			return err
		}
		ops = ops[k:]
	}
	return nil
}

// markDefaultSubnets flags the default VPC's subnets that have the CIDR
// EnsureDefaultNetwork gave the first subnet of each zone.
func markDefaultSubnets(n *Network) []clientv3.Op {
	var ops []clientv3.Op
	for _, v := range n.VPCs {
		if !v.IsDefault {
			continue
		}
		for i := 0; i < 16; i++ {
			for _, sn := range n.Subnets {
				if sn.VpcID == v.ID && sn.CidrBlock == defaultSubnetCIDR(i) {
					sn.DefaultForAz = true
					ops = append(ops, putJSON(subnetKey(sn.ID), sn))
				}
			}
		}
	}
	return ops
}
