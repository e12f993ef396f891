package iam

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// TestAssumeRoleTrustConditions: a trust policy's conditions decide
// AssumeRole through the SDK: sts:ExternalId, aws:PrincipalTag, a
// SourceIdentity (which needs sts:SetSourceIdentity and then stays with the
// session and its chained sessions), and a Deny on aws:SourceIdentity.
func TestAssumeRoleTrustConditions(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.iam(e.rootAWS)
	user := func(name, team string) aws.Credentials {
		t.Helper()
		if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name),
			Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String(team)}}}); err != nil {
			t.Fatal(err)
		}
		k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.Credentials{AccessKeyID: *k.AccessKey.AccessKeyId, SecretAccessKey: *k.AccessKey.SecretAccessKey}
	}
	blue, red := user("blue", "blue"), user("red", "red")
	// Trusts the account's principals tagged team=blue that give the external
	// id; lets them set a source identity, unless it is a contractor's, and
	// refuses every session whose source identity is one.
	trust := `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":["sts:AssumeRole","sts:SetSourceIdentity"],
	  "Condition":{"StringEquals":{"sts:ExternalId":"x-123","aws:PrincipalTag/team":"blue"}}},
	 {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:role/ops"},"Action":"sts:AssumeRole"},
	 {"Effect":"Deny","Principal":"*","Action":"sts:SetSourceIdentity","Condition":{"StringLike":{"sts:SourceIdentity":"contractor-*"}}},
	 {"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringLike":{"aws:SourceIdentity":"contractor-*"}}}]}`
	// The role names itself, so it is made first, as IAM wants.
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ops"), AssumeRolePolicyDocument: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole"}]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("ops"), PolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	// Trusting the account leaves the rest to the callers' own policies.
	for _, u := range []string{"blue", "red"} {
		if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(u), PolicyName: aws.String("assume"),
			PolicyDocument: aws.String(doc("sts:*"))}); err != nil {
			t.Fatal(err)
		}
	}
	role := aws.String("arn:aws:iam::000000000000:role/ops")
	assume := func(creds aws.Credentials, in sts.AssumeRoleInput) (*sts.AssumeRoleOutput, error) {
		in.RoleArn = role
		if in.RoleSessionName == nil {
			in.RoleSessionName = aws.String("s1")
		}
		return e.sts(creds).AssumeRole(ctx, &in)
	}
	denied := func(step string, creds aws.Credentials, in sts.AssumeRoleInput) {
		t.Helper()
		_, err := assume(creds, in)
		if err == nil {
			t.Fatalf("%s: allowed", step)
		}
		wantAPIError(t, err, "AccessDenied", "", 403)
	}
	denied("no external id", blue, sts.AssumeRoleInput{})
	denied("wrong external id", blue, sts.AssumeRoleInput{ExternalId: aws.String("x-124")})
	denied("not tagged blue", red, sts.AssumeRoleInput{ExternalId: aws.String("x-123")})
	if _, err := assume(blue, sts.AssumeRoleInput{ExternalId: aws.String("x-123")}); err != nil {
		t.Fatalf("external id and tag: %v", err)
	}
	denied("a contractor's source identity", blue, sts.AssumeRoleInput{ExternalId: aws.String("x-123"), SourceIdentity: aws.String("contractor-7")})
	out, err := assume(blue, sts.AssumeRoleInput{ExternalId: aws.String("x-123"), SourceIdentity: aws.String("alice")})
	if err != nil {
		t.Fatalf("source identity: %v", err)
	}
	sess := aws.Credentials{AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey, SessionToken: *out.Credentials.SessionToken}
	// The session is trusted by its role's ARN; its source identity stays.
	if _, err := assume(sess, sts.AssumeRoleInput{RoleSessionName: aws.String("s2")}); err != nil {
		t.Fatalf("chained: %v", err)
	}
	denied("changing the source identity", sess, sts.AssumeRoleInput{RoleSessionName: aws.String("s3"), SourceIdentity: aws.String("bob")})

	// A role without SetSourceIdentity in its trust refuses a source identity.
	plain := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/blue"},"Action":"sts:AssumeRole"}]}`
	if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("ops"), PolicyDocument: aws.String(plain)}); err != nil {
		t.Fatal(err)
	}
	denied("no sts:SetSourceIdentity", blue, sts.AssumeRoleInput{SourceIdentity: aws.String("alice")})
	if _, err := assume(blue, sts.AssumeRoleInput{}); err != nil {
		t.Fatalf("named user without conditions: %v", err)
	}
	_, err = c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("ops"), PolicyDocument: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"Bogus":{"a:b":"c"}}}]}`)})
	wantAPIError(t, err, "MalformedPolicyDocument", "Invalid Condition type : Bogus", 400)
}
