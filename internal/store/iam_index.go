package store

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// IAMIndex is a watch-fed, in-memory view of every access key and session, for
// authenticating requests without a round trip to etcd. A deleted key or an
// ended session leaves it as soon as etcd's watch reports the change
// (milliseconds). It stops when Close is called or the store's client closes.
type IAMIndex struct {
	cli    *clientv3.Client
	log    *slog.Logger
	cancel context.CancelFunc

	mirror     // mu guards what follows
	keys       map[string]*IAMAccessKey
	sessions   map[string]*IAMSession
	principals IAMPrincipals
	// principalsRev is the revision of the last change to a user, role,
	// group or policy seen: what decides calls is unchanged while it is.
	principalsRev int64
}

// OpenIAMIndex reads every access key and session and keeps following them.
func (s *Store) OpenIAMIndex(ctx context.Context) (*IAMIndex, error) {
	x := &IAMIndex{cli: s.client, log: s.log, mirror: newMirror(),
		keys: map[string]*IAMAccessKey{}, sessions: map[string]*IAMSession{}, principals: newIAMPrincipals()}
	rev, err := x.relist(ctx)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(s.client.Ctx())
	x.cancel = cancel
	go x.follow(wctx, x.cli, iamPrefix, rev, x.apply, x.relist, x.log, "iam index")
	return x, nil
}

// Close stops following etcd.
func (x *IAMIndex) Close() {
	x.cancel()
	<-x.done
}

// AccessKey returns the access key id, or nil. The record is shared: do not modify it.
func (x *IAMIndex) AccessKey(id string) *IAMAccessKey {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.keys[id]
}

// Session returns the session whose access key id is id, or nil. The record
// is shared: do not modify it.
func (x *IAMIndex) Session(id string) *IAMSession {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.sessions[id]
}

// PrincipalsRevision moves whenever a user, role, group or customer managed
// policy changes (or the index relists): a result derived from them is
// current as long as it has not moved.
func (x *IAMIndex) PrincipalsRevision() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.principalsRev
}

// Len is the number of access keys and sessions known.
func (x *IAMIndex) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.keys) + len(x.sessions)
}

// WaitFor blocks until the index has seen revision rev (a write's revision,
// under /kplane/iam/), for at most 10 seconds.
func (x *IAMIndex) WaitFor(ctx context.Context, rev int64) error {
	return x.waitFor(ctx, rev)
}

func (x *IAMIndex) relist(ctx context.Context) (int64, error) {
	txn, err := x.cli.Txn(ctx).Then(
		clientv3.OpGet(iamKeysPrefix, clientv3.WithPrefix()),
		clientv3.OpGet(iamSessionsPrefix, clientv3.WithPrefix())).Commit()
	if err != nil {
		return 0, err
	}
	principals, err := relistPrincipals(ctx, x.cli, txn.Header.Revision)
	if err != nil {
		return 0, err
	}
	keys := map[string]*IAMAccessKey{}
	for _, kv := range txn.Responses[0].GetResponseRange().Kvs {
		var k IAMAccessKey
		if json.Unmarshal(kv.Value, &k) == nil {
			keys[k.AccessKeyID] = &k
		}
	}
	sessions := map[string]*IAMSession{}
	for _, kv := range txn.Responses[1].GetResponseRange().Kvs {
		var s IAMSession
		if json.Unmarshal(kv.Value, &s) == nil {
			sessions[s.AccessKeyID] = &s
		}
	}
	x.mu.Lock()
	x.keys, x.sessions, x.principals = keys, sessions, principals
	x.principalsRev = txn.Header.Revision
	x.advanceLocked(txn.Header.Revision)
	x.mu.Unlock()
	return txn.Header.Revision, nil
}

