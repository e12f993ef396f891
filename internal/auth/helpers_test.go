package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// AWS's documentation example key pair, and a temporary one.
const (
	testAccount   = "000000000000"
	testAKID      = "AKIAIOSFODNN7EXAMPLE"
	testSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testTempAKID  = "ASIAIOSFODNN7EXAMPLE"
	testTempKey   = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
	testToken     = "FwoGZXIvYXdzEXAMPLE//////////wEaDEXAMPLETOKENVALUE+/="
	testRegion    = "us-west-2"
	testEKSHost   = "eks.us-west-2.amazonaws.com"
	testSTSHost   = "sts.us-west-2.amazonaws.com"
	testRootArn   = "arn:aws:iam::000000000000:root"
	testClusterID = "demo"
)

// signTime is the brief's example instant; tests that need a clock use it as "signed at".
var signTime = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

var (
	rootCred = &Credential{AccessKeyID: testAKID, SecretAccessKey: testSecret, AccountID: testAccount, Arn: testRootArn, UserID: testAccount}
	tempCred = &Credential{
		AccessKeyID: testTempAKID, SecretAccessKey: testTempKey, SessionToken: testToken,
		Expires: signTime.Add(time.Hour), AccountID: testAccount,
		Arn: "arn:aws:sts::000000000000:assumed-role/admin/session", UserID: "AROAEXAMPLE:session",
	}
	rootCreds = aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	tempCreds = aws.Credentials{AccessKeyID: testTempAKID, SecretAccessKey: testTempKey, SessionToken: testToken}
)

func testCredentials() StaticCredentials {
	return StaticCredentials{testAKID: rootCred, testTempAKID: tempCred}
}

// verifierAt returns a verifier whose clock reads now (the zero time means real time).
func verifierAt(now time.Time) *Verifier {
	v := &Verifier{Region: testRegion, Credentials: testCredentials()}
	if !now.IsZero() {
		v.Now = func() time.Time { return now }
	}
	return v
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// overTheWire turns a client-side request into what an http.Server hands its handler:
// it is written in HTTP/1.1 wire format and parsed back, so Host, RawPath, header
// canonicalization and Content-Length are exactly as in production.
func overTheWire(t testing.TB, req *http.Request) (*http.Request, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatalf("write request: %v", err)
	}
	sr, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatalf("read request back: %v\n%s", err, buf.String())
	}
	body, err := io.ReadAll(sr.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if len(body) == 0 {
		body = nil
	}
	return sr, body
}

type signOpts struct {
	creds   aws.Credentials
	service string
	region  string
	at      time.Time
	headers map[string]string
	payload string // payload hash to sign with; "" = SHA-256 of the body
}

func (o signOpts) withDefaults() signOpts {
	if o.creds.AccessKeyID == "" {
		o.creds = rootCreds
	}
	if o.service == "" {
		o.service = "eks"
	}
	if o.region == "" {
		o.region = testRegion
	}
	if o.at.IsZero() {
		o.at = signTime
	}
	return o
}

func newClientRequest(t testing.TB, method, rawURL string, body []byte, headers map[string]string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return req
}

// sdkSign signs the Authorization-header way with aws-sdk-go-v2's v4 signer and returns
// the request as the server sees it.
func sdkSign(t testing.TB, method, rawURL string, body []byte, o signOpts) (*http.Request, []byte) {
	t.Helper()
	o = o.withDefaults()
	req := newClientRequest(t, method, rawURL, body, o.headers)
	payload := o.payload
	if payload == "" {
		payload = hexSHA256(body)
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), o.creds, req, payload, o.service, o.region, o.at); err != nil {
		t.Fatalf("sign: %v", err)
	}
	return overTheWire(t, req)
}

