package iam

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/policy"
	"github.com/kplane/kplane/internal/store"
)

// IAM's limits on managed policies.
const (
	maxPolicyVersions = 5
	maxManagedSize    = 6144
	prefixPolicyID    = "ANPA"
)

func policyArn(account, path, name string) string {
	return "arn:aws:iam::" + account + ":policy" + path + name
}

func noSuchPolicy(arn string) *apiError {
	return newError(404, "NoSuchEntity", "Policy "+arn+" does not exist or is not attachable.")
}

// boolean reads a boolean parameter ("true"/"false").
func (v *validator) boolean(name, field string) (bool, bool) {
	if !v.p.has(name) {
		return false, false
	}
	s := v.p.get(name)
	switch strings.ToLower(s) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	v.fail(field, s, false, "be a boolean")
	return false, true
}

// checkPolicyDocument validates an identity policy as IAM does, with its
// size quota (characters without white space).
func checkPolicyDocument(doc string, quota int, quotaMsg string) *apiError {
	if _, err := policy.Parse(doc); err != nil {
		return newError(400, "MalformedPolicyDocument", err.Error())
	}
	if quota > 0 && policy.Size(doc) > quota {
		return newError(409, "LimitExceeded", quotaMsg)
	}
	return nil
}

// policyRef is a PolicyArn resolved: an AWS managed policy, or the name of
// a customer managed policy of this account.
type policyRef struct {
	arn     string
	managed *managedPolicy
	name    string
}

func (s *Service) resolvePolicyArn(arn string) (policyRef, *apiError) {
	if m := awsManaged[arn]; m != nil {
		return policyRef{arn: arn, managed: m}, nil
	}
	a, ok := parseARN(arn)
	if !ok || a.service != "iam" || !strings.HasPrefix(a.resource, "policy/") {
		return policyRef{}, newError(400, "InvalidInput", "ARN "+quoteValue(arn)+" is not valid.")
	}
	if a.account != s.accountID {
		return policyRef{}, noSuchPolicy(arn)
	}
	return policyRef{arn: arn, name: a.resource[strings.LastIndexByte(a.resource, '/')+1:]}, nil
}

// customerPolicy reads the customer managed policy ref names, checking its ARN (path).
func (s *Service) customerPolicy(c *call, ref policyRef) (*store.IAMPolicy, *apiError) {
	p, err := s.st.GetIAMPolicy(c.r.Context(), ref.name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, noSuchPolicy(ref.arn)
	case err != nil:
		return nil, s.failure(err)
	case p.Arn != ref.arn:
		return nil, noSuchPolicy(ref.arn)
	}
	return p, nil
}

func (s *Service) createPolicy(c *call) (any, *apiError) {
	v := validator{p: c.p}
	name, _ := v.str("PolicyName", "policyName", true, 1, 128, validName, patName)
	path, hasPath := v.str("Path", "path", false, 1, 512, validPath, patPath)
	doc, _ := v.str("PolicyDocument", "policyDocument", true, 1, 131072, validPolicyText, patPolicy)
	desc, _ := v.str("Description", "description", false, 0, 1000, validDescription, patDescription)
	tags, e := v.tags()
	if e != nil {
		return nil, e
	}
	if !hasPath {
		path = "/"
	}
	arn := policyArn(s.accountID, path, name)
	if e := s.authorize(c, arn, tagKeys(tags)); e != nil {
		return nil, e
	}
	if e := checkPolicyDocument(doc, maxManagedSize, "Cannot exceed quota for PolicySize: 6144"); e != nil {
		return nil, e
	}
	now := s.now().UTC().Truncate(time.Second)
	p := &store.IAMPolicy{PolicyName: name, PolicyID: newID(prefixPolicyID), Path: path, Arn: arn, Description: desc,
		CreateDate: now, UpdateDate: now, DefaultVersionID: "v1", NextVersion: 2,
		Versions: []store.IAMPolicyVersion{{VersionID: "v1", Document: doc, CreateDate: now}}, Tags: toStoreTags(tags)}
	rev, err := s.st.CreateIAMPolicy(c.r.Context(), p)
	switch {
	case errors.Is(err, store.ErrExists):
		return nil, newError(409, "EntityAlreadyExists", "A policy called "+name+" already exists. Duplicate names are not allowed.")
	case err != nil:
		return nil, s.failure(err)
	}
	// The next call may name the policy (attach it, or set it as a
	// boundary), which reads the index.
	s.index.WaitFor(c.r.Context(), rev)
	return &policyResult{Policy: policyOf(p, true)}, nil
}

