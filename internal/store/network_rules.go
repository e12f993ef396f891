package store

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Security group rules live in their group's record, so a change to a
// group's rules is one compare-and-put of that record. A rule that names
// another group as its peer keeps that group from being deleted, as EC2
// does (DependencyViolation): /kplane/network-refs/PEER/sgrule/GROUP exists
// while GROUP has a rule naming PEER. Rules naming their own group need no
// reference; the groups EKS makes for clusters write none (they go with
// their cluster whatever names them).

// SecurityGroupRule is one rule of a security group: traffic of Protocol on
// ports FromPort..ToPort from (or, when Egress, to) exactly one peer.
type SecurityGroupRule struct {
	ID     string `json:"id"`
	Egress bool   `json:"egress,omitempty"`
	// Protocol is tcp, udp, icmp, icmpv6, -1 (all) or another protocol's number.
	Protocol string `json:"protocol"`
	// FromPort and ToPort are -1 when the protocol has no ports; for ICMP
	// they are the type and code.
	FromPort          int               `json:"fromPort"`
	ToPort            int               `json:"toPort"`
	CidrIPv4          string            `json:"cidrIpv4,omitempty"`
	CidrIPv6          string            `json:"cidrIpv6,omitempty"`
	PrefixListID      string            `json:"prefixListId,omitempty"`
	ReferencedGroupID string            `json:"referencedGroupId,omitempty"`
	Description       string            `json:"description,omitempty"`
	Tags              map[string]string `json:"tags,omitempty"`
}

// Peer is the rule's other side, whichever kind it is.
func (r SecurityGroupRule) Peer() string {
	for _, p := range []string{r.CidrIPv4, r.CidrIPv6, r.PrefixListID, r.ReferencedGroupID} {
		if p != "" {
			return p
		}
	}
	return ""
}

// SameTraffic reports whether r and o allow the same traffic (direction,
// protocol, ports and peer), whatever their ids, descriptions and tags.
func (r SecurityGroupRule) SameTraffic(o SecurityGroupRule) bool {
	return r.Egress == o.Egress && r.Protocol == o.Protocol && r.FromPort == o.FromPort && r.ToPort == o.ToPort &&
		r.CidrIPv4 == o.CidrIPv4 && r.CidrIPv6 == o.CidrIPv6 && r.PrefixListID == o.PrefixListID && r.ReferencedGroupID == o.ReferencedGroupID
}

// AllowAllEgress is the rule EC2 gives every new group: all traffic out to
// every IPv4 address.
func AllowAllEgress() SecurityGroupRule {
	return SecurityGroupRule{ID: NewResourceID("sgr"), Egress: true, Protocol: "-1", FromPort: -1, ToPort: -1, CidrIPv4: "0.0.0.0/0"}
}

// defaultGroupRules are a VPC's default group's (and an EKS cluster
// group's): all traffic in from the group itself, all traffic out.
func defaultGroupRules(groupID string) []SecurityGroupRule {
	return []SecurityGroupRule{
		{ID: NewResourceID("sgr"), Protocol: "-1", FromPort: -1, ToPort: -1, ReferencedGroupID: groupID},
		AllowAllEgress(),
	}
}

const refRule = "sgrule"

// peerGroups are the other groups g's rules name.
func peerGroups(g *SecurityGroup) map[string]bool {
	out := map[string]bool{}
	for _, r := range g.Rules {
		if r.ReferencedGroupID != "" && r.ReferencedGroupID != g.ID {
			out[r.ReferencedGroupID] = true
		}
	}
	return out
}

// ruleRefDeletes remove the references g's rules hold on other groups.
func ruleRefDeletes(g *SecurityGroup) []clientv3.Op {
	var ops []clientv3.Op
	for peer := range peerGroups(g) {
		ops = append(ops, clientv3.OpDelete(refKey(peer, refRule, g.ID)))
	}
	return ops
}

// PeerError says a rule names a group that does not exist, or one of
// another VPC.
type PeerError struct {
	GroupID    string
	OtherVPC   bool
	PeerVpcID  string
	GroupVpcID string
}

func (e *PeerError) Error() string {
	if e.OtherVPC {
		return fmt.Sprintf("store: group %s is in VPC %s, not %s", e.GroupID, e.PeerVpcID, e.GroupVpcID)
	}
	return "store: group " + e.GroupID + " not found"
}

// ChangeSecurityGroupRules applies change to the group with id (a user's
// group or a cluster's) and writes it if change returns nil: ErrNotFound
// without the group; a *PeerError when a rule names a group that does not
// exist or is in another VPC. It returns the group as written.
func (s *Store) ChangeSecurityGroupRules(ctx context.Context, id string, change func(g *SecurityGroup) error) (SecurityGroup, error) {
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		resp, err := s.client.Txn(ctx).Then(clientv3.OpGet(sgKey(id)), clientv3.OpGet(clusterSGKey(id))).Commit()
		if err != nil {
			return SecurityGroup{}, err
		}
		key, kvs := sgKey(id), resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			key, kvs = clusterSGKey(id), resp.Responses[1].GetResponseRange().Kvs
		}
		if len(kvs) == 0 {
			return SecurityGroup{}, ErrNotFound
		}
		var g SecurityGroup
		if err := json.Unmarshal(kvs[0].Value, &g); err != nil {
			return SecurityGroup{}, fmt.Errorf("store: %s: %w", key, err)
		}
		before := peerGroups(&g)
		if err := change(&g); err != nil {
			return SecurityGroup{}, err
		}
		after := peerGroups(&g)
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", kvs[0].ModRevision)}
		ops := []clientv3.Op{putJSON(key, g)}
		for peer := range after {
			peerKey, err := s.checkPeer(ctx, peer, g.VpcID)
			if err != nil {
				return SecurityGroup{}, err
			}
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(peerKey), ">", 0))
			if !before[peer] && g.Cluster == "" {
				ops = append(ops, refOp(peer, refRule, g.ID))
			}
		}
		for peer := range before {
			if !after[peer] {
				ops = append(ops, clientv3.OpDelete(refKey(peer, refRule, g.ID)))
			}
		}
		txn, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return SecurityGroup{}, err
		}
		if txn.Succeeded {
			return g, nil
		}
		// The group changed, or a peer went, meanwhile: look again.
	}
	return SecurityGroup{}, ErrConflict
}

// checkPeer returns the key of group peer, which must be in vpc.
func (s *Store) checkPeer(ctx context.Context, peer, vpc string) (string, error) {
	resp, err := s.client.Txn(ctx).Then(clientv3.OpGet(sgKey(peer)), clientv3.OpGet(clusterSGKey(peer))).Commit()
	if err != nil {
		return "", err
	}
	for i, key := range []string{sgKey(peer), clusterSGKey(peer)} {
		if kvs := resp.Responses[i].GetResponseRange().Kvs; len(kvs) > 0 {
			var p SecurityGroup
			if err := json.Unmarshal(kvs[0].Value, &p); err != nil {
				return "", fmt.Errorf("store: %s: %w", key, err)
			}
			if p.VpcID != vpc {
				return "", &PeerError{GroupID: peer, OtherVPC: true, PeerVpcID: p.VpcID, GroupVpcID: vpc}
			}
			return key, nil
		}
	}
	return "", &PeerError{GroupID: peer}
}
