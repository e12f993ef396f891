package iam

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/golang-jwt/jwt/v5"
)

// TestAssumeRoleWithWebIdentity: a service-account token of a registered
// issuer, for a registered audience, signed by the issuer's key and not
// expired, is exchanged for the role's credentials when the trust policy's
// conditions on ISSUER:sub and ISSUER:aud hold; every other token is refused
// with STS's reason.
func TestAssumeRoleWithWebIdentity(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.iam(e.rootAWS)
	const issuer = "https://127.0.0.1:4599/oidc/id/ABCDEF"
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.SetIssuerKeys(func(iss string) (crypto.PublicKey, bool) {
		return &key.PublicKey, iss == issuer
	})
	prov, err := c.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String(issuer),
		ClientIDList: []string{"sts.amazonaws.com", "vault"}})
	if err != nil {
		t.Fatal(err)
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + *prov.OpenIDConnectProviderArn + `"},
	 "Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{
	  "127.0.0.1:4599/oidc/id/ABCDEF:sub":"system:serviceaccount:default:app","127.0.0.1:4599/oidc/id/ABCDEF:aud":"sts.amazonaws.com"}}}]}`
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("app"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("app"), PolicyName: aws.String("p"), PolicyDocument: aws.String(doc("iam:GetRole"))}); err != nil {
		t.Fatal(err)
	}
	sign := func(k *rsa.PrivateKey, iss, sub, aud string, exp time.Time) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{Issuer: iss, Subject: sub, Audience: jwt.ClaimStrings{aud},
			ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(time.Now().Add(-time.Minute))}).SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	client := e.sts(aws.Credentials{}) // the SDK sends this call unsigned
	assume := func(token string) (*sts.AssumeRoleWithWebIdentityOutput, error) {
		return client.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/app"),
			RoleSessionName: aws.String("pod"), WebIdentityToken: aws.String(token)})
	}
	soon := time.Now().Add(time.Hour)
	const sa = "system:serviceaccount:default:app"
	for _, tc := range []struct {
		name, token, code, msg string
		status                 int
	}{
		{"another service account", sign(key, issuer, "system:serviceaccount:default:other", "sts.amazonaws.com", soon), "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403},
		{"an audience the trust does not want", sign(key, issuer, sa, "vault", soon), "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403},
		{"an audience the provider does not have", sign(key, issuer, sa, "kubernetes", soon), "InvalidIdentityToken", "Incorrect token audience", 400},
		{"expired", sign(key, issuer, sa, "sts.amazonaws.com", time.Now().Add(-time.Minute)), "ExpiredTokenException", "", 400},
		{"another key", sign(other, issuer, sa, "sts.amazonaws.com", soon), "InvalidIdentityToken", "The token could not be verified: its signature is not the issuer's", 400},
		{"an unregistered issuer", sign(key, "https://127.0.0.1:4599/oidc/id/OTHER", sa, "sts.amazonaws.com", soon), "InvalidIdentityToken", "No OpenIDConnect provider found in your account for https://127.0.0.1:4599/oidc/id/OTHER", 400},
		{"not a JWT", "abcd.efgh", "InvalidIdentityToken", "", 400},
	} {
		_, err := assume(tc.token)
		if err == nil {
			t.Fatalf("%s: allowed", tc.name)
		}
		wantAPIError(t, err, tc.code, tc.msg, tc.status)
	}
	out, err := assume(sign(key, issuer, sa, "sts.amazonaws.com", soon))
	if err != nil {
		t.Fatal(err)
	}
	if *out.SubjectFromWebIdentityToken != sa || *out.Audience != "sts.amazonaws.com" || *out.Provider != *prov.OpenIDConnectProviderArn ||
		*out.AssumedRoleUser.Arn != "arn:aws:sts::000000000000:assumed-role/app/pod" {
		t.Fatalf("result: %+v %+v", out, out.AssumedRoleUser)
	}
	creds := aws.Credentials{AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey, SessionToken: *out.Credentials.SessionToken}
	id, err := e.sts(creds).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || *id.Arn != "arn:aws:sts::000000000000:assumed-role/app/pod" {
		t.Fatalf("GetCallerIdentity with the web identity's credentials: %v %v", id, err)
	}
	// The session has the role's policies: GetRole yes, ListRoles no.
	if _, err := e.iam(creds).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("app")}); err != nil {
		t.Fatalf("GetRole: %v", err)
	}
	_, err = e.iam(creds).ListRoles(ctx, &iam.ListRolesInput{})
	wantAPIError(t, err, "AccessDenied", "", 403)
}