// readPolicyArn reads the PolicyArn parameter and authorizes the call on it.
func (s *Service) readPolicyArn(c *call, v *validator) (policyRef, *apiError) {
	arn, _ := v.str("PolicyArn", "policyArn", true, 20, 2048, validArnText, patArn)
	if e := v.err(); e != nil {
		return policyRef{}, e
	}
	if e := s.authorize(c, arn, nil); e != nil {
		return policyRef{}, e
	}
	return s.resolvePolicyArn(arn)
}

func (s *Service) getPolicy(c *call) (any, *apiError) {
	v := validator{p: c.p}
	ref, e := s.readPolicyArn(c, &v)
	if e != nil {
		return nil, e
	}
	if ref.managed != nil {
		n, e := s.awsAttachments(c, ref.arn)
		if e != nil {
			return nil, e
		}
		sh := managedPolicyOf(ref.managed, n)
		sh.PermissionsBoundaryUsageCount = s.index.BoundaryUsages()[ref.arn]
		return &policyResult{Policy: sh}, nil
	}
	p, e := s.customerPolicy(c, ref)
	if e != nil {
		return nil, e
	}
	sh := policyOf(p, true)
	sh.PermissionsBoundaryUsageCount = s.index.BoundaryUsages()[ref.arn]
	return &policyResult{Policy: sh}, nil
}

// awsAttachments counts the users, roles and groups an AWS managed policy is attached to.
func (s *Service) awsAttachments(c *call, arn string) (int, *apiError) {
	counts, e := s.attachmentCounts(c)
	return counts[arn], e
}

func (s *Service) attachmentCounts(c *call) (map[string]int, *apiError) {
	ctx := c.r.Context()
	users, err := s.st.ListIAMUsers(ctx)
	if err != nil {
		return nil, s.failure(err)
	}
	roles, err := s.st.ListIAMRoles(ctx)
	if err != nil {
		return nil, s.failure(err)
	}
	groups, err := s.st.ListIAMGroups(ctx)
	if err != nil {
		return nil, s.failure(err)
	}
	counts := map[string]int{}
	for _, u := range users {
		for _, a := range u.AttachedPolicies {
			counts[a]++
		}
	}
	for _, r := range roles {
		for _, a := range r.AttachedPolicies {
			counts[a]++
		}
	}
	for _, g := range groups {
		for _, a := range g.AttachedPolicies {
			counts[a]++
		}
	}
	return counts, nil
}

func (s *Service) listPolicies(c *call) (any, *apiError) {
	v := validator{p: c.p}
	scope, hasScope := v.str("Scope", "scope", false, 0, 16, func(s string) bool { return s == "All" || s == "AWS" || s == "Local" }, "[All, AWS, Local]")
	onlyAttached, _ := v.boolean("OnlyAttached", "onlyAttached")
	v.str("PolicyUsageFilter", "policyUsageFilter", false, 0, 32, func(s string) bool { return s == "PermissionsPolicy" || s == "PermissionsBoundary" }, "[PermissionsPolicy, PermissionsBoundary]")
	l := readListing(&v, true)
	if e := v.err(); e != nil {
		return nil, e
	}
	if !hasScope {
		scope = "All"
	}
	if e := s.authorize(c, "arn:aws:iam::"+s.accountID+":policy/*", nil); e != nil {
		return nil, e
	}
	onlyBoundaries := c.p.get("PolicyUsageFilter") == "PermissionsBoundary"
	boundaries := s.index.BoundaryUsages()
	counts, e := s.attachmentCounts(c)
	if e != nil {
		return nil, e
	}
	var all []policyShape
	if scope != "Local" {
		for _, m := range awsManaged {
			all = append(all, managedPolicyOf(m, counts[m.arn]))
		}
	}
	if scope != "AWS" {
		ps, err := s.st.ListIAMPolicies(c.r.Context())
		if err != nil {
			return nil, s.failure(err)
		}
		for _, p := range ps {
			all = append(all, policyOf(p, false))
		}
	}
	var out []policyShape
	for _, p := range all {
		p.PermissionsBoundaryUsageCount = boundaries[p.Arn]
		if onlyBoundaries && p.PermissionsBoundaryUsageCount == 0 {
			continue
		}
		if strings.HasPrefix(p.Path, l.pathPrefix) && (!onlyAttached || p.AttachmentCount > 0) {
			out = append(out, p)
		}
	}
	key := func(p policyShape) string { return p.Arn }
	slices.SortFunc(out, func(a, b policyShape) int { return strings.Compare(key(a), key(b)) })
	got, truncated, next, e := page(out, key, l)
	if e != nil {
		return nil, e
	}
	res := &listPoliciesResult{IsTruncated: truncated, Marker: next}
	res.Policies.Members = got
	return res, nil
}

