package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kplane/kplane/internal/eks/shapes"
)

// Managed nodegroups: one record per nodegroup, its updates beside it, and
// its instances in instances.go.
//
//	/kplane/nodegroups/CLUSTER/NAME              NodegroupRecord
//	/kplane/nodegroup-updates/CLUSTER/NAME/ID    UpdateRecord of the nodegroup
//
// A nodegroup is written only while its cluster has the revision at which
// the API saw it ACTIVE, and a cluster is marked DELETING only while it has
// no nodegroup (MarkClusterDeleting): whichever commits first wins.
const (
	nodegroupsPrefix       = prefix + "nodegroups/"
	nodegroupUpdatesPrefix = prefix + "nodegroup-updates/"
)

func nodegroupsOf(cluster string) string       { return nodegroupsPrefix + cluster + "/" }
func nodegroupKey(cluster, name string) string { return nodegroupsOf(cluster) + name }
func nodegroupUpdatesOf(cluster, name string) string {
	return nodegroupUpdatesPrefix + cluster + "/" + name + "/"
}
func nodegroupUpdateKey(cluster, name, id string) string {
	return nodegroupUpdatesOf(cluster, name) + id
}

// ErrHasNodegroups refuses to delete a cluster that still has nodegroups.
var ErrHasNodegroups = errors.New("store: cluster has nodegroups")

// ErrClusterChanged is CreateNodegroup's answer when the cluster changed
// since the caller read it (it may no longer be ACTIVE).
var ErrClusterChanged = errors.New("store: cluster changed since it was read")

// NodegroupRecord is everything kplane keeps for one managed nodegroup.
type NodegroupRecord struct {
	Nodegroup shapes.Nodegroup `json:"nodegroup"`
	// ID is the nodegroup's unique id (the last part of its ARN).
	ID string `json:"id"`
	// ImageID is the AMI id the nodegroup's instances report.
	ImageID string `json:"imageId"`
	// RequestHash identifies the CreateNodegroup parameters, for idempotent retries.
	RequestHash string `json:"requestHash,omitempty"`
	// Launch is what the nodegroup's instances take from its launch template.
	Launch *NodegroupLaunch `json:"launch,omitempty"`
	// ActiveUpdate is the id of the update in progress, "" if none.
	ActiveUpdate string `json:"activeUpdate,omitempty"`
	// AwsAuthMapped: kplane added the node role's aws-auth mapRoles entry
	// (CONFIG_MAP clusters). EKS adds it once, when the nodegroup is made,
	// and never again: an operator who removes it keeps new nodes out.
	AwsAuthMapped bool `json:"awsAuthMapped,omitempty"`
	// Revision is etcd's ModRevision of this record when read (not stored).
	Revision int64 `json:"-"`
}

