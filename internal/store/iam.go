package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// IAM's records. Only metadata lives here: secret access keys and session
// tokens are derived from a key file in the data directory (see package iam)
// and never reach etcd.
//
//	/kplane/iam/users/NAME         IAMUser (NAME lower-cased: IAM names ignore case)
//	/kplane/iam/roles/NAME         IAMRole
//	/kplane/iam/access-keys/AKID   IAMAccessKey
//	/kplane/iam/sessions/ASID      IAMSession, on a lease that ends it
const (
	iamPrefix         = prefix + "iam/"
	iamUsersPrefix    = iamPrefix + "users/"
	iamRolesPrefix    = iamPrefix + "roles/"
	iamKeysPrefix     = iamPrefix + "access-keys/"
	iamSessionsPrefix = iamPrefix + "sessions/"
)

func iamUserKey(name string) string    { return iamUsersPrefix + strings.ToLower(name) }
func iamRoleKey(name string) string    { return iamRolesPrefix + strings.ToLower(name) }
func iamAccessKeyKey(id string) string { return iamKeysPrefix + id }
func iamSessionKey(id string) string   { return iamSessionsPrefix + id }

// ErrInUse means an entity still has dependents, such as a user with access keys.
var ErrInUse = errors.New("store: entity in use")

// IAMTag is one tag of a user or role.
type IAMTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// IAMUser is an IAM user.
type IAMUser struct {
	UserName   string    `json:"userName"`
	UserID     string    `json:"userId"`
	Path       string    `json:"path"`
	Arn        string    `json:"arn"`
	CreateDate time.Time `json:"createDate"`
	Tags       []IAMTag  `json:"tags,omitempty"`
	// AccessKeys are the ids of the user's access keys, kept here so the
	// per-user limit and "no keys left" are checked in one transaction.
	AccessKeys []string `json:"accessKeys,omitempty"`
	// Groups are the names of the groups the user is in.
	Groups           []string          `json:"groups,omitempty"`
	AttachedPolicies []string          `json:"attachedPolicies,omitempty"` // managed policy ARNs
	InlinePolicies   []IAMInlinePolicy `json:"inlinePolicies,omitempty"`
	// PermissionsBoundary is the ARN of the managed policy that bounds the
	// user's permissions, or "".
	PermissionsBoundary string `json:"permissionsBoundary,omitempty"`
}

// IAMRole is an IAM role.
type IAMRole struct {
	RoleName                 string            `json:"roleName"`
	RoleID                   string            `json:"roleId"`
	Path                     string            `json:"path"`
	Arn                      string            `json:"arn"`
	CreateDate               time.Time         `json:"createDate"`
	AssumeRolePolicyDocument string            `json:"assumeRolePolicyDocument"` // as the client sent it
	Description              string            `json:"description,omitempty"`
	MaxSessionDuration       int               `json:"maxSessionDuration"` // seconds
	Tags                     []IAMTag          `json:"tags,omitempty"`
	AttachedPolicies         []string          `json:"attachedPolicies,omitempty"` // managed policy ARNs
	InlinePolicies           []IAMInlinePolicy `json:"inlinePolicies,omitempty"`
	InstanceProfiles         []string          `json:"instanceProfiles,omitempty"` // names of the profiles holding the role
	// ServiceLinked names the service of a service-linked role (eks.amazonaws.com).
	ServiceLinked string `json:"serviceLinked,omitempty"`
	// PermissionsBoundary is the ARN of the managed policy that bounds the
	// role's permissions (and its sessions'), or "".
	PermissionsBoundary string `json:"permissionsBoundary,omitempty"`
}

// IAMAccessKey is an IAM user's access key, without its secret. The user's
// id and ARN are copied in so a request is authenticated from this record
// alone (a user's path and name never change).
type IAMAccessKey struct {
	AccessKeyID string    `json:"accessKeyId"`
	UserName    string    `json:"userName"`
	UserID      string    `json:"userId"`
	UserArn     string    `json:"userArn"`
	Status      string    `json:"status"` // Active or Inactive
	CreateDate  time.Time `json:"createDate"`
}

// IAMSession is a set of temporary credentials made by STS AssumeRole,
// without its secret or token.
type IAMSession struct {
	AccessKeyID string `json:"accessKeyId"`
	RoleArn     string `json:"roleArn"`
	RoleID      string `json:"roleId"`
	RoleName    string `json:"roleName"`
	SessionName string `json:"sessionName"`
	SourceArn   string `json:"sourceArn"` // the principal that assumed the role
	// SourceIdentity is the identity set at AssumeRole (or inherited from
	// the session that assumed it): aws:SourceIdentity of its calls.
	SourceIdentity string    `json:"sourceIdentity,omitempty"`
	Expiration     time.Time `json:"expiration"`
	// SessionPolicies are the documents of the session's Policy and
	// PolicyArns (nil when none was given: then the role's policies alone apply).
	SessionPolicies []string `json:"sessionPolicies,omitempty"`
	// HasSessionPolicy says session policies were given (even if empty).
	HasSessionPolicy bool `json:"hasSessionPolicy,omitempty"`
}

