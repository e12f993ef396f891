package iam

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/kplane/kplane/internal/policy"
)

// BenchmarkAuthorize is policybench's caller in-process: an IAM user whose
// access comes from 10 attached policies of 20 statements each, the allowing
// statement last, against the root, through Lookup and Authorize.
func BenchmarkAuthorize(b *testing.B) {
	e := newTestEnv(b)
	ctx := context.Background()
	c := e.iam(e.rootAWS)
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	const cluster = "policy-bench"
	for p := range 10 {
		var st []string
		for s := range 20 {
			action, resource := fmt.Sprintf("ec2:Describe%d*", s), fmt.Sprintf("arn:aws:eks:*:*:cluster/p%d-s%d-*", p, s)
			if p == 9 && s == 19 {
				action, resource = "eks:DescribeCluster", "arn:aws:eks:*:*:cluster/"+cluster
			}
			st = append(st, fmt.Sprintf(`{"Sid":"S%d","Effect":"Allow","Action":["%s","eks:Describe%dX*"],"Resource":"%s","Condition":{"StringEqualsIfExists":{"aws:RequestTag/team":"t%d"}}}`,
				s, action, s, resource, s))
		}
		doc := `{"Version":"2012-10-17","Statement":[` + strings.Join(st, ",") + `]}`
		out, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(fmt.Sprintf("bench-%d", p)), PolicyDocument: aws.String(doc)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("bench"), PolicyArn: out.Policy.Arn}); err != nil {
			b.Fatal(err)
		}
	}
	k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("bench")})
	if err != nil {
		b.Fatal(err)
	}
	src := e.svc.Credentials()
	resource := "arn:aws:eks:us-west-2:000000000000:cluster/" + cluster
	for _, who := range []struct{ name, id string }{{"root", e.root.AccessKeyID}, {"user", *k.AccessKey.AccessKeyId}} {
		b.Run(who.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := httptest.NewRequest("GET", "/clusters/"+cluster, nil)
				for pb.Next() {
					cred, err := src.Lookup(ctx, who.id)
					if err != nil {
						b.Fatal(err)
					}
					if ref := e.svc.Authorize(r, cred, &policy.Request{Action: "eks:DescribeCluster", Resource: resource}); ref != nil {
						b.Fatal(ref.Message)
					}
				}
			})
		})
	}
}
