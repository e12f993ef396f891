package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testSelfHost  = "127.0.0.1:8443"
	testSTSQuery  = "?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=60"
	testPublicURL = "https://" + testSTSHost + "/" + testSTSQuery
	testSelfURL   = "http://" + testSelfHost + "/" + testSTSQuery
)

// tokenVerifierAt returns a TokenVerifier for us-west-2 and kplane at 127.0.0.1:8443
// whose clock reads now (the zero time means real time).
func tokenVerifierAt(now time.Time, creds CredentialSource) *TokenVerifier {
	v := &Verifier{Region: testRegion, Credentials: creds}
	if !now.IsZero() {
		v.Now = func() time.Time { return now }
	}
	return &TokenVerifier{Verifier: v, Region: testRegion, SelfHosts: []string{testSelfHost}}
}

// mintToken presigns GetCallerIdentity with the Go SDK the way get-token does: GET,
// x-k8s-aws-id signed (unless cluster is ""), service sts.
func mintToken(tb testing.TB, rawURL, cluster string, creds aws.Credentials, region string, at time.Time) string {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if cluster != "" {
		req.Header.Set(clusterIDHeader, cluster)
	}
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, hexSHA256(nil), "sts", region, at)
	if err != nil {
		tb.Fatal(err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(signed))
}

func tokenURL(tb testing.TB, tok string) string {
	tb.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, TokenPrefix))
	if err != nil {
		tb.Fatal(err)
	}
	return string(raw)
}

// retoken rewrites the URL inside a token.
func retoken(tb testing.TB, tok string, edit func(string) string) string {
	tb.Helper()
	u := tokenURL(tb, tok)
	edited := edit(u)
	if edited == u {
		tb.Fatalf("edit changed nothing in %s", u)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(edited))
}

func replaceParam(name, value string) func(string) string {
	return func(u string) string {
		base, query, _ := strings.Cut(u, "?")
		parts := strings.Split(query, "&")
		for i, p := range parts {
			if k, _, _ := strings.Cut(p, "="); k == name {
				parts[i] = name + "=" + value
			}
		}
		return base + "?" + strings.Join(parts, "&")
	}
}

func dropParam(name string) func(string) string {
	return func(u string) string {
		base, query, _ := strings.Cut(u, "?")
		var kept []string
		for _, p := range strings.Split(query, "&") {
			if k, _, _ := strings.Cut(p, "="); k != name {
				kept = append(kept, p)
			}
		}
		return base + "?" + strings.Join(kept, "&")
	}
}

func appendQuery(s string) func(string) string { return func(u string) string { return u + s } }

func wantToken(t *testing.T, tv *TokenVerifier, tok, cluster string) *TokenIdentity {
	t.Helper()
	id, rej := tv.Verify(tok, cluster)
	if rej != nil {
		t.Fatalf("rejected: %v\nURL: %s", rej, tokenURL(t, tok))
	}
	if id == nil {
		t.Fatal("no identity and no rejection")
	}
	return id
}

func wantTokenRejected(t *testing.T, tv *TokenVerifier, tok, cluster, reason string) *Rejection {
	t.Helper()
	id, rej := tv.Verify(tok, cluster)
	if rej == nil {
		t.Fatalf("accepted as %+v, want %s", id, reason)
	}
	if id != nil {
		t.Error("rejection came with an identity")
	}
	if rej.Reason != reason {
		t.Fatalf("reason %s (%s), want %s", rej.Reason, rej.Message, reason)
	}
	checkNoTokenLeak(t, rej, tok)
	return rej
}

// checkNoTokenLeak: a rejection never quotes the token, its URL, signature or key.
func checkNoTokenLeak(t testing.TB, rej *Rejection, tok string) {
	t.Helper()
	text := rej.Message + " " + rej.Error()
	if len(tok) > len(TokenPrefix)+8 && strings.Contains(text, tok[len(TokenPrefix):len(TokenPrefix)+8]) {
		t.Fatalf("rejection quotes the token: %q", text)
	}
	for _, s := range []string{testSecret, testTempKey, testToken, testAKID, testTempAKID, "127.0.0.1", "GetCallerIdentity&"} {
		if strings.Contains(text, s) {
			t.Fatalf("rejection quotes %q: %q", s, text)
		}
	}
	if sig := hex64.FindString(text); sig != "" {
		t.Fatalf("rejection quotes a signature: %q", text)
	}
}