func (x *IAMIndex) apply(resp clientv3.WatchResponse) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, ev := range resp.Events {
		key := string(ev.Kv.Key)
		del := ev.Type == clientv3.EventTypeDelete
		switch {
		case strings.HasPrefix(key, iamKeysPrefix):
			id := strings.TrimPrefix(key, iamKeysPrefix)
			var k IAMAccessKey
			if del || json.Unmarshal(ev.Kv.Value, &k) != nil {
				delete(x.keys, id)
			} else {
				x.keys[id] = &k
			}
		case strings.HasPrefix(key, iamSessionsPrefix):
			id := strings.TrimPrefix(key, iamSessionsPrefix)
			var s IAMSession
			if del || json.Unmarshal(ev.Kv.Value, &s) != nil {
				delete(x.sessions, id)
			} else {
				x.sessions[id] = &s
			}
		default:
			if x.principals.applyPrincipal(key, ev.Kv.Value, del) {
				x.principalsRev = max(x.principalsRev, resp.Header.Revision)
			}
		}
	}
	x.advanceLocked(resp.Header.Revision)
}

// IAMPrincipals is the index's view of what decides a call: users, roles,
// groups and customer managed policies, by lower-cased name. Records are
// shared and replaced, never changed: do not modify them.
type IAMPrincipals struct {
	Users    map[string]*IAMUser
	Roles    map[string]*IAMRole
	Groups   map[string]*IAMGroup
	Policies map[string]*IAMPolicy
}

func newIAMPrincipals() IAMPrincipals {
	return IAMPrincipals{Users: map[string]*IAMUser{}, Roles: map[string]*IAMRole{},
		Groups: map[string]*IAMGroup{}, Policies: map[string]*IAMPolicy{}}
}

// applyPrincipal applies one etcd event under iamPrefix to p; it reports
// whether the key was one of p's.
func (p *IAMPrincipals) applyPrincipal(key string, value []byte, del bool) bool {
	switch {
	case strings.HasPrefix(key, iamUsersPrefix):
		applyRecord(p.Users, strings.TrimPrefix(key, iamUsersPrefix), value, del)
	case strings.HasPrefix(key, iamRolesPrefix):
		applyRecord(p.Roles, strings.TrimPrefix(key, iamRolesPrefix), value, del)
	case strings.HasPrefix(key, iamGroupsPrefix):
		applyRecord(p.Groups, strings.TrimPrefix(key, iamGroupsPrefix), value, del)
	case strings.HasPrefix(key, iamPoliciesPrefix):
		applyRecord(p.Policies, strings.TrimPrefix(key, iamPoliciesPrefix), value, del)
	default:
		return false
	}
	return true
}

func applyRecord[T any](m map[string]*T, name string, value []byte, del bool) {
	var v T
	if del || json.Unmarshal(value, &v) != nil {
		delete(m, name)
		return
	}
	m[name] = &v
}

// User returns the user of that name (any case) from the index, or nil.
func (x *IAMIndex) User(name string) *IAMUser {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.principals.Users[strings.ToLower(name)]
}

// Role returns the role of that name from the index, or nil.
func (x *IAMIndex) Role(name string) *IAMRole {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.principals.Roles[strings.ToLower(name)]
}

// Group returns the group of that name from the index, or nil.
func (x *IAMIndex) Group(name string) *IAMGroup {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.principals.Groups[strings.ToLower(name)]
}

// Policy returns the customer managed policy of that name from the index, or nil.
func (x *IAMIndex) Policy(name string) *IAMPolicy {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.principals.Policies[strings.ToLower(name)]
}

// BoundaryUsages counts, by policy ARN, the users and roles that have the
// policy as their permissions boundary (IAM's PermissionsBoundaryUsageCount).
func (x *IAMIndex) BoundaryUsages() map[string]int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := map[string]int{}
	for _, u := range x.principals.Users {
		if u.PermissionsBoundary != "" {
			n[u.PermissionsBoundary]++
		}
	}
	for _, r := range x.principals.Roles {
		if r.PermissionsBoundary != "" {
			n[r.PermissionsBoundary]++
		}
	}
	return n
}

// relistPrincipals reads every user, role, group and policy in one read.
func relistPrincipals(ctx context.Context, cli *clientv3.Client, rev int64) (IAMPrincipals, error) {
	p := newIAMPrincipals()
	resp, err := cli.Get(ctx, iamPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		return p, err
	}
	for _, kv := range resp.Kvs {
		p.applyPrincipal(string(kv.Key), kv.Value, false)
	}
	return p, nil
}