// sdkPresign presigns with aws-sdk-go-v2's v4 signer. expires "" leaves X-Amz-Expires out.
func sdkPresign(t testing.TB, method, rawURL string, expires string, o signOpts) (*http.Request, []byte) {
	t.Helper()
	o = o.withDefaults()
	if expires != "" {
		sep := "?"
		if strings.Contains(rawURL, "?") {
			sep = "&"
		}
		rawURL += sep + "X-Amz-Expires=" + expires
	}
	req := newClientRequest(t, method, rawURL, nil, o.headers)
	payload := o.payload
	if payload == "" {
		payload = hexSHA256(nil)
	}
	signedURL, signedHeaders, err := v4.NewSigner().PresignHTTP(context.Background(), o.creds, req, payload, o.service, o.region, o.at)
	if err != nil {
		t.Fatalf("presign: %v", err)
	}
	out := newClientRequest(t, method, signedURL, nil, nil)
	for k, vs := range signedHeaders {
		if strings.EqualFold(k, "Host") {
			continue
		}
		out.Header[k] = vs
	}
	return overTheWire(t, out)
}

// wantOK fails the test unless the request verifies as want.
func wantOK(t testing.TB, v *Verifier, r *http.Request, body []byte, service string, want *Credential) {
	t.Helper()
	got, rej := v.Verify(r, body, service)
	if rej != nil {
		t.Fatalf("rejected: %v\nrequest: %s %s\nheaders: %v", rej, r.Method, r.URL, r.Header)
	}
	if got != want {
		t.Fatalf("verified as %+v, want %+v", got, want)
	}
}

// wantRejected fails the test unless the request is refused with the given code, status
// and reason; it also checks that no secret leaks into the message.
func wantRejected(t testing.TB, v *Verifier, r *http.Request, body []byte, service, code string, status int, reason string) *Rejection {
	t.Helper()
	got, rej := v.Verify(r, body, service)
	if rej == nil {
		t.Fatalf("accepted as %+v, want %s/%s", got, code, reason)
	}
	if got != nil {
		t.Errorf("rejection came with a credential")
	}
	if rej.Code != code || rej.Status != status || rej.Reason != reason {
		t.Fatalf("got %s %d %s (%q), want %s %d %s", rej.Code, rej.Status, rej.Reason, rej.Message, code, status, reason)
	}
	for _, secret := range []string{testSecret, testTempKey, testToken} {
		if strings.Contains(rej.Message, secret) || strings.Contains(rej.Error(), secret) {
			t.Fatalf("rejection leaks a secret: %q", rej.Message)
		}
	}
	if sig := claimedSignature(r); len(sig) >= 16 && strings.Contains(rej.Message, sig) {
		t.Fatalf("rejection leaks the signature: %q", rej.Message)
	}
	return rej
}

func claimedSignature(r *http.Request) string {
	if c, ok := parseAuthorization(r.Header.Get("Authorization")); ok && c.signature != "" {
		return c.signature
	}
	c, _, _ := parsePresigned(r.URL.RawQuery)
	return c.signature
}

// setAuthParam rewrites one parameter of the Authorization header.
func setAuthParam(t testing.TB, r *http.Request, key, value string) {
	t.Helper()
	h := r.Header.Get("Authorization")
	i := strings.Index(h, key+"=")
	if i < 0 {
		t.Fatalf("no %s in %q", key, h)
	}
	j := strings.IndexByte(h[i:], ',')
	if j < 0 {
		j = len(h) - i
	}
	r.Header.Set("Authorization", h[:i]+key+"="+value+h[i+j:])
}

// setQueryParam replaces the raw value of a query parameter (first occurrence).
func setQueryParam(t testing.TB, r *http.Request, key, rawValue string) {
	t.Helper()
	parts := strings.Split(r.URL.RawQuery, "&")
	for i, p := range parts {
		if k, _, _ := strings.Cut(p, "="); k == key {
			parts[i] = key + "=" + rawValue
			r.URL.RawQuery = strings.Join(parts, "&")
			return
		}
	}
	t.Fatalf("no %s in %q", key, r.URL.RawQuery)
}

func dropQueryParam(r *http.Request, key string) {
	var kept []string
	for _, p := range strings.Split(r.URL.RawQuery, "&") {
		if k, _, _ := strings.Cut(p, "="); k != key {
			kept = append(kept, p)
		}
	}
	r.URL.RawQuery = strings.Join(kept, "&")
}

// liveVerifier knows the root and a temporary credential that expires in an hour.
func liveVerifier() (*Verifier, *Credential) {
	liveTemp := *tempCred
	liveTemp.Expires = time.Now().Add(time.Hour)
	return &Verifier{Region: testRegion, Credentials: StaticCredentials{testAKID: rootCred, testTempAKID: &liveTemp}}, &liveTemp
}
