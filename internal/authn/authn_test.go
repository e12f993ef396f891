package authn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kplane/kplane/internal/auth"
)

const (
	testAccount  = "000000000000"
	testAKID     = "AKIAIOSFODNN7EXAMPLE"
	testSecret   = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testTempAKID = "ASIAIOSFODNN7EXAMPLE"
	testTempKey  = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
	testToken    = "FwoGZXIvYXdzEXAMPLE//////////wEaDEXAMPLETOKENVALUE+/="
	testRegion   = "us-west-2"
	testRootArn  = "arn:aws:iam::000000000000:root"
	testRoleArn  = "arn:aws:sts::000000000000:assumed-role/admin/alice"
	testSelfHost = "127.0.0.1:8443"
	stsURL       = "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=60"
	prefix       = "/_kplane/authn/"
)

var signTime = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func testCreds() auth.StaticCredentials {
	return auth.StaticCredentials{
		testAKID: {AccessKeyID: testAKID, SecretAccessKey: testSecret, AccountID: testAccount, Arn: testRootArn, UserID: testAccount},
		testTempAKID: {AccessKeyID: testTempAKID, SecretAccessKey: testTempKey, SessionToken: testToken, Expires: signTime.Add(time.Hour),
			AccountID: testAccount, Arn: testRoleArn, UserID: "AROAEXAMPLE:alice"},
	}
}

// clock is a settable clock shared by the TokenVerifier and its Verifier.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock    { c := &clock{}; c.set(t); return c }
func (c *clock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }
func testVerifier(c *clock) *auth.TokenVerifier {
	return &auth.TokenVerifier{
		Verifier:  &auth.Verifier{Region: testRegion, Credentials: testCreds(), Now: c.now},
		Region:    testRegion,
		SelfHosts: []string{testSelfHost},
	}
}

// mint presigns GetCallerIdentity for cluster as `aws eks get-token` does.
func mint(tb testing.TB, cluster string, creds aws.Credentials, at time.Time) string {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, stsURL, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("x-k8s-aws-id", cluster)
	empty := sha256.Sum256(nil)
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, hex.EncodeToString(empty[:]), "sts", testRegion, at)
	if err != nil {
		tb.Fatal(err)
	}
	return auth.TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(signed))
}

var (
	rootCreds = aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	tempCreds = aws.Credentials{AccessKeyID: testTempAKID, SecretAccessKey: testTempKey, SessionToken: testToken}
)

// tableMapper maps canonical ARNs to users per cluster id; safe for concurrent use.
type tableMapper struct {
	mu    sync.Mutex
	users map[string]map[string]User // cluster id → canonical ARN → user
	err   error
	calls int
}

func (m *tableMapper) Map(_ context.Context, clusterID string, id *auth.TokenIdentity) (User, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.err != nil {
		return User{}, false, m.err
	}
	u, ok := m.users[clusterID][id.CanonicalARN]
	return u, ok, nil
}

func (m *tableMapper) revoke(clusterID, arn string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.users[clusterID], arn)
}

func newTableMapper() *tableMapper {
	return &tableMapper{users: map[string]map[string]User{
		"c-demo": {
			testRootArn:                            {Username: "kubernetes-admin", Groups: []string{"system:masters"}},
			"arn:aws:iam::000000000000:role/admin": {Username: "admin:{{SessionName}}", Groups: []string{"eks:admins"}, Extra: map[string][]string{"team": {"platform"}, "arn": {"spoofed"}}},
		},
		"c-prod": {testRootArn: {Username: "prod-admin", UID: "custom-uid"}},
	}}
}

// clusters: two clusters by id, each with its EKS name.
func clusterName(id string) (string, bool) {
	switch id {
	case "c-demo":
		return "demo", true
	case "c-prod":
		return "prod", true
	}
	return "", false
}

type fixture struct {
	h      *handler
	clock  *clock
	mapper *tableMapper
	logs   *bytes.Buffer
	logMu  *sync.Mutex
}

