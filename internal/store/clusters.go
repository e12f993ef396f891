package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// tokenTTL is how long a clientRequestToken is remembered.
const tokenTTL = 24 * time.Hour

// CreateCluster stores rec, counted against quota. token, when not empty, makes
// the call idempotent: a replay with the same rec.RequestHash returns the
// record it created (replayed=true); a different hash gets ErrTokenMismatch.
// A taken name gets ErrExists; a full account ErrQuota; a subnet or security
// group that is gone, or a subnet without MinFreeAddresses free, a
// *ClusterNetworkError. entries (the creator's access entry) are written in
// the same transaction, so a cluster never exists without them.
func (s *Store) CreateCluster(ctx context.Context, rec *ClusterRecord, token string, quota int, entries ...*AccessEntryRecord) (out *ClusterRecord, replayed bool, err error) {
	val, err := json.Marshal(rec)
	if err != nil {
		return nil, false, err
	}
	entryOps := make([]clientv3.Op, len(entries))
	for i, e := range entries {
		if e.Entry.ClusterName != rec.Cluster.Name {
			return nil, false, fmt.Errorf("store: access entry of cluster %q written with cluster %q", e.Entry.ClusterName, rec.Cluster.Name)
		}
		entryOps[i] = putJSON(accessKey(e.Entry.ClusterName, e.Entry.PrincipalArn), e)
	}
	key := clusterKey(rec.Cluster.Name)
	for attempt := 0; attempt < 100; attempt++ {
		if token != "" {
			if got, err := s.replayCreateCluster(ctx, token, rec.RequestHash); err != nil || got != nil {
				return got, got != nil, err
			}
		}
		count, countRev, err := s.counter(ctx)
		if err != nil {
			return nil, false, err
		}
		if count >= quota {
			return nil, false, ErrQuota
		}
		// The subnets and security groups must still be there, with room,
		// when the cluster is written; references keep them there after.
		netConds, netOps, err := s.claimNetwork(ctx, rec)
		if err != nil {
			return nil, false, err
		}
		conds := append([]clientv3.Cmp{
			clientv3.Compare(clientv3.CreateRevision(key), "=", 0),
			clientv3.Compare(clientv3.ModRevision(clusterCounter), "=", countRev),
		}, netConds...)
		ops := append([]clientv3.Op{
			clientv3.OpPut(key, string(val)),
			clientv3.OpPut(clusterCounter, strconv.Itoa(count+1)),
		}, netOps...)
		if sg := clusterSecurityGroup(rec); sg != nil {
			ops = append(ops, putJSON(clusterSGKey(sg.ID), sg))
		}
		ops = append(ops, entryOps...)
		if token != "" {
			tok, err := s.tokenOp(ctx, "CreateCluster", token, rec.RequestHash, rec.Cluster.Name)
			if err != nil {
				return nil, false, err
			}
			conds = append(conds, clientv3.Compare(clientv3.CreateRevision(tokenKey("CreateCluster", token)), "=", 0))
			ops = append(ops, tok)
		}
		resp, err := s.client.Txn(ctx).If(conds...).Then(ops...).Else(clientv3.OpGet(key, clientv3.WithCountOnly())).Commit()
		if err != nil {
			return nil, false, err
		}
		if resp.Succeeded {
			if err := s.clusters.waitFor(ctx, resp.Header.Revision); err != nil {
				return nil, false, err
			}
			if err := s.fault(FaultAfterCreateCluster); err != nil {
				return nil, false, err
			}
			created := *rec
			created.Revision = resp.Header.Revision
			return &created, false, nil
		}
		// The token may have been written by a concurrent replay; check it first.
		if token != "" {
			if got, err := s.replayCreateCluster(ctx, token, rec.RequestHash); err != nil || got != nil {
				return got, got != nil, err
			}
		}
		if resp.Responses[0].GetResponseRange().Count > 0 {
			return nil, false, ErrExists
		}
		// Only the counter or the network moved: another cluster came or
		// went, or a subnet or group changed. Try again.
	}
	return nil, false, ErrConflict
}

