package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"
)

// IAM's policies, groups and instance profiles, next to users and roles:
//
//	/kplane/iam/groups/NAME             IAMGroup
//	/kplane/iam/policies/NAME           IAMPolicy (customer managed, with its versions)
//	/kplane/iam/instance-profiles/NAME  IAMInstanceProfile
//
// What links them is kept on both sides that IAM checks together (a user's
// groups and a group's users; an attachment on the entity and a count on a
// customer managed policy), and every change that touches more than one
// record is one transaction (IAMTxn).
const (
	iamGroupsPrefix   = iamPrefix + "groups/"
	iamPoliciesPrefix = iamPrefix + "policies/"
	iamProfilesPrefix = iamPrefix + "instance-profiles/"
)

func iamGroupKey(name string) string   { return iamGroupsPrefix + strings.ToLower(name) }
func iamPolicyKey(name string) string  { return iamPoliciesPrefix + strings.ToLower(name) }
func iamProfileKey(name string) string { return iamProfilesPrefix + strings.ToLower(name) }

// IAMInlinePolicy is a policy embedded in a user, role or group.
type IAMInlinePolicy struct {
	Name     string `json:"name"`
	Document string `json:"document"`
}

// IAMGroup is an IAM group.
type IAMGroup struct {
	GroupName        string            `json:"groupName"`
	GroupID          string            `json:"groupId"`
	Path             string            `json:"path"`
	Arn              string            `json:"arn"`
	CreateDate       time.Time         `json:"createDate"`
	Users            []string          `json:"users,omitempty"` // member user names
	AttachedPolicies []string          `json:"attachedPolicies,omitempty"`
	InlinePolicies   []IAMInlinePolicy `json:"inlinePolicies,omitempty"`
}

// IAMPolicyVersion is one version of a managed policy.
type IAMPolicyVersion struct {
	VersionID  string    `json:"versionId"` // v1, v2, ...
	Document   string    `json:"document"`
	CreateDate time.Time `json:"createDate"`
}

// IAMPolicy is a customer managed policy with its versions (at most five).
type IAMPolicy struct {
	PolicyName       string             `json:"policyName"`
	PolicyID         string             `json:"policyId"`
	Path             string             `json:"path"`
	Arn              string             `json:"arn"`
	Description      string             `json:"description,omitempty"`
	CreateDate       time.Time          `json:"createDate"`
	UpdateDate       time.Time          `json:"updateDate"`
	DefaultVersionID string             `json:"defaultVersionId"`
	NextVersion      int                `json:"nextVersion"`
	Versions         []IAMPolicyVersion `json:"versions"`
	AttachmentCount  int                `json:"attachmentCount"`
	Tags             []IAMTag           `json:"tags,omitempty"`
}

// DefaultDocument is the document of the policy's default version.
func (p *IAMPolicy) DefaultDocument() string {
	for _, v := range p.Versions {
		if v.VersionID == p.DefaultVersionID {
			return v.Document
		}
	}
	return ""
}

// IAMInstanceProfile is an instance profile and its role (at most one).
type IAMInstanceProfile struct {
	Name       string    `json:"name"`
	ID         string    `json:"id"`
	Path       string    `json:"path"`
	Arn        string    `json:"arn"`
	CreateDate time.Time `json:"createDate"`
	Roles      []string  `json:"roles,omitempty"`
	Tags       []IAMTag  `json:"tags,omitempty"`
}

// IAMTx reads and writes IAM records in one etcd transaction (software
// transactional memory over etcd: what was read is compared at commit, and
// the function runs again if something changed meanwhile).
type IAMTx struct {
	stm   concurrency.STM
	wrote *bool
}

// IAMTxn runs fn in a transaction and returns the revision of its commit,
// or 0 when fn wrote nothing. fn may run more than once; an error from it
// aborts and is returned.
func (s *Store) IAMTxn(ctx context.Context, fn func(tx IAMTx) error) (int64, error) {
	wrote := false
	resp, err := concurrency.NewSTM(s.client, func(stm concurrency.STM) error {
		wrote = false
		return fn(IAMTx{stm: stm, wrote: &wrote})
	}, concurrency.WithAbortContext(ctx))
	if err != nil {
		return 0, err
	}
	if !wrote {
		return 0, nil
	}
	return resp.Header.Revision, nil
}

func txGet[T any](tx IAMTx, key string) (*T, error) {
	v := tx.stm.Get(key)
	if v == "" {
		return nil, ErrNotFound
	}
	var x T
	if err := json.Unmarshal([]byte(v), &x); err != nil {
		return nil, fmt.Errorf("store: %s: %w", key, err)
	}
	return &x, nil
}

func txPut(tx IAMTx, key string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // records are plain structs
	}
	tx.stm.Put(key, string(b))
	*tx.wrote = true
}

func (tx IAMTx) User(name string) (*IAMUser, error) { return txGet[IAMUser](tx, iamUserKey(name)) }
func (tx IAMTx) Role(name string) (*IAMRole, error) { return txGet[IAMRole](tx, iamRoleKey(name)) }
func (tx IAMTx) Group(name string) (*IAMGroup, error) {
	return txGet[IAMGroup](tx, iamGroupKey(name))
}
func (tx IAMTx) Policy(name string) (*IAMPolicy, error) {
	return txGet[IAMPolicy](tx, iamPolicyKey(name))
}
func (tx IAMTx) InstanceProfile(name string) (*IAMInstanceProfile, error) {
	return txGet[IAMInstanceProfile](tx, iamProfileKey(name))
}

