package iam

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/kplane/kplane/internal/policy"
	"github.com/kplane/kplane/internal/store"
)

// maxAttachedPolicies is IAM's default quota of managed policies per user, role or group.
const maxAttachedPolicies = 10

// entity is a user, role or group as the policy calls see it: pointers into
// its record, and put to write the record back in the transaction.
type entity struct {
	arn      string
	attached *[]string
	inline   *[]store.IAMInlinePolicy
	tags     *[]store.IAMTag // nil for groups
	put      func()
}

// entityKind is what differs between users, roles and groups.
type entityKind struct {
	word        string // "user", "role", "group"
	param       string // "UserName"
	field       string // "userName"
	quotaName   string // "PoliciesPerUser"
	inlineQuota int    // aggregate size of inline policies
	load        func(tx store.IAMTx, name string) (*entity, error)
}

var kindUserEntity = &entityKind{word: "user", param: "UserName", field: "userName", quotaName: "PoliciesPerUser", inlineQuota: 2048,
	load: func(tx store.IAMTx, name string) (*entity, error) {
		u, err := tx.User(name)
		if err != nil {
			return nil, err
		}
		return &entity{arn: u.Arn, attached: &u.AttachedPolicies, inline: &u.InlinePolicies, tags: &u.Tags, put: func() { tx.PutUser(u) }}, nil
	}}

var kindRoleEntity = &entityKind{word: "role", param: "RoleName", field: "roleName", quotaName: "PoliciesPerRole", inlineQuota: 10240,
	load: func(tx store.IAMTx, name string) (*entity, error) {
		r, err := tx.Role(name)
		if err != nil {
			return nil, err
		}
		return &entity{arn: r.Arn, attached: &r.AttachedPolicies, inline: &r.InlinePolicies, tags: &r.Tags, put: func() { tx.PutRole(r) }}, nil
	}}

var kindGroupEntity = &entityKind{word: "group", param: "GroupName", field: "groupName", quotaName: "PoliciesPerGroup", inlineQuota: 5120,
	load: func(tx store.IAMTx, name string) (*entity, error) {
		g, err := tx.Group(name)
		if err != nil {
			return nil, err
		}
		return &entity{arn: g.Arn, attached: &g.AttachedPolicies, inline: &g.InlinePolicies, put: func() { tx.PutGroup(g) }}, nil
	}}

func (k *entityKind) readName(v *validator) string {
	name, _ := v.str(k.param, k.field, true, 1, 128, validName, patName)
	return name
}

func (k *entityKind) noSuch(name string) *apiError {
	return newError(404, "NoSuchEntity", "The "+k.word+" with name "+name+" cannot be found.")
}

func (k *entityKind) resource(s *Service, name string) string {
	switch k.word {
	case "user":
		return s.userResource(name)
	case "role":
		return s.roleResource(name)
	}
	return s.groupResource(name)
}

// updateEntity changes the named entity in one transaction; fn may also
// touch other records through tx... it sees only the entity here.
func (s *Service) updateEntity(c *call, k *entityKind, name string, fn func(*entity) *apiError) *apiError {
	return s.updateEntityTx(c, k, name, func(_ store.IAMTx, ent *entity) *apiError { return fn(ent) })
}

func (s *Service) updateEntityTx(c *call, k *entityKind, name string, fn func(store.IAMTx, *entity) *apiError) *apiError {
	var ae *apiError
	_, err := s.txn(c, func(tx store.IAMTx) error {
		ae = nil
		ent, err := k.load(tx, name)
		if errors.Is(err, store.ErrNotFound) {
			ae = k.noSuch(name)
			return nil
		}
		if err != nil {
			return err
		}
		if ae = fn(tx, ent); ae != nil {
			return nil
		}
		ent.put()
		return nil
	})
	if err != nil {
		return s.failure(err)
	}
	return ae
}

func (s *Service) attachUserPolicy(c *call) (any, *apiError) {
	return s.attach(c, kindUserEntity, true)
}
func (s *Service) attachRolePolicy(c *call) (any, *apiError) {
	return s.attach(c, kindRoleEntity, true)
}
func (s *Service) attachGroupPolicy(c *call) (any, *apiError) {
	return s.attach(c, kindGroupEntity, true)
}
func (s *Service) detachUserPolicy(c *call) (any, *apiError) {
	return s.attach(c, kindUserEntity, false)
}
func (s *Service) detachRolePolicy(c *call) (any, *apiError) {
	return s.attach(c, kindRoleEntity, false)
}
func (s *Service) detachGroupPolicy(c *call) (any, *apiError) {
	return s.attach(c, kindGroupEntity, false)
}