// CreateIAMUser stores a new user; ErrExists if the name (in any case) is taken.
func (s *Store) CreateIAMUser(ctx context.Context, u *IAMUser) error {
	return s.createIfAbsent(ctx, iamUserKey(u.UserName), u)
}

// GetIAMUser returns the named user (names ignore case), or ErrNotFound.
func (s *Store) GetIAMUser(ctx context.Context, name string) (*IAMUser, error) {
	u, _, err := s.getIAMUser(ctx, name, 0)
	return u, err
}

func (s *Store) getIAMUser(ctx context.Context, name string, rev int64) (*IAMUser, int64, error) {
	var opts []clientv3.OpOption
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := s.client.Get(ctx, iamUserKey(name), opts...)
	if err != nil {
		return nil, 0, err
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, ErrNotFound
	}
	var u IAMUser
	if err := json.Unmarshal(resp.Kvs[0].Value, &u); err != nil {
		return nil, 0, fmt.Errorf("store: user %q: %w", name, err)
	}
	return &u, resp.Kvs[0].ModRevision, nil
}

// ListIAMUsers returns every user, ordered by lower-cased name.
func (s *Store) ListIAMUsers(ctx context.Context) ([]*IAMUser, error) {
	return listJSON[IAMUser](ctx, s, iamUsersPrefix)
}

// DeleteIAMUser deletes the named user: ErrNotFound if there is none, ErrInUse
// while it still has access keys.
func (s *Store) DeleteIAMUser(ctx context.Context, name string) error {
	key := iamUserKey(name)
	for attempt := 0; attempt < 100; attempt++ {
		u, rev, err := s.getIAMUser(ctx, name, 0)
		if err != nil {
			return err
		}
		if len(u.AccessKeys) > 0 {
			return ErrInUse
		}
		txn, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpDelete(key)).Commit()
		if err != nil {
			return err
		}
		if txn.Succeeded {
			return nil
		}
	}
	return ErrConflict
}

// CreateIAMAccessKey stores k for its user, in one transaction with the
// user's list of keys: ErrNotFound if the user does not exist, ErrQuota if it
// already has limit keys. It returns the revision of the write.
func (s *Store) CreateIAMAccessKey(ctx context.Context, k *IAMAccessKey, limit int) (int64, error) {
	userKey := iamUserKey(k.UserName)
	for attempt := 0; attempt < 100; attempt++ {
		u, rev, err := s.getIAMUser(ctx, k.UserName, 0)
		if err != nil {
			return 0, err
		}
		if len(u.AccessKeys) >= limit {
			return 0, ErrQuota
		}
		u.AccessKeys = append(u.AccessKeys, k.AccessKeyID)
		txn, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(userKey), "=", rev),
				clientv3.Compare(clientv3.CreateRevision(iamAccessKeyKey(k.AccessKeyID)), "=", 0)).
			Then(putJSON(userKey, u), putJSON(iamAccessKeyKey(k.AccessKeyID), k)).
			Else(clientv3.OpGet(iamAccessKeyKey(k.AccessKeyID), clientv3.WithCountOnly())).Commit()
		if err != nil {
			return 0, err
		}
		if txn.Succeeded {
			return txn.Header.Revision, nil
		}
		if txn.Responses[0].GetResponseRange().Count > 0 {
			return 0, ErrExists // the id is taken (the caller makes a new one)
		}
	}
	return 0, ErrConflict
}

// DeleteIAMAccessKey deletes the user's access key id; ErrNotFound if the
// user does not exist or has no such key. It returns the revision of the write.
func (s *Store) DeleteIAMAccessKey(ctx context.Context, userName, id string) (int64, error) {
	userKey := iamUserKey(userName)
	for attempt := 0; attempt < 100; attempt++ {
		u, rev, err := s.getIAMUser(ctx, userName, 0)
		if err != nil {
			return 0, err
		}
		i := slices.Index(u.AccessKeys, id)
		if i < 0 {
			return 0, ErrNotFound
		}
		u.AccessKeys = slices.Delete(u.AccessKeys, i, i+1)
		txn, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(userKey), "=", rev)).
			Then(putJSON(userKey, u), clientv3.OpDelete(iamAccessKeyKey(id))).Commit()
		if err != nil {
			return 0, err
		}
		if txn.Succeeded {
			return txn.Header.Revision, nil
		}
	}
	return 0, ErrConflict
}

