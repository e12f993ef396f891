package iam

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/policy"
	"github.com/kplane/kplane/internal/store"
)

func (s *Service) createRole(c *call) (any, *apiError) {
	v := validator{p: c.p}
	name, _ := v.str("RoleName", "roleName", true, 1, 64, validName, patName)
	doc, _ := v.str("AssumeRolePolicyDocument", "assumeRolePolicyDocument", true, 1, 131072, validPolicyText, patPolicy)
	path, hasPath := v.str("Path", "path", false, 1, 512, validPath, patPath)
	desc, _ := v.str("Description", "description", false, 0, 1000, validDescription, patDescription)
	maxDur, hasMaxDur := v.integer("MaxSessionDuration", "maxSessionDuration", 3600, 43200)
	boundary, hasBoundary := v.str("PermissionsBoundary", "permissionsBoundary", false, 20, 2048, validArnText, patArn)
	tags, e := v.tags()
	if e != nil {
		return nil, e
	}
	if !hasPath {
		path = "/"
	}
	if !hasMaxDur {
		maxDur = defaultMaxSessionDuration
	}
	arn := roleArn(s.accountID, path, name)
	if e := s.authorize(c, arn, tagKeys(tags)); e != nil {
		return nil, e
	}
	ctx := c.r.Context()
	trust, msg := parseTrustPolicy(doc)
	if msg != "" {
		return nil, newError(400, "MalformedPolicyDocument", msg)
	}
	if e := s.checkPrincipals(ctx, trust); e != nil {
		return nil, e
	}
	if hasBoundary {
		if e := s.checkBoundary(boundary); e != nil {
			return nil, e
		}
	}
	r := &store.IAMRole{
		RoleName: name, RoleID: newID(prefixRoleID), Path: path, Arn: arn,
		CreateDate: s.now().UTC().Truncate(time.Second), AssumeRolePolicyDocument: doc,
		Description: desc, MaxSessionDuration: maxDur, Tags: toStoreTags(tags), PermissionsBoundary: boundary,
	}
	switch err := s.st.CreateIAMRole(ctx, r); {
	case errors.Is(err, store.ErrExists):
		return nil, newError(409, "EntityAlreadyExists", "Role with name "+name+" already exists.")
	case err != nil:
		return nil, s.failure(err)
	}
	return &roleResult{Role: roleOf(r, true)}, nil
}

// checkPrincipals refuses, as IAM does, a trust policy that names a user or
// role of this account that does not exist.
func (s *Service) checkPrincipals(ctx context.Context, p *policy.Policy) *apiError {
	for _, st := range p.Statements {
		for _, pr := range []*policy.Principals{st.Principal, st.NotPrincipal} {
			if pr == nil {
				continue
			}
			for _, a := range pr.AWS {
				ok, err := s.principalExists(ctx, a)
				if err != nil {
					return s.failure(err)
				}
				if !ok {
					return newError(400, "MalformedPolicyDocument", `Invalid principal in policy: "AWS":"`+a+`"`)
				}
			}
		}
	}
	return nil
}

func (s *Service) principalExists(ctx context.Context, p string) (bool, error) {
	a, ok := parseARN(p)
	if !ok || a.service != "iam" || a.account != s.accountID {
		return true, nil // "*", account ids, STS session ARNs, other accounts
	}
	kind, rest, _ := strings.Cut(a.resource, "/")
	i := strings.LastIndexByte(rest, '/')
	path, name := "/"+rest[:i+1], rest[i+1:]
	var err error
	var gotPath string
	switch kind {
	case "root":
		return a.resource == "root", nil
	case "user":
		var u *store.IAMUser
		if u, err = s.st.GetIAMUser(ctx, name); err == nil {
			gotPath = u.Path
		}
	case "role":
		var r *store.IAMRole
		if r, err = s.st.GetIAMRole(ctx, name); err == nil {
			gotPath = r.Path
		}
	default:
		return false, nil
	}
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil && gotPath == path, err
}

func (s *Service) getRole(c *call) (any, *apiError) {
	name, e := s.entityCall(c, kindRoleEntity, nil)
	if e != nil {
		return nil, e
	}
	r, err := s.st.GetIAMRole(c.r.Context(), name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, noSuchRole(name)
	case err != nil:
		return nil, s.failure(err)
	}
	sh := roleOf(r, true)
	sh.RoleLastUsed = &struct{}{}
	return &roleResult{Role: sh}, nil
}

func (s *Service) listRoles(c *call) (any, *apiError) {
	got, truncated, next, e := listUnderPath(s, c, "arn:aws:iam::"+s.accountID+":role/", s.st.ListIAMRoles,
		func(r *store.IAMRole) string { return r.Path }, func(r *store.IAMRole) string { return r.RoleName })
	if e != nil {
		return nil, e
	}
	res := &listRolesResult{IsTruncated: truncated, Marker: next}
	res.Roles.Members = make([]roleShape, 0, len(got))
	for _, r := range got {
		res.Roles.Members = append(res.Roles.Members, roleOf(r, false))
	}
	return res, nil
}