func TestVerifyTokenAccepts(t *testing.T) {
	at := signTime
	tv := tokenVerifierAt(at.Add(time.Minute), testCredentials())

	t.Run("public regional host", func(t *testing.T) {
		id := wantToken(t, tv, mintToken(t, testPublicURL, testClusterID, rootCreds, testRegion, at), testClusterID)
		want := TokenIdentity{ARN: testRootArn, CanonicalARN: testRootArn, AccountID: testAccount, UserID: testAccount,
			AccessKeyID: testAKID, ExpiresAt: at.Add(15 * time.Minute)}
		if *id != want {
			t.Fatalf("identity %+v, want %+v", *id, want)
		}
	})
	t.Run("global host", func(t *testing.T) {
		tv := tokenVerifierAt(at.Add(time.Minute), testCredentials())
		tv.Verifier.Region = "us-east-1"
		wantToken(t, tv, mintToken(t, "https://sts.amazonaws.com/"+testSTSQuery, testClusterID, rootCreds, "us-east-1", at), testClusterID)
	})
	t.Run("host case", func(t *testing.T) {
		wantToken(t, tv, mintToken(t, "https://STS.US-West-2.amazonaws.com/"+testSTSQuery, testClusterID, rootCreds, testRegion, at), testClusterID)
	})
	t.Run("self host http", func(t *testing.T) {
		wantToken(t, tv, mintToken(t, testSelfURL, testClusterID, rootCreds, testRegion, at), testClusterID)
	})
	t.Run("self host https", func(t *testing.T) {
		wantToken(t, tv, mintToken(t, "https://"+testSelfHost+"/"+testSTSQuery, testClusterID, rootCreds, testRegion, at), testClusterID)
	})
	t.Run("self host empty path", func(t *testing.T) {
		wantToken(t, tv, mintToken(t, "http://"+testSelfHost+testSTSQuery, testClusterID, rootCreds, testRegion, at), testClusterID)
	})
	t.Run("padded base64", func(t *testing.T) {
		// URLs one byte apart in length cover no padding, "=" and "==".
		pads := map[int]bool{}
		for _, expires := range []string{"6", "60", "600"} {
			raw := tokenURL(t, mintToken(t, strings.Replace(testPublicURL, "=60", "="+expires, 1), testClusterID, rootCreds, testRegion, at))
			padded := TokenPrefix + base64.URLEncoding.EncodeToString([]byte(raw))
			pads[strings.Count(padded, "=")] = true
			wantToken(t, tv, padded, testClusterID)
		}
		if len(pads) != 3 {
			t.Fatalf("padding lengths covered: %v", pads)
		}
	})
	t.Run("expires zero", func(t *testing.T) { // what old aws-iam-authenticator clients sign
		tok := mintToken(t, strings.Replace(testPublicURL, "X-Amz-Expires=60", "X-Amz-Expires=0", 1), testClusterID, rootCreds, testRegion, at)
		wantToken(t, tv, tok, testClusterID)
	})
	t.Run("last second", func(t *testing.T) {
		tv := tokenVerifierAt(at.Add(15*time.Minute), testCredentials())
		wantToken(t, tv, mintToken(t, testPublicURL, testClusterID, rootCreds, testRegion, at), testClusterID)
	})
	t.Run("within skew from the future", func(t *testing.T) {
		tv := tokenVerifierAt(at.Add(-4*time.Minute), testCredentials())
		wantToken(t, tv, mintToken(t, testPublicURL, testClusterID, rootCreds, testRegion, at), testClusterID)
	})
	t.Run("session token", func(t *testing.T) {
		id := wantToken(t, tv, mintToken(t, testPublicURL, testClusterID, tempCreds, testRegion, at), testClusterID)
		want := TokenIdentity{
			ARN: "arn:aws:sts::000000000000:assumed-role/admin/session", CanonicalARN: "arn:aws:iam::000000000000:role/admin",
			AccountID: testAccount, UserID: "AROAEXAMPLE", SessionName: "session", AccessKeyID: testTempAKID,
			ExpiresAt: at.Add(15 * time.Minute),
		}
		if *id != want {
			t.Fatalf("identity %+v, want %+v", *id, want)
		}
	})
	t.Run("expiry capped by the credential", func(t *testing.T) {
		at := tempCred.Expires.Add(-5 * time.Minute)
		tv := tokenVerifierAt(at.Add(time.Minute), testCredentials())
		id := wantToken(t, tv, mintToken(t, testPublicURL, testClusterID, tempCreds, testRegion, at), testClusterID)
		if !id.ExpiresAt.Equal(tempCred.Expires) {
			t.Fatalf("ExpiresAt %v, want the credential's %v", id.ExpiresAt, tempCred.Expires)
		}
	})
	t.Run("TokenVerifier.Now wins", func(t *testing.T) {
		tv := tokenVerifierAt(at.Add(time.Minute), testCredentials())
		tv.Now = func() time.Time { return at.Add(20 * time.Minute) }
		wantTokenRejected(t, tv, mintToken(t, testPublicURL, testClusterID, rootCreds, testRegion, at), testClusterID, TokenReasonExpired)
	})
}

