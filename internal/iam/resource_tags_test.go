package iam

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// TestResourceTagConditions: a policy allowing IAM calls only on what is
// tagged team=a (aws:ResourceTag/team, and its iam:ResourceTag form) lets its
// user act on the tagged role, user and customer policy and not on untagged
// ones; a retag changes the answer on the next call; sts:AssumeRole
// conditioned on the role's tag follows the role's tags too.
func TestResourceTagConditions(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	root := e.iam(e.rootAWS)
	teamA := []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("a")}}
	trustAccount := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + testAccount + `"},"Action":"sts:AssumeRole"}]}`
	for _, name := range []string{"tagged", "untagged"} {
		var tags []iamtypes.Tag
		if name == "tagged" {
			tags = teamA
		}
		if _, err := root.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trustAccount), Tags: tags}); err != nil {
			t.Fatal(err)
		}
		if _, err := root.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name), Tags: tags}); err != nil {
			t.Fatal(err)
		}
		if _, err := root.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(doc("eks:ListClusters")), Tags: tags}); err != nil {
			t.Fatal(err)
		}
	}
	const onlyTeamA = `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":["iam:GetRole","iam:TagRole","iam:GetUser","iam:GetPolicy"],"Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"a"}}},
	 {"Effect":"Allow","Action":"iam:ListRoleTags","Resource":"*","Condition":{"StringEquals":{"iam:ResourceTag/team":"a"}}},
	 {"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"a"}}}]}`
	if _, err := root.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dev")}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("dev"), PolicyName: aws.String("team-a"), PolicyDocument: aws.String(onlyTeamA)}); err != nil {
		t.Fatal(err)
	}
	k, err := root.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("dev")})
	if err != nil {
		t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: *k.AccessKey.AccessKeyId, SecretAccessKey: *k.AccessKey.SecretAccessKey}
	dev := e.iam(creds)
	policyArn := func(name string) *string { return aws.String("arn:aws:iam::" + testAccount + ":policy/" + name) }
	roleArn := func(name string) *string { return aws.String("arn:aws:iam::" + testAccount + ":role/" + name) }

	for _, c := range []struct {
		what string
		call func(name string) error
	}{
		{"GetRole", func(n string) error {
			_, err := dev.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(n)})
			return err
		}},
		{"ListRoleTags (iam:ResourceTag)", func(n string) error {
			_, err := dev.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: aws.String(n)})
			return err
		}},
		{"GetUser", func(n string) error {
			_, err := dev.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(n)})
			return err
		}},
		{"GetPolicy", func(n string) error {
			_, err := dev.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: policyArn(n)})
			return err
		}},
		{"AssumeRole", func(n string) error {
			_, err := e.sts(creds).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: roleArn(n), RoleSessionName: aws.String("s1")})
			return err
		}},
	} {
		if err := c.call("tagged"); err != nil {
			t.Errorf("%s on the team=a resource: %v", c.what, err)
		}
		if err := c.call("untagged"); err == nil {
			t.Errorf("%s on the untagged resource was allowed", c.what)
		} else {
			wantAPIError(t, err, "AccessDenied", "", 403)
		}
	}

	// Tags are read at each call: retagging moves the right.
	if _, err := root.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String("untagged"), Tags: teamA}); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("untagged")}); err != nil {
		t.Fatalf("GetRole after the role was tagged team=a: %v", err)
	}
	if _, err := root.UntagRole(ctx, &iam.UntagRoleInput{RoleName: aws.String("tagged"), TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	_, err = dev.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("tagged")})
	wantAPIError(t, err, "AccessDenied", "", 403)
}