// NodegroupLaunch is what a launch template gives a nodegroup's instances.
type NodegroupLaunch struct {
	InstanceType     string            `json:"instanceType,omitempty"`
	SecurityGroupIDs []string          `json:"securityGroupIds,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
}

// NodegroupVersionChange is the Change of a nodegroup's VersionUpdate: the
// nodes it rolls to, resolved by the API. The nodegroup takes Version,
// ReleaseVersion and ImageID once every node runs them.
type NodegroupVersionChange struct {
	Version        string `json:"version"`
	ReleaseVersion string `json:"releaseVersion"`
	ImageID        string `json:"imageId"`
	// Force removes old nodes even when a PodDisruptionBudget refuses the
	// eviction of their pods (the pods are deleted instead).
	Force bool `json:"force,omitempty"`
}

// InstanceType is the type of the nodegroup's instances: its first
// instance type, or its launch template's.
func (r *NodegroupRecord) InstanceType() string {
	if len(r.Nodegroup.InstanceTypes) > 0 {
		return r.Nodegroup.InstanceTypes[0]
	}
	if r.Launch != nil {
		return r.Launch.InstanceType
	}
	return ""
}

// Key names a nodegroup as "CLUSTER/NAME" (the reconciler's work item).
func (r *NodegroupRecord) Key() string {
	return r.Nodegroup.ClusterName + "/" + r.Nodegroup.NodegroupName
}

// CreateNodegroup stores rec if its cluster still has clusterRev as
// ModRevision (ErrClusterChanged otherwise) and has no nodegroup of that
// name (ErrExists). extra ops (an access entry for the node role) go in the
// same transaction, each applied only if its key is absent. token makes the
// call idempotent as in CreateCluster.
func (s *Store) CreateNodegroup(ctx context.Context, rec *NodegroupRecord, clusterRev int64, token string, ifAbsent map[string]any) (out *NodegroupRecord, replayed bool, err error) {
	cluster, name := rec.Nodegroup.ClusterName, rec.Nodegroup.NodegroupName
	op := "CreateNodegroup:" + cluster
	replay := func() (*NodegroupRecord, bool, error) {
		prior, err := s.replay(ctx, op, token, rec.RequestHash)
		if err != nil || prior == "" {
			return nil, false, err
		}
		got, err := s.GetNodegroup(ctx, cluster, prior)
		return got, true, err
	}
	if token != "" {
		if got, ok, err := replay(); ok || err != nil {
			return got, ok, err
		}
	}
	val, err := json.Marshal(rec)
	if err != nil {
		return nil, false, err
	}
	key := nodegroupKey(cluster, name)
	cmps := []clientv3.Cmp{
		clientv3.Compare(clientv3.ModRevision(clusterKey(cluster)), "=", clusterRev),
		clientv3.Compare(clientv3.CreateRevision(key), "=", 0),
	}
	ops := []clientv3.Op{clientv3.OpPut(key, string(val))}
	for k, v := range ifAbsent {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, false, err
		}
		ops = append(ops, clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(k), "=", 0)},
			[]clientv3.Op{clientv3.OpPut(k, string(b))}, nil))
	}
	if token != "" {
		tok, err := s.tokenOp(ctx, op, token, rec.RequestHash, name)
		if err != nil {
			return nil, false, err
		}
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(tokenKey(op, token)), "=", 0))
		ops = append(ops, tok)
	}
	txn, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(key, clientv3.WithCountOnly())).Commit()
	if err != nil {
		return nil, false, err
	}
	if txn.Succeeded {
		created := *rec
		created.Revision = txn.Header.Revision
		return &created, false, nil
	}
	if token != "" {
		if got, ok, err := replay(); ok || err != nil {
			return got, ok, err
		}
	}
	if txn.Responses[0].GetResponseRange().Count > 0 {
		return nil, false, ErrExists
	}
	return nil, false, ErrClusterChanged
}

// AccessEntryKey is where CreateNodegroup's ifAbsent puts a cluster's access entry.
func AccessEntryKey(cluster, principal string) string { return accessKey(cluster, principal) }

// GetNodegroup reads one nodegroup, or ErrNotFound.
func (s *Store) GetNodegroup(ctx context.Context, cluster, name string) (*NodegroupRecord, error) {
	resp, err := s.client.Get(ctx, nodegroupKey(cluster, name))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	return decodeNodegroup(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
}

func decodeNodegroup(b []byte, rev int64) (*NodegroupRecord, error) {
	var rec NodegroupRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("store: nodegroup record: %w", err)
	}
	rec.Revision = rev
	return &rec, nil
}

// ListNodegroups returns the cluster's nodegroups in name order.
func (s *Store) ListNodegroups(ctx context.Context, cluster string) ([]*NodegroupRecord, error) {
	return s.listNodegroups(ctx, nodegroupsOf(cluster))
}

// AllNodegroups returns every nodegroup of every cluster.
func (s *Store) AllNodegroups(ctx context.Context) ([]*NodegroupRecord, error) {
	return s.listNodegroups(ctx, nodegroupsPrefix)
}

func (s *Store) listNodegroups(ctx context.Context, p string) ([]*NodegroupRecord, error) {
	resp, err := s.client.Get(ctx, p, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make([]*NodegroupRecord, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		rec, err := decodeNodegroup(kv.Value, kv.ModRevision)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// UpdateNodegroup applies mutate to a fresh copy of the nodegroup and writes
// it back unless it changed meanwhile (then it tries again). extra ops are
// written in the same transaction.
func (s *Store) UpdateNodegroup(ctx context.Context, cluster, name string, mutate func(*NodegroupRecord) error, extra ...clientv3.Op) (*NodegroupRecord, error) {
	key := nodegroupKey(cluster, name)
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		resp, err := s.client.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		if len(resp.Kvs) == 0 {
			return nil, ErrNotFound
		}
		rec, err := decodeNodegroup(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
		if err != nil {
			return nil, err
		}
		if err := mutate(rec); err != nil {
			return nil, err
		}
		val, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		txn, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)).
			Then(append([]clientv3.Op{clientv3.OpPut(key, string(val))}, extra...)...).Commit()
		if err != nil {
			return nil, err
		}
		if txn.Succeeded {
			rec.Revision = txn.Header.Revision
			return rec, nil
		}
	}
	return nil, ErrConflict
}

// RemoveNodegroup deletes the nodegroup and its updates for good. Its
// instances must be gone first (ErrInUse otherwise).
func (s *Store) RemoveNodegroup(ctx context.Context, cluster, name string) error {
	txn, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(instancesOfKey(cluster, name)), "=", 0).WithPrefix()).
		Then(clientv3.OpDelete(nodegroupKey(cluster, name)),
			clientv3.OpDelete(nodegroupUpdatesOf(cluster, name), clientv3.WithPrefix())).Commit()
	if err != nil {
		return err
	}
	if !txn.Succeeded {
		return ErrInUse
	}
	return nil
}

// MarkClusterDeleting applies mutate (which marks the cluster DELETING) and
// writes it only while the cluster has no nodegroup: ErrHasNodegroups
// otherwise, in the same transaction, so a CreateNodegroup racing with it
// either lands first (and this refuses) or fails its cluster compare.
func (s *Store) MarkClusterDeleting(ctx context.Context, name string, mutate func(*ClusterRecord) error) (*ClusterRecord, error) {
	key := clusterKey(name)
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		resp, err := s.client.Txn(ctx).Then(clientv3.OpGet(key),
			clientv3.OpGet(nodegroupsOf(name), clientv3.WithPrefix(), clientv3.WithCountOnly())).Commit()
		if err != nil {
			return nil, err
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return nil, ErrNotFound
		}
		rec := decodeCluster(kvs[0].Value, kvs[0].ModRevision)
		if rec == nil {
			return nil, fmt.Errorf("store: cluster %q: undecodable record", name)
		}
		if err := mutate(rec); err != nil {
			return nil, err
		}
		if rec.Cluster.Status == shapes.StatusDeleting && resp.Responses[1].GetResponseRange().Count > 0 {
			return nil, ErrHasNodegroups
		}
		val, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		txn, err := s.client.Txn(ctx).If(
			clientv3.Compare(clientv3.ModRevision(key), "=", kvs[0].ModRevision),
			clientv3.Compare(clientv3.CreateRevision(nodegroupsOf(name)), "=", 0).WithPrefix(),
		).Then(clientv3.OpPut(key, string(val))).Commit()
		if err != nil {
			return nil, err
		}
		if txn.Succeeded {
			rec.Revision = txn.Header.Revision
			return rec, s.clusters.waitFor(ctx, txn.Header.Revision)
		}
	}
	return nil, ErrConflict
}

// StartNodegroupUpdate records u as the nodegroup's update in progress, in
// one transaction with check(rec), which may refuse it or change the
// nodegroup (its status). token makes it idempotent.
func (s *Store) StartNodegroupUpdate(ctx context.Context, u *UpdateRecord, token string, check func(*NodegroupRecord) error) (*UpdateRecord, error) {
	op := "NodegroupUpdate:" + u.Cluster + "/" + u.Nodegroup
	if token != "" {
		prior, err := s.replay(ctx, op, token, u.RequestHash)
		if err != nil {
			return nil, err
		}
		if prior != "" {
			return s.GetNodegroupUpdate(ctx, u.Cluster, u.Nodegroup, prior)
		}
	}
	val, err := json.Marshal(u)
	if err != nil {
		return nil, err
	}
	extra := []clientv3.Op{clientv3.OpPut(nodegroupUpdateKey(u.Cluster, u.Nodegroup, u.Update.ID), string(val))}
	if token != "" {
		tok, err := s.tokenOp(ctx, op, token, u.RequestHash, u.Update.ID)
		if err != nil {
			return nil, err
		}
		extra = append(extra, tok)
	}
	_, err = s.UpdateNodegroup(ctx, u.Cluster, u.Nodegroup, func(rec *NodegroupRecord) error {
		if rec.ActiveUpdate != "" {
			return ErrUpdateInProgress
		}
		if err := check(rec); err != nil {
			return err
		}
		rec.ActiveUpdate = u.Update.ID
		return nil
	}, extra...)
	if err != nil {
		return nil, err
	}
	return u, nil
}

// FinishNodegroupUpdate stores the update's final form and lets mutate change
// the nodegroup, clearing its update in progress, in one transaction.
func (s *Store) FinishNodegroupUpdate(ctx context.Context, u *UpdateRecord, mutate func(*NodegroupRecord) error) error {
	val, err := json.Marshal(u)
	if err != nil {
		return err
	}
	_, err = s.UpdateNodegroup(ctx, u.Cluster, u.Nodegroup, func(rec *NodegroupRecord) error {
		if rec.ActiveUpdate == u.Update.ID {
			rec.ActiveUpdate = ""
		}
		return mutate(rec)
	}, clientv3.OpPut(nodegroupUpdateKey(u.Cluster, u.Nodegroup, u.Update.ID), string(val)))
	return err
}

// GetNodegroupUpdate reads one update of a nodegroup, or ErrNotFound.
func (s *Store) GetNodegroupUpdate(ctx context.Context, cluster, nodegroup, id string) (*UpdateRecord, error) {
	resp, err := s.client.Get(ctx, nodegroupUpdateKey(cluster, nodegroup, id))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	var u UpdateRecord
	return &u, json.Unmarshal(resp.Kvs[0].Value, &u)
}

// ListNodegroupUpdates returns a nodegroup's updates, oldest first.
func (s *Store) ListNodegroupUpdates(ctx context.Context, cluster, nodegroup string) ([]*UpdateRecord, error) {
	p := nodegroupUpdatesOf(cluster, nodegroup)
	resp, err := s.client.Get(ctx, p, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make([]*UpdateRecord, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var u UpdateRecord
		if json.Unmarshal(kv.Value, &u) == nil && strings.HasPrefix(string(kv.Key), p) {
			out = append(out, &u)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Update.CreatedAt != out[j].Update.CreatedAt {
			return out[i].Update.CreatedAt < out[j].Update.CreatedAt
		}
		return out[i].Update.ID < out[j].Update.ID
	})
	return out, nil
}

// WatchNodegroups sends "CLUSTER/NAME" of every nodegroup written or deleted
// after it is called, until ctx ends. Sends never block the store: a full
// channel drops keys, so receivers also resync from AllNodegroups now and then.
func (s *Store) WatchNodegroups(ctx context.Context) <-chan string {
	out := make(chan string, 256)
	// The watch is registered later, in the goroutine: it starts from the
	// revision read here, or a nodegroup created meanwhile (after the
	// receiver listed the keys) would be seen only at the next resync.
	next := int64(0)
	if resp, err := s.client.Get(ctx, nodegroupsPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly()); err == nil {
		next = resp.Header.Revision + 1
	}
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			opts := []clientv3.OpOption{clientv3.WithPrefix()}
			if next > 0 {
				opts = append(opts, clientv3.WithRev(next))
			}
			for resp := range s.client.Watch(clientv3.WithRequireLeader(ctx), nodegroupsPrefix, opts...) {
				if resp.CompactRevision != 0 { // compacted past next: go on from now (resync covers the gap)
					next = 0
				}
				for _, ev := range resp.Events {
					next = ev.Kv.ModRevision + 1
					select {
					case out <- strings.TrimPrefix(string(ev.Kv.Key), nodegroupsPrefix):
					default:
					}
				}
			}
			select { // the watch broke (etcd unreachable): try again shortly, from where it was
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return out
}