func TestVerifyTokenIdentities(t *testing.T) {
	for _, tc := range []struct {
		arn, userID, canonical, session, principal string
	}{
		{"arn:aws:iam::111122223333:root", "111122223333", "arn:aws:iam::111122223333:root", "", "111122223333"},
		{"arn:aws:iam::111122223333:user/ops/alice", "AIDAEXAMPLE", "arn:aws:iam::111122223333:user/ops/alice", "", "AIDAEXAMPLE"},
		{"arn:aws:iam::111122223333:role/admin", "AROAEXAMPLE", "arn:aws:iam::111122223333:role/admin", "", "AROAEXAMPLE"},
		{"arn:aws:sts::111122223333:assumed-role/admin/i-0abc", "AROAEXAMPLE:i-0abc", "arn:aws:iam::111122223333:role/admin", "i-0abc", "AROAEXAMPLE"},
		{"arn:aws-cn:sts::111122223333:assumed-role/dev/bob@example.com", "AROAEXAMPLE:bob@example.com", "arn:aws-cn:iam::111122223333:role/dev", "bob@example.com", "AROAEXAMPLE"},
		{"arn:aws:sts::111122223333:federated-user/carol", "111122223333:carol", "arn:aws:sts::111122223333:federated-user/carol", "", "111122223333"},
	} {
		t.Run(tc.arn, func(t *testing.T) {
			cred := &Credential{AccessKeyID: "AKIAOTHEREXAMPLE", SecretAccessKey: testSecret, AccountID: "111122223333", Arn: tc.arn, UserID: tc.userID}
			tv := tokenVerifierAt(signTime.Add(time.Minute), StaticCredentials{cred.AccessKeyID: cred})
			tok := mintToken(t, testPublicURL, testClusterID, aws.Credentials{AccessKeyID: cred.AccessKeyID, SecretAccessKey: testSecret}, testRegion, signTime)
			id := wantToken(t, tv, tok, testClusterID)
			if id.ARN != tc.arn || id.CanonicalARN != tc.canonical || id.SessionName != tc.session || id.UserID != tc.principal ||
				id.AccountID != "111122223333" || id.AccessKeyID != cred.AccessKeyID {
				t.Fatalf("identity %+v", *id)
			}
		})
	}
}

type failingCredentials struct{}

func (failingCredentials) Lookup(context.Context, string) (*Credential, error) {
	return nil, errors.New("etcd unavailable")
}

