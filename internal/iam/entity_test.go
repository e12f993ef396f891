package iam

import "testing"

// TestEntityOpsCoverEveryKind checks that the per-entity handlers, bound in
// one loop, answer every call IAM has for users, roles and groups.
func TestEntityOpsCoverEveryKind(t *testing.T) {
	want := []string{
		"DeleteUser", "DeleteRole", "DeleteGroup",
		"AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy",
		"DetachUserPolicy", "DetachRolePolicy", "DetachGroupPolicy",
		"ListAttachedUserPolicies", "ListAttachedRolePolicies", "ListAttachedGroupPolicies",
		"PutUserPolicy", "PutRolePolicy", "PutGroupPolicy",
		"GetUserPolicy", "GetRolePolicy", "GetGroupPolicy",
		"DeleteUserPolicy", "DeleteRolePolicy", "DeleteGroupPolicy",
		"ListUserPolicies", "ListRolePolicies", "ListGroupPolicies",
		"TagUser", "UntagUser", "ListUserTags", "TagRole", "UntagRole", "ListRoleTags",
		"PutUserPermissionsBoundary", "PutRolePermissionsBoundary", "DeleteUserPermissionsBoundary", "DeleteRolePermissionsBoundary",
	}
	for _, op := range want {
		if iamAPI.ops[op] == nil {
			t.Errorf("no handler for %s", op)
		}
	}
	for _, op := range []string{"TagGroup", "UntagGroup", "ListGroupTags", "PutGroupPermissionsBoundary"} {
		if iamAPI.ops[op] != nil {
			t.Errorf("%s has a handler; IAM has no such call", op)
		}
	}
}
