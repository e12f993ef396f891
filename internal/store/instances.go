package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// EC2 instances in kplane's inventory: each node of a managed nodegroup is
// one. An instance takes a private address of its subnet in the transaction
// that creates it:
//
//	/kplane/instances/CLUSTER/NODEGROUP/ID       Instance
//	/kplane/instance-ids/ID                      "CLUSTER/NODEGROUP" (lookup by id)
//	/kplane/network-ips/SUBNET/IP                the instance id holding IP
//	/kplane/network-refs/SUBNET/instance/ID      the instance counts against the subnet
//
// The reference makes the subnet's free-address count (and DeleteSubnet's
// DependencyViolation) see the instance, exactly as a cluster's does.
const (
	instancesPrefix   = prefix + "instances/"
	instanceIDsPrefix = prefix + "instance-ids/"
	ipsPrefix         = prefix + "network-ips/"
	refInstance       = "instance"
	// AddressesPerInstance is what an instance takes of its subnet: its primary address.
	AddressesPerInstance = 1
)

func instancesOfKey(cluster, nodegroup string) string {
	return instancesPrefix + cluster + "/" + nodegroup + "/"
}
func instanceKey(cluster, nodegroup, id string) string {
	return instancesOfKey(cluster, nodegroup) + id
}
func instanceIDKey(id string) string { return instanceIDsPrefix + id }
func ipKey(subnet, ip string) string { return ipsPrefix + subnet + "/" + ip }
func ipsOf(subnet string) string     { return ipsPrefix + subnet + "/" }
func addressesOf(kind string) (int, bool) {
	switch kind {
	case refCluster:
		return AddressesPerCluster, true
	case refInstance:
		return AddressesPerInstance, true
	}
	return 0, false
}

// Instance states (EC2's InstanceStateName).
const (
	InstancePending    = "pending"
	InstanceRunning    = "running"
	InstanceTerminated = "terminated"
)

// Instance is one EC2 instance.
type Instance struct {
	ID               string            `json:"instanceId"`
	Cluster          string            `json:"cluster"`
	Nodegroup        string            `json:"nodegroup"`
	InstanceType     string            `json:"instanceType"`
	ImageID          string            `json:"imageId"`
	SubnetID         string            `json:"subnetId"`
	VpcID            string            `json:"vpcId"`
	AvailabilityZone string            `json:"availabilityZone"`
	PrivateIP        string            `json:"privateIpAddress,omitempty"`
	PrivateDNSName   string            `json:"privateDnsName,omitempty"`
	State            string            `json:"state"`
	StateReason      string            `json:"stateReason,omitempty"`
	LaunchTime       time.Time         `json:"launchTime"`
	TerminatedAt     time.Time         `json:"terminatedAt,omitzero"`
	Tags             map[string]string `json:"tags,omitempty"`
	// SecurityGroupIDs are the instance's security groups.
	SecurityGroupIDs []string `json:"securityGroupIds,omitempty"`
	// KubernetesVersion is the minor the instance's node runs ("1.36"), fixed
	// at launch: a version update replaces instances rather than changing
	// them. "" (instances launched before kplane recorded it) runs the
	// nodegroup's version.
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
}

// Live reports whether the instance holds its address (not terminated).
func (i *Instance) Live() bool { return i.State != InstanceTerminated }

// ErrNoFreeAddress is LaunchInstance's answer for a full subnet.
var ErrNoFreeAddress = errors.New("store: no free address in the subnet")

