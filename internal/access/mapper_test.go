package access

import (
	"testing"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

var session = &auth.TokenIdentity{
	ARN:          "arn:aws:sts::000000000000:assumed-role/dev/s1",
	CanonicalARN: "arn:aws:iam::000000000000:role/dev",
	AccountID:    "000000000000", SessionName: "s1", AccessKeyID: "ASIAEXAMPLE",
}

func TestSamePrincipal(t *testing.T) {
	cases := []struct {
		principal string
		want      bool
	}{
		{"arn:aws:iam::000000000000:role/dev", true},
		{"arn:aws:iam::000000000000:role/team/a/dev", true}, // sessions do not carry the role's path
		{"arn:aws:iam::111111111111:role/dev", false},
		{"arn:aws:iam::000000000000:role/devs", false},
		{"arn:aws:iam::000000000000:user/dev", false},
	}
	for _, c := range cases {
		if got := samePrincipal(c.principal, session); got != c.want {
			t.Errorf("samePrincipal(%s) = %v", c.principal, got)
		}
	}
}

func TestEntryUserGroupsAndTemplate(t *testing.T) {
	view, _ := PolicyByArn(PolicyArnPrefix + "AmazonEKSViewPolicy")
	edit, _ := PolicyByArn(PolicyArnPrefix + "AmazonEKSEditPolicy")
	e := &store.AccessEntryRecord{
		Entry: shapes.AccessEntry{Username: "arn:aws:sts::{{AccountID}}:assumed-role/dev/{{SessionName}}", KubernetesGroups: []string{"devs"}},
		Policies: []shapes.AssociatedAccessPolicy{
			{PolicyArn: view.Arn(), AccessScope: shapes.AccessScope{Type: "cluster"}},
			{PolicyArn: edit.Arn(), AccessScope: shapes.AccessScope{Type: "namespace", Namespaces: []string{"a", "b"}}},
		},
	}
	u := entryUser(e, session)
	if u.Username != "arn:aws:sts::000000000000:assumed-role/dev/s1" {
		t.Errorf("username %q", u.Username)
	}
	want := []string{"devs", view.ClusterGroup(), edit.NamespaceGroup("a"), edit.NamespaceGroup("b")}
	if len(u.Groups) != len(want) {
		t.Fatalf("groups %v, want %v", u.Groups, want)
	}
	for i := range want {
		if u.Groups[i] != want[i] {
			t.Errorf("groups %v, want %v", u.Groups, want)
		}
	}
}

func TestAwsAuthMapping(t *testing.T) {
	aa := AwsAuth{
		MapRoles: "- rolearn: arn:aws:iam::000000000000:role/dev\n  username: dev:{{SessionName}}\n  groups: [readers]\n",
		MapUsers: "- userarn: arn:aws:iam::000000000000:user/alice\n  username: alice\n  groups: [admins]\n",
	}
	u, ok, err := mapAwsAuth(aa, session)
	if err != nil || !ok || u.Username != "dev:s1" || len(u.Groups) != 1 || u.Groups[0] != "readers" {
		t.Errorf("role mapping: %+v %v %v", u, ok, err)
	}
	alice := &auth.TokenIdentity{ARN: "arn:aws:iam::000000000000:user/alice", CanonicalARN: "arn:aws:iam::000000000000:user/alice"}
	if u, ok, _ := mapAwsAuth(aa, alice); !ok || u.Username != "alice" {
		t.Errorf("user mapping: %+v %v", u, ok)
	}
	bob := &auth.TokenIdentity{ARN: "arn:aws:iam::000000000000:user/bob", CanonicalARN: "arn:aws:iam::000000000000:user/bob"}
	if _, ok, _ := mapAwsAuth(aa, bob); ok {
		t.Error("an unmapped user got in")
	}
	if _, _, err := mapAwsAuth(AwsAuth{MapRoles: "{not: [a list"}, bob); err == nil {
		t.Error("malformed mapRoles accepted")
	}
}
