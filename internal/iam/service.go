// Package iam is kplane's IAM and STS: users, their access keys, roles, and
// temporary credentials from STS AssumeRole, on the AWS query protocol at
// kplane's endpoint, and the credential source that authenticates every
// request with them.
//
// No secret is stored in etcd. One 32-byte master key, DATA_DIR/iam-master.key
// (0600), is the root of every IAM secret: an access key's secret, and a
// session's secret and token, are HMAC-SHA256 derivations of it and of the key
// id. etcd holds only metadata (users, roles, access key ids, sessions on
// leases), read on the hot path through a watch-fed index.
package iam

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/store"
)

const (
	// DefaultRoleName is the role kplane offers for clusters.
	DefaultRoleName = "eks-cluster-role"

	defaultRoleMarker = "iam-default-cluster-role" // under /kplane/meta/: made once
	defaultRolePolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	defaultRoleDesc   = "Allows access to other AWS service resources that are required to operate clusters managed by EKS."

	prefixUserKey    = "AKIA"
	prefixSessionKey = "ASIA"
	prefixUserID     = "AIDA"
	prefixRoleID     = "AROA"

	statusActive = "Active"
)

// Service is kplane's IAM and STS.
type Service struct {
	st        *store.Store
	dataDir   string
	accountID string
	region    string
	root      *auth.Credential // may be nil
	rootArn   string
	keys      deriver
	index     *store.IAMIndex

	// now is the clock of STS (session expiry) and of IAM's create dates.
	now func() time.Time

	mu      sync.RWMutex
	derived map[string]derivedCredential // by access key id

	parsedDocs parsedCache
	principals principalCache
	issuerKeys IssuerKeys // nil: no web identity is verifiable
}

// derivedCredential caches the Credential made from one index record, so a
// request costs no HMAC; src is the record it was made from (records are
// replaced, never changed, when etcd changes).
type derivedCredential struct {
	src  any
	cred *auth.Credential
}

