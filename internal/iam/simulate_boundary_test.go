package iam

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// Simulation decides as calls are decided: a user's permissions boundary
// limits SimulatePrincipalPolicy, and PermissionsBoundaryPolicyInputList
// bounds SimulateCustomPolicy (and replaces the principal's boundary).
func TestSimulationHonoursPermissionsBoundaries(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.iam(e.rootAWS)
	bound, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("eks-read"), PolicyDocument: aws.String(doc("eks:Describe*"))})
	if err != nil {
		t.Fatal(err)
	}
	user, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dev"), PermissionsBoundary: bound.Policy.Arn})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("dev"), PolicyName: aws.String("all"), PolicyDocument: aws.String(allowAll)}); err != nil {
		t.Fatal(err)
	}
	actions := []string{"eks:DescribeCluster", "eks:DeleteCluster"}
	decisions := func(results []types.EvaluationResult) map[string]string {
		out := map[string]string{}
		for _, r := range results {
			out[*r.EvalActionName] = string(r.EvalDecision)
		}
		return out
	}
	sim, err := c.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: user.User.Arn, ActionNames: actions})
	if err != nil {
		t.Fatal(err)
	}
	got := decisions(sim.EvaluationResults)
	if got["eks:DescribeCluster"] != "allowed" || got["eks:DeleteCluster"] != "implicitDeny" {
		t.Fatalf("SimulatePrincipalPolicy of a bounded user: %v, want Describe allowed and Delete implicitDeny", got)
	}
	// A boundary given in the call replaces the user's.
	sim, err = c.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: user.User.Arn, ActionNames: actions,
		PermissionsBoundaryPolicyInputList: []string{allowAll}})
	if err != nil {
		t.Fatal(err)
	}
	if got := decisions(sim.EvaluationResults); got["eks:DeleteCluster"] != "allowed" {
		t.Fatalf("SimulatePrincipalPolicy with an allow-all boundary input: %v", got)
	}
	custom, err := c.SimulateCustomPolicy(ctx, &iam.SimulateCustomPolicyInput{PolicyInputList: []string{allowAll}, ActionNames: actions,
		PermissionsBoundaryPolicyInputList: []string{doc("eks:Describe*")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := decisions(custom.EvaluationResults); got["eks:DescribeCluster"] != "allowed" || got["eks:DeleteCluster"] != "implicitDeny" {
		t.Fatalf("SimulateCustomPolicy with a boundary: %v", got)
	}
	_, err = c.SimulateCustomPolicy(ctx, &iam.SimulateCustomPolicyInput{PolicyInputList: []string{allowAll}, ActionNames: actions,
		PermissionsBoundaryPolicyInputList: []string{allowAll, allowAll}})
	wantAPIError(t, err, "InvalidInput", "Only one permissions boundary policy may be simulated.", 400)
}
