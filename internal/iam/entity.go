package iam

import (
	"errors"

	"github.com/kplane/kplane/internal/store"
)

// entity is a user, role or group as the policy calls see it: pointers into
// its record, and put to write the record back in the transaction.
type entity struct {
	arn      string
	attached *[]string
	inline   *[]store.IAMInlinePolicy
	tags     *[]store.IAMTag // nil for groups
	boundary *string         // the permissions boundary's ARN; nil for groups
	// holders is what else hangs on the entity (keys, groups, users,
	// instance profiles), in the order IAM's DeleteX checks it.
	holders []holder
	put     func()
}

// holder is a kind of record that must be removed before its entity is
// deleted, and the DeleteConflict message that says so.
type holder struct {
	count int
	msg   string
}

// entityKind is what differs between users, roles and groups.
type entityKind struct {
	word        string // "user", "role", "group"
	param       string // "UserName"
	field       string // "userName"
	quotaName   string // "PoliciesPerUser"
	inlineQuota int    // aggregate size of inline policies
	nameMax     int    // longest name the API model accepts
	load        func(tx store.IAMTx, name string) (*entity, error)
	del         func(tx store.IAMTx, name string)
}

var kindUserEntity = &entityKind{word: "user", param: "UserName", field: "userName", quotaName: "PoliciesPerUser", inlineQuota: 2048, nameMax: 128,
	load: func(tx store.IAMTx, name string) (*entity, error) {
		u, err := tx.User(name)
		if err != nil {
			return nil, err
		}
		return &entity{arn: u.Arn, attached: &u.AttachedPolicies, inline: &u.InlinePolicies, tags: &u.Tags, boundary: &u.PermissionsBoundary, put: func() { tx.PutUser(u) },
			holders: []holder{
				{len(u.AccessKeys), "Cannot delete entity, must delete access keys first."},
				{len(u.Groups), "Cannot delete entity, must remove user from all groups first."},
			}}, nil
	},
	del: store.IAMTx.DeleteUser,
}

var kindRoleEntity = &entityKind{word: "role", param: "RoleName", field: "roleName", quotaName: "PoliciesPerRole", inlineQuota: 10240, nameMax: 64,
	load: func(tx store.IAMTx, name string) (*entity, error) {
		r, err := tx.Role(name)
		if err != nil {
			return nil, err
		}
		return &entity{arn: r.Arn, attached: &r.AttachedPolicies, inline: &r.InlinePolicies, tags: &r.Tags, boundary: &r.PermissionsBoundary, put: func() { tx.PutRole(r) },
			holders: []holder{{len(r.InstanceProfiles), "Cannot delete entity, must remove roles from instance profile first."}}}, nil
	},
	del: store.IAMTx.DeleteRole,
}

var kindGroupEntity = &entityKind{word: "group", param: "GroupName", field: "groupName", quotaName: "PoliciesPerGroup", inlineQuota: 5120, nameMax: 128,
	load: func(tx store.IAMTx, name string) (*entity, error) {
		g, err := tx.Group(name)
		if err != nil {
			return nil, err
		}
		return &entity{arn: g.Arn, attached: &g.AttachedPolicies, inline: &g.InlinePolicies, put: func() { tx.PutGroup(g) },
			holders: []holder{{len(g.Users), "Cannot delete entity, must remove users from group first."}}}, nil
	},
	del: store.IAMTx.DeleteGroup,
}

func (k *entityKind) readName(v *validator) string {
	name, _ := v.str(k.param, k.field, true, 1, k.nameMax, validName, patName)
	return name
}

// entityCall reads the entity's name and, through more (nil for none), the
// call's other parameters and condition keys; then it authorizes the call on
// the entity. Every per-entity handler starts with it.
func (s *Service) entityCall(c *call, k *entityKind, more func(v *validator) map[string][]string) (string, *apiError) {
	v := validator{p: c.p}
	name := k.readName(&v)
	var condKeys map[string][]string
	if more != nil {
		condKeys = more(&v)
	}
	if e := v.err(); e != nil {
		return "", e
	}
	return name, s.authorize(c, k.resource(s, name), condKeys)
}

