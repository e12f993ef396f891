package iam

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/store"
)

const prefixProfileID = "AIPA"

func instanceProfileArn(account, path, name string) string {
	return "arn:aws:iam::" + account + ":instance-profile" + path + name
}

func noSuchProfile(name string) *apiError {
	return newError(404, "NoSuchEntity", "Instance Profile "+name+" cannot be found.")
}

func (s *Service) profileResource(name string) string {
	return instanceProfileArn(s.accountID, "/", name)
}

func readProfileName(v *validator) string {
	name, _ := v.str("InstanceProfileName", "instanceProfileName", true, 1, 128, validName, patName)
	return name
}

// profileOf is the InstanceProfile shape, with its roles read in tx.
func profileOf(p *store.IAMInstanceProfile, roles []*store.IAMRole) instanceProfileShape {
	sh := instanceProfileShape{Path: p.Path, InstanceProfileName: p.Name, InstanceProfileID: p.ID, Arn: p.Arn,
		CreateDate: isoTime(p.CreateDate), Tags: tagsShape(p.Tags)}
	sh.Roles.Members = []roleShape{}
	for _, r := range roles {
		sh.Roles.Members = append(sh.Roles.Members, roleOf(r, false))
	}
	return sh
}

func profileRoles(tx store.IAMTx, p *store.IAMInstanceProfile) ([]*store.IAMRole, error) {
	var out []*store.IAMRole
	for _, n := range p.Roles {
		r, err := tx.Role(n)
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

func (s *Service) createInstanceProfile(c *call) (any, *apiError) {
	v := validator{p: c.p}
	name := readProfileName(&v)
	path, hasPath := v.str("Path", "path", false, 1, 512, validPath, patPath)
	tags, e := v.tags()
	if e != nil {
		return nil, e
	}
	if !hasPath {
		path = "/"
	}
	arn := instanceProfileArn(s.accountID, path, name)
	if e := s.authorize(c, arn, tagKeys(tags)); e != nil {
		return nil, e
	}
	p := &store.IAMInstanceProfile{Name: name, ID: newID(prefixProfileID), Path: path, Arn: arn,
		CreateDate: s.now().UTC().Truncate(time.Second), Tags: toStoreTags(tags)}
	switch err := s.st.CreateIAMInstanceProfile(c.r.Context(), p); {
	case errors.Is(err, store.ErrExists):
		return nil, newError(409, "EntityAlreadyExists", "Instance Profile "+name+" already exists.")
	case err != nil:
		return nil, s.failure(err)
	}
	return &instanceProfileResult{InstanceProfile: profileOf(p, nil)}, nil
}

func (s *Service) getInstanceProfile(c *call) (any, *apiError) {
	v := validator{p: c.p}
	name := readProfileName(&v)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, s.profileResource(name), nil); e != nil {
		return nil, e
	}
	var sh instanceProfileShape
	_, err := s.txn(c, func(tx store.IAMTx) error {
		p, err := tx.InstanceProfile(name)
		if err != nil {
			return err
		}
		roles, err := profileRoles(tx, p)
		if err != nil {
			return err
		}
		sh = profileOf(p, roles)
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, noSuchProfile(name)
	case err != nil:
		return nil, s.failure(err)
	}
	return &instanceProfileResult{InstanceProfile: sh}, nil
}

func (s *Service) deleteInstanceProfile(c *call) (any, *apiError) {
	v := validator{p: c.p}
	name := readProfileName(&v)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, s.profileResource(name), nil); e != nil {
		return nil, e
	}
	var ae *apiError
	_, err := s.txn(c, func(tx store.IAMTx) error {
		ae = nil
		p, err := tx.InstanceProfile(name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			ae = noSuchProfile(name)
		case err != nil:
			return err
		case len(p.Roles) > 0:
			ae = deleteConflict("Cannot delete entity, must remove roles from instance profile first.")
		default:
			tx.DeleteInstanceProfile(name)
		}
		return nil
	})
	if err != nil {
		return nil, s.failure(err)
	}
	return nil, ae
}

func (s *Service) addRoleToInstanceProfile(c *call) (any, *apiError) { return s.profileRole(c, true) }
func (s *Service) removeRoleFromInstanceProfile(c *call) (any, *apiError) {
	return s.profileRole(c, false)
}

// profileRole puts a role in a profile (at most one, as in IAM) or takes it
// out, writing both records in one transaction.
func (s *Service) profileRole(c *call, add bool) (any, *apiError) {
	v := validator{p: c.p}
	name := readProfileName(&v)
	rname, _ := v.str("RoleName", "roleName", true, 1, 64, validName, patName)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, s.profileResource(name), nil); e != nil {
		return nil, e
	}
	var ae *apiError
	_, err := s.txn(c, func(tx store.IAMTx) error {
		ae = nil
		p, err := tx.InstanceProfile(name)
		if errors.Is(err, store.ErrNotFound) {
			ae = noSuchProfile(name)
			return nil
		} else if err != nil {
			return err
		}
		r, err := tx.Role(rname)
		if errors.Is(err, store.ErrNotFound) {
			ae = noSuchRole(rname)
			return nil
		} else if err != nil {
			return err
		}
		in := slices.ContainsFunc(p.Roles, func(n string) bool { return strings.EqualFold(n, r.RoleName) })
		switch {
		case add && len(p.Roles) >= 1:
			ae = newError(409, "LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
			return nil
		case add:
			p.Roles = append(p.Roles, r.RoleName)
			r.InstanceProfiles = append(r.InstanceProfiles, p.Name)
		case !in:
			ae = newError(404, "NoSuchEntity", "The role with name "+rname+" cannot be found.")
			return nil
		default:
			p.Roles = slices.DeleteFunc(p.Roles, func(n string) bool { return strings.EqualFold(n, r.RoleName) })
			r.InstanceProfiles = slices.DeleteFunc(r.InstanceProfiles, func(n string) bool { return strings.EqualFold(n, p.Name) })
		}
		tx.PutInstanceProfile(p)
		tx.PutRole(r)
		return nil
	})
	if err != nil {
		return nil, s.failure(err)
	}
	return nil, ae
}

func (s *Service) listInstanceProfilesForRole(c *call) (any, *apiError) {
	v := validator{p: c.p}
	rname, _ := v.str("RoleName", "roleName", true, 1, 64, validName, patName)
	l := readListing(&v, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, s.roleResource(rname), nil); e != nil {
		return nil, e
	}
	var shapes []instanceProfileShape
	_, err := s.txn(c, func(tx store.IAMTx) error {
		shapes = shapes[:0]
		r, err := tx.Role(rname)
		if err != nil {
			return err
		}
		for _, n := range r.InstanceProfiles {
			p, err := tx.InstanceProfile(n)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			roles, err := profileRoles(tx, p)
			if err != nil {
				return err
			}
			shapes = append(shapes, profileOf(p, roles))
		}
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, noSuchRole(rname)
	case err != nil:
		return nil, s.failure(err)
	}
	key := func(p instanceProfileShape) string { return strings.ToLower(p.InstanceProfileName) }
	slices.SortFunc(shapes, func(a, b instanceProfileShape) int { return strings.Compare(key(a), key(b)) })
	got, truncated, next, e := page(shapes, key, l)
	if e != nil {
		return nil, e
	}
	res := &listInstanceProfilesResult{IsTruncated: truncated, Marker: next}
	res.InstanceProfiles.Members = got
	return res, nil
}

func (s *Service) listInstanceProfiles(c *call) (any, *apiError) {
	got, truncated, next, e := listUnderPath(s, c, "arn:aws:iam::"+s.accountID+":instance-profile/", s.st.ListIAMInstanceProfiles,
		func(p *store.IAMInstanceProfile) string { return p.Path }, func(p *store.IAMInstanceProfile) string { return p.Name })
	if e != nil {
		return nil, e
	}
	res := &listInstanceProfilesResult{IsTruncated: truncated, Marker: next}
	for _, p := range got {
		var roles []*store.IAMRole
		for _, n := range p.Roles {
			if r := s.index.Role(n); r != nil {
				roles = append(roles, r)
			}
		}
		res.InstanceProfiles.Members = append(res.InstanceProfiles.Members, profileOf(p, roles))
	}
	return res, nil
}
