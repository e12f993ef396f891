package iam

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// An instance's session of its role works at once as that role's session
// named by the instance id (sts get-caller-identity with it); a role that
// does not exist is ErrRoleNotFound.
func TestInstanceSession(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	out, err := e.iam(e.rootAWS).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("node-role"), AssumeRolePolicyDocument: aws.String(trust)})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := e.svc.InstanceSession(ctx, *out.Role.Arn, "i-0123456789abcdef0", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if until := time.Until(cred.Expires); until < 59*time.Minute || until > time.Hour {
		t.Errorf("expires in %v", until)
	}
	id, err := e.sts(aws.Credentials{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey, SessionToken: cred.SessionToken}).GetCallerIdentity(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:sts::" + testAccount + ":assumed-role/node-role/i-0123456789abcdef0"; *id.Arn != want {
		t.Errorf("caller %s, want %s", *id.Arn, want)
	}
	for _, arn := range []string{"arn:aws:iam::" + testAccount + ":role/gone", "arn:aws:iam::111111111111:role/node-role", "not-an-arn"} {
		if _, err := e.svc.InstanceSession(ctx, arn, "i-0123456789abcdef0", time.Hour); !errors.Is(err, ErrRoleNotFound) {
			t.Errorf("InstanceSession(%s): %v, want ErrRoleNotFound", arn, err)
		}
	}
}
