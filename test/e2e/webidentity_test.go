//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestAssumeRoleWithWebIdentity is IRSA's core on a real cluster with the aws
// CLI and kubectl: the cluster's issuer registered as an OIDC provider, a
// role trusting it for one service account and audience, then
// `kubectl create token SA --audience sts.amazonaws.com` exchanged by
// `aws sts assume-role-with-web-identity` for credentials kplane accepts;
// another service account, another audience and an expired token (signed
// with the cluster's own key) are refused.
func TestAssumeRoleWithWebIdentity(t *testing.T) {
	k := startKplane(t)
	k.createCluster("irsa")
	c, took := k.waitActive("irsa", 8*time.Minute) // a busy shared machine can take minutes
	t.Logf("cluster irsa ACTIVE %v after create-cluster", took.Round(time.Millisecond))
	issuer := c.Identity.OIDC.Issuer
	if issuer == "" {
		t.Fatal("describe-cluster has no identity.oidc.issuer")
	}
	// The issuer is https with kplane's CA (DATA/pki/ca.crt): the discovery
	// document is fetched as a user trusting that CA does, then registered
	// with url = the issuer as it is (terraform's url = identity.oidc.issuer).
	if !strings.HasPrefix(issuer, "https://") {
		t.Fatalf("identity.oidc.issuer %s is not https", issuer)
	}
	doc, err := k.exec(30*time.Second, "curl", "-sSf", "--cacert", filepath.Join(k.dataDir, "pki", "ca.crt"), issuer+"/.well-known/openid-configuration")
	if err != nil || !strings.Contains(doc, `"issuer":"`+issuer+`"`) || !strings.Contains(doc, `"jwks_uri":"`+issuer+`/keys"`) {
		t.Fatalf("curl --cacert DATA/pki/ca.crt of the discovery document: %v %s", err, doc)
	}
	if out, err := k.exec(30*time.Second, "curl", "-sS", issuer+"/keys"); err == nil {
		t.Fatalf("curl without kplane's CA trusted the issuer: %s", out)
	}
	hostPath := strings.TrimPrefix(issuer, "https://")
	var prov struct{ OpenIDConnectProviderArn string }
	mustUnmarshal(t, k.mustAWS("iam", "create-open-id-connect-provider", "--url", issuer,
		"--client-id-list", "sts.amazonaws.com", "--thumbprint-list", strings.Repeat("a", 40)), &prov)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + prov.OpenIDConnectProviderArn + `"},
	 "Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"` + hostPath + `:sub":"system:serviceaccount:default:app","` + hostPath + `:aud":"sts.amazonaws.com"}}}]}`
	k.mustAWS("iam", "create-role", "--role-name", "irsa-app", "--assume-role-policy-document", trust)
	k.mustAWS("iam", "put-role-policy", "--role-name", "irsa-app", "--policy-name", "describe",
		"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks:DescribeCluster","Resource":"*"}]}`)
	role := "arn:aws:iam::000000000000:role/irsa-app"

	kc := k.kubeconfig("irsa")
	k.mustKubectl(kc, "create", "serviceaccount", "app")
	k.mustKubectl(kc, "create", "serviceaccount", "other")
	token := func(sa, aud string) string {
		return strings.TrimSpace(k.mustKubectl(kc, "create", "token", sa, "--audience", aud))
	}
	assume := func(tok string) (string, error) {
		return k.awsCLI("sts", "assume-role-with-web-identity", "--role-arn", role, "--role-session-name", "pod", "--web-identity-token", tok)
	}

	out, err := assume(token("app", "sts.amazonaws.com"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Credentials                 struct{ AccessKeyId, SecretAccessKey, SessionToken string }
		AssumedRoleUser             struct{ Arn string }
		SubjectFromWebIdentityToken string
		Audience                    string
	}
	mustUnmarshal(t, out, &got)
	if got.SubjectFromWebIdentityToken != "system:serviceaccount:default:app" || got.Audience != "sts.amazonaws.com" ||
		got.AssumedRoleUser.Arn != "arn:aws:sts::000000000000:assumed-role/irsa-app/pod" {
		t.Fatalf("assume-role-with-web-identity answered %s", out)
	}
	// The credentials are the role's: kplane's APIs accept them and its policy decides.
	asRole := (&awsCreds{KeyID: got.Credentials.AccessKeyId, Secret: got.Credentials.SecretAccessKey, Token: got.Credentials.SessionToken}).env(k)
	awsAsRole := func(args ...string) (string, error) {
		return k.execAs(asRole, 60*time.Second, "aws", append(args, "--output", "json")...)
	}
	if out, err := awsAsRole("sts", "get-caller-identity"); err != nil || !strings.Contains(out, "assumed-role/irsa-app/pod") {
		t.Fatalf("get-caller-identity with the web identity's credentials: %v %s", err, out)
	}
	if _, err := awsAsRole("eks", "describe-cluster", "--name", "irsa"); err != nil {
		t.Fatalf("describe-cluster as the role: %v", err)
	}
	if _, err := awsAsRole("eks", "list-clusters"); err == nil || !strings.Contains(err.Error(), "AccessDeniedException") {
		t.Fatalf("list-clusters as the role should be refused: %v", err)
	}

	// Signed by the cluster's own service-account key, as an old token was, but expired.
	pemKey, err := os.ReadFile(filepath.Join(k.clusterDir(c.ID), "pki", "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	saKey, err := jwt.ParseRSAPrivateKeyFromPEM(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{Issuer: issuer, Subject: "system:serviceaccount:default:app",
		Audience: jwt.ClaimStrings{"sts.amazonaws.com"}, IssuedAt: jwt.NewNumericDate(time.Now().Add(-2 * time.Hour)),
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(-time.Hour))}).SignedString(saKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, token, want string }{
		{"another service account", token("other", "sts.amazonaws.com"), "AccessDenied"},
		{"another audience", token("app", "vault"), "InvalidIdentityToken"},
		{"expired", expired, "ExpiredTokenException"},
	} {
		if _, err := assume(tc.token); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
}