func newFixture(t testing.TB) *fixture {
	c := newClock(signTime.Add(time.Minute))
	m := newTableMapper()
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := NewHandler(testVerifier(c), clusterName, m, log).(*handler)
	return &fixture{h: h, clock: c, mapper: m, logs: &buf, logMu: &mu}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func reviewBody(apiVersion, token string) []byte {
	b, _ := json.Marshal(map[string]any{
		"apiVersion": apiVersion, "kind": "TokenReview",
		"metadata": map[string]any{"creationTimestamp": nil},
		"spec":     map[string]any{"token": token},
		"status":   map[string]any{},
	})
	return b
}

type reviewResponse struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Spec       json.RawMessage `json:"spec"`
	Status     struct {
		Authenticated bool   `json:"authenticated"`
		Error         string `json:"error"`
		User          struct {
			Username string              `json:"username"`
			UID      string              `json:"uid"`
			Groups   []string            `json:"groups"`
			Extra    map[string][]string `json:"extra"`
		} `json:"user"`
	} `json:"status"`
}

func (f *fixture) post(t testing.TB, clusterID string, body []byte) (int, reviewResponse, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, prefix+clusterID, bytes.NewReader(body))
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	var resp reviewResponse
	raw := rec.Body.String()
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil && rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("response is not JSON (%d): %q", rec.Code, raw)
	}
	if rec.Code != http.StatusMethodNotAllowed && (resp.Kind != "TokenReview" || rec.Header().Get("Content-Type") != "application/json") {
		t.Fatalf("response %d %v %q", rec.Code, rec.Header(), raw)
	}
	return rec.Code, resp, raw
}

func (f *fixture) review(t testing.TB, clusterID, token string) (int, reviewResponse) {
	t.Helper()
	code, resp, raw := f.post(t, clusterID, reviewBody(apiVersionV1, token))
	if (token != "" && strings.Contains(raw, token)) || resp.Spec != nil {
		t.Fatalf("response echoes the token or spec: %s", raw)
	}
	return code, resp
}

func (f *fixture) wantRefused(t testing.TB, clusterID, token string, status int, reason string) {
	t.Helper()
	code, resp := f.review(t, clusterID, token)
	if code != status || resp.Status.Authenticated || resp.Status.Error != reason || resp.Status.User.Username != "" {
		t.Fatalf("got %d %+v, want %d refused with %s", code, resp.Status, status, reason)
	}
	f.wantLogged(t, clusterID, reason)
}

func (f *fixture) wantLogged(t testing.TB, clusterID, reason string) {
	t.Helper()
	f.logMu.Lock()
	defer f.logMu.Unlock()
	for line := range strings.SplitSeq(f.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "token review refused" &&
			rec["reason"] == reason && rec["clusterId"] == clusterID {
			return
		}
	}
	t.Fatalf("no refusal logged for %s/%s:\n%s", clusterID, reason, f.logs.String())
}

func (f *fixture) logText() string {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	return f.logs.String()
}

func TestWebhookAuthenticatesRoot(t *testing.T) {
	f := newFixture(t)
	tok := mint(t, "demo", rootCreds, signTime)
	code, resp := f.review(t, "c-demo", tok)
	if code != http.StatusOK || !resp.Status.Authenticated || resp.Status.Error != "" {
		t.Fatalf("got %d %+v", code, resp.Status)
	}
	if resp.APIVersion != apiVersionV1 {
		t.Fatalf("apiVersion %q", resp.APIVersion)
	}
	u := resp.Status.User
	want := map[string][]string{
		"arn": {testRootArn}, "canonicalArn": {testRootArn}, "accessKeyId": {testAKID}, "principalId": {testAccount},
	}
	if u.Username != "kubernetes-admin" || u.UID != "aws-iam-authenticator:000000000000:000000000000" ||
		len(u.Groups) != 1 || u.Groups[0] != "system:masters" || !equalExtra(u.Extra, want) {
		t.Fatalf("user %+v", u)
	}

	// The same token is refused by another cluster: it signed x-k8s-aws-id: demo.
	f.wantRefused(t, "c-prod", tok, http.StatusOK, auth.TokenReasonSignatureMismatch)
	// And a token for prod works there, with the mapper's UID.
	code, resp = f.review(t, "c-prod", mint(t, "prod", rootCreds, signTime))
	if code != http.StatusOK || !resp.Status.Authenticated || resp.Status.User.Username != "prod-admin" || resp.Status.User.UID != "custom-uid" {
		t.Fatalf("prod: %d %+v", code, resp.Status)
	}
	if strings.Contains(f.logText(), tok[len(auth.TokenPrefix):len(auth.TokenPrefix)+16]) {
		t.Fatalf("log holds the token:\n%s", f.logText())
	}
}

