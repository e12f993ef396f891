package iam

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/paging"
	"github.com/kplane/kplane/internal/store"
)

const (
	// maxAccessKeysPerUser is IAM's quota.
	maxAccessKeysPerUser = 2
	// defaultMaxSessionDuration is a role's MaxSessionDuration unless told otherwise.
	defaultMaxSessionDuration = 3600
	defaultMaxItems           = 100
)

func noSuchUser(name string) *apiError {
	return newError(404, "NoSuchEntity", "The user with name "+name+" cannot be found.")
}

func noSuchRole(name string) *apiError {
	return newError(404, "NoSuchEntity", "The role with name "+name+" cannot be found.")
}

func noSuchAccessKey(id string) *apiError {
	return newError(404, "NoSuchEntity", "The Access Key with id "+id+" cannot be found.")
}

// failure is the answer to an error on kplane's side; writeError gives it the
// service's internal-failure code. The error itself is not shown to clients.
func (s *Service) failure(err error) *apiError {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return newError(503, "ServiceUnavailable", "The request was not completed in time. Try again.")
	}
	slog.Error("iam: datastore failure", "err", err) // the client sees no detail
	return newError(500, "", "The request processing has failed because of an unknown error, exception or failure.")
}

// authorize applies kplane's IAM permissions, for want of IAM policies: the
// account root may do everything; an IAM user may read itself and manage its
// own access keys (self is true when the call targets the caller's own user);
// everyone else is refused, as AWS refuses a principal no policy allows.
func (s *Service) authorize(c *call, who principalInfo, resource string, self bool) *apiError {
	if who.kind == kindRoot || self && who.kind == kindUser {
		return nil
	}
	action := "iam:" + c.action
	return newError(403, "AccessDenied", "User: "+who.arn+" is not authorized to perform: "+action+
		" on resource: "+resource+" because no identity-based policy allows the "+action+" action")
}

// targetUser resolves an optional UserName: given, it names the user (self
// when it is the caller); omitted, IAM means the caller's own user, which a
// session does not have ("" for root).
func targetUser(who principalInfo, name string, given bool) (string, bool, *apiError) {
	if given {
		return name, who.kind == kindUser && strings.EqualFold(name, who.userName), nil
	}
	switch who.kind {
	case kindUser:
		return who.userName, true, nil
	case kindSession:
		return "", false, validationError("Must specify userName when calling with non-User credentials")
	}
	return "", false, nil
}

func (s *Service) createUser(c *call) (any, *apiError) {
	v := validator{p: c.p}
	name, _ := v.str("UserName", "userName", true, 1, 64, validName, patName)
	path, hasPath := v.str("Path", "path", false, 1, 512, validPath, patPath)
	boundary, hasBoundary := v.str("PermissionsBoundary", "permissionsBoundary", false, 20, 2048, validArnText, patArn)
	tags, e := v.tags()
	if e != nil {
		return nil, e
	}
	if !hasPath {
		path = "/"
	}
	who := s.whoIs(c.cred)
	arn := userArn(s.accountID, path, name)
	if e := s.authorize(c, who, arn, false); e != nil {
		return nil, e
	}
	if hasBoundary {
		return nil, noSuchBoundary(boundary)
	}
	u := &store.IAMUser{
		UserName: name, UserID: newID(prefixUserID), Path: path, Arn: arn,
		CreateDate: s.now().UTC().Truncate(time.Second), Tags: toStoreTags(tags),
	}
	switch err := s.st.CreateIAMUser(c.r.Context(), u); {
	case errors.Is(err, store.ErrExists):
		return nil, newError(409, "EntityAlreadyExists", "User with name "+name+" already exists.")
	case err != nil:
		return nil, s.failure(err)
	}
	return &userResult{User: userOf(u, true)}, nil
}

// noSuchBoundary answers a permissions boundary: kplane has no managed
// policies, so none can be attached.
func noSuchBoundary(arn string) *apiError {
	return newError(404, "NoSuchEntity", "Scope ARN: "+arn+" does not exist or is not attachable.")
}

