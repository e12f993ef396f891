package iam

import (
	"slices"
	"strconv"
	"time"

	"github.com/kplane/kplane/internal/store"
)

// Versions of customer managed policies: IAM keeps five, one of them the default.

func (s *Service) createPolicyVersion(c *call) (any, *apiError) {
	v := validator{p: c.p}
	doc, _ := v.str("PolicyDocument", "policyDocument", true, 1, 131072, validPolicyText, patPolicy)
	setDefault, _ := v.boolean("SetAsDefault", "setAsDefault")
	ref, e := s.readPolicyArn(c, &v)
	if e != nil {
		return nil, e
	}
	if e := checkPolicyDocument(doc, maxManagedSize, "Cannot exceed quota for PolicySize: 6144"); e != nil {
		return nil, e
	}
	var made store.IAMPolicyVersion
	p, e := s.updatePolicy(c, ref, func(p *store.IAMPolicy) *apiError {
		if len(p.Versions) >= maxPolicyVersions {
			return newError(409, "LimitExceeded", "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.")
		}
		now := s.now().UTC().Truncate(time.Second)
		made = store.IAMPolicyVersion{VersionID: "v" + strconv.Itoa(p.NextVersion), Document: doc, CreateDate: now}
		p.NextVersion++
		p.Versions = append(p.Versions, made)
		if setDefault {
			p.DefaultVersionID = made.VersionID
		}
		p.UpdateDate = now
		return nil
	})
	if e != nil {
		return nil, e
	}
	return &policyVersionResult{PolicyVersion: policyVersionShape{VersionID: made.VersionID,
		IsDefaultVersion: p.DefaultVersionID == made.VersionID, CreateDate: isoTime(made.CreateDate)}}, nil
}

func validVersionID(s string) bool {
	if len(s) < 2 || s[0] != 'v' {
		return false
	}
	for _, c := range s[1:] {
		if !isWordChar(c) && c != '.' {
			return false
		}
	}
	return true
}

func noSuchVersion(arn, id string) *apiError {
	return newError(404, "NoSuchEntity", "Policy "+arn+" version "+id+" does not exist or is not attachable.")
}

func (s *Service) getPolicyVersion(c *call) (any, *apiError) {
	v := validator{p: c.p}
	id, _ := v.str("VersionId", "versionId", true, 0, 128, validVersionID, `v[1-9][0-9]*(\.[A-Za-z0-9-]*)?`)
	ref, e := s.readPolicyArn(c, &v)
	if e != nil {
		return nil, e
	}
	if ref.managed != nil {
		if id != "v1" {
			return nil, noSuchVersion(ref.arn, id)
		}
		return &policyVersionResult{PolicyVersion: policyVersionShape{Document: policyEscape(ref.managed.document),
			VersionID: "v1", IsDefaultVersion: true, CreateDate: isoTime(awsManagedDate)}}, nil
	}
	p, e := s.customerPolicy(c, ref)
	if e != nil {
		return nil, e
	}
	for _, ver := range p.Versions {
		if ver.VersionID == id {
			return &policyVersionResult{PolicyVersion: policyVersionShape{Document: policyEscape(ver.Document),
				VersionID: ver.VersionID, IsDefaultVersion: ver.VersionID == p.DefaultVersionID, CreateDate: isoTime(ver.CreateDate)}}, nil
		}
	}
	return nil, noSuchVersion(ref.arn, id)
}

func (s *Service) listPolicyVersions(c *call) (any, *apiError) {
	v := validator{p: c.p}
	l := readListing(&v, false)
	ref, e := s.readPolicyArn(c, &v)
	if e != nil {
		return nil, e
	}
	var versions []policyVersionShape
	if ref.managed != nil {
		versions = []policyVersionShape{{VersionID: "v1", IsDefaultVersion: true, CreateDate: isoTime(awsManagedDate)}}
	} else {
		p, e := s.customerPolicy(c, ref)
		if e != nil {
			return nil, e
		}
		// Newest first, as IAM lists them.
		for i := len(p.Versions) - 1; i >= 0; i-- {
			ver := p.Versions[i]
			versions = append(versions, policyVersionShape{VersionID: ver.VersionID,
				IsDefaultVersion: ver.VersionID == p.DefaultVersionID, CreateDate: isoTime(ver.CreateDate)})
		}
	}
	idx := map[string]string{}
	for i, ver := range versions {
		idx[ver.VersionID] = strconv.Itoa(1000 + i)
	}
	got, truncated, next, e := page(versions, func(x policyVersionShape) string { return idx[x.VersionID] }, l)
	if e != nil {
		return nil, e
	}
	res := &listPolicyVersionsResult{IsTruncated: truncated, Marker: next}
	res.Versions.Members = got
	return res, nil
}

func (s *Service) deletePolicyVersion(c *call) (any, *apiError) {
	return s.changeVersion(c, func(p *store.IAMPolicy, arn, id string) *apiError {
		i := slices.IndexFunc(p.Versions, func(x store.IAMPolicyVersion) bool { return x.VersionID == id })
		switch {
		case i < 0:
			return noSuchVersion(arn, id)
		case id == p.DefaultVersionID:
			return newError(409, "DeleteConflict", "Cannot delete the default version of a policy.")
		}
		p.Versions = slices.Delete(p.Versions, i, i+1)
		return nil
	})
}

func (s *Service) setDefaultPolicyVersion(c *call) (any, *apiError) {
	return s.changeVersion(c, func(p *store.IAMPolicy, arn, id string) *apiError {
		if !slices.ContainsFunc(p.Versions, func(x store.IAMPolicyVersion) bool { return x.VersionID == id }) {
			return noSuchVersion(arn, id)
		}
		p.DefaultVersionID = id
		p.UpdateDate = s.now().UTC().Truncate(time.Second)
		return nil
	})
}

// changeVersion reads PolicyArn and VersionId (DeletePolicyVersion,
// SetDefaultPolicyVersion) and applies change to the policy in one write.
func (s *Service) changeVersion(c *call, change func(p *store.IAMPolicy, arn, versionID string) *apiError) (any, *apiError) {
	v := validator{p: c.p}
	id, _ := v.str("VersionId", "versionId", true, 0, 128, validVersionID, `v[1-9][0-9]*(\.[A-Za-z0-9-]*)?`)
	ref, e := s.readPolicyArn(c, &v)
	if e != nil {
		return nil, e
	}
	_, e = s.updatePolicy(c, ref, func(p *store.IAMPolicy) *apiError { return change(p, ref.arn, id) })
	return nil, e
}