// replayCreateCluster is the cluster token made, or nil when token is
// unused. A concurrent call with the token may have just committed it: the
// cache is read only once it has seen the token, so the cluster is there.
func (s *Store) replayCreateCluster(ctx context.Context, token, hash string) (*ClusterRecord, error) {
	prior, rev, err := s.replayAt(ctx, "CreateCluster", token, hash)
	if err != nil || prior == "" {
		return nil, err
	}
	if err := s.clusters.waitFor(ctx, rev); err != nil {
		return nil, err
	}
	return s.GetCluster(ctx, prior)
}

// counter reads the number of clusters and the counter's ModRevision.
func (s *Store) counter(ctx context.Context) (int, int64, error) {
	resp, err := s.client.Get(ctx, clusterCounter)
	if err != nil {
		return 0, 0, err
	}
	if len(resp.Kvs) == 0 {
		return 0, 0, nil
	}
	n, err := strconv.Atoi(string(resp.Kvs[0].Value))
	if err != nil {
		return 0, 0, fmt.Errorf("store: bad cluster counter %q", resp.Kvs[0].Value)
	}
	return n, resp.Kvs[0].ModRevision, nil
}

// GetCluster returns the named cluster from the cache, or ErrNotFound. The
// record is shared: do not modify it.
func (s *Store) GetCluster(ctx context.Context, name string) (*ClusterRecord, error) {
	if rec := s.clusters.get(name); rec != nil {
		return rec, nil
	}
	return nil, ErrNotFound
}

// ListClusterNames returns up to limit names in order after `after`, and
// whether more follow.
func (s *Store) ListClusterNames(after string, limit int) ([]string, bool) {
	return s.clusters.list(after, limit)
}

// Clusters returns every cluster record (shared; do not modify).
func (s *Store) Clusters() []*ClusterRecord { return s.clusters.all() }

// ClusterByID returns the cached record of the cluster with this id (its
// Cluster.Id), or nil; shared, not to be modified.
func (s *Store) ClusterByID(id string) *ClusterRecord { return s.clusters.getByID(id) }

// WatchClusters returns a channel that receives the name of every cluster that
// changes. Sends never block the store: a full channel drops names, so
// receivers also resync from Clusters now and then.
func (s *Store) WatchClusters() <-chan string { return s.clusters.subscribe() }

// UpdateCluster applies mutate to a fresh copy of the named cluster and writes
// it back if nobody changed it meanwhile, retrying otherwise. mutate may return
// an error to abort.
func (s *Store) UpdateCluster(ctx context.Context, name string, mutate func(*ClusterRecord) error) (*ClusterRecord, error) {
	return s.updateCluster(ctx, name, mutate, nil)
}

