package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The network inventory: the VPCs, subnets and security groups that clusters
// name. kplane creates a default VPC at first start; an EC2 API may add more.

type VPC struct {
	ID        string            `json:"vpcId"`
	CidrBlock string            `json:"cidrBlock"`
	IsDefault bool              `json:"isDefault"`
	Tags      map[string]string `json:"tags,omitempty"`
}

type Subnet struct {
	ID               string            `json:"subnetId"`
	VpcID            string            `json:"vpcId"`
	AvailabilityZone string            `json:"availabilityZone"`
	CidrBlock        string            `json:"cidrBlock"`
	Tags             map[string]string `json:"tags,omitempty"`
}

type SecurityGroup struct {
	ID          string `json:"groupId"`
	VpcID       string `json:"vpcId"`
	Name        string `json:"groupName"`
	Description string `json:"description"`
	// Cluster is set on the security group EKS creates for a cluster.
	Cluster string            `json:"cluster,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
}

// Network is a snapshot of the whole inventory.
type Network struct {
	VPCs           []VPC
	Subnets        []Subnet
	SecurityGroups []SecurityGroup
}

func vpcKey(id string) string    { return networkPrefix + "vpcs/" + id }
func subnetKey(id string) string { return networkPrefix + "subnets/" + id }
func sgKey(id string) string     { return networkPrefix + "security-groups/" + id }

// clusterSGKey keeps the security groups EKS makes per cluster apart from the
// inventory that CreateCluster reads, so a create does not read one record
// per existing cluster.
func clusterSGKey(id string) string { return prefix + "cluster-security-groups/" + id }

// NewResourceID returns an EC2-style id such as vpc-0a1b2c3d4e5f60718.
func NewResourceID(kind string) string {
	b := make([]byte, 9)
	rand.Read(b)
	return kind + "-" + hex.EncodeToString(b)[:17]
}

// EnsureDefaultNetwork creates, once, a default VPC (172.31.0.0/16, as on
// AWS) with one subnet in each of zones and a default security group.
func (s *Store) EnsureDefaultNetwork(ctx context.Context, zones []string) (*Network, error) {
	n, err := s.Network(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range n.VPCs {
		if v.IsDefault {
			return n, nil
		}
	}
	vpc := VPC{ID: NewResourceID("vpc"), CidrBlock: "172.31.0.0/16", IsDefault: true}
	ops := []clientv3.Op{putJSON(vpcKey(vpc.ID), vpc)}
	base := netip.MustParsePrefix(vpc.CidrBlock).Addr().As4()
	for i, z := range zones {
		cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1], byte(16 * i), 0}), 20)
		sn := Subnet{ID: NewResourceID("subnet"), VpcID: vpc.ID, AvailabilityZone: z, CidrBlock: cidr.String()}
		ops = append(ops, putJSON(subnetKey(sn.ID), sn))
	}
	sg := SecurityGroup{ID: NewResourceID("sg"), VpcID: vpc.ID, Name: "default", Description: "default VPC security group"}
	ops = append(ops, putJSON(sgKey(sg.ID), sg))
	// Only the first kplane to get here writes: the marker key must not exist.
	marker := metaPrefix + "default-network"
	txn, err := s.Client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(marker), "=", 0)).
		Then(append(ops, clientv3.OpPut(marker, vpc.ID))...).Commit()
	if err != nil {
		return nil, err
	}
	_ = txn // either we wrote it or someone else did; read what is there
	return s.Network(ctx)
}

// Network reads the whole inventory, sorted by id.
func (s *Store) Network(ctx context.Context) (*Network, error) {
	resp, err := s.Client.Get(ctx, networkPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	n := &Network{}
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		var err error
		switch {
		case len(k) > len(vpcKey("")) && k[:len(vpcKey(""))] == vpcKey(""):
			var v VPC
			err = json.Unmarshal(kv.Value, &v)
			n.VPCs = append(n.VPCs, v)
		case len(k) > len(subnetKey("")) && k[:len(subnetKey(""))] == subnetKey(""):
			var v Subnet
			err = json.Unmarshal(kv.Value, &v)
			n.Subnets = append(n.Subnets, v)
		case len(k) > len(sgKey("")) && k[:len(sgKey(""))] == sgKey(""):
			var v SecurityGroup
			err = json.Unmarshal(kv.Value, &v)
			n.SecurityGroups = append(n.SecurityGroups, v)
		}
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", k, err)
		}
	}
	sort.Slice(n.Subnets, func(i, j int) bool { return n.Subnets[i].AvailabilityZone < n.Subnets[j].AvailabilityZone })
	return n, nil
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
	_, err := s.Client.Put(ctx, metaPrefix+"credentials/"+accessKeyID, fmt.Sprintf(`{"arn":%q}`, arn))
	return err
}
