package iam

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/store"
)

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
	arn := userArn(s.accountID, path, name)
	if e := s.authorize(c, arn, tagKeys(tags)); e != nil {
		return nil, e
	}
	if hasBoundary {
		if e := s.checkBoundary(boundary); e != nil {
			return nil, e
		}
	}
	u := &store.IAMUser{
		UserName: name, UserID: newID(prefixUserID), Path: path, Arn: arn,
		CreateDate: s.now().UTC().Truncate(time.Second), Tags: toStoreTags(tags), PermissionsBoundary: boundary,
	}
	switch err := s.st.CreateIAMUser(c.r.Context(), u); {
	case errors.Is(err, store.ErrExists):
		return nil, newError(409, "EntityAlreadyExists", "User with name "+name+" already exists.")
	case err != nil:
		return nil, s.failure(err)
	}
	return &userResult{User: userOf(u, true)}, nil
}

// noSuchBoundary answers a permissions boundary that is no managed policy.
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
	name, e := targetUser(who, name, given)
	if e != nil {
		return nil, e
	}
	if name == "" { // the account root, about itself
		return &userResult{User: userShape{UserID: s.accountID, Arn: s.rootArn, CreateDate: s.rootCreated()}}, nil
	}
	if e := s.authorize(c, s.userResource(name), nil); e != nil {
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
	name, e := targetUser(who, name, given)
	if e != nil {
		return nil, e
	}
	if name == "" {
		return nil, validationError("Must specify userName: kplane keeps the account root's access key in its data directory (" +
			auth.RootCredentialsFile + "); create access keys for IAM users.")
	}
	if e := s.authorize(c, s.userResource(name), nil); e != nil {
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
	name, e := targetUser(who, name, given)
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
	if e := s.authorize(c, s.userResource(name), nil); e != nil {
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
	name, e := targetUser(who, name, given)
	if e != nil {
		return nil, e
	}
	var keys []accessKeyShape
	if name == "" { // the account root's own key
		if s.root != nil {
			keys = append(keys, accessKeyShape{AccessKeyID: s.root.AccessKeyID, Status: statusActive, CreateDate: s.rootCreated()})
		}
	} else {
		if e := s.authorize(c, s.userResource(name), nil); e != nil {
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
