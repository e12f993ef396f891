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

// TestPermissionsBoundaries: a boundary set at CreateUser or with
// Put{User,Role}PermissionsBoundary is shown by GetUser/GetRole and limits
// the identity policies (and a role's sessions, with their session policy
// too); deleting it lifts the limit at the next call.
func TestPermissionsBoundaries(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.iam(e.rootAWS)
	bound, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("eks-read"), PolicyDocument: aws.String(doc("eks:Describe*"))})
	if err != nil {
		t.Fatal(err)
	}
	missing := "arn:aws:iam::000000000000:policy/none"
	_, err = c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dev"), PermissionsBoundary: aws.String(missing)})
	wantAPIError(t, err, "NoSuchEntity", "Scope ARN: "+missing+" does not exist or is not attachable.", 404)
	made, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dev"), PermissionsBoundary: bound.Policy.Arn})
	if err != nil || made.User.PermissionsBoundary == nil || *made.User.PermissionsBoundary.PermissionsBoundaryArn != *bound.Policy.Arn {
		t.Fatalf("CreateUser with a boundary: %+v %v", made, err)
	}
	if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("dev"), PolicyName: aws.String("all"), PolicyDocument: aws.String(allowAll)}); err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("dev")})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	decide := func(id, action string) *policy.Refusal {
		t.Helper()
		cred, err := e.svc.Credentials().Lookup(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return e.svc.Authorize(r, cred, &policy.Request{Action: action, Resource: "arn:aws:eks:us-west-2:000000000000:cluster/a"})
	}
	dev := *k.AccessKey.AccessKeyId
	if ref := decide(dev, "eks:DescribeCluster"); ref != nil {
		t.Fatalf("inside the boundary: %s", ref.Message)
	}
	ref := decide(dev, "eks:DeleteCluster")
	if ref == nil || ref.Message != "User: arn:aws:iam::000000000000:user/dev is not authorized to perform: eks:DeleteCluster on resource: arn:aws:eks:us-west-2:000000000000:cluster/a because no permissions boundary allows the eks:DeleteCluster action" {
		t.Fatalf("outside the boundary: %+v", ref)
	}
	got, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("dev")})
	if err != nil || got.User.PermissionsBoundary == nil || got.User.PermissionsBoundary.PermissionsBoundaryType != "PermissionsBoundaryPolicy" {
		t.Fatalf("GetUser: %+v %v", got, err)
	}
	if _, err := c.DeleteUserPermissionsBoundary(ctx, &iam.DeleteUserPermissionsBoundaryInput{UserName: aws.String("dev")}); err != nil {
		t.Fatal(err)
	}
	if ref := decide(dev, "eks:DeleteCluster"); ref != nil {
		t.Fatalf("boundary deleted: %s", ref.Message)
	}
	if got, _ := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("dev")}); got.User.PermissionsBoundary != nil {
		t.Fatalf("GetUser after DeleteUserPermissionsBoundary: %+v", got.User.PermissionsBoundary)
	}

	// A role's boundary bounds its sessions, with the session policy too.
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/dev"},"Action":"sts:AssumeRole"}]}`
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ops"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ops"), PolicyName: aws.String("all"), PolicyDocument: aws.String(allowAll)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.PutRolePermissionsBoundary(ctx, &iam.PutRolePermissionsBoundaryInput{RoleName: aws.String("ops"), PermissionsBoundary: aws.String(missing)})
	wantAPIError(t, err, "NoSuchEntity", "", 404)
	if _, err := c.PutRolePermissionsBoundary(ctx, &iam.PutRolePermissionsBoundaryInput{RoleName: aws.String("ops"),
		PermissionsBoundary: aws.String("arn:aws:iam::aws:policy/AmazonEKSClusterPolicy")}); err != nil {
		t.Fatal(err)
	}
	role, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("ops")})
	if err != nil || role.Role.PermissionsBoundary == nil || *role.Role.PermissionsBoundary.PermissionsBoundaryArn != "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy" {
		t.Fatalf("GetRole: %+v %v", role, err)
	}
	ar, err := e.sts(aws.Credentials{AccessKeyID: dev, SecretAccessKey: *k.AccessKey.SecretAccessKey}).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::000000000000:role/ops"), RoleSessionName: aws.String("s1"),
		Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:*","eks:*"],"Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	sess := *ar.Credentials.AccessKeyId
	if ref := decide(sess, "ec2:CreateTags"); ref != nil { // in AmazonEKSClusterPolicy
		t.Fatalf("session inside role boundary and session policy: %s", ref.Message)
	}
	if ref := decide(sess, "eks:DeleteCluster"); ref == nil {
		t.Fatal("session outside the role's boundary allowed")
	}
	if ref := decide(sess, "iam:ListRoles"); ref == nil {
		t.Fatal("session outside its session policy allowed")
	}
	if _, err := c.DeleteRolePermissionsBoundary(ctx, &iam.DeleteRolePermissionsBoundaryInput{RoleName: aws.String("ops")}); err != nil {
		t.Fatal(err)
	}
	if ref := decide(sess, "eks:DeleteCluster"); ref != nil {
		t.Fatalf("role boundary deleted: %s", ref.Message)
	}
}
