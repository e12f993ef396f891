package iam

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// BenchmarkLookup is the credential source on the hot path of every request:
// root, an IAM user's key and a session, in parallel as a busy server sees them.
func BenchmarkLookup(b *testing.B) {
	e := newTestEnv(b)
	ctx := context.Background()
	c := e.iam(e.rootAWS)
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("u")}); err != nil {
		b.Fatal(err)
	}
	k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("u")})
	if err != nil {
		b.Fatal(err)
	}
	doc := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"000000000000"},"Action":"sts:AssumeRole"}]}`
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(doc)}); err != nil {
		b.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: *k.AccessKey.AccessKeyId, SecretAccessKey: *k.AccessKey.SecretAccessKey}
	ar, err := e.sts(creds).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), RoleSessionName: aws.String("s1")})
	if err != nil {
		b.Fatal(err)
	}
	src := e.svc.Credentials()
	for _, id := range []struct{ name, id string }{
		{"root", e.root.AccessKeyID}, {"user", *k.AccessKey.AccessKeyId}, {"session", *ar.Credentials.AccessKeyId}, {"unknown", "AKIAAAAAAAAAAAAAAAAA"},
	} {
		b.Run(id.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					src.Lookup(ctx, id.id)
				}
			})
		})
	}
}