// LaunchInstance stores inst with the lowest free address of its subnet,
// named by dnsName, and returns it as stored. The transaction requires that
// no other cluster or instance claimed an address of the subnet since the
// addresses were counted, so concurrent launches never share an address or
// overfill the subnet. ErrNotFound when the subnet is gone,
// ErrNoFreeAddress when it is full.
func (s *Store) LaunchInstance(ctx context.Context, inst Instance, dnsName func(netip.Addr) string) (Instance, error) {
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		resp, err := s.client.Txn(ctx).Then(
			clientv3.OpGet(subnetKey(inst.SubnetID)),
			clientv3.OpGet(refPrefix(inst.SubnetID), clientv3.WithPrefix(), clientv3.WithKeysOnly()),
			clientv3.OpGet(ipsOf(inst.SubnetID), clientv3.WithPrefix(), clientv3.WithKeysOnly())).Commit()
		if err != nil {
			return Instance{}, err
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return Instance{}, ErrNotFound
		}
		var sn Subnet
		if err := json.Unmarshal(kvs[0].Value, &sn); err != nil {
			return Instance{}, fmt.Errorf("store: %s: %w", kvs[0].Key, err)
		}
		for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
			if _, kind, _, ok := parseRefKey(string(kv.Key)); ok {
				n, _ := addressesOf(kind)
				sn.Used += n
			}
		}
		if sn.Available() < AddressesPerInstance {
			return Instance{}, ErrNoFreeAddress
		}
		taken := map[string]bool{}
		for _, kv := range resp.Responses[2].GetResponseRange().Kvs {
			taken[strings.TrimPrefix(string(kv.Key), ipsOf(inst.SubnetID))] = true
		}
		ip, ok := firstFreeAddress(sn.CidrBlock, taken)
		if !ok {
			return Instance{}, ErrNoFreeAddress
		}
		inst.VpcID, inst.AvailabilityZone = sn.VpcID, sn.AvailabilityZone
		inst.PrivateIP, inst.PrivateDNSName = ip.String(), dnsName(ip)
		val, err := json.Marshal(inst)
		if err != nil {
			return Instance{}, err
		}
		txn, err := s.client.Txn(ctx).If(
			clientv3.Compare(clientv3.CreateRevision(subnetKey(inst.SubnetID)), ">", 0),
			clientv3.Compare(clientv3.ModRevision(refPrefix(inst.SubnetID)), "<", resp.Header.Revision+1).WithPrefix(),
			clientv3.Compare(clientv3.CreateRevision(ipKey(inst.SubnetID, inst.PrivateIP)), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(instanceIDKey(inst.ID)), "=", 0),
		).Then(
			clientv3.OpPut(instanceKey(inst.Cluster, inst.Nodegroup, inst.ID), string(val)),
			clientv3.OpPut(instanceIDKey(inst.ID), inst.Cluster+"/"+inst.Nodegroup),
			clientv3.OpPut(ipKey(inst.SubnetID, inst.PrivateIP), inst.ID),
			refOp(inst.SubnetID, refInstance, inst.ID),
		).Commit()
		if err != nil {
			return Instance{}, err
		}
		if txn.Succeeded {
			return inst, nil
		}
		// Another claim on the subnet came in meanwhile: count again.
	}
	return Instance{}, ErrConflict
}