// deleteEntity deletes a user, role or group. Whatever hangs on it refuses
// the delete, as in IAM; all is checked in the transaction that deletes it.
func (s *Service) deleteEntity(c *call, k *entityKind) (any, *apiError) {
	name, e := s.entityCall(c, k, nil)
	if e != nil {
		return nil, e
	}
	var ae *apiError
	_, err := s.txn(c, func(tx store.IAMTx) error {
		ae = nil
		ent, err := k.load(tx, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			ae = k.noSuch(name)
			return nil
		case err != nil:
			return err
		}
		holders := append(ent.holders, holder{len(*ent.attached), msgDetachFirst}, holder{len(*ent.inline), msgDeletePolsFirst})
		for _, h := range holders {
			if h.count > 0 {
				ae = deleteConflict(h.msg)
				return nil
			}
		}
		k.del(tx, name)
		return nil
	})
	if err != nil {
		return nil, s.failure(err)
	}
	return nil, ae
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

// listingCall is entityCall for a List call: the entity's name and the
// listing's parameters (Marker, MaxItems, and PathPrefix when withPath).
func (s *Service) listingCall(c *call, k *entityKind, withPath bool) (string, listing, *apiError) {
	var l listing
	name, e := s.entityCall(c, k, func(v *validator) map[string][]string {
		l = readListing(v, withPath)
		return nil
	})
	return name, l, e
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

// entityOps adds to ops the calls that are the same for users, roles and
// groups but for the entity's name (AttachUserPolicy, AttachRolePolicy, ...):
// one handler per verb, bound here to each kind of entity.
func entityOps(ops map[string]func(*Service, *call) (any, *apiError)) map[string]func(*Service, *call) (any, *apiError) {
	for _, k := range []*entityKind{kindUserEntity, kindRoleEntity, kindGroupEntity} {
		K := k.param[:len(k.param)-len("Name")] // User, Role, Group
		with := func(h func(*Service, *call, *entityKind) (any, *apiError)) func(*Service, *call) (any, *apiError) {
			return func(s *Service, c *call) (any, *apiError) { return h(s, c, k) }
		}
		ops["Delete"+K] = with((*Service).deleteEntity)
		ops["Attach"+K+"Policy"] = with(func(s *Service, c *call, k *entityKind) (any, *apiError) { return s.attach(c, k, true) })
		ops["Detach"+K+"Policy"] = with(func(s *Service, c *call, k *entityKind) (any, *apiError) { return s.attach(c, k, false) })
		ops["ListAttached"+K+"Policies"] = with((*Service).listAttached)
		ops["Put"+K+"Policy"] = with((*Service).putInline)
		ops["Get"+K+"Policy"] = with((*Service).getInline)
		ops["Delete"+K+"Policy"] = with((*Service).deleteInline)
		ops["List"+K+"Policies"] = with((*Service).listInline)
		if k != kindGroupEntity { // IAM groups have no tags
			ops["Tag"+K] = with(func(s *Service, c *call, k *entityKind) (any, *apiError) { return s.tagEntity(c, k, true) })
			ops["Untag"+K] = with(func(s *Service, c *call, k *entityKind) (any, *apiError) { return s.tagEntity(c, k, false) })
			ops["List"+K+"Tags"] = with((*Service).listEntityTags)
			ops["Put"+K+"PermissionsBoundary"] = with(func(s *Service, c *call, k *entityKind) (any, *apiError) { return s.setBoundary(c, k, true) })
			ops["Delete"+K+"PermissionsBoundary"] = with(func(s *Service, c *call, k *entityKind) (any, *apiError) { return s.setBoundary(c, k, false) })
		}
	}
	return ops
}
