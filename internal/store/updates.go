package store

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrUpdateInProgress is returned when a cluster already has an update running.
var ErrUpdateInProgress = errors.New("store: an update is in progress")

// StartUpdate records u as the cluster's update in progress, in one
// transaction with check(rec), which may refuse it (e.g. the cluster is not
// ACTIVE) or change the cluster (e.g. its status), and with entry (if not
// nil), an access entry made unless its principal has one (the creator's,
// when the authentication mode moves to API). token makes it idempotent
// like CreateCluster: a replay returns the update it made.
func (s *Store) StartUpdate(ctx context.Context, u *UpdateRecord, token string, check func(*ClusterRecord) error, entry *AccessEntryRecord) (out *UpdateRecord, replayed bool, err error) {
	op := "Update:" + u.Cluster
	if token != "" {
		prior, err := s.replay(ctx, op, token, u.RequestHash)
		if err != nil {
			return nil, false, err
		}
		if prior != "" {
			got, err := s.GetUpdate(ctx, u.Cluster, prior)
			return got, true, err
		}
	}
	val, err := json.Marshal(u)
	if err != nil {
		return nil, false, err
	}
	var tok clientv3.Op
	if token != "" {
		if tok, err = s.tokenOp(ctx, op, token, u.RequestHash, u.Update.ID); err != nil {
			return nil, false, err
		}
	}
	_, err = s.updateCluster(ctx, u.Cluster, func(rec *ClusterRecord) error {
		if rec.ActiveUpdate != "" {
			return ErrUpdateInProgress
		}
		if err := check(rec); err != nil {
			return err
		}
		rec.ActiveUpdate = u.Update.ID
		return nil
	}, func(*ClusterRecord) []clientv3.Op {
		ops := []clientv3.Op{clientv3.OpPut(updateKey(u.Cluster, u.Update.ID), string(val))}
		if token != "" {
			ops = append(ops, tok)
		}
		if entry != nil {
			key := accessKey(u.Cluster, entry.Entry.PrincipalArn)
			ops = append(ops, clientv3.OpTxn(
				[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)},
				[]clientv3.Op{putJSON(key, entry)}, nil))
		}
		return ops
	})
	if err != nil {
		return nil, false, err
	}
	if err := s.fault(FaultAfterStartUpdate); err != nil {
		return nil, false, err
	}
	return u, false, nil
}

// FinishUpdate stores the update's final form and lets mutate change the
// cluster, clearing its update in progress, in one transaction.
func (s *Store) FinishUpdate(ctx context.Context, u *UpdateRecord, mutate func(*ClusterRecord) error) error {
	val, err := json.Marshal(u)
	if err != nil {
		return err
	}
	_, err = s.updateCluster(ctx, u.Cluster, func(rec *ClusterRecord) error {
		if rec.ActiveUpdate == u.Update.ID {
			rec.ActiveUpdate = ""
		}
		return mutate(rec)
	}, func(*ClusterRecord) []clientv3.Op {
		return []clientv3.Op{clientv3.OpPut(updateKey(u.Cluster, u.Update.ID), string(val))}
	})
	return err
}

// GetUpdate reads one update, or ErrNotFound.
func (s *Store) GetUpdate(ctx context.Context, cluster, id string) (*UpdateRecord, error) {
	resp, err := s.client.Get(ctx, updateKey(cluster, id))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	var u UpdateRecord
	if err := json.Unmarshal(resp.Kvs[0].Value, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// ListUpdates returns the cluster's updates, oldest first.
func (s *Store) ListUpdates(ctx context.Context, cluster string) ([]*UpdateRecord, error) {
	resp, err := s.client.Get(ctx, updatesOf(cluster), clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make([]*UpdateRecord, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var u UpdateRecord
		if json.Unmarshal(kv.Value, &u) == nil && strings.HasPrefix(string(kv.Key), updatesOf(cluster)) {
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