// firstFreeAddress is the lowest address of cidr that AWS does not reserve
// (the first four and the last) and that taken does not hold.
func firstFreeAddress(cidr string, taken map[string]bool) (netip.Addr, bool) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return netip.Addr{}, false
	}
	p = p.Masked()
	b := p.Addr().As4()
	base := binary.BigEndian.Uint32(b[:])
	size := uint32(1) << (32 - p.Bits())
	for off := uint32(4); off+1 < size; off++ {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], base+off)
		ip := netip.AddrFrom4(a)
		if !taken[ip.String()] {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// TerminateInstance marks the instance terminated (with reason) and gives
// back its address, keeping the record so EC2 lists it as terminated.
func (s *Store) TerminateInstance(ctx context.Context, cluster, nodegroup, id, reason string) error {
	return s.changeInstance(ctx, cluster, nodegroup, id, func(inst *Instance) []clientv3.Op {
		if !inst.Live() {
			return nil
		}
		ops := []clientv3.Op{clientv3.OpDelete(ipKey(inst.SubnetID, inst.PrivateIP)),
			clientv3.OpDelete(refKey(inst.SubnetID, refInstance, inst.ID))}
		inst.State, inst.StateReason, inst.TerminatedAt = InstanceTerminated, reason, time.Now().UTC()
		return ops
	})
}

// SetInstanceState records a live instance's state (pending, running).
func (s *Store) SetInstanceState(ctx context.Context, cluster, nodegroup, id, state string) error {
	return s.changeInstance(ctx, cluster, nodegroup, id, func(inst *Instance) []clientv3.Op {
		if inst.Live() {
			inst.State = state
		}
		return nil
	})
}

// changeInstance rewrites an instance with mutate's change plus the ops it
// returns, unless it changed meanwhile (then it tries again).
func (s *Store) changeInstance(ctx context.Context, cluster, nodegroup, id string, mutate func(*Instance) []clientv3.Op) error {
	key := instanceKey(cluster, nodegroup, id)
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		resp, err := s.client.Get(ctx, key)
		if err != nil {
			return err
		}
		if len(resp.Kvs) == 0 {
			return ErrNotFound
		}
		var inst Instance
		if err := json.Unmarshal(resp.Kvs[0].Value, &inst); err != nil {
			return fmt.Errorf("store: %s: %w", key, err)
		}
		before := inst
		ops := mutate(&inst)
		if before.State == inst.State && len(ops) == 0 {
			return nil
		}
		val, _ := json.Marshal(inst)
		txn, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)).
			Then(append(ops, clientv3.OpPut(key, string(val)))...).Commit()
		if err != nil {
			return err
		}
		if txn.Succeeded {
			return nil
		}
	}
	return ErrConflict
}

// DeleteInstance removes an instance for good, with its address and reference.
func (s *Store) DeleteInstance(ctx context.Context, inst Instance) error {
	ops := []clientv3.Op{clientv3.OpDelete(instanceKey(inst.Cluster, inst.Nodegroup, inst.ID)),
		clientv3.OpDelete(instanceIDKey(inst.ID)),
		clientv3.OpDelete(refKey(inst.SubnetID, refInstance, inst.ID))}
	if inst.PrivateIP != "" {
		// Only if this instance still holds it.
		ops = append(ops, clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.Value(ipKey(inst.SubnetID, inst.PrivateIP)), "=", inst.ID)},
			[]clientv3.Op{clientv3.OpDelete(ipKey(inst.SubnetID, inst.PrivateIP))}, nil))
	}
	_, err := s.client.Txn(ctx).Then(ops...).Commit()
	return err
}

// NodegroupInstances returns a nodegroup's instances (terminated ones too),
// oldest first.
func (s *Store) NodegroupInstances(ctx context.Context, cluster, nodegroup string) ([]Instance, error) {
	return s.listInstances(ctx, instancesOfKey(cluster, nodegroup))
}

// Instances returns every instance, oldest first.
func (s *Store) Instances(ctx context.Context) ([]Instance, error) {
	return s.listInstances(ctx, instancesPrefix)
}

func (s *Store) listInstances(ctx context.Context, p string) ([]Instance, error) {
	resp, err := s.client.Get(ctx, p, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make([]Instance, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var inst Instance
		if err := json.Unmarshal(kv.Value, &inst); err != nil {
			return nil, fmt.Errorf("store: %s: %w", kv.Key, err)
		}
		out = append(out, inst)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].LaunchTime.Equal(out[j].LaunchTime) {
			return out[i].LaunchTime.Before(out[j].LaunchTime)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// GetInstance finds an instance by id, or ErrNotFound.
func (s *Store) GetInstance(ctx context.Context, id string) (*Instance, error) {
	resp, err := s.client.Get(ctx, instanceIDKey(id))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	owner := string(resp.Kvs[0].Value)
	cluster, nodegroup, _ := strings.Cut(owner, "/")
	r, err := s.client.Get(ctx, instanceKey(cluster, nodegroup, id))
	if err != nil {
		return nil, err
	}
	if len(r.Kvs) == 0 {
		return nil, ErrNotFound
	}
	var inst Instance
	return &inst, json.Unmarshal(r.Kvs[0].Value, &inst)
}
