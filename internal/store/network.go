package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The network inventory: the VPCs, subnets and security groups that clusters
// name. kplane creates a default VPC at first start; the EC2 API
// (internal/ec2) adds and removes more. network_write.go keeps the
// invariants (no overlapping subnets, nothing in use deleted) and
// network_refs.go says how.

type VPC struct {
	ID              string            `json:"vpcId"`
	CidrBlock       string            `json:"cidrBlock"`
	IsDefault       bool              `json:"isDefault"`
	InstanceTenancy string            `json:"instanceTenancy,omitempty"` // "" means default
	Tags            map[string]string `json:"tags,omitempty"`
}

type Subnet struct {
	ID               string `json:"subnetId"`
	VpcID            string `json:"vpcId"`
	AvailabilityZone string `json:"availabilityZone"`
	CidrBlock        string `json:"cidrBlock"`
	// DefaultForAz marks the default VPC's subnet of its zone.
	DefaultForAz bool              `json:"defaultForAz,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
	// Used is how many of its addresses clusters take (read, not stored).
	Used int `json:"-"`
}

// Addresses in a subnet: AWS reserves the first four and the last of every
// subnet. A cluster takes AddressesPerCluster in each subnet it names: EKS
// places its cross-account network interface there. EKS refuses to create a
// cluster in a subnet with fewer than MinFreeAddresses free.
const (
	ReservedAddresses   = 5
	AddressesPerCluster = 1
	MinFreeAddresses    = 6
)

// Available is the number of addresses of the subnet nothing uses yet.
func (s Subnet) Available() int {
	p, err := netip.ParsePrefix(s.CidrBlock)
	if err != nil || !p.Addr().Is4() || p.Bits() < 1 {
		return 0
	}
	return max((1<<(32-p.Bits()))-ReservedAddresses-s.Used, 0)
}

type SecurityGroup struct {
	ID          string `json:"groupId"`
	VpcID       string `json:"vpcId"`
	Name        string `json:"groupName"`
	Description string `json:"description"`
	// Cluster is set on the security group EKS creates for a cluster.
	Cluster string            `json:"cluster,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
	// Rules are its ingress and egress rules (network_rules.go).
	Rules []SecurityGroupRule `json:"rules,omitempty"`
}

// Network is a snapshot of the whole inventory.
type Network struct {
	VPCs           []VPC
	Subnets        []Subnet
	SecurityGroups []SecurityGroup
	// Revision is etcd's revision the snapshot was read at.
	Revision int64
}

func vpcKey(id string) string    { return networkPrefix + "vpcs/" + id }
func subnetKey(id string) string { return networkPrefix + "subnets/" + id }
func sgKey(id string) string     { return networkPrefix + "security-groups/" + id }

// clusterSGKey keeps the security groups EKS makes per cluster apart from the
// inventory that CreateCluster reads, so a create does not read one record
// per existing cluster.
func clusterSGKey(id string) string { return clusterSGPrefix + id }

const clusterSGPrefix = prefix + "cluster-security-groups/"

// NewResourceID returns an EC2-style id such as vpc-0a1b2c3d4e5f60718.
func NewResourceID(kind string) string {
	b := make([]byte, 9)
	rand.Read(b)
	return kind + "-" + hex.EncodeToString(b)[:17]
}

// EnsureDefaultNetwork creates, once, a default VPC (172.31.0.0/16, as on
// AWS) with one subnet in each of zones and a default security group, and
// brings the inventory's reference keys up to date (see network_refs.go).
func (s *Store) EnsureDefaultNetwork(ctx context.Context, zones []string) (*Network, error) {
	n, err := s.Network(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range n.VPCs {
		if v.IsDefault {
			return n, s.ensureNetworkIndex(ctx, n)
		}
	}
	vpc := VPC{ID: NewResourceID("vpc"), CidrBlock: "172.31.0.0/16", IsDefault: true}
	ops := []clientv3.Op{putJSON(vpcKey(vpc.ID), vpc)}
	for i, z := range zones {
		sn := Subnet{ID: NewResourceID("subnet"), VpcID: vpc.ID, AvailabilityZone: z, CidrBlock: defaultSubnetCIDR(i), DefaultForAz: true}
		ops = append(ops, putJSON(subnetKey(sn.ID), sn), refOp(vpc.ID, refSubnet, sn.ID))
	}
	sg := SecurityGroup{ID: NewResourceID("sg"), VpcID: vpc.ID, Name: "default", Description: "default VPC security group"}
	sg.Rules = defaultGroupRules(sg.ID)
	ops = append(ops, putJSON(sgKey(sg.ID), sg), clientv3.OpPut(sgNameKey(vpc.ID, sg.Name), sg.ID))
	// Only the first kplane to get here writes: the marker key must not
	// exist. Either we wrote it or someone else did; read what is there.
	marker := metaPrefix + "default-network"
	if _, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(marker), "=", 0)).
		Then(append(ops, clientv3.OpPut(marker, vpc.ID))...).Commit(); err != nil {
		return nil, err
	}
	// Also when the marker was there: the default VPC was deleted (as AWS
	// allows), and the rest of the inventory still needs its keys.
	if n, err = s.Network(ctx); err != nil {
		return nil, err
	}
	return n, s.ensureNetworkIndex(ctx, n)
}

