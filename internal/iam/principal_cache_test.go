package iam

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/kplane/kplane/internal/policy"
)

// TestAuthorizeFollowsEveryPolicyChange: the cached policies of a caller
// never outlive a change. Each IAM write that takes an Allow away (detach,
// a new default version, an inline Deny, a group, a role's policy for its
// sessions) decides the very next call, and giving it back does too.
func TestAuthorizeFollowsEveryPolicyChange(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.iam(e.rootAWS)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dev")}))
	made, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("describe"), PolicyDocument: aws.String(doc("eks:DescribeCluster"))})
	if err != nil {
		t.Fatal(err)
	}
	pol := made.Policy.Arn
	k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("dev")})
	if err != nil {
		t.Fatal(err)
	}
	akid := *k.AccessKey.AccessKeyId
	r := httptest.NewRequest("GET", "/clusters/a", nil)
	decide := func(id string) policy.Decision {
		t.Helper()
		cred, err := e.svc.Credentials().Lookup(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		ref := e.svc.Authorize(r, cred, &policy.Request{Action: "eks:DescribeCluster", Resource: "arn:aws:eks:us-west-2:000000000000:cluster/a"})
		if ref == nil {
			return policy.Allow
		}
		return ref.Decision
	}
	want := func(step string, id string, d policy.Decision) {
		t.Helper()
		// Twice: the second call is served from the cache.
		for range 2 {
			if got := decide(id); got != d {
				t.Fatalf("%s: %v, want %v", step, got, d)
			}
		}
	}
	deny := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"eks:*","Resource":"*"}]}`

	want("no policy", akid, policy.ImplicitDeny)
	must(c.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("dev"), PolicyArn: pol}))
	want("attached", akid, policy.Allow)
	must(c.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: pol, PolicyDocument: aws.String(doc("eks:ListClusters")), SetAsDefault: true}))
	want("new default version", akid, policy.ImplicitDeny)
	must(c.SetDefaultPolicyVersion(ctx, &iam.SetDefaultPolicyVersionInput{PolicyArn: pol, VersionId: aws.String("v1")}))
	want("default back to v1", akid, policy.Allow)
	must(c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("dev"), PolicyName: aws.String("no"), PolicyDocument: aws.String(deny)}))
	want("inline deny", akid, policy.ExplicitDeny)
	must(c.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("dev"), PolicyName: aws.String("no")}))
	want("inline deny deleted", akid, policy.Allow)
	must(c.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("locked")}))
	must(c.PutGroupPolicy(ctx, &iam.PutGroupPolicyInput{GroupName: aws.String("locked"), PolicyName: aws.String("no"), PolicyDocument: aws.String(deny)}))
	must(c.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String("locked"), UserName: aws.String("dev")}))
	want("in a denying group", akid, policy.ExplicitDeny)
	must(c.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{GroupName: aws.String("locked"), UserName: aws.String("dev")}))
	want("out of the group", akid, policy.Allow)
	must(c.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String("dev"), PolicyArn: pol}))
	want("detached", akid, policy.ImplicitDeny)

	// A session follows its role's policies.
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/dev"},"Action":"sts:AssumeRole"}]}`
	must(c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ops"), AssumeRolePolicyDocument: aws.String(trust)}))
	must(c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("ops"), PolicyArn: pol}))
	ar, err := e.sts(aws.Credentials{AccessKeyID: akid, SecretAccessKey: *k.AccessKey.SecretAccessKey}).AssumeRole(ctx,
		&sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/ops"), RoleSessionName: aws.String("s1")})
	if err != nil {
		t.Fatal(err)
	}
	asid := *ar.Credentials.AccessKeyId
	want("session of a role allowed", asid, policy.Allow)
	must(c.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String("ops"), PolicyArn: pol}))
	want("role's policy detached", asid, policy.ImplicitDeny)
	must(c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ops"), PolicyName: aws.String("d"), PolicyDocument: aws.String(doc("eks:DescribeCluster"))}))
	want("role's inline policy", asid, policy.Allow)
	must(c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("ops"), PolicyName: aws.String("d")}))
	want("role's inline policy deleted", asid, policy.ImplicitDeny)
}