// updateCluster is UpdateCluster with extra ops written in the same transaction.
func (s *Store) updateCluster(ctx context.Context, name string, mutate func(*ClusterRecord) error, extra func(*ClusterRecord) []clientv3.Op) (*ClusterRecord, error) {
	key := clusterKey(name)
	for attempt := 0; attempt < 100; attempt++ {
		resp, err := s.client.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		if len(resp.Kvs) == 0 {
			return nil, ErrNotFound
		}
		rec := decodeCluster(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
		if rec == nil {
			return nil, fmt.Errorf("store: cluster %q: undecodable record", name)
		}
		if err := mutate(rec); err != nil {
			return nil, err
		}
		val, err := json.Marshal(rec)
		if err != nil {
			return nil, err
		}
		ops := []clientv3.Op{clientv3.OpPut(key, string(val))}
		if extra != nil {
			ops = append(ops, extra(rec)...)
		}
		txn, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)).
			Then(ops...).Commit()
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

// RemoveCluster deletes the named cluster, its updates, its insights, its count, its
// security group and its references to the network, for good.
func (s *Store) RemoveCluster(ctx context.Context, name string) error {
	key := clusterKey(name)
	for attempt := 0; attempt < 100; attempt++ {
		count, countRev, err := s.counter(ctx)
		if err != nil {
			return err
		}
		// The record says which references to remove; read it from etcd, not
		// the cache, so the transaction below can require this revision.
		cur, err := s.client.Get(ctx, key)
		if err != nil {
			return err
		}
		if len(cur.Kvs) == 0 {
			return ErrNotFound
		}
		ops := []clientv3.Op{clientv3.OpDelete(key),
			clientv3.OpDelete(updatesOf(name), clientv3.WithPrefix()),
			clientv3.OpDelete(accessEntriesOf(name), clientv3.WithPrefix()),
			clientv3.OpPut(clusterCounter, strconv.Itoa(max(count-1, 0)))}
		ops = append(ops, deleteInsightsOps(name)...)
		var rec ClusterRecord
		if json.Unmarshal(cur.Kvs[0].Value, &rec) == nil {
			if sg := clusterSecurityGroup(&rec); sg != nil {
				ops = append(ops, clientv3.OpDelete(clusterSGKey(sg.ID)))
			}
			ops = append(ops, releaseOps(&rec)...)
		}
		txn, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", cur.Kvs[0].ModRevision),
				clientv3.Compare(clientv3.ModRevision(clusterCounter), "=", countRev)).
			Then(ops...).
			Else(clientv3.OpGet(key, clientv3.WithCountOnly())).Commit()
		if err != nil {
			return err
		}
		if txn.Succeeded {
			return s.clusters.waitFor(ctx, txn.Header.Revision)
		}
		if txn.Responses[0].GetResponseRange().Count == 0 {
			return ErrNotFound
		}
	}
	return ErrConflict
}

// replay looks up token for op: "" when unused, the resource it made when
// used with the same hash, ErrTokenMismatch otherwise.
func (s *Store) replay(ctx context.Context, op, token, hash string) (string, error) {
	resource, _, err := s.replayAt(ctx, op, token, hash)
	return resource, err
}

// replayAt is replay, with the revision that wrote the token (the
// resource's own transaction).
func (s *Store) replayAt(ctx context.Context, op, token, hash string) (string, int64, error) {
	resp, err := s.client.Get(ctx, tokenKey(op, token))
	if err != nil || len(resp.Kvs) == 0 {
		return "", 0, err
	}
	var t tokenRecord
	if err := json.Unmarshal(resp.Kvs[0].Value, &t); err != nil {
		return "", 0, err
	}
	if t.Hash != hash {
		return "", 0, ErrTokenMismatch
	}
	return t.Resource, resp.Kvs[0].ModRevision, nil
}

// tokenOp is the write that remembers token for tokenTTL.
func (s *Store) tokenOp(ctx context.Context, op, token, hash, resource string) (clientv3.Op, error) {
	lease, err := s.client.Grant(ctx, int64(tokenTTL/time.Second))
	if err != nil {
		return clientv3.Op{}, err
	}
	val, _ := json.Marshal(tokenRecord{Hash: hash, Resource: resource})
	return clientv3.OpPut(tokenKey(op, token), string(val), clientv3.WithLease(lease.ID)), nil
}

// clusterSecurityGroup is the security group EKS makes for the cluster, which
// lives and dies with it, named and tagged as EKS does.
func clusterSecurityGroup(rec *ClusterRecord) *SecurityGroup {
	vpc := rec.Cluster.ResourcesVpcConfig
	if vpc == nil || vpc.ClusterSecurityGroupID == "" {
		return nil
	}
	name := "eks-cluster-sg-" + rec.Cluster.Name + "-" + rec.Cluster.ID[:min(8, len(rec.Cluster.ID))]
	return &SecurityGroup{
		ID: vpc.ClusterSecurityGroupID, VpcID: vpc.VpcID, Cluster: rec.Cluster.Name, Name: name,
		Rules:       defaultGroupRules(vpc.ClusterSecurityGroupID),
		Description: "EKS created security group applied to ENI that is attached to EKS Control Plane master nodes, as well as any managed workloads.",
		Tags: map[string]string{
			"Name":                 name,
			"aws:eks:cluster-name": rec.Cluster.Name,
			"kubernetes.io/cluster/" + rec.Cluster.Name: "owned",
		},
	}
}