// One test per reason: every TokenReason* constant must appear here (TestTokenReasonsAllTested).
func tokenRejectionCases(t *testing.T) []tokenRejectionCase {
	at := signTime
	good := mintToken(t, testPublicURL, testClusterID, rootCreds, testRegion, at)
	temp := mintToken(t, testPublicURL, testClusterID, tempCreds, testRegion, at)
	badARN := &Credential{AccessKeyID: "AKIABADARNEXAMPLE", SecretAccessKey: testSecret, AccountID: testAccount, Arn: "arn:aws:eks:us-west-2:000000000000:cluster/demo", UserID: "x"}
	creds := testCredentials()
	creds[badARN.AccessKeyID] = badARN

	lateTemp := tempCred.Expires.Add(-10 * time.Minute) // signed 10 min before the key expires, checked 1 min after
	return []tokenRejectionCase{
		{"no cluster", good, "", 0, nil, TokenReasonNoCluster},
		{"too long", TokenPrefix + strings.Repeat("A", maxTokenLen-len(TokenPrefix)+1), testClusterID, 0, nil, TokenReasonTooLong},
		{"bad prefix", "k8s-aws-v2." + strings.TrimPrefix(good, TokenPrefix), testClusterID, 0, nil, TokenReasonBadPrefix},
		{"bearer prefix", "Bearer " + good, testClusterID, 0, nil, TokenReasonBadPrefix},
		{"bad base64", TokenPrefix + "aHR0cHM6Ly9zdHMu!!!", testClusterID, 0, nil, TokenReasonBadBase64},
		{"standard base64", TokenPrefix + "+/+/", testClusterID, 0, nil, TokenReasonBadBase64},
		{"empty after prefix", TokenPrefix, testClusterID, 0, nil, TokenReasonBadBase64},
		{"newline in base64", good[:20] + "\n" + good[20:], testClusterID, 0, nil, TokenReasonBadBase64},
		{"not a URL", TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte("https://sts.us-west-2.amazonaws.com/%zz\x7f")), testClusterID, 0, nil, TokenReasonBadURL},
		{"fragment", retoken(t, good, appendQuery("#frag")), testClusterID, 0, nil, TokenReasonBadURL},
		{"user info", retoken(t, good, func(u string) string { return strings.Replace(u, "https://", "https://me@", 1) }), testClusterID, 0, nil, TokenReasonBadURL},
		{"semicolon", retoken(t, good, appendQuery(";x=y")), testClusterID, 0, nil, TokenReasonBadURL},
		{"bad escape", retoken(t, good, replaceParam("Version", "2011-06-15%zz")), testClusterID, 0, nil, TokenReasonBadURL},
		{"bad host", mintToken(t, "https://evil.example/"+testSTSQuery, testClusterID, rootCreds, testRegion, at), testClusterID, 0, nil, TokenReasonBadHost},
		{"other region host", mintToken(t, "https://sts.eu-west-1.amazonaws.com/"+testSTSQuery, testClusterID, rootCreds, testRegion, at), testClusterID, 0, nil, TokenReasonBadHost},
		{"public host with port", retoken(t, good, func(u string) string { return strings.Replace(u, testSTSHost, testSTSHost+":443", 1) }), testClusterID, 0, nil, TokenReasonBadHost},
		{"lookalike host", retoken(t, good, func(u string) string {
			return strings.Replace(u, testSTSHost, "sts.us-west-2.amazonaws.com.evil.example", 1)
		}), testClusterID, 0, nil, TokenReasonBadHost},
		{"self host other port", mintToken(t, "http://127.0.0.1:8444/"+testSTSQuery, testClusterID, rootCreds, testRegion, at), testClusterID, 0, nil, TokenReasonBadHost},
		{"http on public host", mintToken(t, "http://"+testSTSHost+"/"+testSTSQuery, testClusterID, rootCreds, testRegion, at), testClusterID, 0, nil, TokenReasonBadScheme},
		{"ftp on self host", retoken(t, mintToken(t, testSelfURL, testClusterID, rootCreds, testRegion, at), func(u string) string { return "ftp" + strings.TrimPrefix(u, "http") }), testClusterID, 0, nil, TokenReasonBadScheme},
		{"bad path", mintToken(t, "https://"+testSTSHost+"/sts"+testSTSQuery, testClusterID, rootCreds, testRegion, at), testClusterID, 0, nil, TokenReasonBadPath},
		{"empty path on public host", mintToken(t, "https://"+testSTSHost+testSTSQuery, testClusterID, rootCreds, testRegion, at), testClusterID, 0, nil, TokenReasonBadPath},
		{"unknown key", retoken(t, good, appendQuery("&foo=bar")), testClusterID, 0, nil, TokenReasonUnknownParam},
		{"content sha param", retoken(t, good, appendQuery("&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD")), testClusterID, 0, nil, TokenReasonUnknownParam},
		{"duplicate param", retoken(t, good, appendQuery("&Action=GetCallerIdentity")), testClusterID, 0, nil, TokenReasonDuplicateParam},
		{"duplicate param other case", retoken(t, good, appendQuery("&x-amz-signedheaders=host")), testClusterID, 0, nil, TokenReasonDuplicateParam},
		{"duplicate escaped name", retoken(t, good, appendQuery("&%41ction=GetCallerIdentity")), testClusterID, 0, nil, TokenReasonDuplicateParam},
		{"action other", retoken(t, good, replaceParam("Action", "AssumeRole")), testClusterID, 0, nil, TokenReasonBadAction},
		{"action missing", retoken(t, good, dropParam("Action")), testClusterID, 0, nil, TokenReasonBadAction},
		{"version other", retoken(t, good, replaceParam("Version", "2010-01-01")), testClusterID, 0, nil, TokenReasonBadAction},
		{"x-k8s-aws-id not signed", mintToken(t, testPublicURL, "", rootCreds, testRegion, at), testClusterID, 0, nil, TokenReasonClusterIDNotSigned},
		{"expires > 900", mintToken(t, strings.Replace(testPublicURL, "X-Amz-Expires=60", "X-Amz-Expires=901", 1), testClusterID, rootCreds, testRegion, at), testClusterID, 0, nil, TokenReasonBadExpires},
		{"expires negative", retoken(t, good, replaceParam("X-Amz-Expires", "-1")), testClusterID, 0, nil, TokenReasonBadExpires},
		{"expires missing", retoken(t, good, dropParam("X-Amz-Expires")), testClusterID, 0, nil, TokenReasonBadExpires},
		{"date missing", retoken(t, good, dropParam("X-Amz-Date")), testClusterID, 0, nil, TokenReasonBadDate},
		{"date malformed", retoken(t, good, replaceParam("X-Amz-Date", "2026-11-27T12:00:00Z")), testClusterID, 0, nil, TokenReasonBadDate},
		{"expired", good, testClusterID, 15*time.Minute + time.Second, nil, TokenReasonExpired},
		{"expired long ago", good, testClusterID, 24 * time.Hour, nil, TokenReasonExpired},
		{"from the future", good, testClusterID, -6 * time.Minute, nil, TokenReasonNotYetValid},
		{"signature missing", retoken(t, good, dropParam("X-Amz-Signature")), testClusterID, 0, nil, TokenReasonMalformedSignature},
		{"lower-case auth names", retoken(t, good, func(u string) string { return strings.ReplaceAll(u, "X-Amz-", "x-amz-") }), testClusterID, 0, nil, TokenReasonMalformedSignature},
		{"algorithm other", retoken(t, good, replaceParam("X-Amz-Algorithm", "AWS4-HMAC-SHA1")), testClusterID, 0, nil, TokenReasonBadCredential},
		{"wrong region in scope", mintToken(t, testPublicURL, testClusterID, rootCreds, "eu-west-1", at), testClusterID, 0, nil, TokenReasonBadCredential},
		{"signed for eks", retoken(t, good, func(u string) string { return strings.Replace(u, "%2Fsts%2F", "%2Feks%2F", 1) }), testClusterID, 0, nil, TokenReasonBadCredential},
		{"unknown access key", mintToken(t, testPublicURL, testClusterID, aws.Credentials{AccessKeyID: "AKIAUNKNOWNEXAMPLE", SecretAccessKey: testSecret}, testRegion, at), testClusterID, 0, nil, TokenReasonUnknownKey},
		{"wrong cluster", good, "other", 0, nil, TokenReasonSignatureMismatch},
		{"cluster name case", good, "Demo", 0, nil, TokenReasonSignatureMismatch},
		{"altered signature", retoken(t, good, func(u string) string {
			i := strings.Index(u, "X-Amz-Signature=") + len("X-Amz-Signature=")
			c := byte('0')
			if u[i] == '0' {
				c = '1'
			}
			return u[:i] + string(c) + u[i+1:]
		}), testClusterID, 0, nil, TokenReasonSignatureMismatch},
		{"altered query", retoken(t, good, replaceParam("X-Amz-Expires", "61")), testClusterID, 0, nil, TokenReasonSignatureMismatch},
		{"altered date", retoken(t, good, replaceParam("X-Amz-Date", "20261127T120001Z")), testClusterID, 0, nil, TokenReasonSignatureMismatch},
		{"moved to self host", retoken(t, good, func(u string) string {
			return strings.Replace(u, "https://"+testSTSHost, "http://"+testSelfHost, 1)
		}), testClusterID, 0, nil, TokenReasonSignatureMismatch},
		{"session token dropped", retoken(t, temp, dropParam("X-Amz-Security-Token")), testClusterID, 0, nil, TokenReasonSignatureMismatch},
		{"temporary key without its token", mintToken(t, testPublicURL, testClusterID, aws.Credentials{AccessKeyID: testTempAKID, SecretAccessKey: testTempKey}, testRegion, at),
			testClusterID, 0, nil, TokenReasonBadSessionToken},
		{"credential expired", mintToken(t, testPublicURL, testClusterID, tempCreds, testRegion, lateTemp), testClusterID,
			tempCred.Expires.Add(time.Minute).Sub(signTime), nil, TokenReasonCredentialExpired},
		{"unsupported identity", mintToken(t, testPublicURL, testClusterID, aws.Credentials{AccessKeyID: badARN.AccessKeyID, SecretAccessKey: testSecret}, testRegion, at), testClusterID, 0, creds, TokenReasonUnsupportedARN},
		{"credential lookup fails", good, testClusterID, 0, failingCredentials{}, TokenReasonVerifierFailed},
	}
}

