package server_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/golang-jwt/jwt/v5"

	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
)

// TestIssuerOverHTTPSWithKplaneCA: a cluster's identity.oidc.issuer is an
// https URL whose certificate kplane's CA signed; with that CA trusted, an
// HTTPS GET of the discovery document and the JWKS works (what terraform's
// tls_certificate data source and any OIDC consumer do), without it the
// certificate is refused; the root's SHA-1 (terraform-aws-eks's thumbprint)
// is that of the CA file; CreateOpenIDConnectProvider takes url = the issuer
// as it is, and a token signed with the published key is exchanged by
// AssumeRoleWithWebIdentity. The EKS API answers on the same port over both
// http and https.
func TestIssuerOverHTTPSWithKplaneCA(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *server.Config) {
		c.Deps.ServiceAccountKey = func(*store.ClusterRecord) (crypto.PublicKey, error) { return &key.PublicKey, nil }
	})
	issuer := *s.create("oidc").Identity.Oidc.Issuer
	if !strings.HasPrefix(issuer, s.HTTPSURL+"/oidc/id/") {
		t.Fatalf("issuer %q, want it under %s/oidc/id/", issuer, s.HTTPSURL)
	}

	caPEM, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(strings.TrimSuffix(s.CAFile, ".crt") + ".key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key: %v %v, want mode 0600", fi, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA file holds no certificate")
	}
	trusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	var discovery struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	resp := getJSON(t, trusting, issuer+"/.well-known/openid-configuration", &discovery)
	if discovery.Issuer != issuer || discovery.JWKSURI != issuer+"/keys" {
		t.Fatalf("discovery document %+v for issuer %s", discovery, issuer)
	}
	// tls_certificate lists the chain root first; terraform-aws-eks takes
	// certificates[0].sha1_fingerprint as the provider's thumbprint.
	chain := resp.TLS.PeerCertificates
	root := chain[len(chain)-1]
	block := pemBody(t, caPEM)
	if !root.Equal(block) || !root.IsCA {
		t.Fatalf("the served chain does not end in kplane's CA (%d certificates, last %q)", len(chain), root.Subject.CommonName)
	}
	sum := sha1.Sum(root.Raw)
	thumbprint := hex.EncodeToString(sum[:])

	var jwks struct {
		Keys []struct{ Kty, Alg, N, E string }
	}
	getJSON(t, trusting, discovery.JWKSURI, &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0].N != base64.RawURLEncoding.EncodeToString(key.N.Bytes()) {
		t.Fatalf("JWKS %+v does not hold the cluster's key", jwks)
	}

	untrusting := &http.Client{Timeout: 10 * time.Second}
	var unknownCA x509.UnknownAuthorityError
	if _, err := untrusting.Get(issuer + "/.well-known/openid-configuration"); !errors.As(err, &unknownCA) {
		t.Fatalf("GET without kplane's CA: %v, want an unknown-authority error", err)
	}

	ctx := context.Background()
	iamc := iam.New(iam.Options{Region: s.Region, BaseEndpoint: aws.String(s.HTTPSURL), Credentials: s.creds(), HTTPClient: trusting})
	prov, err := iamc.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String(issuer),
		ClientIDList: []string{"sts.amazonaws.com"}, ThumbprintList: []string{thumbprint}})
	if err != nil {
		t.Fatalf("CreateOpenIDConnectProvider with url = identity.oidc.issuer: %v", err)
	}
	hostPath := strings.TrimPrefix(issuer, "https://")
	if want := "arn:aws:iam::000000000000:oidc-provider/" + hostPath; *prov.OpenIDConnectProviderArn != want {
		t.Fatalf("provider ARN %s, want %s", *prov.OpenIDConnectProviderArn, want)
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + *prov.OpenIDConnectProviderArn + `"},
	 "Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"` + hostPath + `:aud":"sts.amazonaws.com"}}}]}`
	if _, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("irsa"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{Issuer: issuer, Subject: "system:serviceaccount:default:app",
		Audience: jwt.ClaimStrings{"sts.amazonaws.com"}, IssuedAt: jwt.NewNumericDate(time.Now()),
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	stsc := sts.New(sts.Options{Region: s.Region, BaseEndpoint: aws.String(s.URL), Credentials: aws.AnonymousCredentials{}})
	out, err := stsc.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/irsa"),
		RoleSessionName: aws.String("pod"), WebIdentityToken: aws.String(token)})
	if err != nil || *out.SubjectFromWebIdentityToken != "system:serviceaccount:default:app" {
		t.Fatalf("AssumeRoleWithWebIdentity with a token of the https issuer: %v", err)
	}

	// The EKS API over https on the same port, with the same CA.
	tlsEKS := eks.New(eks.Options{Region: s.Region, BaseEndpoint: aws.String(s.HTTPSURL), HTTPClient: trusting,
		Credentials: credentials.NewStaticCredentialsProvider(s.Root.AccessKeyID, s.Root.SecretAccessKey, "")})
	if got, err := tlsEKS.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("oidc")}); err != nil || *got.Cluster.Name != "oidc" {
		t.Fatalf("DescribeCluster over https: %v", err)
	}
}

func getJSON(t *testing.T, c *http.Client, url string, v any) *http.Response {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("GET %s: %s (TLS %v)", url, resp.Status, resp.TLS != nil)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp
}

func pemBody(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
