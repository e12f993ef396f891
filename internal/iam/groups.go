package iam

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/store"
)

const (
	prefixGroupID      = "AGPA"
	maxGroupsPerUser   = 10
	msgDetachFirst     = "Cannot delete entity, must detach all policies first."
	msgDeletePolsFirst = "Cannot delete entity, must delete policies first."
)

func groupArn(account, path, name string) string {
	return "arn:aws:iam::" + account + ":group" + path + name
}

func deleteConflict(msg string) *apiError { return newError(409, "DeleteConflict", msg) }

func (s *Service) createGroup(c *call) (any, *apiError) {
	v := validator{p: c.p}
	name, _ := v.str("GroupName", "groupName", true, 1, 128, validName, patName)
	path, hasPath := v.str("Path", "path", false, 1, 512, validPath, patPath)
	if e := v.err(); e != nil {
		return nil, e
	}
	if !hasPath {
		path = "/"
	}
	arn := groupArn(s.accountID, path, name)
	if e := s.authorize(c, arn, nil); e != nil {
		return nil, e
	}
	g := &store.IAMGroup{GroupName: name, GroupID: newID(prefixGroupID), Path: path, Arn: arn,
		CreateDate: s.now().UTC().Truncate(time.Second)}
	switch err := s.st.CreateIAMGroup(c.r.Context(), g); {
	case errors.Is(err, store.ErrExists):
		return nil, newError(409, "EntityAlreadyExists", "Group with name "+name+" already exists.")
	case err != nil:
		return nil, s.failure(err)
	}
	return &groupResult{Group: groupOf(g)}, nil
}

func (s *Service) getGroup(c *call) (any, *apiError) {
	name, l, e := s.listingCall(c, kindGroupEntity, false)
	if e != nil {
		return nil, e
	}
	var g *store.IAMGroup
	var users []*store.IAMUser
	_, err := s.txn(c, func(tx store.IAMTx) error {
		var err error
		if g, err = tx.Group(name); err != nil {
			return err
		}
		users, err = loadNamed(g.Users, tx.User)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, kindGroupEntity.noSuch(name)
	case err != nil:
		return nil, s.failure(err)
	}
	got, truncated, next, e := pageByName(users, func(u *store.IAMUser) string { return u.UserName }, l)
	if e != nil {
		return nil, e
	}
	res := &getGroupResult{Group: groupOf(g), IsTruncated: truncated, Marker: next}
	res.Users.Members = make([]userShape, 0, len(got))
	for _, u := range got {
		res.Users.Members = append(res.Users.Members, userOf(u, false))
	}
	return res, nil
}

func (s *Service) listGroups(c *call) (any, *apiError) {
	got, truncated, next, e := listUnderPath(s, c, "arn:aws:iam::"+s.accountID+":group/", s.st.ListIAMGroups,
		func(g *store.IAMGroup) string { return g.Path }, func(g *store.IAMGroup) string { return g.GroupName })
	if e != nil {
		return nil, e
	}
	res := &listGroupsResult{IsTruncated: truncated, Marker: next}
	res.Groups.Members = make([]groupShape, 0, len(got))
	for _, g := range got {
		res.Groups.Members = append(res.Groups.Members, groupOf(g))
	}
	return res, nil
}

func (s *Service) addUserToGroup(c *call) (any, *apiError)      { return s.membership(c, true) }
func (s *Service) removeUserFromGroup(c *call) (any, *apiError) { return s.membership(c, false) }

// membership adds a user to a group, or removes it, writing both records in one transaction.
func (s *Service) membership(c *call, add bool) (any, *apiError) {
	v := validator{p: c.p}
	gname := kindGroupEntity.readName(&v)
	uname := kindUserEntity.readName(&v)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, s.groupResource(gname), nil); e != nil {
		return nil, e
	}
	var ae *apiError
	_, err := s.txn(c, func(tx store.IAMTx) error {
		ae = nil
		g, err := tx.Group(gname)
		if errors.Is(err, store.ErrNotFound) {
			ae = kindGroupEntity.noSuch(gname)
			return nil
		} else if err != nil {
			return err
		}
		u, err := tx.User(uname)
		if errors.Is(err, store.ErrNotFound) {
			ae = kindUserEntity.noSuch(uname)
			return nil
		} else if err != nil {
			return err
		}
		inGroup := slices.ContainsFunc(u.Groups, func(n string) bool { return strings.EqualFold(n, g.GroupName) })
		switch {
		case add && inGroup:
			return nil
		case add && len(u.Groups) >= maxGroupsPerUser:
			ae = newError(409, "LimitExceeded", "Cannot exceed quota for GroupsPerUser: 10")
			return nil
		case add:
			u.Groups = append(u.Groups, g.GroupName)
			g.Users = append(g.Users, u.UserName)
		case !inGroup:
			ae = kindUserEntity.noSuch(uname)
			return nil
		default:
			u.Groups = slices.DeleteFunc(u.Groups, func(n string) bool { return strings.EqualFold(n, g.GroupName) })
			g.Users = slices.DeleteFunc(g.Users, func(n string) bool { return strings.EqualFold(n, u.UserName) })
		}
		tx.PutUser(u)
		tx.PutGroup(g)
		return nil
	})
	if err != nil {
		return nil, s.failure(err)
	}
	return nil, ae
}

func (s *Service) listGroupsForUser(c *call) (any, *apiError) {
	uname, l, e := s.listingCall(c, kindUserEntity, false)
	if e != nil {
		return nil, e
	}
	var groups []*store.IAMGroup
	_, err := s.txn(c, func(tx store.IAMTx) error {
		u, err := tx.User(uname)
		if err != nil {
			return err
		}
		groups, err = loadNamed(u.Groups, tx.Group)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, kindUserEntity.noSuch(uname)
	case err != nil:
		return nil, s.failure(err)
	}
	got, truncated, next, e := pageByName(groups, func(g *store.IAMGroup) string { return g.GroupName }, l)
	if e != nil {
		return nil, e
	}
	res := &listGroupsResult{IsTruncated: truncated, Marker: next}
	res.Groups.Members = make([]groupShape, 0, len(got))
	for _, g := range got {
		res.Groups.Members = append(res.Groups.Members, groupOf(g))
	}
	return res, nil
}

// loadNamed reads the records of names, skipping any deleted meanwhile
// (a group's member list and a user's group list are kept in step, but a
// record read in the same transaction is what counts).
func loadNamed[T any](names []string, get func(string) (*T, error)) ([]*T, error) {
	out := make([]*T, 0, len(names))
	for _, n := range names {
		r, err := get(n)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// pageByName sorts records by name, ignoring case as IAM does, and returns
// l's page of them.
func pageByName[T any](recs []*T, nameOf func(*T) string, l listing) ([]*T, bool, string, *apiError) {
	key := func(r *T) string { return strings.ToLower(nameOf(r)) }
	slices.SortFunc(recs, func(a, b *T) int { return strings.Compare(key(a), key(b)) })
	return page(recs, key, l)
}