type tokenRejectionCase struct {
	name, token, cluster string
	age                  time.Duration // how long after signTime the check runs; 0 means one minute
	creds                CredentialSource
	reason               string
}

func TestVerifyTokenRejections(t *testing.T) {
	for _, tc := range tokenRejectionCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			age := tc.age
			if age == 0 {
				age = time.Minute
			}
			var creds = tc.creds
			if creds == nil {
				creds = testCredentials()
			}
			tv := tokenVerifierAt(signTime.Add(age), creds)
			rej := wantTokenRejected(t, tv, tc.token, tc.cluster, tc.reason)
			wantStatus, wantCode := http.StatusUnauthorized, tokenCode
			if tc.reason == TokenReasonVerifierFailed {
				wantStatus, wantCode = http.StatusInternalServerError, CodeInternalFailure
			}
			if rej.Status != wantStatus || rej.Code != wantCode || rej.Message == "" {
				t.Fatalf("rejection %+v", *rej)
			}
		})
	}
}

// Every reason constant in token.go has a rejection case, so a new reason cannot go untested.
func TestTokenReasonsAllTested(t *testing.T) {
	tested := map[string]bool{}
	for _, tc := range tokenRejectionCases(t) {
		tested[tc.reason] = true
	}
	all := tokenReasonConstants(t)
	if len(all) < 20 {
		t.Fatalf("found only %d reason constants: %v", len(all), all)
	}
	seen := map[string]bool{}
	for _, r := range all {
		if seen[r] {
			t.Errorf("reason %q defined twice", r)
		}
		seen[r] = true
		if !tested[r] {
			t.Errorf("reason %q has no rejection case", r)
		}
	}
}

