package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Writes to the network inventory, each one etcd transaction whose compares
// keep the invariants (see network_refs.go). The EC2 API checks the shape of
// its parameters; these check what depends on the inventory's state.

// Errors of the inventory's writes, besides ErrNotFound, ErrExists and
// ErrInUse (a resource something depends on).
var (
	ErrOverlap      = errors.New("store: CIDR overlaps another subnet of the VPC")
	ErrOutOfRange   = errors.New("store: CIDR not within the VPC's")
	ErrCannotDelete = errors.New("store: a VPC's default security group goes only with its VPC")
)

// maxWriteAttempts bounds the retries of a write whose compare failed
// because something else changed meanwhile.
const maxWriteAttempts = 100

// CreateVPC stores vpc and its default security group, returned.
func (s *Store) CreateVPC(ctx context.Context, vpc VPC) (SecurityGroup, error) {
	sg := SecurityGroup{ID: NewResourceID("sg"), VpcID: vpc.ID, Name: "default", Description: "default VPC security group"}
	sg.Rules = defaultGroupRules(sg.ID)
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(vpcKey(vpc.ID)), "=", 0)).
		Then(putJSON(vpcKey(vpc.ID), vpc), putJSON(sgKey(sg.ID), sg), clientv3.OpPut(sgNameKey(vpc.ID, sg.Name), sg.ID)).Commit()
	if err != nil {
		return SecurityGroup{}, err
	}
	if !resp.Succeeded {
		return SecurityGroup{}, ErrExists
	}
	return sg, nil
}

// CreateSubnet stores sn in its VPC: ErrNotFound without the VPC,
// ErrOutOfRange when its CIDR is not within the VPC's, ErrOverlap when it
// overlaps another subnet of the VPC. The transaction requires that no subnet
// joined the VPC since the overlap check read them.
func (s *Store) CreateSubnet(ctx context.Context, sn Subnet) error {
	p, err := netip.ParsePrefix(sn.CidrBlock)
	if err != nil {
		return fmt.Errorf("store: subnet CIDR %q: %w", sn.CidrBlock, err)
	}
	siblings := refPrefix(sn.VpcID) + refSubnet + "/"
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		resp, err := s.client.Txn(ctx).Then(
			clientv3.OpGet(vpcKey(sn.VpcID)),
			clientv3.OpGet(subnetKey(""), clientv3.WithPrefix())).Commit()
		if err != nil {
			return err
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return ErrNotFound
		}
		var vpc VPC
		if err := json.Unmarshal(kvs[0].Value, &vpc); err != nil {
			return fmt.Errorf("store: %s: %w", kvs[0].Key, err)
		}
		if vp, err := netip.ParsePrefix(vpc.CidrBlock); err != nil || vp.Bits() > p.Bits() || !vp.Contains(p.Addr()) {
			return ErrOutOfRange
		}
		for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
			var other Subnet
			if err := json.Unmarshal(kv.Value, &other); err != nil {
				return fmt.Errorf("store: %s: %w", kv.Key, err)
			}
			if op, err := netip.ParsePrefix(other.CidrBlock); err == nil && other.VpcID == sn.VpcID && op.Overlaps(p) {
				return ErrOverlap
			}
		}
		txn, err := s.client.Txn(ctx).If(
			clientv3.Compare(clientv3.CreateRevision(vpcKey(sn.VpcID)), ">", 0),
			clientv3.Compare(clientv3.ModRevision(siblings), "<", resp.Header.Revision+1).WithPrefix(),
			clientv3.Compare(clientv3.CreateRevision(subnetKey(sn.ID)), "=", 0),
		).Then(putJSON(subnetKey(sn.ID), sn), refOp(sn.VpcID, refSubnet, sn.ID)).Commit()
		if err != nil {
			return err
		}
		if txn.Succeeded {
			return nil
		}
		// Another subnet came, the VPC went, or (never, ids are random) the id is taken: look again.
	}
	return ErrConflict
}

// CreateSecurityGroup stores g in its VPC: ErrNotFound without the VPC,
// ErrExists when the VPC has a group of that name.
func (s *Store) CreateSecurityGroup(ctx context.Context, g SecurityGroup) error {
	resp, err := s.client.Txn(ctx).If(
		clientv3.Compare(clientv3.CreateRevision(vpcKey(g.VpcID)), ">", 0),
		clientv3.Compare(clientv3.CreateRevision(sgNameKey(g.VpcID, g.Name)), "=", 0),
	).Then(
		putJSON(sgKey(g.ID), g), refOp(g.VpcID, refGroup, g.ID), clientv3.OpPut(sgNameKey(g.VpcID, g.Name), g.ID),
	).Else(clientv3.OpGet(vpcKey(g.VpcID), clientv3.WithCountOnly())).Commit()
	return guardedWrite(resp, err, ErrExists)
}

