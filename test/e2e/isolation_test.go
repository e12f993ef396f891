//go:build e2e

package e2e

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestTwoClustersIsolated runs two clusters on one kplane and checks that one
// cluster's credentials get nothing from the other and that their objects
// do not mix.
func TestTwoClustersIsolated(t *testing.T) {
	k := startKplane(t)
	// Both at once: kplane brings them up side by side.
	k.createCluster("iso-a")
	k.createCluster("iso-b")
	a, tookA := k.waitActive("iso-a", 3*time.Minute)
	b, tookB := k.waitActive("iso-b", 3*time.Minute)
	t.Logf("timing: iso-a ACTIVE after %v, iso-b after a further %v (created together)", tookA.Round(time.Millisecond), tookB.Round(time.Millisecond))

	if a.Endpoint == b.Endpoint {
		t.Fatalf("both clusters have endpoint %s", a.Endpoint)
	}
	if a.CertificateAuthority.Data == b.CertificateAuthority.Data {
		t.Errorf("both clusters have the same CA")
	}
	kcA, kcB := k.kubeconfig("iso-a"), k.kubeconfig("iso-b")
	credA, credB := k.readKubeconfig(kcA), k.readKubeconfig(kcB)
	hostB, addrB := hostPort(t, b.Endpoint)

	t.Run("A's kubeconfig at B's endpoint: TLS fails", func(t *testing.T) {
		kc := rewriteKubeconfig(t, k, kcA, credA.ClusterName, b.Endpoint, nil)
		out, err := k.kubectl(kc, "get", "ns")
		if err == nil {
			t.Fatalf("kubectl with A's CA against B's endpoint succeeded: %q", out)
		}
		if !strings.Contains(err.Error(), "x509") && !strings.Contains(err.Error(), "certificate") {
			t.Errorf("kubectl failed, but not on the certificate: %v", err)
		}
		// The same in Go: B's serving certificate does not verify against A's CA.
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(credA.CAPEM)
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addrB, &tls.Config{RootCAs: pool, ServerName: hostB})
		if err == nil {
			conn.Close()
			t.Fatalf("TLS to B (%s) verified with A's CA", b.Endpoint)
		}
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("TLS to B with A's CA: want x509.UnknownAuthorityError, got %v", err)
		}
	})

	t.Run("A's client certificate with B's CA at B's endpoint: 401", func(t *testing.T) {
		kc := rewriteKubeconfig(t, k, kcA, credA.ClusterName, b.Endpoint, credB.CAPEM)
		out, err := k.kubectl(kc, "get", "ns")
		if err == nil {
			t.Fatalf("kubectl with A's client certificate got B's namespaces: %q", out)
		}
		// kubectl 1.32 words a 401 as "You must be logged in to the server (the
		// server has asked for the client to provide credentials)".
		if msg := err.Error(); !strings.Contains(msg, "Unauthorized") && !strings.Contains(msg, "must be logged in") {
			t.Errorf("kubectl failed, but not for want of authentication: %v", err)
		}
		client := httpsClient(t, credB.CAPEM, credA.CertPEM, credA.KeyPEM, 10*time.Second)
		for _, path := range []string{"/api/v1/namespaces", "/apis", "/version"} {
			resp, err := client.Get(b.Endpoint + path)
			if err != nil {
				t.Fatalf("GET %s%s: %v", b.Endpoint, path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if path == "/version" {
				// Anonymous-readable in Kubernetes: only check that A's pair is not a stronger identity.
				continue
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("GET %s with A's client certificate: %s, want 401: %.200s", path, resp.Status, body)
			}
		}
		// Control: B's own pair is admin on B.
		own := httpsClient(t, credB.CAPEM, credB.CertPEM, credB.KeyPEM, 10*time.Second)
		resp, err := own.Get(b.Endpoint + "/api/v1/namespaces")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /api/v1/namespaces on B with B's own client certificate: %s, want 200", resp.Status)
		}
	})

	t.Run("A's service-account token: accepted by A, 401 at B, signed by A's published key only", func(t *testing.T) {
		token := strings.TrimSpace(k.mustKubectl(kcA, "create", "token", "default", "-n", "default"))
		hdr, claims, signed, sig := splitJWT(t, token)
		if claims.Iss != a.Identity.OIDC.Issuer || a.Identity.OIDC.Issuer == b.Identity.OIDC.Issuer {
			t.Errorf("token issuer %q; A's issuer %q, B's %q", claims.Iss, a.Identity.OIDC.Issuer, b.Identity.OIDC.Issuer)
		}
		bearer := func(endpoint string, ca []byte) int {
			req, _ := http.NewRequest(http.MethodGet, endpoint+"/api/v1/namespaces", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := httpsClient(t, ca, nil, nil, 10*time.Second).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		// A knows the service account (authenticated, not allowed to list: 403); B does not know the token at all.
		if code := bearer(a.Endpoint, credA.CAPEM); code != http.StatusForbidden {
			t.Errorf("A's token at A: %d, want 403 (authenticated as default/default, no RBAC)", code)
		}
		if code := bearer(b.Endpoint, credB.CAPEM); code != http.StatusUnauthorized {
			t.Errorf("A's token at B: %d, want 401", code)
		}
		// The issuers kplane publishes: A's key verifies the token, B's does not.
		// The issuers are https with kplane's CA (DATA/pki/ca.crt).
		kplaneCA, err := os.ReadFile(filepath.Join(k.dataDir, "pki", "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		issuerClient := httpsClient(t, kplaneCA, nil, nil, 10*time.Second)
		keysA, keysB := jwks(t, issuerClient, a.Identity.OIDC.Issuer), jwks(t, issuerClient, b.Identity.OIDC.Issuer)
		if !verifiesWithAny(keysA, hdr.Kid, signed, sig) {
			t.Errorf("A's token (kid %s) does not verify against A's published JWKS %v", hdr.Kid, keysA)
		}
		if verifiesWithAny(keysB, "", signed, sig) {
			t.Errorf("A's token verifies against B's published JWKS")
		}
	})

	t.Run("namespaces do not cross", func(t *testing.T) {
		k.mustKubectl(kcA, "create", "namespace", "only-in-a")
		k.mustKubectl(kcB, "create", "namespace", "only-in-b")
		k.mustKubectl(kcA, "create", "configmap", "secret-of-a", "-n", "only-in-a", "--from-literal=k=v")
		for _, c := range []struct {
			kc, cluster, ns string
		}{{kcB, "iso-b", "only-in-a"}, {kcA, "iso-a", "only-in-b"}} {
			out, err := k.kubectl(c.kc, "get", "namespace", c.ns)
			if err == nil || !strings.Contains(err.Error(), "NotFound") {
				t.Errorf("kubectl get namespace %s on %s: want NotFound, got %v %q", c.ns, c.cluster, err, out)
			}
			out = k.mustKubectl(c.kc, "get", "namespaces", "-o", "name")
			if strings.Contains(out, "namespace/"+c.ns+"\n") {
				t.Errorf("%s lists namespace %s: %q", c.cluster, c.ns, out)
			}
		}
		out := k.mustKubectl(kcB, "get", "configmaps", "-A", "-o", "name")
		if strings.Contains(out, "secret-of-a") {
			t.Errorf("B lists A's configmap: %q", out)
		}
		// Both clusters still see their own.
		k.mustKubectl(kcA, "get", "namespace", "only-in-a")
		k.mustKubectl(kcB, "get", "namespace", "only-in-b")

		// In the datastore each namespace is under its own cluster's prefix only.
		cli := k.etcd()
		for _, c := range []struct {
			id, ns string
			want   bool
		}{{a.ID, "only-in-a", true}, {b.ID, "only-in-a", false}, {b.ID, "only-in-b", true}, {a.ID, "only-in-b", false}} {
			keys := etcdKeys(t, cli, "/kplane-clusters/"+c.id+"/")
			found := ""
			for _, key := range keys {
				if strings.HasSuffix(key, "/namespaces/"+c.ns) {
					found = key
				}
			}
			if (found != "") != c.want {
				t.Errorf("namespace %s in etcd under cluster %s (%d keys): found %q, want found=%v", c.ns, c.id, len(keys), found, c.want)
			}
		}
	})

	t.Run("A's etcd credentials reach only A's prefix", func(t *testing.T) {
		certA := filepath.Join(k.clusterDir(a.ID), "pki", "etcd-client.crt")
		if _, err := os.Stat(certA); err != nil {
			t.Skipf("no per-cluster etcd client certificate (%v): this kplane gives clusters no etcd user of their own", err)
		}
		cli := k.etcdAs(certA, filepath.Join(k.clusterDir(a.ID), "pki", "etcd-client.key"))
		get := func(prefix string) (int64, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil {
				return 0, err
			}
			return resp.Count, nil
		}
		if n, err := get("/kplane-clusters/" + a.ID + "/"); err != nil || n == 0 {
			t.Errorf("A's etcd user on A's prefix: %d keys, %v; want its keys", n, err)
		}
		for _, prefix := range []string{"/kplane-clusters/" + b.ID + "/", "/kplane/clusters/", "/kplane-clusters/"} {
			n, err := get(prefix)
			if err == nil {
				t.Errorf("A's etcd user read %s: %d keys, want permission denied", prefix, n)
			} else if !errors.Is(err, rpctypes.ErrPermissionDenied) && !strings.Contains(err.Error(), "permission denied") {
				t.Errorf("A's etcd user on %s: want permission denied, got %v", prefix, err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := cli.Put(ctx, "/kplane-clusters/"+b.ID+"/registry/namespaces/planted-by-a", "x"); err == nil {
			t.Errorf("A's etcd user wrote into B's prefix")
		}
	})
}

// rewriteKubeconfig copies kubeconfig src with its cluster's server set to
// server and, if caPEM is given, its CA replaced; the user (client pair) stays.
func rewriteKubeconfig(t *testing.T, k *kplane, src, clusterName, server string, caPEM []byte) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "rewritten.kubeconfig")
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	set := func(args ...string) {
		if _, err := k.exec(30*time.Second, "kubectl", append([]string{"config", "--kubeconfig", dst}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	set("set-cluster", clusterName, "--server="+server)
	if caPEM != nil {
		set("set", "clusters."+clusterName+".certificate-authority-data", base64.StdEncoding.EncodeToString(caPEM))
	}
	got := k.readKubeconfig(dst)
	if got.Server != server || (caPEM != nil && string(got.CAPEM) != string(caPEM)) {
		t.Fatalf("rewritten kubeconfig has server %q / CA changed %v", got.Server, caPEM != nil && string(got.CAPEM) != string(caPEM))
	}
	return dst
}

// etcdKeys lists the keys under prefix.
func etcdKeys(t *testing.T, cli *clientv3.Client, prefix string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatalf("etcd get %s: %v", prefix, err)
	}
	keys := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	return keys
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

type jwtClaims struct {
	Iss string `json:"iss"`
	Sub string `json:"sub"`
}

// splitJWT decodes a JWT's header and claims and returns the signed part and the signature.
func splitJWT(t *testing.T, token string) (jwtHeader, jwtClaims, []byte, []byte) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	dec := func(s string, v any) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("JWT part %q: %v", s, err)
		}
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatalf("JWT part %s: %v", b, err)
			}
		}
		return b
	}
	var h jwtHeader
	var c jwtClaims
	dec(parts[0], &h)
	dec(parts[1], &c)
	if h.Alg != "RS256" {
		t.Fatalf("token alg %q, want RS256", h.Alg)
	}
	return h, c, []byte(parts[0] + "." + parts[1]), dec(parts[2], nil)
}

type jwk struct {
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// jwks fetches issuer's discovery document and the keys it points at.
func jwks(t *testing.T, client *http.Client, issuer string) []jwk {
	t.Helper()
	get := func(url string, v any) {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, b)
		}
	}
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	get(issuer+"/.well-known/openid-configuration", &disc)
	if disc.Issuer != issuer || disc.JWKSURI == "" {
		t.Fatalf("discovery of %s: issuer %q jwks_uri %q", issuer, disc.Issuer, disc.JWKSURI)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	get(disc.JWKSURI, &set)
	if len(set.Keys) == 0 {
		t.Fatalf("%s has no keys", disc.JWKSURI)
	}
	return set.Keys
}

// verifiesWithAny: some RSA key of keys (with kid, if kid is given) verifies
// the RS256 signature sig over signed.
func verifiesWithAny(keys []jwk, kid string, signed, sig []byte) bool {
	sum := sha256.Sum256(signed)
	for _, k := range keys {
		if k.Kty != "RSA" || (kid != "" && k.Kid != kid) {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil {
			continue
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil {
			return true
		}
	}
	return false
}