// ListIAMAccessKeys returns the user's access keys, oldest first, or
// ErrNotFound if there is no such user.
func (s *Store) ListIAMAccessKeys(ctx context.Context, userName string) ([]*IAMAccessKey, error) {
	u, _, err := s.getIAMUser(ctx, userName, 0)
	if err != nil {
		return nil, err
	}
	if len(u.AccessKeys) == 0 {
		return nil, nil
	}
	ops := make([]clientv3.Op, len(u.AccessKeys))
	for i, id := range u.AccessKeys {
		ops[i] = clientv3.OpGet(iamAccessKeyKey(id))
	}
	txn, err := s.client.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, err
	}
	out := make([]*IAMAccessKey, 0, len(ops))
	for _, r := range txn.Responses {
		for _, kv := range r.GetResponseRange().Kvs {
			var k IAMAccessKey
			if json.Unmarshal(kv.Value, &k) == nil {
				out = append(out, &k)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *IAMAccessKey) int { return a.CreateDate.Compare(b.CreateDate) })
	return out, nil
}

// CreateIAMRole stores a new role; ErrExists if the name (in any case) is taken.
func (s *Store) CreateIAMRole(ctx context.Context, r *IAMRole) error {
	return s.createIfAbsent(ctx, iamRoleKey(r.RoleName), r)
}

// CreateIAMRoleOnce creates r unless marker (a key under /kplane/meta/) says
// it was created before, and returns the role now stored under r's name, or
// nil with created=false when it was created once and deleted since.
func (s *Store) CreateIAMRoleOnce(ctx context.Context, r *IAMRole, marker string) (got *IAMRole, created bool, err error) {
	markerKey := metaPrefix + marker
	key := iamRoleKey(r.RoleName)
	txn, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(markerKey), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(putJSON(key, r), clientv3.OpPut(markerKey, r.Arn)).Commit()
	if err != nil {
		return nil, false, err
	}
	if txn.Succeeded {
		return r, true, nil
	}
	// Made before (or a role of that name exists already): remember that it
	// was offered, and return what is there.
	if _, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(markerKey), "=", 0)).
		Then(clientv3.OpPut(markerKey, r.Arn)).Commit(); err != nil {
		return nil, false, err
	}
	got, err = s.GetIAMRole(ctx, r.RoleName)
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	return got, false, err
}

// GetIAMRole returns the named role (names ignore case), or ErrNotFound.
func (s *Store) GetIAMRole(ctx context.Context, name string) (*IAMRole, error) {
	resp, err := s.client.Get(ctx, iamRoleKey(name))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	var r IAMRole
	if err := json.Unmarshal(resp.Kvs[0].Value, &r); err != nil {
		return nil, fmt.Errorf("store: role %q: %w", name, err)
	}
	return &r, nil
}

// ListIAMRoles returns every role, ordered by lower-cased name.
func (s *Store) ListIAMRoles(ctx context.Context) ([]*IAMRole, error) {
	return listJSON[IAMRole](ctx, s, iamRolesPrefix)
}

// DeleteIAMRole deletes the named role, or returns ErrNotFound. Sessions of the
// role live on until they expire, as on AWS.
func (s *Store) DeleteIAMRole(ctx context.Context, name string) error {
	resp, err := s.client.Delete(ctx, iamRoleKey(name))
	if err != nil {
		return err
	}
	if resp.Deleted == 0 {
		return ErrNotFound
	}
	return nil
}

// PutIAMSession stores sess on a lease of ttl (rounded up to a second), after
// which etcd deletes it. It returns the revision of the write.
func (s *Store) PutIAMSession(ctx context.Context, sess *IAMSession, ttl time.Duration) (int64, error) {
	secs := int64((ttl + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	lease, err := s.client.Grant(ctx, secs)
	if err != nil {
		return 0, err
	}
	b, err := json.Marshal(sess)
	if err != nil {
		return 0, err
	}
	key := iamSessionKey(sess.AccessKeyID)
	txn, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b), clientv3.WithLease(lease.ID))).Commit()
	if err != nil {
		return 0, err
	}
	if !txn.Succeeded {
		s.client.Revoke(ctx, lease.ID)
		return 0, ErrExists
	}
	return txn.Header.Revision, nil
}

// createIfAbsent writes v at key unless the key exists (ErrExists).
func (s *Store) createIfAbsent(ctx context.Context, key string, v any) error {
	_, err := s.createIfAbsentRev(ctx, key, v)
	return err
}

// createIfAbsentRev is createIfAbsent that also gives the write's revision.
func (s *Store) createIfAbsentRev(ctx context.Context, key string, v any) (int64, error) {
	txn, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(putJSON(key, v)).Commit()
	if err != nil {
		return 0, err
	}
	if !txn.Succeeded {
		return 0, ErrExists
	}
	return txn.Header.Revision, nil
}

func listJSON[T any](ctx context.Context, s *Store, prefix string) ([]*T, error) {
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, err
	}
	out := make([]*T, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("store: %s: %w", kv.Key, err)
		}
		out = append(out, &v)
	}
	return out, nil
}
