package access

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/authn"
	"github.com/kplane/kplane/internal/store"
)

// Authentication modes of a cluster's accessConfig.
const (
	ModeConfigMap       = "CONFIG_MAP"
	ModeAPIAndConfigMap = "API_AND_CONFIG_MAP"
	ModeAPI             = "API"
)

// CreatorUsername is who the cluster creator is inside the cluster while the
// creator's admin rights are implicit (CONFIG_MAP mode), as on EKS.
const CreatorUsername = "kubernetes-admin"

// AwsAuth is the aws-auth ConfigMap's data of a cluster ("" when absent).
type AwsAuth struct{ MapRoles, MapUsers string }

// Mapper implements authn.Mapper over the store and the clusters' aws-auth
// ConfigMaps.
type Mapper struct {
	Store *store.Store
	// ReadAwsAuth reads kube-system/aws-auth from a running cluster.
	ReadAwsAuth func(ctx context.Context, rec *store.ClusterRecord) (AwsAuth, error)
	// AwsAuthTTL is how long a read aws-auth is reused (default 1 s).
	AwsAuthTTL time.Duration

	mu    sync.Mutex
	cache map[string]cachedAwsAuth
}

type cachedAwsAuth struct {
	at   time.Time
	data AwsAuth
}

var _ authn.Mapper = (*Mapper)(nil)

// Map implements authn.Mapper. Access entries win over aws-auth; which of the
// two count follows the cluster's authentication mode.
func (m *Mapper) Map(ctx context.Context, clusterID string, id *auth.TokenIdentity) (authn.User, bool, error) {
	u, ok, err := m.mapIdentity(ctx, clusterID, id)
	if !ok || err != nil {
		return u, ok, err
	}
	u.Username, err = m.fillInstanceName(ctx, u.Username, id)
	if errors.Is(err, errNoInstance) {
		return authn.User{}, false, nil
	}
	return u, err == nil, err
}

func (m *Mapper) mapIdentity(ctx context.Context, clusterID string, id *auth.TokenIdentity) (authn.User, bool, error) {
	rec := m.Store.ClusterByID(clusterID)
	if rec == nil {
		return authn.User{}, false, nil
	}
	mode := ModeConfigMap
	if ac := rec.Cluster.AccessConfig; ac != nil && ac.AuthenticationMode != "" {
		mode = ac.AuthenticationMode
	}
	if mode != ModeConfigMap {
		entries, err := m.Store.ListAccessEntries(ctx, rec.Cluster.Name)
		if err != nil {
			return authn.User{}, false, err
		}
		for _, e := range entries {
			if !samePrincipal(e.Entry.PrincipalArn, id) {
				continue
			}
			if e.Entry.Type == "STANDARD" {
				return entryUser(e, id), true, nil
			}
			if u, ok := nodeEntryUser(e, id); ok {
				return u, true, nil
			}
		}
	}
	if mode == ModeAPI {
		return authn.User{}, false, nil
	}
	if mode == ModeConfigMap && isCreator(rec, id) {
		return authn.User{Username: CreatorUsername, Groups: []string{"system:masters"}}, true, nil
	}
	aa, err := m.awsAuth(ctx, rec)
	if err != nil {
		return authn.User{}, false, err
	}
	return mapAwsAuth(aa, id)
}

func isCreator(rec *store.ClusterRecord, id *auth.TokenIdentity) bool {
	ac := rec.Cluster.AccessConfig
	bootstrap := ac == nil || ac.BootstrapClusterCreatorAdminPermissions == nil || *ac.BootstrapClusterCreatorAdminPermissions
	return bootstrap && rec.CreatorArn != "" && (rec.CreatorArn == id.ARN || rec.CreatorArn == id.CanonicalARN)
}