func (tx IAMTx) PutUser(u *IAMUser)   { txPut(tx, iamUserKey(u.UserName), u) }
func (tx IAMTx) PutRole(r *IAMRole)   { txPut(tx, iamRoleKey(r.RoleName), r) }
func (tx IAMTx) PutGroup(g *IAMGroup) { txPut(tx, iamGroupKey(g.GroupName), g) }
func (tx IAMTx) PutPolicy(p *IAMPolicy) {
	txPut(tx, iamPolicyKey(p.PolicyName), p)
}
func (tx IAMTx) PutInstanceProfile(p *IAMInstanceProfile) { txPut(tx, iamProfileKey(p.Name), p) }

func (tx IAMTx) DeleteUser(name string)            { tx.del(iamUserKey(name)) }
func (tx IAMTx) DeleteRole(name string)            { tx.del(iamRoleKey(name)) }
func (tx IAMTx) DeleteGroup(name string)           { tx.del(iamGroupKey(name)) }
func (tx IAMTx) DeletePolicy(name string)          { tx.del(iamPolicyKey(name)) }
func (tx IAMTx) DeleteInstanceProfile(name string) { tx.del(iamProfileKey(name)) }

// CreateIAMGroup stores a new group; ErrExists if the name (in any case) is taken.
func (s *Store) CreateIAMGroup(ctx context.Context, g *IAMGroup) error {
	return s.createIfAbsent(ctx, iamGroupKey(g.GroupName), g)
}

// CreateIAMPolicy stores a new customer managed policy; ErrExists if the name is taken.
func (s *Store) CreateIAMPolicy(ctx context.Context, p *IAMPolicy) (rev int64, err error) {
	return s.createIfAbsentRev(ctx, iamPolicyKey(p.PolicyName), p)
}

// CreateIAMInstanceProfile stores a new instance profile; ErrExists if the name is taken.
func (s *Store) CreateIAMInstanceProfile(ctx context.Context, p *IAMInstanceProfile) error {
	return s.createIfAbsent(ctx, iamProfileKey(p.Name), p)
}

// GetIAMGroup returns the named group, or ErrNotFound.
func (s *Store) GetIAMGroup(ctx context.Context, name string) (*IAMGroup, error) {
	return getJSON[IAMGroup](ctx, s, iamGroupKey(name))
}

// GetIAMPolicy returns the named customer managed policy, or ErrNotFound.
func (s *Store) GetIAMPolicy(ctx context.Context, name string) (*IAMPolicy, error) {
	return getJSON[IAMPolicy](ctx, s, iamPolicyKey(name))
}

// GetIAMInstanceProfile returns the named instance profile, or ErrNotFound.
func (s *Store) GetIAMInstanceProfile(ctx context.Context, name string) (*IAMInstanceProfile, error) {
	return getJSON[IAMInstanceProfile](ctx, s, iamProfileKey(name))
}

// ListIAMGroups returns every group, ordered by lower-cased name.
func (s *Store) ListIAMGroups(ctx context.Context) ([]*IAMGroup, error) {
	return listJSON[IAMGroup](ctx, s, iamGroupsPrefix)
}

// ListIAMPolicies returns every customer managed policy, ordered by lower-cased name.
func (s *Store) ListIAMPolicies(ctx context.Context) ([]*IAMPolicy, error) {
	return listJSON[IAMPolicy](ctx, s, iamPoliciesPrefix)
}

// ListIAMInstanceProfiles returns every instance profile, ordered by lower-cased name.
func (s *Store) ListIAMInstanceProfiles(ctx context.Context) ([]*IAMInstanceProfile, error) {
	return listJSON[IAMInstanceProfile](ctx, s, iamProfilesPrefix)
}

func getJSON[T any](ctx context.Context, s *Store, key string) (*T, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	var v T
	if err := json.Unmarshal(resp.Kvs[0].Value, &v); err != nil {
		return nil, fmt.Errorf("store: %s: %w", key, err)
	}
	return &v, nil
}

// ErrLimit means a quota of IAM entities would be exceeded (five policy versions, ...).
var ErrLimit = errors.New("store: limit exceeded")

func (tx IAMTx) del(key string) {
	tx.stm.Del(key)
	*tx.wrote = true
}

// IAMOIDCProvider is an OpenID Connect identity provider, by its URL
// without https:// (host and path), under /kplane/iam/oidc-providers/.
type IAMOIDCProvider struct {
	URL         string    `json:"url"` // host[/path], as IAM keeps it
	Arn         string    `json:"arn"`
	ClientIDs   []string  `json:"clientIds,omitempty"`
	Thumbprints []string  `json:"thumbprints,omitempty"`
	CreateDate  time.Time `json:"createDate"`
	Tags        []IAMTag  `json:"tags,omitempty"`
}

const iamOIDCPrefix = iamPrefix + "oidc-providers/"

func iamOIDCKey(url string) string {
	return iamOIDCPrefix + strings.ReplaceAll(strings.ToLower(url), "/", "%2F")
}

// CreateIAMOIDCProvider stores a new provider; ErrExists if its URL is taken.
func (s *Store) CreateIAMOIDCProvider(ctx context.Context, p *IAMOIDCProvider) error {
	return s.createIfAbsent(ctx, iamOIDCKey(p.URL), p)
}

// ListIAMOIDCProviders returns every OIDC provider.
func (s *Store) ListIAMOIDCProviders(ctx context.Context) ([]*IAMOIDCProvider, error) {
	return listJSON[IAMOIDCProvider](ctx, s, iamOIDCPrefix)
}

func (tx IAMTx) OIDCProvider(url string) (*IAMOIDCProvider, error) {
	return txGet[IAMOIDCProvider](tx, iamOIDCKey(url))
}
func (tx IAMTx) PutOIDCProvider(p *IAMOIDCProvider) { txPut(tx, iamOIDCKey(p.URL), p) }
func (tx IAMTx) DeleteOIDCProvider(url string)      { tx.del(iamOIDCKey(url)) }