func TestWebhookAssumedRoleExtras(t *testing.T) {
	f := newFixture(t)
	code, resp := f.review(t, "c-demo", mint(t, "demo", tempCreds, signTime))
	if code != http.StatusOK || !resp.Status.Authenticated {
		t.Fatalf("got %d %+v", code, resp.Status)
	}
	want := map[string][]string{
		"arn": {testRoleArn}, "canonicalArn": {"arn:aws:iam::000000000000:role/admin"}, "sessionName": {"alice"},
		"accessKeyId": {testTempAKID}, "principalId": {"AROAEXAMPLE"}, "team": {"platform"},
	}
	if u := resp.Status.User; u.Username != "admin:{{SessionName}}" || u.UID != "aws-iam-authenticator:000000000000:AROAEXAMPLE" || !equalExtra(u.Extra, want) {
		t.Fatalf("user %+v", u)
	}
}

func equalExtra(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || strings.Join(v, "\x00") != strings.Join(w, "\x00") {
			return false
		}
	}
	return true
}

func TestWebhookRefusals(t *testing.T) {
	good := mint(t, "demo", rootCreds, signTime)
	for _, tc := range []struct {
		name, cluster, token string
		age                  time.Duration
		status               int
		reason               string
	}{
		{"unknown cluster", "c-nope", good, 0, 200, ReasonUnknownCluster},
		{"no cluster id", "", good, 0, 200, ReasonUnknownCluster},
		{"empty token", "c-demo", "", 0, 200, ReasonMissingToken},
		{"not a token", "c-demo", "hello", 0, 200, auth.TokenReasonBadPrefix},
		{"expired", "c-demo", good, 16 * time.Minute, 200, auth.TokenReasonExpired},
		{"wrong cluster", "c-prod", good, 0, 200, auth.TokenReasonSignatureMismatch},
		{"unmapped identity", "c-prod", mint(t, "prod", tempCreds, signTime), 0, 200, ReasonNoAccess},
		{"unknown key", "c-demo", mint(t, "demo", aws.Credentials{AccessKeyID: "AKIANOPE", SecretAccessKey: "x"}, signTime), 0, 200, auth.TokenReasonUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.clock.add(tc.age)
			f.wantRefused(t, tc.cluster, tc.token, tc.status, tc.reason)
		})
	}

}

func TestWebhookMalformedRequests(t *testing.T) {
	f := newFixture(t)
	tok := mint(t, "demo", rootCreds, signTime)
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		reason string
	}{
		{"not JSON", []byte("token=" + tok), 400, ReasonMalformedReview},
		{"truncated JSON", reviewBody(apiVersionV1, tok)[:40], 400, ReasonMalformedReview},
		{"empty body", nil, 400, ReasonMalformedReview},
		{"too large", append(reviewBody(apiVersionV1, tok), bytes.Repeat([]byte(" "), maxReviewBody)...), 400, ReasonMalformedReview},
		{"JSON array", []byte(`[]`), 400, ReasonMalformedReview},
		{"wrong apiVersion", reviewBody("authentication.k8s.io/v2", tok), 200, ReasonMalformedReview},
		{"no apiVersion", []byte(`{"kind":"TokenReview","spec":{"token":"x"}}`), 200, ReasonMalformedReview},
		{"wrong kind", []byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"SubjectAccessReview","spec":{"token":"x"}}`), 200, ReasonMalformedReview},
		{"no spec", []byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview"}`), 200, ReasonMissingToken},
		{"token not a string", []byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":7}}`), 400, ReasonMalformedReview},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, resp, raw := f.post(t, "c-demo", tc.body)
			if code != tc.status || resp.Status.Authenticated || resp.Status.Error != tc.reason {
				t.Fatalf("got %d %s, want %d %s", code, raw, tc.status, tc.reason)
			}
			if strings.Contains(raw, tok[len(auth.TokenPrefix):len(auth.TokenPrefix)+16]) {
				t.Fatalf("response holds the token: %s", raw)
			}
			f.wantLogged(t, "c-demo", tc.reason)
		})
	}

	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, prefix+"c-demo", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "POST" {
		t.Fatalf("GET: %d %v", rec.Code, rec.Header())
	}
}