// New opens kplane's IAM over st: it loads or creates DATA_DIR/iam-master.key
// and starts following access keys and sessions. root, if not nil, is the
// account root's credential (from auth.LoadOrCreateRoot).
func New(st *store.Store, dataDir, accountID, region string, root *auth.Credential) (*Service, error) {
	if st == nil {
		return nil, errors.New("iam: no store")
	}
	if !auth.ValidAccountID(accountID) {
		return nil, fmt.Errorf("iam: account id %q is not 12 digits", accountID)
	}
	if region == "" {
		return nil, errors.New("iam: no region")
	}
	master, err := loadOrCreateMasterKey(dataDir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	index, err := st.OpenIAMIndex(ctx)
	if err != nil {
		return nil, fmt.Errorf("iam: read access keys: %w", err)
	}
	return &Service{
		st: st, dataDir: dataDir, accountID: accountID, region: region, root: root,
		rootArn: "arn:aws:iam::" + accountID + ":root",
		keys:    deriver{master: master}, index: index, now: time.Now,
		derived: map[string]derivedCredential{},
	}, nil
}

// Credentials is the auth.CredentialSource over root, IAM users' access keys
// and STS sessions (ASIA keys: SessionToken and Expires set; Arn = the
// assumed-role ARN; UserID = "AROA...:SESSION").
func (s *Service) Credentials() auth.CredentialSource { return credentialSource{s} }

type credentialSource struct{ s *Service }

// Lookup implements auth.CredentialSource. Root is a comparison; IAM keys and
// sessions are map reads of the watch-fed index, so a deleted key fails as
// soon as etcd reports the deletion.
func (c credentialSource) Lookup(_ context.Context, id string) (*auth.Credential, error) {
	s := c.s
	if s.root != nil && id == s.root.AccessKeyID {
		return s.root, nil
	}
	switch {
	case strings.HasPrefix(id, prefixUserKey):
		k := s.index.AccessKey(id)
		if k == nil || k.Status != statusActive {
			return nil, auth.ErrUnknownKey
		}
		return s.derive(id, k, func() *auth.Credential {
			return &auth.Credential{
				AccessKeyID: id, SecretAccessKey: s.keys.accessKeySecret(id),
				AccountID: s.accountID, Arn: k.UserArn, UserID: k.UserID,
			}
		}), nil
	case strings.HasPrefix(id, prefixSessionKey):
		sess := s.index.Session(id)
		if sess == nil {
			return nil, auth.ErrUnknownKey
		}
		return s.derive(id, sess, func() *auth.Credential { return s.sessionCredential(sess) }), nil
	}
	return nil, auth.ErrUnknownKey
}

func (s *Service) sessionCredential(sess *store.IAMSession) *auth.Credential {
	return &auth.Credential{
		AccessKeyID:     sess.AccessKeyID,
		SecretAccessKey: s.keys.sessionSecret(sess.AccessKeyID),
		SessionToken:    s.keys.sessionToken(sess.AccessKeyID),
		Expires:         sess.Expiration,
		AccountID:       s.accountID,
		Arn:             assumedRoleArn(s.accountID, sess.RoleName, sess.SessionName),
		UserID:          sess.RoleID + ":" + sess.SessionName,
	}
}

// derive returns the cached credential for src, making it on first use.
func (s *Service) derive(id string, src any, build func() *auth.Credential) *auth.Credential {
	s.mu.RLock()
	d, ok := s.derived[id]
	s.mu.RUnlock()
	if ok && d.src == src {
		return d.cred
	}
	cred := build()
	s.mu.Lock()
	s.derived[id] = derivedCredential{src: src, cred: cred}
	if len(s.derived) > 2*s.index.Len()+1024 {
		// Keys and sessions that left the index leave the cache too.
		for k, d := range s.derived {
			if d.src != s.indexed(k) {
				delete(s.derived, k)
			}
		}
	}
	s.mu.Unlock()
	return cred
}

// indexed is the index's current record for id (nil if none), as an any that
// compares equal to the src of a derivedCredential made from it.
func (s *Service) indexed(id string) any {
	if k := s.index.AccessKey(id); k != nil {
		return k
	}
	if sess := s.index.Session(id); sess != nil {
		return sess
	}
	return nil
}

// EnsureDefaultRole creates, once, the role kplane offers for clusters:
// arn:aws:iam::ACCT:role/eks-cluster-role (trust policy: eks.amazonaws.com
// service principal) and returns its ARN. A role of that name that exists
// already is kept as it is; once made, a deleted role is not made again.
func (s *Service) EnsureDefaultRole(ctx context.Context) (string, error) {
	role := &store.IAMRole{
		RoleName: DefaultRoleName, RoleID: newID(prefixRoleID), Path: "/",
		Arn:        roleArn(s.accountID, "/", DefaultRoleName),
		CreateDate: s.now().UTC().Truncate(time.Second), AssumeRolePolicyDocument: defaultRolePolicy,
		Description: defaultRoleDesc, MaxSessionDuration: defaultMaxSessionDuration,
	}
	got, _, err := s.st.CreateIAMRoleOnce(ctx, role, defaultRoleMarker)
	if err != nil {
		return "", fmt.Errorf("iam: default role: %w", err)
	}
	if got != nil {
		return got.Arn, nil
	}
	return role.Arn, nil
}

// RoleExists reports whether arn names an existing role (CreateCluster checks
// its roleArn with it). Role names ignore case, as in IAM; the path must match.
func (s *Service) RoleExists(ctx context.Context, arn string) (bool, error) {
	path, name, ok := splitRoleArn(arn, s.accountID)
	if !ok {
		return false, nil
	}
	r, err := s.st.GetIAMRole(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return r.Path == path, nil
}

// splitRoleArn takes arn:aws:iam::ACCOUNT:role/PATH/NAME apart.
func splitRoleArn(s, account string) (path, name string, ok bool) {
	a, ok := parseARN(s)
	if !ok || a.partition != "aws" || a.service != "iam" || a.region != "" || a.account != account {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(a.resource, "role/")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '/')
	path, name = "/"+rest[:i+1], rest[i+1:]
	if name == "" || len(name) > 64 || !validName(name) || !validPath(path) {
		return "", "", false
	}
	return path, name, true
}

func userArn(account, path, name string) string {
	return "arn:aws:iam::" + account + ":user" + path + name
}

func roleArn(account, path, name string) string {
	return "arn:aws:iam::" + account + ":role" + path + name
}

func assumedRoleArn(account, role, session string) string {
	return "arn:aws:sts::" + account + ":assumed-role/" + role + "/" + session
}

// principalKind says who a verified caller is.
type principalKind int

const (
	kindRoot principalKind = iota
	kindUser
	kindSession
)

type principalInfo struct {
	kind     principalKind
	arn      string
	userName string            // kindUser
	session  *store.IAMSession // kindSession, when still indexed
}

func (s *Service) whoIs(cred *auth.Credential) principalInfo {
	switch {
	case s.root != nil && cred.AccessKeyID == s.root.AccessKeyID, cred.Arn == s.rootArn:
		return principalInfo{kind: kindRoot, arn: s.rootArn}
	case cred.SessionToken != "":
		return principalInfo{kind: kindSession, arn: cred.Arn, session: s.index.Session(cred.AccessKeyID)}
	default:
		name := cred.Arn[strings.LastIndexByte(cred.Arn, '/')+1:]
		return principalInfo{kind: kindUser, arn: cred.Arn, userName: name}
	}
}
