package iam

import (
	"slices"
	"strconv"
	"strings"

	"github.com/kplane/kplane/internal/policy"
	"github.com/kplane/kplane/internal/store"
)

// maxAttachedPolicies is IAM's default quota of managed policies per user, role or group.
const maxAttachedPolicies = 10

// attach attaches (or detaches) a managed policy, keeping a customer managed
// policy's attachment count in the same transaction.
func (s *Service) attach(c *call, k *entityKind, add bool) (any, *apiError) {
	var arn string
	name, e := s.entityCall(c, k, func(v *validator) map[string][]string {
		arn, _ = v.str("PolicyArn", "policyArn", true, 20, 2048, validArnText, patArn)
		return map[string][]string{"iam:policyarn": {arn}}
	})
	if e != nil {
		return nil, e
	}
	ref, e := s.resolvePolicyArn(arn)
	if e != nil {
		return nil, e
	}
	return nil, s.updateEntityTx(c, k, name, func(tx store.IAMTx, ent *entity) *apiError {
		var p *store.IAMPolicy
		if ref.managed == nil {
			var err error
			p, err = tx.Policy(ref.name)
			if err != nil || p.Arn != ref.arn {
				return noSuchPolicy(ref.arn)
			}
		}
		has := slices.Contains(*ent.attached, ref.arn)
		switch {
		case add && has:
			return nil // attaching twice changes nothing, as in IAM
		case add && len(*ent.attached) >= maxAttachedPolicies:
			return newError(409, "LimitExceeded", "Cannot exceed quota for "+k.quotaName+": "+strconv.Itoa(maxAttachedPolicies))
		case add:
			*ent.attached = append(*ent.attached, ref.arn)
		case !has:
			return newError(404, "NoSuchEntity", "Policy "+ref.arn+" was not found.")
		default:
			i := slices.Index(*ent.attached, ref.arn)
			*ent.attached = slices.Delete(*ent.attached, i, i+1)
		}
		if p != nil {
			if add {
				p.AttachmentCount++
			} else if p.AttachmentCount > 0 {
				p.AttachmentCount--
			}
			tx.PutPolicy(p)
		}
		return nil
	})
}

func (s *Service) listAttached(c *call, k *entityKind) (any, *apiError) {
	name, l, e := s.listingCall(c, k, true)
	if e != nil {
		return nil, e
	}
	ent, e := s.readEntity(c, k, name)
	if e != nil {
		return nil, e
	}
	var out []attachedPolicyShape
	for _, arn := range *ent.attached {
		a, _ := parseARN(arn)
		rest := strings.TrimPrefix(a.resource, "policy")
		i := strings.LastIndexByte(rest, '/')
		if strings.HasPrefix(rest[:i+1], l.pathPrefix) {
			out = append(out, attachedPolicyShape{PolicyName: rest[i+1:], PolicyArn: arn})
		}
	}
	slices.SortFunc(out, func(a, b attachedPolicyShape) int { return strings.Compare(a.PolicyArn, b.PolicyArn) })
	got, truncated, next, e := page(out, func(x attachedPolicyShape) string { return x.PolicyArn }, l)
	if e != nil {
		return nil, e
	}
	res := &listAttachedResult{IsTruncated: truncated, Marker: next}
	res.AttachedPolicies.Members = got
	return res, nil
}

// Inline policies.

func (s *Service) putInline(c *call, k *entityKind) (any, *apiError) {
	var pname, doc string
	name, e := s.entityCall(c, k, func(v *validator) map[string][]string {
		pname, _ = v.str("PolicyName", "policyName", true, 1, 128, validName, patName)
		doc, _ = v.str("PolicyDocument", "policyDocument", true, 1, 131072, validPolicyText, patPolicy)
		return nil
	})
	if e != nil {
		return nil, e
	}
	if e := checkPolicyDocument(doc, 0, ""); e != nil {
		return nil, e
	}
	return nil, s.updateEntity(c, k, name, func(ent *entity) *apiError {
		list := *ent.inline
		i := slices.IndexFunc(list, func(p store.IAMInlinePolicy) bool { return strings.EqualFold(p.Name, pname) })
		if i >= 0 {
			list = slices.Clone(list)
			list[i] = store.IAMInlinePolicy{Name: pname, Document: doc}
		} else {
			list = append(list, store.IAMInlinePolicy{Name: pname, Document: doc})
		}
		total := 0
		for _, p := range list {
			total += policy.Size(p.Document)
		}
		if total > k.inlineQuota {
			return newError(409, "LimitExceeded", "Maximum policy size of "+strconv.Itoa(k.inlineQuota)+" bytes exceeded for "+k.word+" "+name)
		}
		*ent.inline = list
		return nil
	})
}

func noSuchInline(k *entityKind, pname string) *apiError {
	return newError(404, "NoSuchEntity", "The "+k.word+" policy with name "+pname+" cannot be found.")
}

// inlinePolicyCall starts a call about one inline policy of an entity.
func (s *Service) inlinePolicyCall(c *call, k *entityKind) (name, pname string, e *apiError) {
	name, e = s.entityCall(c, k, func(v *validator) map[string][]string {
		pname, _ = v.str("PolicyName", "policyName", true, 1, 128, validName, patName)
		return nil
	})
	return name, pname, e
}

func (s *Service) getInline(c *call, k *entityKind) (any, *apiError) {
	name, pname, e := s.inlinePolicyCall(c, k)
	if e != nil {
		return nil, e
	}
	ent, e := s.readEntity(c, k, name)
	if e != nil {
		return nil, e
	}
	for _, p := range *ent.inline {
		if strings.EqualFold(p.Name, pname) {
			res := &inlinePolicyResult{PolicyName: p.Name, PolicyDocument: policyEscape(p.Document)}
			entName := ent.arn[strings.LastIndexByte(ent.arn, '/')+1:]
			switch k {
			case kindUserEntity:
				res.UserName = entName
			case kindRoleEntity:
				res.RoleName = entName
			default:
				res.GroupName = entName
			}
			return res, nil
		}
	}
	return nil, noSuchInline(k, pname)
}

func (s *Service) deleteInline(c *call, k *entityKind) (any, *apiError) {
	name, pname, e := s.inlinePolicyCall(c, k)
	if e != nil {
		return nil, e
	}
	return nil, s.updateEntity(c, k, name, func(ent *entity) *apiError {
		i := slices.IndexFunc(*ent.inline, func(p store.IAMInlinePolicy) bool { return strings.EqualFold(p.Name, pname) })
		if i < 0 {
			return noSuchInline(k, pname)
		}
		*ent.inline = slices.Delete(slices.Clone(*ent.inline), i, i+1)
		return nil
	})
}

func (s *Service) listInline(c *call, k *entityKind) (any, *apiError) {
	name, l, e := s.listingCall(c, k, false)
	if e != nil {
		return nil, e
	}
	ent, e := s.readEntity(c, k, name)
	if e != nil {
		return nil, e
	}
	var names []string
	for _, p := range *ent.inline {
		names = append(names, p.Name)
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	got, truncated, next, e := page(names, strings.ToLower, l)
	if e != nil {
		return nil, e
	}
	res := &listPolicyNamesResult{IsTruncated: truncated, Marker: next}
	res.PolicyNames.Members = got
	if res.PolicyNames.Members == nil {
		res.PolicyNames.Members = []string{}
	}
	return res, nil
}