// kube-apiserver's default --authentication-token-webhook-version is v1beta1: it gets
// its answer in v1beta1.
func TestWebhookAnswersV1beta1(t *testing.T) {
	f := newFixture(t)
	code, resp, _ := f.post(t, "c-demo", reviewBody(apiVersionV1beta1, mint(t, "demo", rootCreds, signTime)))
	if code != 200 || resp.APIVersion != apiVersionV1beta1 || !resp.Status.Authenticated {
		t.Fatalf("got %d %+v", code, resp)
	}
}

func TestWebhookMapperFailures(t *testing.T) {
	tok := mint(t, "demo", rootCreds, signTime)
	t.Run("error", func(t *testing.T) {
		f := newFixture(t)
		f.mapper.err = errors.New("store unavailable")
		f.wantRefused(t, "c-demo", tok, http.StatusInternalServerError, ReasonMapperFailed)
		if !strings.Contains(f.logText(), "store unavailable") {
			t.Fatalf("mapper error not logged:\n%s", f.logText())
		}
	})
	t.Run("empty username", func(t *testing.T) {
		f := newFixture(t)
		f.mapper.users["c-demo"][testRootArn] = User{Groups: []string{"system:masters"}}
		f.wantRefused(t, "c-demo", tok, http.StatusInternalServerError, ReasonMapperFailed)
	})
	t.Run("panic", func(t *testing.T) {
		f := newFixture(t)
		f.h.mapper = MapperFunc(func(context.Context, string, *auth.TokenIdentity) (User, bool, error) { panic("boom") })
		code, resp := f.review(t, "c-demo", tok)
		if code != http.StatusInternalServerError || resp.Status.Authenticated || resp.Status.Error != ReasonInternal {
			t.Fatalf("got %d %+v", code, resp.Status)
		}
	})
	t.Run("nil mapper", func(t *testing.T) {
		f := newFixture(t)
		f.h.mapper = nil
		f.wantRefused(t, "c-demo", tok, http.StatusOK, ReasonNoAccess)
	})
	t.Run("verifier cannot look keys up", func(t *testing.T) {
		f := newFixture(t)
		f.h.tv.Verifier.Credentials = failingCreds{}
		f.wantRefused(t, "c-demo", tok, http.StatusInternalServerError, auth.TokenReasonVerifierFailed)
	})
}

type failingCreds struct{}

func (failingCreds) Lookup(context.Context, string) (*auth.Credential, error) {
	return nil, errors.New("etcd down")
}

// The Mapper is asked on every review, cache or not: revoking access works at once.
func TestWebhookRevocationIsImmediate(t *testing.T) {
	f := newFixture(t)
	tok := mint(t, "demo", rootCreds, signTime)
	for i := 0; i < 3; i++ {
		if code, resp := f.review(t, "c-demo", tok); code != 200 || !resp.Status.Authenticated {
			t.Fatalf("review %d: %d %+v", i, code, resp.Status)
		}
	}
	if f.h.cache.len() != 1 || f.mapper.calls != 3 {
		t.Fatalf("cache %d entries, mapper called %d times", f.h.cache.len(), f.mapper.calls)
	}
	f.mapper.revoke("c-demo", testRootArn)
	f.wantRefused(t, "c-demo", tok, http.StatusOK, ReasonNoAccess)
}

// A cached token stops working when the token expires, not when the entry is evicted.
func TestWebhookCacheExpiresWithToken(t *testing.T) {
	f := newFixture(t)
	tok := mint(t, "demo", rootCreds, signTime)
	if code, resp := f.review(t, "c-demo", tok); code != 200 || !resp.Status.Authenticated {
		t.Fatalf("%d %+v", code, resp.Status)
	}
	f.clock.set(signTime.Add(15 * time.Minute))
	if code, resp := f.review(t, "c-demo", tok); code != 200 || !resp.Status.Authenticated {
		t.Fatalf("last second: %d %+v", code, resp.Status)
	}
	f.clock.set(signTime.Add(15*time.Minute + time.Second))
	f.wantRefused(t, "c-demo", tok, http.StatusOK, auth.TokenReasonExpired)
	if f.h.cache.len() != 0 {
		t.Fatalf("expired entry kept: %d", f.h.cache.len())
	}
}