func (s *Service) getUser(c *call) (any, *apiError) {
	v := validator{p: c.p}
	name, given := v.str("UserName", "userName", false, 1, 128, validName, patName)
	if e := v.err(); e != nil {
		return nil, e
	}
	who := s.whoIs(c.cred)
	name, self, e := targetUser(who, name, given)
	if e != nil {
		return nil, e
	}
	if name == "" { // the account root, about itself
		return &userResult{User: userShape{UserID: s.accountID, Arn: s.rootArn, CreateDate: s.rootCreated()}}, nil
	}
	if e := s.authorize(c, who, userArn(s.accountID, "/", name), self); e != nil {
		return nil, e
	}
	u, err := s.st.GetIAMUser(c.r.Context(), name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, noSuchUser(name)
	case err != nil:
		return nil, s.failure(err)
	}
	return &userResult{User: userOf(u, true)}, nil
}

// rootCreated is when the root credentials file was written, the nearest
// thing kplane has to the account's creation date.
func (s *Service) rootCreated() string {
	if info, err := os.Stat(filepath.Join(s.dataDir, auth.RootCredentialsFile)); err == nil {
		return isoTime(info.ModTime())
	}
	return ""
}

func (s *Service) deleteUser(c *call) (any, *apiError) {
	v := validator{p: c.p}
	name, _ := v.str("UserName", "userName", true, 1, 128, validName, patName)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, s.whoIs(c.cred), userArn(s.accountID, "/", name), false); e != nil {
		return nil, e
	}
	switch err := s.st.DeleteIAMUser(c.r.Context(), name); {
	case errors.Is(err, store.ErrNotFound):
		return nil, noSuchUser(name)
	case errors.Is(err, store.ErrInUse):
		return nil, newError(409, "DeleteConflict", "Cannot delete entity, must delete access keys first.")
	case err != nil:
		return nil, s.failure(err)
	}
	return nil, nil
}

// listing reads the paging parameters of IAM's List calls.
type listing struct {
	pathPrefix string
	marker     string
	hasMarker  bool
	maxItems   int
}

func readListing(v *validator, withPath bool) listing {
	l := listing{pathPrefix: "/", maxItems: defaultMaxItems}
	if withPath {
		if p, ok := v.str("PathPrefix", "pathPrefix", false, 1, 512, validPathPrefix, patPathPrefix); ok {
			l.pathPrefix = p
		}
	}
	l.marker, l.hasMarker = v.str("Marker", "marker", false, 1, 320, validMarker, patMarker)
	if n, ok := v.integer("MaxItems", "maxItems", 1, 1000); ok {
		l.maxItems = n
	}
	return l
}

// page cuts one page out of items in key order. A marker is the opaque form
// of the last key returned, so the next page resumes after it in order even
// when it is gone by then.
func page[T any](items []T, key func(T) string, l listing) (out []T, truncated bool, next string, e *apiError) {
	after := ""
	if l.hasMarker {
		var ok bool
		if after, ok = marker.Decode(l.marker); !ok {
			return nil, false, "", validationError("Invalid Marker.")
		}
	}
	out, resume := paging.Page(items, key, after, l.maxItems)
	if resume == "" {
		return out, false, "", nil
	}
	return out, true, marker.Encode(resume), nil
}

// marker is IAM's Marker: the resume key, base64.
var marker = paging.Token{}

// listUnderPath is what ListUsers and ListRoles share: the paging
// parameters, the caller's right to list under arnPrefix, the entities under
// PathPrefix, and one page of them by lower-cased name.
func listUnderPath[T any](s *Service, c *call, arnPrefix string, list func(context.Context) ([]T, error), path, name func(T) string) ([]T, bool, string, *apiError) {
	v := validator{p: c.p}
	l := readListing(&v, true)
	if e := v.err(); e != nil {
		return nil, false, "", e
	}
	if e := s.authorize(c, s.whoIs(c.cred), arnPrefix, false); e != nil {
		return nil, false, "", e
	}
	all, err := list(c.r.Context())
	if err != nil {
		return nil, false, "", s.failure(err)
	}
	var under []T
	for _, x := range all {
		if strings.HasPrefix(path(x), l.pathPrefix) {
			under = append(under, x)
		}
	}
	return page(under, func(x T) string { return strings.ToLower(name(x)) }, l)
}