// unmodifiable refuses changes to AWS managed policies.
func unmodifiable(arn string) *apiError {
	return newError(400, "InvalidInput", "Policy "+arn+" is an AWS managed policy and cannot be modified.")
}

// updatePolicy changes a customer managed policy in one transaction.
func (s *Service) updatePolicy(c *call, ref policyRef, fn func(p *store.IAMPolicy) *apiError) (*store.IAMPolicy, *apiError) {
	if ref.managed != nil {
		return nil, unmodifiable(ref.arn)
	}
	var out *store.IAMPolicy
	var ae *apiError
	_, err := s.txn(c, func(tx store.IAMTx) error {
		ae = nil
		p, err := tx.Policy(ref.name)
		if errors.Is(err, store.ErrNotFound) || err == nil && p.Arn != ref.arn {
			ae = noSuchPolicy(ref.arn)
			return nil
		}
		if err != nil {
			return err
		}
		if ae = fn(p); ae != nil {
			return nil
		}
		tx.PutPolicy(p)
		out = p
		return nil
	})
	if err != nil {
		return nil, s.failure(err)
	}
	return out, ae
}

func (s *Service) deletePolicy(c *call) (any, *apiError) {
	v := validator{p: c.p}
	ref, e := s.readPolicyArn(c, &v)
	if e != nil {
		return nil, e
	}
	if ref.managed != nil {
		return nil, unmodifiable(ref.arn)
	}
	// A boundary is set through the index (checkBoundary), so the index
	// says whether one is in use.
	if s.index.BoundaryUsages()[ref.arn] > 0 {
		return nil, newError(409, "DeleteConflict", "Cannot delete a policy attached to entities.")
	}
	var ae *apiError
	_, err := s.txn(c, func(tx store.IAMTx) error {
		ae = nil
		p, err := tx.Policy(ref.name)
		switch {
		case errors.Is(err, store.ErrNotFound) || err == nil && p.Arn != ref.arn:
			ae = noSuchPolicy(ref.arn)
		case err != nil:
			return err
		case p.AttachmentCount > 0:
			ae = newError(409, "DeleteConflict", "Cannot delete a policy attached to entities.")
		case len(p.Versions) > 1:
			ae = newError(409, "DeleteConflict", "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.")
		default:
			tx.DeletePolicy(ref.name)
		}
		return nil
	})
	if err != nil {
		return nil, s.failure(err)
	}
	return nil, ae
}

func (s *Service) listEntitiesForPolicy(c *call) (any, *apiError) {
	v := validator{p: c.p}
	filter, _ := v.str("EntityFilter", "entityFilter", false, 0, 32, func(s string) bool {
		return slices.Contains([]string{"User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"}, s)
	}, "[User, Role, Group, LocalManagedPolicy, AWSManagedPolicy]")
	l := readListing(&v, true)
	ref, e := s.readPolicyArn(c, &v)
	if e != nil {
		return nil, e
	}
	if ref.managed == nil {
		if _, e := s.customerPolicy(c, ref); e != nil {
			return nil, e
		}
	}
	ctx := c.r.Context()
	res := &listEntitiesResult{}
	want := func(kind string) bool { return filter == "" || filter == kind }
	if want("User") {
		users, err := s.st.ListIAMUsers(ctx)
		if err != nil {
			return nil, s.failure(err)
		}
		for _, u := range users {
			if slices.Contains(u.AttachedPolicies, ref.arn) && strings.HasPrefix(u.Path, l.pathPrefix) {
				res.PolicyUsers.Members = append(res.PolicyUsers.Members, policyUserShape{u.UserName, u.UserID})
			}
		}
	}
	if want("Role") {
		roles, err := s.st.ListIAMRoles(ctx)
		if err != nil {
			return nil, s.failure(err)
		}
		for _, r := range roles {
			if slices.Contains(r.AttachedPolicies, ref.arn) && strings.HasPrefix(r.Path, l.pathPrefix) {
				res.PolicyRoles.Members = append(res.PolicyRoles.Members, policyRoleShape{r.RoleName, r.RoleID})
			}
		}
	}
	if want("Group") {
		groups, err := s.st.ListIAMGroups(ctx)
		if err != nil {
			return nil, s.failure(err)
		}
		for _, g := range groups {
			if slices.Contains(g.AttachedPolicies, ref.arn) && strings.HasPrefix(g.Path, l.pathPrefix) {
				res.PolicyGroups.Members = append(res.PolicyGroups.Members, policyGroupShape{g.GroupName, g.GroupID})
			}
		}
	}
	return res, nil
}
