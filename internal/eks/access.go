package eks

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/kplane/kplane/internal/access"
	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// principalArn matches the IAM users and roles access entries may name.
var principalArn = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):(?:(user|role)/(?:[\x21-\x7E]+/)?([\w+=,.@-]{1,128})|(root))$`)

// accessEntryTypes are the model's access entry types.
var accessEntryTypes = []string{"STANDARD", "FARGATE_LINUX", "EC2_LINUX", "EC2_WINDOWS", "EC2", "HYBRID_LINUX", "HYPERPOD_LINUX"}

// reservedPrefixes may not start an access entry's username or groups.
var reservedPrefixes = []string{"system:", "eks:", "aws:", "amazon:", "iam:"}

// accessCluster finds the path's cluster and refuses when its authentication
// mode leaves access entries out, as EKS does.
func (a *API) accessCluster(c *call) (*store.ClusterRecord, *Error) {
	rec, err := a.cluster(c)
	if err != nil {
		return nil, err
	}
	if mode := authMode(&rec.Cluster); mode == "CONFIG_MAP" {
		return nil, Errorf(InvalidRequest, "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.").With("clusterName", rec.Cluster.Name)
	}
	return rec, nil
}

func authMode(c *shapes.Cluster) string {
	if c.AccessConfig == nil || c.AccessConfig.AuthenticationMode == "" {
		return "CONFIG_MAP"
	}
	return c.AccessConfig.AuthenticationMode
}

func (a *API) createAccessEntry(c *call) (any, *Error) {
	rec, err := a.accessCluster(c)
	if err != nil {
		return nil, err
	}
	var req shapes.CreateAccessEntryRequest
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	name := rec.Cluster.Name
	if req.Type == "" {
		req.Type = "STANDARD"
	}
	if !slices.Contains(accessEntryTypes, req.Type) {
		return nil, InvalidParam(name, "The type %s is not valid; valid types: %s", req.Type, strings.Join(accessEntryTypes, ", "))
	}
	if err := validatePrincipal(name, req.PrincipalArn); err != nil {
		return nil, err
	}
	if err := validateIdentity(name, req.Type, req.Username, req.KubernetesGroups); err != nil {
		return nil, err
	}
	if req.Tags != nil {
		if err := validateTags(req.Tags, a.limits); err != nil {
			return nil, err
		}
	}
	entry := a.newAccessEntry(name, req.PrincipalArn, req.Type, req.Username, req.KubernetesGroups, req.Tags)
	serr := a.cfg.Store.CreateAccessEntry(c.r.Context(), &store.AccessEntryRecord{Entry: entry, Policies: []shapes.AssociatedAccessPolicy{}})
	switch {
	case errors.Is(serr, store.ErrExists):
		return nil, Errorf(ResourceInUse, "The specified access entry resource is already in use on this cluster.").With("clusterName", name)
	case errors.Is(serr, store.ErrNotFound):
		return nil, ClusterNotFound(name)
	case serr != nil:
		return nil, internal(serr)
	}
	return map[string]any{"accessEntry": entry}, nil
}

// NewAccessEntry is the access entry EKS makes for a principal, defaults filled in.
func (a *API) newAccessEntry(cluster, principal, typ, username string, groups []string, tags map[string]string) shapes.AccessEntry {
	m := principalArn.FindStringSubmatch(principal)
	if m[4] == "root" {
		m[2], m[3] = "root", "root"
	}
	switch {
	case username == "" && (typ == "EC2_LINUX" || typ == "EC2_WINDOWS"):
		// EKS fixes a node entry's identity (internal/access maps it).
		username, groups = access.NodeUsername, access.NodeGroups
	case username == "" && typ == "HYBRID_LINUX":
		username, groups = access.HybridNodeUsername, access.NodeGroups
	}
	if username == "" && typ == "STANDARD" {
		username = principal
		if m[2] == "role" {
			username = fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/{{SessionName}}", m[1], m[3])
		}
	}
	now := shapes.Time(float64(a.cfg.Now().UnixMilli()) / 1000)
	if tags == nil {
		tags = map[string]string{}
	}
	return shapes.AccessEntry{
		ClusterName: cluster, PrincipalArn: principal, KubernetesGroups: nonNil(groups),
		AccessEntryArn: fmt.Sprintf("arn:aws:eks:%s:%s:access-entry/%s/%s/%s/%s/%s", a.cfg.Region, a.cfg.AccountID, cluster, m[2], m[1], m[3], uuid.NewString()),
		CreatedAt:      now, ModifiedAt: now, Tags: tags, Username: username, Type: typ,
	}
}

// creatorEntry is the access entry with AmazonEKSClusterAdminPolicy that EKS
// gives the cluster's creator when the cluster's access entries count (mode)
// and bootstrapClusterCreatorAdminPermissions is on; nil otherwise.
func (a *API) creatorEntry(rec *store.ClusterRecord, mode string) *store.AccessEntryRecord {
	ac := rec.Cluster.AccessConfig
	if mode == "CONFIG_MAP" || rec.CreatorArn == "" || !principalArn.MatchString(rec.CreatorArn) ||
		(ac != nil && ac.BootstrapClusterCreatorAdminPermissions != nil && !*ac.BootstrapClusterCreatorAdminPermissions) {
		return nil
	}
	entry := a.newAccessEntry(rec.Cluster.Name, rec.CreatorArn, "STANDARD", "", nil, nil)
	admin := shapes.AssociatedAccessPolicy{PolicyArn: access.PolicyArnPrefix + "AmazonEKSClusterAdminPolicy",
		AccessScope: shapes.AccessScope{Type: "cluster"}, AssociatedAt: entry.CreatedAt, ModifiedAt: entry.CreatedAt}
	return &store.AccessEntryRecord{Entry: entry, Policies: []shapes.AssociatedAccessPolicy{admin}}
}

func validatePrincipal(cluster, arn string) *Error {
	if arn == "" {
		return InvalidParam(cluster, "principalArn is required")
	}
	if !principalArn.MatchString(arn) {
		return InvalidParam(cluster, "The principalArn %s is not a valid IAM user or role ARN", arn)
	}
	return nil
}

func validateIdentity(cluster, typ, username string, groups []string) *Error {
	if typ != "STANDARD" && (username != "" || len(groups) > 0) {
		return InvalidParam(cluster, "username and kubernetesGroups can only be set on access entries of type STANDARD")
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(username, p) {
			return InvalidParam(cluster, "The username %s can't start with %s", username, p)
		}
		for _, g := range groups {
			if strings.HasPrefix(g, p) {
				return InvalidParam(cluster, "The Kubernetes group %s can't start with %s", g, p)
			}
		}
	}
	return nil
}

func (a *API) accessEntry(c *call) (*store.ClusterRecord, *store.AccessEntryRecord, *Error) {
	rec, err := a.accessCluster(c)
	if err != nil {
		return nil, nil, err
	}
	e, serr := a.cfg.Store.GetAccessEntry(c.r.Context(), rec.Cluster.Name, c.params["principalArn"])
	if errors.Is(serr, store.ErrNotFound) {
		return nil, nil, accessEntryNotFound(rec.Cluster.Name, c.params["principalArn"])
	}
	if serr != nil {
		return nil, nil, internal(serr)
	}
	return rec, e, nil
}

func accessEntryNotFound(cluster, principal string) *Error {
	return Errorf(ResourceNotFound, "The specified principalArn %s has no access entry on cluster %s.", principal, cluster).With("clusterName", cluster)
}

func (a *API) describeAccessEntry(c *call) (any, *Error) {
	_, e, err := a.accessEntry(c)
	if err != nil {
		return nil, err
	}
	return map[string]any{"accessEntry": e.Entry}, nil
}

func (a *API) listAccessEntries(c *call) (any, *Error) {
	rec, err := a.accessCluster(c)
	if err != nil {
		return nil, err
	}
	limit, err := validateMaxResults(c.query.Get("maxResults"), 100)
	if err != nil {
		return nil, err
	}
	all, serr := a.cfg.Store.ListAccessEntries(c.r.Context(), rec.Cluster.Name)
	if serr != nil {
		return nil, internal(serr)
	}
	var arns []string
	filter := c.query.Get("associatedPolicyArn")
	for _, e := range all {
		if filter == "" || slices.ContainsFunc(e.Policies, func(p shapes.AssociatedAccessPolicy) bool { return p.PolicyArn == filter }) {
			arns = append(arns, e.Entry.PrincipalArn)
		}
	}
	got, next, err := page(arns, func(s string) string { return s }, c.query.Get("nextToken"), limit)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"accessEntries": nonNil(got)}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

func (a *API) updateAccessEntry(c *call) (any, *Error) {
	rec, e, err := a.accessEntry(c)
	if err != nil {
		return nil, err
	}
	var req shapes.UpdateAccessEntryRequest
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	name := rec.Cluster.Name
	if err := validateIdentity(name, e.Entry.Type, req.Username, req.KubernetesGroups); err != nil {
		return nil, err
	}
	out, serr := a.cfg.Store.UpdateAccessEntry(c.r.Context(), name, e.Entry.PrincipalArn, func(r *store.AccessEntryRecord) error {
		if req.Username != "" {
			r.Entry.Username = req.Username
		}
		if req.KubernetesGroups != nil {
			r.Entry.KubernetesGroups = req.KubernetesGroups
		}
		r.Entry.ModifiedAt = shapes.Time(float64(a.cfg.Now().UnixMilli()) / 1000)
		return nil
	})
	if errors.Is(serr, store.ErrNotFound) {
		return nil, accessEntryNotFound(name, e.Entry.PrincipalArn)
	}
	if serr != nil {
		return nil, internal(serr)
	}
	return map[string]any{"accessEntry": out.Entry}, nil
}

func (a *API) deleteAccessEntry(c *call) (any, *Error) {
	rec, err := a.accessCluster(c)
	if err != nil {
		return nil, err
	}
	principal := c.params["principalArn"]
	serr := a.cfg.Store.DeleteAccessEntry(c.r.Context(), rec.Cluster.Name, principal)
	if errors.Is(serr, store.ErrNotFound) {
		return nil, accessEntryNotFound(rec.Cluster.Name, principal)
	}
	if serr != nil {
		return nil, internal(serr)
	}
	return map[string]any{}, nil
}

func (a *API) associateAccessPolicy(c *call) (any, *Error) {
	rec, e, err := a.accessEntry(c)
	if err != nil {
		return nil, err
	}
	name := rec.Cluster.Name
	var req shapes.AssociateAccessPolicyRequest
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	if _, ok := access.PolicyByArn(req.PolicyArn); !ok {
		return nil, InvalidParam(name, "The policyArn %s is not a valid access policy; see ListAccessPolicies", req.PolicyArn)
	}
	if req.AccessScope == nil || (req.AccessScope.Type != "cluster" && req.AccessScope.Type != "namespace") {
		return nil, InvalidParam(name, "accessScope.type must be cluster or namespace")
	}
	scope := *req.AccessScope
	if scope.Type == "cluster" && len(scope.Namespaces) > 0 {
		return nil, InvalidParam(name, "Namespaces can only be set on an access scope of type namespace")
	}
	if scope.Type == "namespace" && len(scope.Namespaces) == 0 {
		return nil, InvalidParam(name, "An access scope of type namespace needs at least one namespace")
	}
	if e.Entry.Type != "STANDARD" {
		return nil, InvalidParam(name, "Access policies can only be associated with access entries of type STANDARD")
	}
	now := shapes.Time(float64(a.cfg.Now().UnixMilli()) / 1000)
	var assoc shapes.AssociatedAccessPolicy
	_, serr := a.cfg.Store.UpdateAccessEntry(c.r.Context(), name, e.Entry.PrincipalArn, func(r *store.AccessEntryRecord) error {
		for i := range r.Policies {
			if r.Policies[i].PolicyArn == req.PolicyArn {
				r.Policies[i].AccessScope, r.Policies[i].ModifiedAt = scope, now
				assoc = r.Policies[i]
				return nil
			}
		}
		assoc = shapes.AssociatedAccessPolicy{PolicyArn: req.PolicyArn, AccessScope: scope, AssociatedAt: now, ModifiedAt: now}
		r.Policies = append(r.Policies, assoc)
		return nil
	})
	if errors.Is(serr, store.ErrNotFound) {
		return nil, accessEntryNotFound(name, e.Entry.PrincipalArn)
	}
	if serr != nil {
		return nil, internal(serr)
	}
	return map[string]any{"clusterName": name, "principalArn": e.Entry.PrincipalArn, "associatedAccessPolicy": assoc}, nil
}

func (a *API) disassociateAccessPolicy(c *call) (any, *Error) {
	rec, e, err := a.accessEntry(c)
	if err != nil {
		return nil, err
	}
	policy := c.params["policyArn"]
	found := false
	_, serr := a.cfg.Store.UpdateAccessEntry(c.r.Context(), rec.Cluster.Name, e.Entry.PrincipalArn, func(r *store.AccessEntryRecord) error {
		n := len(r.Policies)
		r.Policies = slices.DeleteFunc(r.Policies, func(p shapes.AssociatedAccessPolicy) bool { return p.PolicyArn == policy })
		found = len(r.Policies) < n
		return nil
	})
	if serr != nil && !errors.Is(serr, store.ErrNotFound) {
		return nil, internal(serr)
	}
	if !found {
		return nil, Errorf(ResourceNotFound, "The policy %s is not associated with %s.", policy, e.Entry.PrincipalArn).With("clusterName", rec.Cluster.Name)
	}
	return map[string]any{}, nil
}

func (a *API) listAssociatedAccessPolicies(c *call) (any, *Error) {
	rec, e, err := a.accessEntry(c)
	if err != nil {
		return nil, err
	}
	limit, err := validateMaxResults(c.query.Get("maxResults"), 100)
	if err != nil {
		return nil, err
	}
	got, next, err := page(e.Policies, func(p shapes.AssociatedAccessPolicy) string { return p.PolicyArn }, c.query.Get("nextToken"), limit)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"clusterName": rec.Cluster.Name, "principalArn": e.Entry.PrincipalArn, "associatedAccessPolicies": nonNil(got)}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

func (a *API) listAccessPolicies(c *call) (any, *Error) {
	limit, err := validateMaxResults(c.query.Get("maxResults"), 100)
	if err != nil {
		return nil, err
	}
	all := make([]shapes.AccessPolicy, len(access.Policies))
	for i, p := range access.Policies {
		all[i] = shapes.AccessPolicy{Name: p.Name, Arn: p.Arn()}
	}
	got, next, err := page(all, func(p shapes.AccessPolicy) string { return p.Arn }, c.query.Get("nextToken"), limit)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"accessPolicies": got}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}
