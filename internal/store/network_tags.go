package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

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
// subnets, security groups, clusters' security groups, security group rules,
// launch templates) and writes them all or none: a *NotFoundError names the
// first id that does not exist, and an error from change aborts. change gets
// a map it may modify. A rule's tags live in its group's record, so a group
// and its rules in one call make one write of that record.
func (s *Store) ChangeTags(ctx context.Context, ids []string, change func(id string, tags map[string]string) error) error {
	if len(ids) > MaxTagResources {
		return fmt.Errorf("store: at most %d resources per tag change", MaxTagResources)
	}
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		candidates, err := s.tagRecordKeys(ctx, ids)
		if err != nil {
			return err
		}
		var keys []string
		var reads []clientv3.Op
		for _, id := range ids {
			for _, k := range candidates[id] {
				if !slices.Contains(keys, k) {
					keys = append(keys, k)
					reads = append(reads, clientv3.OpGet(k))
				}
			}
		}
		var resp *clientv3.TxnResponse
		if len(reads) > 0 {
			if resp, err = s.client.Txn(ctx).Then(reads...).Commit(); err != nil {
				return err
			}
		}
		found := map[string]bool{}
		var cmps []clientv3.Cmp
		var ops []clientv3.Op
		for i, k := range keys {
			kvs := resp.Responses[i].GetResponseRange().Kvs
			if len(kvs) == 0 {
				continue
			}
			var rec map[string]json.RawMessage
			if err := json.Unmarshal(kvs[0].Value, &rec); err != nil {
				return fmt.Errorf("store: %s: %w", k, err)
			}
			for _, id := range ids {
				if found[id] || !slices.Contains(candidates[id], k) {
					continue
				}
				ok, err := changeRecordTags(rec, id, func(tags map[string]string) error { return change(id, tags) })
				if err != nil {
					return fmt.Errorf("store: %s: %w", k, err)
				}
				found[id] = ok
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

// tagRecordKeys gives, for each id, the keys of the records that may hold
// its tags: its own, or for a rule its group's (found by reading the groups).
func (s *Store) tagRecordKeys(ctx context.Context, ids []string) (map[string][]string, error) {
	out := map[string][]string{}
	var rules []string
	for _, id := range ids {
		if strings.HasPrefix(id, "sgr-") {
			rules = append(rules, id)
			continue
		}
		out[id] = recordKeys(id)
	}
	if len(rules) == 0 {
		return out, nil
	}
	for _, p := range []string{networkPrefix + "security-groups/", clusterSGPrefix} {
		resp, err := s.client.Get(ctx, p, clientv3.WithPrefix())
		if err != nil {
			return nil, err
		}
		for _, kv := range resp.Kvs {
			var g struct {
				Rules []struct {
					ID string `json:"id"`
				} `json:"rules"`
			}
			if json.Unmarshal(kv.Value, &g) != nil {
				continue
			}
			for _, r := range g.Rules {
				if slices.Contains(rules, r.ID) {
					out[r.ID] = append(out[r.ID], string(kv.Key))
				}
			}
		}
	}
	return out, nil
}

// changeRecordTags applies change to the tags of id within rec (the record
// itself, or the rule of that id in its "rules"); false when rec has no such
// rule.
func changeRecordTags(rec map[string]json.RawMessage, id string, change func(map[string]string) error) (bool, error) {
	if !strings.HasPrefix(id, "sgr-") {
		return true, changeTagsField(rec, change)
	}
	var rules []map[string]json.RawMessage
	if err := json.Unmarshal(rec["rules"], &rules); err != nil {
		return false, err
	}
	for _, r := range rules {
		var rid string
		if json.Unmarshal(r["id"], &rid) != nil || rid != id {
			continue
		}
		if err := changeTagsField(r, change); err != nil {
			return false, err
		}
		rec["rules"], _ = json.Marshal(rules)
		return true, nil
	}
	return false, nil
}

// changeTagsField applies change to the "tags" member of a JSON record.
func changeTagsField(rec map[string]json.RawMessage, change func(map[string]string) error) error {
	tags := map[string]string{}
	if raw, ok := rec["tags"]; ok {
		if err := json.Unmarshal(raw, &tags); err != nil {
			return err
		}
	}
	if err := change(tags); err != nil {
		return err
	}
	delete(rec, "tags")
	if len(tags) > 0 {
		rec["tags"], _ = json.Marshal(tags)
	}
	return nil
}
