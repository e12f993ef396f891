package store

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// MaxTagResources is the most resources one ChangeTags call takes: they are
// changed in one transaction, and etcd caps a transaction's operations.
const MaxTagResources = 50

// NotFoundError names the resource that does not exist.
type NotFoundError struct{ ID string }

func (e *NotFoundError) Error() string { return "store: " + e.ID + " not found" }

// Is makes errors.Is(err, ErrNotFound) hold.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ChangeTags applies change to the tags of every resource in ids (VPCs,
// subnets, security groups, clusters' security groups) and writes them all
// or none: a *NotFoundError names the first id that does not exist, and an
// error from change aborts. change gets a map it may modify.
func (s *Store) ChangeTags(ctx context.Context, ids []string, change func(id string, tags map[string]string) error) error {
	if len(ids) > MaxTagResources {
		return fmt.Errorf("store: at most %d resources per tag change", MaxTagResources)
	}
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		var reads []clientv3.Op
		var keyOf, idOf []string
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			for _, k := range recordKeys(id) {
				reads = append(reads, clientv3.OpGet(k))
				keyOf, idOf = append(keyOf, k), append(idOf, id)
			}
		}
		var resp *clientv3.TxnResponse
		if len(reads) > 0 {
			var err error
			if resp, err = s.client.Txn(ctx).Then(reads...).Commit(); err != nil {
				return err
			}
		}
		found := map[string]bool{}
		var cmps []clientv3.Cmp
		var ops []clientv3.Op
		for i, k := range keyOf {
			kvs := resp.Responses[i].GetResponseRange().Kvs
			if len(kvs) == 0 {
				continue
			}
			var rec map[string]json.RawMessage
			var tags map[string]string
			if err := json.Unmarshal(kvs[0].Value, &rec); err != nil {
				return fmt.Errorf("store: %s: %w", k, err)
			}
			if raw, ok := rec["tags"]; ok {
				if err := json.Unmarshal(raw, &tags); err != nil {
					return fmt.Errorf("store: %s: %w", k, err)
				}
			}
			if tags == nil {
				tags = map[string]string{}
			}
			id := idOf[i]
			found[id] = true
			if err := change(id, tags); err != nil {
				return err
			}
			delete(rec, "tags")
			if len(tags) > 0 {
				rec["tags"], _ = json.Marshal(tags)
			}
			val, _ := json.Marshal(rec)
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", kvs[0].ModRevision))
			ops = append(ops, clientv3.OpPut(k, string(val)))
		}
		for _, id := range ids {
			if !found[id] {
				return &NotFoundError{ID: id}
			}
		}
		if len(ops) == 0 {
			return nil
		}
		txn, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return err
		}
		if txn.Succeeded {
			return nil
		}
	}
	return ErrConflict
}