// samePrincipal reports whether an access entry's principal is id: a user
// or root by its ARN, a role by account and name (assumed-role sessions do
// not carry the role's path).
func samePrincipal(principal string, id *auth.TokenIdentity) bool {
	if principal == id.ARN || principal == id.CanonicalARN {
		return true
	}
	acct, kind, name := splitIAM(principal)
	cAcct, cKind, cName := splitIAM(id.CanonicalARN)
	return kind == "role" && cKind == "role" && acct == cAcct && name == cName
}

// splitIAM splits arn:aws:iam::ACCT:KIND/path/NAME.
func splitIAM(arn string) (acct, kind, name string) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[2] != "iam" {
		return "", "", ""
	}
	res := parts[5]
	kind, rest, _ := strings.Cut(res, "/")
	return parts[4], kind, rest[strings.LastIndex(rest, "/")+1:]
}

func entryUser(e *store.AccessEntryRecord, id *auth.TokenIdentity) authn.User {
	groups := append([]string(nil), e.Entry.KubernetesGroups...)
	for _, a := range e.Policies {
		p, ok := PolicyByArn(a.PolicyArn)
		if !ok {
			continue
		}
		if a.AccessScope.Type == "namespace" {
			for _, ns := range a.AccessScope.Namespaces {
				groups = append(groups, p.NamespaceGroup(ns))
			}
		} else {
			groups = append(groups, p.ClusterGroup())
		}
	}
	return authn.User{Username: expand(e.Entry.Username, id), Groups: groups}
}

// expand fills the username templates EKS knows.
func expand(tmpl string, id *auth.TokenIdentity) string {
	// aws-iam-authenticator: {{SessionName}} has each "@" as "-".
	return strings.NewReplacer(
		"{{SessionName}}", strings.ReplaceAll(id.SessionName, "@", "-"), "{{SessionNameRaw}}", id.SessionName,
		"{{AccountID}}", id.AccountID, "{{AccessKeyID}}", id.AccessKeyID,
	).Replace(tmpl)
}

// awsAuthEntry is one mapRoles or mapUsers item.
type awsAuthEntry struct {
	RoleArn  string   `json:"rolearn"`
	UserArn  string   `json:"userarn"`
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

func mapAwsAuth(aa AwsAuth, id *auth.TokenIdentity) (authn.User, bool, error) {
	var roles, users []awsAuthEntry
	if err := yaml.Unmarshal([]byte(aa.MapRoles), &roles); err != nil {
		return authn.User{}, false, errors.New("aws-auth mapRoles: " + err.Error())
	}
	if err := yaml.Unmarshal([]byte(aa.MapUsers), &users); err != nil {
		return authn.User{}, false, errors.New("aws-auth mapUsers: " + err.Error())
	}
	for _, u := range users {
		if u.UserArn != "" && u.UserArn == id.ARN {
			return authn.User{Username: expand(u.Username, id), Groups: u.Groups}, true, nil
		}
	}
	for _, r := range roles {
		if r.RoleArn != "" && samePrincipal(r.RoleArn, id) {
			return authn.User{Username: expand(r.Username, id), Groups: r.Groups}, true, nil
		}
	}
	return authn.User{}, false, nil
}

func (m *Mapper) awsAuth(ctx context.Context, rec *store.ClusterRecord) (AwsAuth, error) {
	ttl := m.AwsAuthTTL
	if ttl == 0 {
		ttl = time.Second
	}
	m.mu.Lock()
	c, ok := m.cache[rec.Cluster.ID]
	m.mu.Unlock()
	if ok && time.Since(c.at) < ttl {
		return c.data, nil
	}
	if m.ReadAwsAuth == nil {
		return AwsAuth{}, nil
	}
	data, err := m.ReadAwsAuth(ctx, rec)
	if err != nil {
		return AwsAuth{}, err
	}
	m.mu.Lock()
	if m.cache == nil {
		m.cache = map[string]cachedAwsAuth{}
	}
	m.cache[rec.Cluster.ID] = cachedAwsAuth{at: time.Now(), data: data}
	m.mu.Unlock()
	return data, nil
}