// A token cached for one cluster is no pass for another cluster.
func TestWebhookCacheIsPerCluster(t *testing.T) {
	f := newFixture(t)
	tok := mint(t, "demo", rootCreds, signTime)
	f.review(t, "c-demo", tok)
	f.wantRefused(t, "c-prod", tok, http.StatusOK, auth.TokenReasonSignatureMismatch)
	if cacheKey("ab", "c") == cacheKey("a", "bc") {
		t.Fatal("cache key is ambiguous")
	}
}

func TestTokenCacheLRU(t *testing.T) {
	c := newTokenCache(2)
	id := func(n string) *auth.TokenIdentity {
		return &auth.TokenIdentity{ARN: n, ExpiresAt: signTime.Add(time.Hour)}
	}
	k := func(n string) [32]byte { return cacheKey("demo", n) }
	c.put(k("a"), id("a"))
	c.put(k("b"), id("b"))
	if _, ok := c.get(k("a"), signTime); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.put(k("c"), id("c")) // evicts b
	if _, ok := c.get(k("b"), signTime); ok {
		t.Fatal("b not evicted")
	}
	got, ok := c.get(k("a"), signTime)
	if !ok || got.ARN != "a" {
		t.Fatal("a evicted")
	}
	got.ARN = "changed"
	if again, _ := c.get(k("a"), signTime); again.ARN != "a" {
		t.Fatal("caller changed the cached identity")
	}
	c.put(k("a"), id("a2"))
	if got, _ := c.get(k("a"), signTime); got.ARN != "a2" || c.len() != 2 {
		t.Fatal("update in place failed")
	}
	if _, ok := c.get(k("a"), signTime.Add(time.Hour)); ok || c.len() != 1 {
		t.Fatal("expired entry returned")
	}
	if newTokenCache(0) != nil {
		t.Fatal("size 0 should disable the cache")
	}
}

// Concurrent reviews of many tokens (run with -race): no lost or mixed-up answers.
func TestWebhookConcurrent(t *testing.T) {
	f := newFixture(t)
	f.h.cache = newTokenCache(3) // smaller than the working set: constant eviction
	var toks []string
	for i := 0; i < 6; i++ {
		toks = append(toks, mint(t, "demo", rootCreds, signTime.Add(time.Duration(i)*time.Second)))
	}
	prodTok := mint(t, "prod", rootCreds, signTime)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				code, resp := f.review(t, "c-demo", toks[(w+i)%len(toks)])
				if code != 200 || resp.Status.User.Username != "kubernetes-admin" {
					t.Errorf("demo: %d %+v", code, resp.Status)
					return
				}
				code, resp = f.review(t, "c-prod", prodTok)
				if code != 200 || resp.Status.User.Username != "prod-admin" {
					t.Errorf("prod: %d %+v", code, resp.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// Mounted on a ServeMux with a {clusterID} pattern, as the server would mount it.
func TestWebhookOnServeMux(t *testing.T) {
	f := newFixture(t)
	mux := http.NewServeMux()
	mux.Handle("POST /_kplane/authn/{clusterID}", f.h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/_kplane/authn/c-demo", "application/json", bytes.NewReader(reviewBody(apiVersionV1, mint(t, "demo", rootCreds, signTime))))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r reviewResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 || !r.Status.Authenticated {
		t.Fatalf("%d %+v %v", resp.StatusCode, r, err)
	}
}

func TestWebhookKubeconfig(t *testing.T) {
	got := string(WebhookKubeconfig("http://127.0.0.1:8443/_kplane/authn/c-demo"))
	for _, want := range []string{
		"apiVersion: v1\n", "kind: Config\n",
		"    server: \"http://127.0.0.1:8443/_kplane/authn/c-demo\"\n",
		"current-context: kplane-authn\n", "    cluster: kplane-authn\n", "    user: kube-apiserver\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	// A URL with YAML-significant characters stays one scalar.
	odd := string(WebhookKubeconfig("http://h/x?a=1#\"\n: - {}"))
	if !strings.Contains(odd, `server: "http://h/x?a=1#\"\n: - {}"`+"\n") {
		t.Fatalf("odd URL written as\n%s", odd)
	}
}
