package iam

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// TestBoundaryInUse: GetPolicy and ListPolicies count the users and roles a
// policy bounds (PermissionsBoundaryUsageCount), PolicyUsageFilter
// PermissionsBoundary lists only those, and DeletePolicy is a DeleteConflict
// until no user or role has the policy as its boundary.
func TestBoundaryInUse(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.iam(e.rootAWS)
	made, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("bound"), PolicyDocument: aws.String(doc("eks:*"))})
	if err != nil {
		t.Fatal(err)
	}
	arn := made.Policy.Arn
	if _, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("unused"), PolicyDocument: aws.String(doc("eks:*"))}); err != nil {
		t.Fatal(err)
	}
	usage := func() int32 {
		t.Helper()
		got, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: arn})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToInt32(got.Policy.PermissionsBoundaryUsageCount)
	}
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dev"), PermissionsBoundary: arn}); err != nil {
		t.Fatal(err)
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("app"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRolePermissionsBoundary(ctx, &iam.PutRolePermissionsBoundaryInput{RoleName: aws.String("app"), PermissionsBoundary: arn}); err != nil {
		t.Fatal(err)
	}
	if n := usage(); n != 2 {
		t.Fatalf("PermissionsBoundaryUsageCount %d, want 2 (a user and a role)", n)
	}
	listed, err := c.ListPolicies(ctx, &iam.ListPoliciesInput{Scope: iamtypes.PolicyScopeTypeLocal, PolicyUsageFilter: iamtypes.PolicyUsageTypePermissionsBoundary})
	if err != nil || len(listed.Policies) != 1 || aws.ToString(listed.Policies[0].Arn) != *arn || aws.ToInt32(listed.Policies[0].PermissionsBoundaryUsageCount) != 2 {
		t.Fatalf("ListPolicies PolicyUsageFilter=PermissionsBoundary: %+v %v", listed, err)
	}
	_, err = c.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: arn})
	wantAPIError(t, err, "DeleteConflict", "Cannot delete a policy attached to entities.", 409)

	if _, err := c.DeleteUserPermissionsBoundary(ctx, &iam.DeleteUserPermissionsBoundaryInput{UserName: aws.String("dev")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	if n := usage(); n != 0 {
		t.Fatalf("PermissionsBoundaryUsageCount %d after the boundary was removed and the role deleted", n)
	}
	if _, err := c.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: arn}); err != nil {
		t.Fatalf("DeletePolicy of a policy no longer used as a boundary: %v", err)
	}
}