// attach attaches (or detaches) a managed policy, keeping a customer managed
// policy's attachment count in the same transaction.
func (s *Service) attach(c *call, k *entityKind, add bool) (any, *apiError) {
	v := validator{p: c.p}
	name := k.readName(&v)
	arn, _ := v.str("PolicyArn", "policyArn", true, 20, 2048, validArnText, patArn)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, k.resource(s, name), map[string][]string{"iam:policyarn": {arn}}); e != nil {
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

func (s *Service) listAttachedUserPolicies(c *call) (any, *apiError) {
	return s.listAttached(c, kindUserEntity)
}
func (s *Service) listAttachedRolePolicies(c *call) (any, *apiError) {
	return s.listAttached(c, kindRoleEntity)
}
func (s *Service) listAttachedGroupPolicies(c *call) (any, *apiError) {
	return s.listAttached(c, kindGroupEntity)
}

// readEntity reads an entity's record for a List or Get call.
func (s *Service) readEntity(c *call, k *entityKind, name string) (*entity, *apiError) {
	var ent *entity
	_, err := s.txn(c, func(tx store.IAMTx) error {
		var err error
		ent, err = k.load(tx, name)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, k.noSuch(name)
	case err != nil:
		return nil, s.failure(err)
	}
	return ent, nil
}

func (s *Service) listAttached(c *call, k *entityKind) (any, *apiError) {
	v := validator{p: c.p}
	name := k.readName(&v)
	l := readListing(&v, true)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, k.resource(s, name), nil); e != nil {
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

func (s *Service) putUserPolicy(c *call) (any, *apiError)  { return s.putInline(c, kindUserEntity) }
func (s *Service) putRolePolicy(c *call) (any, *apiError)  { return s.putInline(c, kindRoleEntity) }
func (s *Service) putGroupPolicy(c *call) (any, *apiError) { return s.putInline(c, kindGroupEntity) }

func (s *Service) putInline(c *call, k *entityKind) (any, *apiError) {
	v := validator{p: c.p}
	name := k.readName(&v)
	pname, _ := v.str("PolicyName", "policyName", true, 1, 128, validName, patName)
	doc, _ := v.str("PolicyDocument", "policyDocument", true, 1, 131072, validPolicyText, patPolicy)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, k.resource(s, name), nil); e != nil {
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

func (s *Service) getUserPolicy(c *call) (any, *apiError)  { return s.getInline(c, kindUserEntity) }
func (s *Service) getRolePolicy(c *call) (any, *apiError)  { return s.getInline(c, kindRoleEntity) }
func (s *Service) getGroupPolicy(c *call) (any, *apiError) { return s.getInline(c, kindGroupEntity) }

func (s *Service) getInline(c *call, k *entityKind) (any, *apiError) {
	v := validator{p: c.p}
	name := k.readName(&v)
	pname, _ := v.str("PolicyName", "policyName", true, 1, 128, validName, patName)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, k.resource(s, name), nil); e != nil {
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

func (s *Service) deleteUserPolicy(c *call) (any, *apiError) {
	return s.deleteInline(c, kindUserEntity)
}
func (s *Service) deleteRolePolicy(c *call) (any, *apiError) {
	return s.deleteInline(c, kindRoleEntity)
}
func (s *Service) deleteGroupPolicy(c *call) (any, *apiError) {
	return s.deleteInline(c, kindGroupEntity)
}

func (s *Service) deleteInline(c *call, k *entityKind) (any, *apiError) {
	v := validator{p: c.p}
	name := k.readName(&v)
	pname, _ := v.str("PolicyName", "policyName", true, 1, 128, validName, patName)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, k.resource(s, name), nil); e != nil {
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

func (s *Service) listUserPolicies(c *call) (any, *apiError) { return s.listInline(c, kindUserEntity) }
func (s *Service) listRolePolicies(c *call) (any, *apiError) { return s.listInline(c, kindRoleEntity) }
func (s *Service) listGroupPolicies(c *call) (any, *apiError) {
	return s.listInline(c, kindGroupEntity)
}

func (s *Service) listInline(c *call, k *entityKind) (any, *apiError) {
	v := validator{p: c.p}
	name := k.readName(&v)
	l := readListing(&v, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, k.resource(s, name), nil); e != nil {
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