// defaultSubnetCIDR is the default VPC's subnet of the i-th zone, as on AWS:
// 172.31.0.0/20, 172.31.16.0/20, ...
func defaultSubnetCIDR(i int) string {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 31, byte(16 * i), 0}), 20).String()
}

// Network reads the inventory CreateCluster needs, sorted by zone, with each
// subnet's Used filled in: VPCs, subnets and the users' security groups. The
// security groups EKS made for clusters are in FullNetwork.
func (s *Store) Network(ctx context.Context) (*Network, error) {
	return s.readNetwork(ctx, false)
}

// FullNetwork is Network plus the security group of every cluster, for
// EC2's Describe calls.
func (s *Store) FullNetwork(ctx context.Context) (*Network, error) {
	return s.readNetwork(ctx, true)
}

// readNetwork reads the inventory and the clusters' claims on subnets in one
// transaction, so usage and inventory are of the same revision.
func (s *Store) readNetwork(ctx context.Context, clusterSGs bool) (*Network, error) {
	ops := []clientv3.Op{
		clientv3.OpGet(networkPrefix, clientv3.WithPrefix()),
		clientv3.OpGet(refsPrefix+"subnet-", clientv3.WithPrefix(), clientv3.WithKeysOnly()),
	}
	if clusterSGs {
		ops = append(ops, clientv3.OpGet(clusterSGPrefix, clientv3.WithPrefix()))
	}
	resp, err := s.client.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, err
	}
	n := &Network{Revision: resp.Header.Revision}
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		k := string(kv.Key)
		var err error
		switch {
		case strings.HasPrefix(k, vpcKey("")):
			var v VPC
			err = json.Unmarshal(kv.Value, &v)
			n.VPCs = append(n.VPCs, v)
		case strings.HasPrefix(k, subnetKey("")):
			var v Subnet
			err = json.Unmarshal(kv.Value, &v)
			n.Subnets = append(n.Subnets, v)
		case strings.HasPrefix(k, sgKey("")):
			var v SecurityGroup
			err = json.Unmarshal(kv.Value, &v)
			n.SecurityGroups = append(n.SecurityGroups, v)
		}
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", k, err)
		}
	}
	if clusterSGs {
		for _, kv := range resp.Responses[2].GetResponseRange().Kvs {
			var g SecurityGroup
			if err := json.Unmarshal(kv.Value, &g); err != nil {
				return nil, fmt.Errorf("store: %s: %w", kv.Key, err)
			}
			n.SecurityGroups = append(n.SecurityGroups, g)
		}
	}
	used := map[string]int{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		if target, kind, _, ok := parseRefKey(string(kv.Key)); ok {
			n, _ := addressesOf(kind) // clusters' interfaces and instances
			used[target] += n
		}
	}
	for i := range n.Subnets {
		n.Subnets[i].Used = used[n.Subnets[i].ID]
	}
	sort.SliceStable(n.Subnets, func(i, j int) bool { return n.Subnets[i].AvailabilityZone < n.Subnets[j].AvailabilityZone })
	return n, nil
}

// ClusterSecurityGroup returns the security group EKS made for a cluster
// with id, if there is one.
func (s *Store) ClusterSecurityGroup(ctx context.Context, id string) (SecurityGroup, bool, error) {
	resp, err := s.client.Get(ctx, clusterSGKey(id))
	if err != nil || len(resp.Kvs) == 0 {
		return SecurityGroup{}, false, err
	}
	var g SecurityGroup
	if err := json.Unmarshal(resp.Kvs[0].Value, &g); err != nil {
		return SecurityGroup{}, false, fmt.Errorf("store: %s: %w", resp.Kvs[0].Key, err)
	}
	return g, true, nil
}

// Release gives back the addresses rec's cluster takes in n's subnets, so a
// retried CreateCluster of that cluster is not refused for its own addresses.
func (n *Network) Release(rec *ClusterRecord) {
	if rec == nil || rec.Cluster.ResourcesVpcConfig == nil {
		return
	}
	for _, id := range rec.Cluster.ResourcesVpcConfig.SubnetIDs {
		for i := range n.Subnets {
			if n.Subnets[i].ID == id {
				n.Subnets[i].Used = max(n.Subnets[i].Used-AddressesPerCluster, 0)
			}
		}
	}
}

// VPC returns the VPC with id, if any.
func (n *Network) VPC(id string) (VPC, bool) {
	for _, v := range n.VPCs {
		if v.ID == id {
			return v, true
		}
	}
	return VPC{}, false
}

// Subnet returns the subnet with id, if any.
func (n *Network) Subnet(id string) (Subnet, bool) {
	for _, s := range n.Subnets {
		if s.ID == id {
			return s, true
		}
	}
	return Subnet{}, false
}

// SecurityGroup returns the security group with id, if any.
func (n *Network) SecurityGroup(id string) (SecurityGroup, bool) {
	for _, g := range n.SecurityGroups {
		if g.ID == id {
			return g, true
		}
	}
	return SecurityGroup{}, false
}

func putJSON(key string, v any) clientv3.Op {
	b, _ := json.Marshal(v)
	return clientv3.OpPut(key, string(b))
}

// RecordCredential keeps an access key's metadata (never its secret, which
// stays in a 0600 file) so an operator can see which keys exist.
func (s *Store) RecordCredential(ctx context.Context, accessKeyID, arn string) error {
	_, err := s.client.Put(ctx, metaPrefix+"credentials/"+accessKeyID, fmt.Sprintf(`{"arn":%q}`, arn))
	return err
}
