package store

import (
	"context"
	"encoding/json"
	"net/url"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kplane/kplane/internal/eks/shapes"
)

// AccessEntryRecord is one access entry and the access policies associated
// with it, kept together so one write changes both.
type AccessEntryRecord struct {
	Entry    shapes.AccessEntry              `json:"accessEntry"`
	Policies []shapes.AssociatedAccessPolicy `json:"policies"`
}

const accessPrefix = prefix + "access-entries/"

func accessEntriesOf(cluster string) string { return accessPrefix + cluster + "/" }
func accessKey(cluster, principal string) string {
	return accessEntriesOf(cluster) + url.PathEscape(principal)
}

// CreateAccessEntry stores rec if its cluster exists and has no entry for the
// principal yet (ErrExists); a missing cluster is ErrNotFound.
func (s *Store) CreateAccessEntry(ctx context.Context, rec *AccessEntryRecord) error {
	val, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	key := accessKey(rec.Entry.ClusterName, rec.Entry.PrincipalArn)
	ckey := clusterKey(rec.Entry.ClusterName)
	txn, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(ckey), ">", 0), clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val))).
		Else(clientv3.OpGet(ckey, clientv3.WithCountOnly())).Commit()
	return guardedWrite(txn, err, ErrExists)
}

// GetAccessEntry reads one access entry, or ErrNotFound.
func (s *Store) GetAccessEntry(ctx context.Context, cluster, principal string) (*AccessEntryRecord, error) {
	resp, err := s.client.Get(ctx, accessKey(cluster, principal))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	var rec AccessEntryRecord
	return &rec, json.Unmarshal(resp.Kvs[0].Value, &rec)
}

// ListAccessEntries returns the cluster's access entries in principal order.
func (s *Store) ListAccessEntries(ctx context.Context, cluster string) ([]*AccessEntryRecord, error) {
	resp, err := s.client.Get(ctx, accessEntriesOf(cluster), clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make([]*AccessEntryRecord, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var rec AccessEntryRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return nil, err
		}
		out = append(out, &rec)
	}
	return out, nil
}

// UpdateAccessEntry applies mutate to the entry and writes it back unless
// it changed meanwhile (then it tries again).
func (s *Store) UpdateAccessEntry(ctx context.Context, cluster, principal string, mutate func(*AccessEntryRecord) error) (*AccessEntryRecord, error) {
	key := accessKey(cluster, principal)
	for attempt := 0; attempt < 100; attempt++ {
		resp, err := s.client.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		if len(resp.Kvs) == 0 {
			return nil, ErrNotFound
		}
		var rec AccessEntryRecord
		if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil {
			return nil, err
		}
		if err := mutate(&rec); err != nil {
			return nil, err
		}
		val, _ := json.Marshal(&rec)
		txn, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)).
			Then(clientv3.OpPut(key, string(val))).Commit()
		if err != nil {
			return nil, err
		}
		if txn.Succeeded {
			return &rec, nil
		}
	}
	return nil, ErrConflict
}

// DeleteAccessEntry removes an entry, or says ErrNotFound.
func (s *Store) DeleteAccessEntry(ctx context.Context, cluster, principal string) error {
	resp, err := s.client.Delete(ctx, accessKey(cluster, principal))
	if err != nil {
		return err
	}
	if resp.Deleted == 0 {
		return ErrNotFound
	}
	return nil
}