func (s *Service) listUsers(c *call) (any, *apiError) {
	got, truncated, next, e := listUnderPath(s, c, "arn:aws:iam::"+s.accountID+":user/", s.st.ListIAMUsers,
		func(u *store.IAMUser) string { return u.Path }, func(u *store.IAMUser) string { return u.UserName })
	if e != nil {
		return nil, e
	}
	res := &listUsersResult{IsTruncated: truncated, Marker: next}
	res.Users.Members = make([]userShape, 0, len(got))
	for _, u := range got {
		res.Users.Members = append(res.Users.Members, userOf(u, false))
	}
	return res, nil
}

func (s *Service) createAccessKey(c *call) (any, *apiError) {
	v := validator{p: c.p}
	name, given := v.str("UserName", "userName", false, 1, 128, validName, patName)
	if e := v.err(); e != nil {
		return nil, e
	}
	who := s.whoIs(c.cred)
	name, self, e := targetUser(who, name, given)
	if e != nil {
		return nil, e
	}
	if name == "" {
		return nil, validationError("Must specify userName: kplane keeps the account root's access key in its data directory (" +
			auth.RootCredentialsFile + "); create access keys for IAM users.")
	}
	if e := s.authorize(c, who, userArn(s.accountID, "/", name), self); e != nil {
		return nil, e
	}
	ctx := c.r.Context()
	u, err := s.st.GetIAMUser(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, noSuchUser(name)
	case err != nil:
		return nil, s.failure(err)
	}
	k := &store.IAMAccessKey{UserName: u.UserName, UserID: u.UserID, UserArn: u.Arn, Status: statusActive,
		CreateDate: s.now().UTC().Truncate(time.Second)}
	var rev int64
	for attempt := 0; ; attempt++ {
		k.AccessKeyID = newID(prefixUserKey)
		rev, err = s.st.CreateIAMAccessKey(ctx, k, maxAccessKeysPerUser)
		if !errors.Is(err, store.ErrExists) || attempt == 3 {
			break
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, noSuchUser(name)
	case errors.Is(err, store.ErrQuota):
		return nil, newError(409, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
	case err != nil:
		return nil, s.failure(err)
	}
	// The key works once the index has it; clients use a new key at once.
	s.index.WaitFor(ctx, rev)
	return &createAccessKeyResult{AccessKey: accessKeyShape{
		UserName: k.UserName, AccessKeyID: k.AccessKeyID, Status: k.Status,
		SecretAccessKey: s.keys.accessKeySecret(k.AccessKeyID), CreateDate: isoTime(k.CreateDate),
	}}, nil
}

func (s *Service) deleteAccessKey(c *call) (any, *apiError) {
	v := validator{p: c.p}
	name, given := v.str("UserName", "userName", false, 1, 128, validName, patName)
	id, _ := v.str("AccessKeyId", "accessKeyId", true, 16, 128, validAccessKeyID, patAccessKeyID)
	if e := v.err(); e != nil {
		return nil, e
	}
	who := s.whoIs(c.cred)
	name, self, e := targetUser(who, name, given)
	if e != nil {
		return nil, e
	}
	if name == "" {
		if s.root != nil && id == s.root.AccessKeyID {
			return nil, validationError("The account root's access key is kept in kplane's data directory (" +
				auth.RootCredentialsFile + ") and cannot be deleted through IAM.")
		}
		return nil, noSuchAccessKey(id)
	}
	if e := s.authorize(c, who, userArn(s.accountID, "/", name), self); e != nil {
		return nil, e
	}
	ctx := c.r.Context()
	if _, err := s.st.GetIAMUser(ctx, name); errors.Is(err, store.ErrNotFound) {
		return nil, noSuchUser(name)
	} else if err != nil {
		return nil, s.failure(err)
	}
	rev, err := s.st.DeleteIAMAccessKey(ctx, name, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, noSuchAccessKey(id)
	case err != nil:
		return nil, s.failure(err)
	}
	// Once this answers, this kplane refuses the key.
	s.index.WaitFor(ctx, rev)
	return nil, nil
}

func (s *Service) listAccessKeys(c *call) (any, *apiError) {
	v := validator{p: c.p}
	name, given := v.str("UserName", "userName", false, 1, 128, validName, patName)
	l := readListing(&v, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	who := s.whoIs(c.cred)
	name, self, e := targetUser(who, name, given)
	if e != nil {
		return nil, e
	}
	var keys []accessKeyShape
	if name == "" { // the account root's own key
		if s.root != nil {
			keys = append(keys, accessKeyShape{AccessKeyID: s.root.AccessKeyID, Status: statusActive, CreateDate: s.rootCreated()})
		}
	} else {
		if e := s.authorize(c, who, userArn(s.accountID, "/", name), self); e != nil {
			return nil, e
		}
		recs, err := s.st.ListIAMAccessKeys(c.r.Context(), name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, noSuchUser(name)
		case err != nil:
			return nil, s.failure(err)
		}
		for _, k := range recs {
			keys = append(keys, accessKeyShape{UserName: k.UserName, AccessKeyID: k.AccessKeyID, Status: k.Status, CreateDate: isoTime(k.CreateDate)})
		}
	}
	keyOf := func(k accessKeyShape) string { return k.CreateDate + "/" + k.AccessKeyID }
	slices.SortFunc(keys, func(a, b accessKeyShape) int { return strings.Compare(keyOf(a), keyOf(b)) })
	got, truncated, next, e := page(keys, keyOf, l)
	if e != nil {
		return nil, e
	}
	res := &listAccessKeysResult{IsTruncated: truncated, Marker: next}
	res.AccessKeyMetadata.Members = got
	return res, nil
}

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
	if e := s.authorize(c, s.whoIs(c.cred), arn, false); e != nil {
		return nil, e
	}
	ctx := c.r.Context()
	policy, msg := parseTrustPolicy(doc)
	if msg != "" {
		return nil, newError(400, "MalformedPolicyDocument", msg)
	}
	if e := s.checkPrincipals(ctx, policy); e != nil {
		return nil, e
	}
	if hasBoundary {
		return nil, noSuchBoundary(boundary)
	}
	r := &store.IAMRole{
		RoleName: name, RoleID: newID(prefixRoleID), Path: path, Arn: arn,
		CreateDate: s.now().UTC().Truncate(time.Second), AssumeRolePolicyDocument: doc,
		Description: desc, MaxSessionDuration: maxDur, Tags: toStoreTags(tags),
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
func (s *Service) checkPrincipals(ctx context.Context, p *trustPolicy) *apiError {
	for _, st := range p.statements {
		for _, pr := range []*principal{st.principal, st.notPrincipal} {
			if pr == nil {
				continue
			}
			for _, a := range pr.aws {
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
	v := validator{p: c.p}
	name, _ := v.str("RoleName", "roleName", true, 1, 64, validName, patName)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, s.whoIs(c.cred), roleArn(s.accountID, "/", name), false); e != nil {
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

func (s *Service) deleteRole(c *call) (any, *apiError) {
	v := validator{p: c.p}
	name, _ := v.str("RoleName", "roleName", true, 1, 64, validName, patName)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, s.whoIs(c.cred), roleArn(s.accountID, "/", name), false); e != nil {
		return nil, e
	}
	switch err := s.st.DeleteIAMRole(c.r.Context(), name); {
	case errors.Is(err, store.ErrNotFound):
		return nil, noSuchRole(name)
	case err != nil:
		return nil, s.failure(err)
	}
	return nil, nil
}