// tokenReasonConstants reads the values of the TokenReason* constants from token.go.
func tokenReasonConstants(tb testing.TB) []string {
	tb.Helper()
	return stringConstants(tb, "token.go", "TokenReason")
}

// stringConstants reads the values of the string constants named prefix* in file.
func stringConstants(tb testing.TB, file, prefix string) []string {
	tb.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var all []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if strings.HasPrefix(name.Name, prefix) {
				lit := vs.Values[i].(*ast.BasicLit).Value
				all = append(all, strings.Trim(lit, `"`))
			}
		}
		return true
	})
	return all
}

func TestVerifyTokenNilVerifier(t *testing.T) {
	var tv *TokenVerifier
	if _, rej := tv.Verify("x", "demo"); rej == nil || rej.Reason != TokenReasonVerifierFailed {
		t.Fatalf("nil TokenVerifier: %v", rej)
	}
	if _, rej := (&TokenVerifier{}).Verify("x", "demo"); rej == nil || rej.Reason != TokenReasonVerifierFailed {
		t.Fatalf("TokenVerifier without Verifier: %v", rej)
	}
}

// Tokens botocore presigns exactly as the aws CLI's get_token.py
// (awscli/customizations/eks) does, signed by testdata/botocore_sign.py:
// this runs wherever python3 and botocore are, with or without the aws CLI.
func TestVerifyTokenBotocore(t *testing.T) {
	v, liveTemp := liveVerifier()
	tv := &TokenVerifier{Verifier: v, Region: testRegion, SelfHosts: []string{testSelfHost}}
	n := 0
	for _, br := range signWithBotocore(t) {
		if !strings.HasPrefix(br.Name, "get-token") {
			continue
		}
		n++
		t.Run(br.Name, func(t *testing.T) {
			tok := TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(br.URL))
			id := wantToken(t, tv, tok, testClusterID)
			want := rootCred
			if strings.Contains(br.Name, "session token") {
				want = liveTemp
			}
			if id.ARN != want.Arn || id.AccessKeyID != want.AccessKeyID {
				t.Fatalf("identity %+v", *id)
			}
			wantTokenRejected(t, tv, tok, "other", TokenReasonSignatureMismatch)
		})
	}
	if n != 3 {
		t.Fatalf("botocore produced %d get-token URLs, want 3", n)
	}
}