// DeleteVPC deletes the VPC and its default security group: ErrNotFound, or
// ErrInUse while it has subnets or other security groups (or a cluster uses
// its default group).
func (s *Store) DeleteVPC(ctx context.Context, id string) error {
	defaultName := sgNameKey(id, "default")
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		resp, err := s.client.Txn(ctx).Then(
			clientv3.OpGet(vpcKey(id), clientv3.WithCountOnly()),
			clientv3.OpGet(defaultName)).Commit()
		if err != nil {
			return err
		}
		if resp.Responses[0].GetResponseRange().Count == 0 {
			return ErrNotFound
		}
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(vpcKey(id)), ">", 0), unused(id)}
		ops := []clientv3.Op{
			clientv3.OpDelete(vpcKey(id)),
			clientv3.OpDelete(sgNamesPrefix+id+"/", clientv3.WithPrefix()),
			clientv3.OpDelete(refPrefix(id), clientv3.WithPrefix()),
		}
		orElse := []clientv3.Op{
			clientv3.OpGet(vpcKey(id), clientv3.WithCountOnly()),
			clientv3.OpGet(refPrefix(id), clientv3.WithPrefix(), clientv3.WithCountOnly()),
		}
		if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) > 0 {
			sg := string(kvs[0].Value)
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(defaultName), "=", kvs[0].ModRevision), unused(sg))
			ops = append(ops, clientv3.OpDelete(sgKey(sg)), clientv3.OpDelete(refPrefix(sg), clientv3.WithPrefix()))
			orElse = append(orElse, clientv3.OpGet(refPrefix(sg), clientv3.WithPrefix(), clientv3.WithCountOnly()))
		} else {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(defaultName), "=", 0))
		}
		txn, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Else(orElse...).Commit()
		if err != nil {
			return err
		}
		if txn.Succeeded {
			return nil
		}
		if txn.Responses[0].GetResponseRange().Count == 0 {
			return ErrNotFound
		}
		for _, r := range txn.Responses[1:] {
			if r.GetResponseRange().Count > 0 {
				// Subnets or groups in the VPC, or a cluster on its default group.
				return ErrInUse
			}
		}
		// The default group's name key changed meanwhile: look again.
	}
	return ErrConflict
}

// DeleteSubnet deletes the subnet: ErrNotFound, or ErrInUse while a cluster
// is placed in it.
func (s *Store) DeleteSubnet(ctx context.Context, id string) error {
	resp, err := s.client.Get(ctx, subnetKey(id))
	if err != nil {
		return err
	}
	if len(resp.Kvs) == 0 {
		return ErrNotFound
	}
	var sn Subnet
	if err := json.Unmarshal(resp.Kvs[0].Value, &sn); err != nil {
		return fmt.Errorf("store: %s: %w", resp.Kvs[0].Key, err)
	}
	txn, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(subnetKey(id)), ">", 0), unused(id)).
		Then(clientv3.OpDelete(subnetKey(id)), clientv3.OpDelete(refKey(sn.VpcID, refSubnet, id))).
		Else(clientv3.OpGet(subnetKey(id), clientv3.WithCountOnly())).Commit()
	return guardedWrite(txn, err, ErrInUse)
}

// DeleteSecurityGroup deletes the security group: ErrNotFound, ErrInUse
// while a cluster uses it (always, for the group EKS made for a cluster), or
// ErrCannotDelete for a VPC's default group.
func (s *Store) DeleteSecurityGroup(ctx context.Context, id string) error {
	resp, err := s.client.Txn(ctx).Then(clientv3.OpGet(sgKey(id)), clientv3.OpGet(clusterSGKey(id), clientv3.WithCountOnly())).Commit()
	if err != nil {
		return err
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		if resp.Responses[1].GetResponseRange().Count > 0 {
			return ErrInUse // it goes with its cluster
		}
		return ErrNotFound
	}
	var g SecurityGroup
	if err := json.Unmarshal(kvs[0].Value, &g); err != nil {
		return fmt.Errorf("store: %s: %w", kvs[0].Key, err)
	}
	if g.Name == "default" {
		return ErrCannotDelete
	}
	// The record as read, so the references its rules hold go with it.
	ops := append([]clientv3.Op{clientv3.OpDelete(sgKey(id)), clientv3.OpDelete(refKey(g.VpcID, refGroup, id)), clientv3.OpDelete(sgNameKey(g.VpcID, g.Name))},
		ruleRefDeletes(&g)...)
	txn, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(sgKey(id)), "=", kvs[0].ModRevision), unused(id)).
		Then(ops...).
		Else(clientv3.OpGet(sgKey(id), clientv3.WithCountOnly()), clientv3.OpGet(refPrefix(id), clientv3.WithPrefix(), clientv3.WithCountOnly())).Commit()
	if err == nil && !txn.Succeeded && txn.Responses[0].GetResponseRange().Count > 0 && txn.Responses[1].GetResponseRange().Count == 0 {
		return s.DeleteSecurityGroup(ctx, id) // its rules changed meanwhile: again
	}
	return guardedWrite(txn, err, ErrInUse)
}

// recordKeys are the keys a resource id may be stored under, by its prefix.
func recordKeys(id string) []string {
	switch {
	case strings.HasPrefix(id, "vpc-"):
		return []string{vpcKey(id)}
	case strings.HasPrefix(id, "subnet-"):
		return []string{subnetKey(id)}
	case strings.HasPrefix(id, "sg-"):
		return []string{sgKey(id), clusterSGKey(id)}
	case strings.HasPrefix(id, "lt-"):
		return []string{launchTemplateKey(id)}
	}
	return nil
}