type execCredential struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Status     struct {
		ExpirationTimestamp time.Time `json:"expirationTimestamp"`
		Token               string    `json:"token"`
	} `json:"status"`
}

// awsGetToken runs the real `aws eks get-token` with a credentials file of its own and
// the given extra environment, and returns the ExecCredential it prints.
func awsGetToken(t *testing.T, awsPath, credsFile, cluster string, env ...string) execCredential {
	t.Helper()
	cmd := exec.Command(awsPath, "eks", "get-token", "--cluster-name", cluster, "--output", "json")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "KUBERNETES_EXEC_INFO=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "AWS_SHARED_CREDENTIALS_FILE="+credsFile, "AWS_CONFIG_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_DEFAULT_REGION="+testRegion)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws eks get-token: %v\n%s", err, out)
	}
	var ec execCredential
	if err := json.Unmarshal(out, &ec); err != nil {
		t.Fatalf("get-token output %s: %v", out, err)
	}
	if ec.Kind != "ExecCredential" || ec.APIVersion != "client.authentication.k8s.io/v1beta1" || !strings.HasPrefix(ec.Status.Token, TokenPrefix) {
		t.Fatalf("unexpected ExecCredential %s", out)
	}
	return ec
}

// The real AWS CLI: `aws eks get-token` with and without AWS_ENDPOINT_URL_STS. Skips
// when the CLI is not installed (TestVerifyTokenBotocore covers the signing then).
func TestVerifyTokenAWSCLI(t *testing.T) {
	awsPath, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed")
	}
	dir := t.TempDir()
	rootFile := filepath.Join(dir, "root")
	tempFile := filepath.Join(dir, "temp")
	if err := os.WriteFile(rootFile, []byte("[default]\naws_access_key_id = "+testAKID+"\naws_secret_access_key = "+testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tempFile, []byte("[default]\naws_access_key_id = "+testTempAKID+"\naws_secret_access_key = "+testTempKey+"\naws_session_token = "+testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, liveTemp := liveVerifier()
	tv := &TokenVerifier{Verifier: v, Region: testRegion, SelfHosts: []string{testSelfHost, "kplane.example:8443"}}

	for _, tc := range []struct {
		name, creds string
		env         []string
		urlPrefix   string
		want        *Credential
	}{
		{"public sts host", rootFile, nil, "https://" + testSTSHost + "/?Action=GetCallerIdentity&Version=2011-06-15&", rootCred},
		{"AWS_ENDPOINT_URL_STS http", rootFile, []string{"AWS_ENDPOINT_URL_STS=http://" + testSelfHost}, "http://" + testSelfHost + "/?Action=GetCallerIdentity&Version=2011-06-15&", rootCred},
		{"AWS_ENDPOINT_URL http", rootFile, []string{"AWS_ENDPOINT_URL=http://" + testSelfHost}, "http://" + testSelfHost + "/?Action=GetCallerIdentity&", rootCred},
		{"AWS_ENDPOINT_URL_STS https trailing slash", rootFile, []string{"AWS_ENDPOINT_URL_STS=https://kplane.example:8443/"}, "https://kplane.example:8443/?Action=GetCallerIdentity&", rootCred},
		{"session token", tempFile, nil, "https://" + testSTSHost + "/?Action=GetCallerIdentity&", liveTemp},
		{"session token self host", tempFile, []string{"AWS_ENDPOINT_URL_STS=http://" + testSelfHost}, "http://" + testSelfHost + "/?Action=GetCallerIdentity&", liveTemp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			ec := awsGetToken(t, awsPath, tc.creds, testClusterID, tc.env...)
			raw := tokenURL(t, ec.Status.Token)
			if !strings.HasPrefix(raw, tc.urlPrefix) || !strings.Contains(raw, "&X-Amz-Expires=60&") ||
				!strings.Contains(raw, "&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&") {
				t.Fatalf("token URL %s, want %s...", raw, tc.urlPrefix)
			}
			if strings.HasSuffix(ec.Status.Token, "=") || len(ec.Status.Token) > maxTokenLen {
				t.Fatalf("token padded or too long (%d bytes)", len(ec.Status.Token))
			}
			// kubectl reuses the token until expirationTimestamp (now + 14 min): it must still pass then.
			if d := ec.Status.ExpirationTimestamp.Sub(start); d < 13*time.Minute || d > 15*time.Minute {
				t.Fatalf("expirationTimestamp %v is %v after start", ec.Status.ExpirationTimestamp, d)
			}
			id := wantToken(t, tv, ec.Status.Token, testClusterID)
			if id.ARN != tc.want.Arn || id.AccessKeyID != tc.want.AccessKeyID || id.AccountID != testAccount {
				t.Fatalf("identity %+v", *id)
			}
			late := *tv
			late.Now = func() time.Time { return ec.Status.ExpirationTimestamp }
			wantToken(t, &late, ec.Status.Token, testClusterID)
			wantTokenRejected(t, tv, ec.Status.Token, "other", TokenReasonSignatureMismatch)

			noSelf := *tv
			noSelf.SelfHosts = nil
			if strings.HasPrefix(raw, "https://"+testSTSHost) {
				wantToken(t, &noSelf, ec.Status.Token, testClusterID)
			} else {
				wantTokenRejected(t, &noSelf, ec.Status.Token, testClusterID, TokenReasonBadHost)
			}
		})
	}
}

func TestTokenHostKind(t *testing.T) {
	tv := &TokenVerifier{Region: "us-west-2", SelfHosts: []string{"", "Kplane.Example:8443"}}
	for _, tc := range []struct {
		host         string
		public, self bool
	}{
		{"sts.us-west-2.amazonaws.com", true, false},
		{"STS.US-WEST-2.AMAZONAWS.COM", true, false},
		{"sts.amazonaws.com", true, false},
		{"kplane.example:8443", false, true},
		{"", false, false},
		{"sts.us-west-2.amazonaws.com:443", false, false},
		{"sts.us-east-1.amazonaws.com", false, false},
		{"sts-fips.us-west-2.amazonaws.com", false, false},
		{"sts.us-west-2.amazonaws.com.cn", false, false},
		{"xsts.us-west-2.amazonaws.com", false, false},
		{"sts.us-west-2xamazonaws.com", false, false},
		{"kplane.example", false, false},
	} {
		public, self := tv.hostKind(tc.host)
		if public != tc.public || self != tc.self {
			t.Errorf("%q: public %v self %v", tc.host, public, self)
		}
	}
	if public, _ := (&TokenVerifier{}).hostKind("sts..amazonaws.com"); public {
		t.Error("empty region matched")
	}
}

func TestReadTokenQueryAllowsOnlyKnownNames(t *testing.T) {
	names := []string{"Action", "Version", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
		"X-Amz-Security-Token", "X-Amz-Signature", "X-Amz-SignedHeaders"}
	var q []string
	for _, n := range names {
		q = append(q, strings.ToUpper(n)+"=v")
	}
	got, rej := readTokenQuery(strings.Join(q, "&") + "&&")
	if rej != nil || got.has != 1<<len(names)-1 {
		t.Fatalf("all allowed names: %v %b", rej, got.has)
	}
	for _, bad := range []string{"Action=a&action=b", "Foo=1", "X-Amz-Content-Sha256=x", "X-Amz-Expires", "=x"} {
		_, rej := readTokenQuery(bad)
		if bad == "X-Amz-Expires" {
			if rej != nil {
				t.Errorf("%q: %v", bad, rej)
			}
			continue
		}
		if rej == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// BenchmarkVerifyToken: one get-token-shaped token per call, signing key cached (as for
// every token after the first of a key per day).
func BenchmarkVerifyToken(b *testing.B) {
	tv := tokenVerifierAt(signTime.Add(time.Minute), testCredentials())
	root := mintToken(b, testPublicURL, testClusterID, rootCreds, testRegion, signTime)
	temp := mintToken(b, testSelfURL, testClusterID, tempCreds, testRegion, signTime)
	for _, bc := range []struct {
		name, token, cluster string
		ok                   bool
	}{
		{"root public host", root, testClusterID, true},
		{"session self host", temp, testClusterID, true},
		{"wrong cluster", root, "other", false},
		{"bad prefix", "Bearer " + root, testClusterID, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, rej := tv.Verify(bc.token, bc.cluster); (rej == nil) != bc.ok {
					b.Fatal(rej)
				}
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, rej := tv.Verify(root, testClusterID); rej != nil {
					b.Error(rej)
					return
				}
			}
		})
	})
}
