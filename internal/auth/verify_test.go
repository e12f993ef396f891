package auth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/smithy-go"
)

// Requests shaped like the EKS API, signed by the Go SDK's signer, must verify.
func TestVerifyAcceptsSDKSignedRequests(t *testing.T) {
	jsonHdr := map[string]string{"Content-Type": "application/json"}
	cases := []struct {
		name, method, url string
		body              []byte
		headers           map[string]string
	}{
		{"list clusters", "GET", "https://" + testEKSHost + "/clusters", nil, nil},
		{"list with query", "GET", "https://" + testEKSHost + "/clusters?maxResults=10&nextToken=a%2Fb%2Bc%3D&include=all", nil, nil},
		{"create cluster", "POST", "https://" + testEKSHost + "/clusters", []byte(`{"name":"demo","roleArn":"arn:aws:iam::000000000000:role/eks"}`), jsonHdr},
		{"space in path", "GET", "https://" + testEKSHost + "/clusters/my%20cluster", nil, nil},
		{"percent in path", "GET", "https://" + testEKSHost + "/clusters/100%25", nil, nil},
		{"unicode in path", "GET", "https://" + testEKSHost + "/clusters/%C3%A9t%C3%A9", nil, nil},
		{"escaped arn in path", "POST", "https://" + testEKSHost + "/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A000000000000%3Acluster%2Fdemo", []byte(`{"tags":{"a":"b"}}`), jsonHdr},
		{"raw colons in path", "GET", "https://" + testEKSHost + "/tags/arn:aws:eks:us-west-2:000000000000:cluster/demo", nil, nil},
		{"query list", "DELETE", "https://" + testEKSHost + "/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A000000000000%3Acluster%2Fdemo?tagKeys=a&tagKeys=b", nil, nil},
		{"non-default port", "GET", "http://127.0.0.1:8443/clusters", nil, nil},
		{"extra signed headers", "GET", "https://" + testEKSHost + "/clusters", nil, map[string]string{
			"Amz-Sdk-Invocation-Id": "4f4e6b8e-0000-4000-8000-000000000000", "Amz-Sdk-Request": "attempt=1;  max=3", "X-Custom": "  a   b  "}},
	}
	for _, tc := range cases {
		for _, temp := range []bool{false, true} {
			name := tc.name
			creds, want := rootCreds, rootCred
			if temp {
				name += "/session token"
				creds, want = tempCreds, tempCred
			}
			t.Run(name, func(t *testing.T) {
				r, body := sdkSign(t, tc.method, tc.url, tc.body, signOpts{creds: creds, headers: tc.headers})
				wantOK(t, verifierAt(signTime.Add(time.Minute)), r, body, "eks", want)
			})
		}
	}
}

func TestVerifyAcceptsSDKPresignedRequests(t *testing.T) {
	cases := []struct {
		name, service, url, expires string
		headers                     map[string]string
	}{
		{"eks get", "eks", "https://" + testEKSHost + "/clusters/my%20cluster", "300", nil},
		{"eks without expires", "eks", "https://" + testEKSHost + "/clusters", "", nil},
		{"eks query list", "eks", "https://" + testEKSHost + "/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A000000000000%3Acluster%2Fdemo?tagKeys=a&tagKeys=b", "60", nil},
		{"sts get-token style", "sts", "https://" + testSTSHost + "/?Action=GetCallerIdentity&Version=2011-06-15", "60", map[string]string{"x-k8s-aws-id": testClusterID}},
		{"sts custom endpoint", "sts", "http://127.0.0.1:8443/?Action=GetCallerIdentity&Version=2011-06-15", "60", map[string]string{"x-k8s-aws-id": testClusterID}},
		{"sts expires zero (old aws-iam-authenticator)", "sts", "https://" + testSTSHost + "/?Action=GetCallerIdentity&Version=2011-06-15", "0", map[string]string{"x-k8s-aws-id": testClusterID}},
	}
	for _, tc := range cases {
		for _, temp := range []bool{false, true} {
			name := tc.name
			creds, want := rootCreds, rootCred
			if temp {
				name += "/session token"
				creds, want = tempCreds, tempCred
			}
			t.Run(name, func(t *testing.T) {
				r, body := sdkPresign(t, "GET", tc.url, tc.expires, signOpts{creds: creds, service: tc.service, headers: tc.headers})
				if temp && !strings.Contains(r.URL.RawQuery, "X-Amz-Security-Token=") {
					t.Fatalf("presigned URL lacks the token: %s", r.URL)
				}
				wantOK(t, verifierAt(signTime.Add(30*time.Second)), r, body, tc.service, want)
			})
		}
	}
}

// VerifyDetails exposes what a token webhook needs: that x-k8s-aws-id was signed.
func TestVerifyDetails(t *testing.T) {
	r, body := sdkPresign(t, "GET", "https://"+testSTSHost+"/?Action=GetCallerIdentity&Version=2011-06-15", "60",
		signOpts{service: "sts", headers: map[string]string{"x-k8s-aws-id": testClusterID}})
	got, rej := verifierAt(signTime).VerifyDetails(r, body, "sts")
	if rej != nil {
		t.Fatal(rej)
	}
	if !got.Presigned || got.Credential != rootCred || !got.SignedAt.Equal(signTime) {
		t.Fatalf("got %+v", got)
	}
	if strings.Join(got.SignedHeaders, ";") != "host;x-k8s-aws-id" {
		t.Fatalf("signed headers %q", got.SignedHeaders)
	}
}

// The wire form of the query does not have to be canonical: AWS decodes and re-encodes
// every parameter and sorts after encoding.
func TestVerifyQueryOrderAndEscapingOnTheWire(t *testing.T) {
	r, body := sdkSign(t, "GET", "https://"+testEKSHost+"/clusters?b=x%20y&a=%2F&a=-&c=%7E", nil, signOpts{})
	v := verifierAt(signTime)
	wantOK(t, v, r, body, "eks", rootCred)

	// Same parameters, reordered, '+' for space, lower-case hex, '~' escaped needlessly.
	r.URL.RawQuery = "c=%7e&a=-&b=x+y&a=%2f"
	wantOK(t, v, r, body, "eks", rootCred)

	r.URL.RawQuery = "c=%7e&a=-&b=x+y&a=%2f&d=1"
	wantRejected(t, v, r, body, "eks", CodeInvalidSignature, 403, ReasonSignatureMismatch)
}

// Clock skew, both directions, with the exact AWS texts.
func TestVerifyClockSkew(t *testing.T) {
	r, body := sdkSign(t, "GET", "https://"+testEKSHost+"/clusters", nil, signOpts{})

	for _, d := range []time.Duration{-5 * time.Minute, -4*time.Minute - 59*time.Second, 0, 4*time.Minute + 59*time.Second, 5 * time.Minute} {
		wantOK(t, verifierAt(signTime.Add(d)), r, body, "eks", rootCred)
	}

	rej := wantRejected(t, verifierAt(signTime.Add(20*time.Minute)), r, body, "eks", CodeInvalidSignature, 403, ReasonSignatureExpired)
	if want := "Signature expired: 20261127T120000Z is now earlier than 20261127T121500Z (20261127T122000Z - 5 min.)"; rej.Message != want {
		t.Errorf("message %q, want %q", rej.Message, want)
	}

	rej = wantRejected(t, verifierAt(signTime.Add(-30*time.Minute)), r, body, "eks", CodeInvalidSignature, 403, ReasonSignatureNotYet)
	if want := "Signature not yet current: 20261127T120000Z is still later than 20261127T113500Z (20261127T113000Z + 5 min.)"; rej.Message != want {
		t.Errorf("message %q, want %q", rej.Message, want)
	}

	// MaxSkew is honoured, in both directions.
	v := verifierAt(signTime.Add(90 * time.Second))
	v.MaxSkew = time.Minute
	rej = wantRejected(t, v, r, body, "eks", CodeInvalidSignature, 403, ReasonSignatureExpired)
	if !strings.HasSuffix(rej.Message, "(20261127T120130Z - 1 min.)") {
		t.Errorf("message %q", rej.Message)
	}
	v.Now = func() time.Time { return signTime.Add(-90 * time.Second) }
	wantRejected(t, v, r, body, "eks", CodeInvalidSignature, 403, ReasonSignatureNotYet)
}

func TestVerifyPresignedLifetime(t *testing.T) {
	eksURL := "https://" + testEKSHost + "/clusters"
	r, body := sdkPresign(t, "GET", eksURL, "60", signOpts{})
	wantOK(t, verifierAt(signTime.Add(60*time.Second)), r, body, "eks", rootCred)
	rej := wantRejected(t, verifierAt(signTime.Add(61*time.Second)), r, body, "eks", CodeInvalidSignature, 403, ReasonPresignExpired)
	if want := "Signature expired: 20261127T120000Z is now earlier than 20261127T120001Z (20261127T120101Z - 1 min.)"; rej.Message != want {
		t.Errorf("message %q, want %q", rej.Message, want)
	}
	// A presigned URL cannot be used before it was signed either.
	wantRejected(t, verifierAt(signTime.Add(-6*time.Minute)), r, body, "eks", CodeInvalidSignature, 403, ReasonSignatureNotYet)

	// A week-long URL is still good after a day.
	r, body = sdkPresign(t, "GET", eksURL, "604800", signOpts{})
	wantOK(t, verifierAt(signTime.Add(24*time.Hour)), r, body, "eks", rootCred)

	// STS ignores X-Amz-Expires: get-token's 60 s token lives 15 minutes.
	stsURL := "https://" + testSTSHost + "/?Action=GetCallerIdentity&Version=2011-06-15"
	hdr := map[string]string{"x-k8s-aws-id": testClusterID}
	r, body = sdkPresign(t, "GET", stsURL, "60", signOpts{service: "sts", headers: hdr})
	wantOK(t, verifierAt(signTime.Add(14*time.Minute)), r, body, "sts", rootCred)
	rej = wantRejected(t, verifierAt(signTime.Add(16*time.Minute)), r, body, "sts", CodeInvalidSignature, 403, ReasonPresignExpired)
	if !strings.HasSuffix(rej.Message, "- 15 min.)") {
		t.Errorf("message %q", rej.Message)
	}
	r, body = sdkPresign(t, "GET", stsURL, "3600", signOpts{service: "sts", headers: hdr})
	wantRejected(t, verifierAt(signTime.Add(16*time.Minute)), r, body, "sts", CodeInvalidSignature, 403, ReasonPresignExpired)

	for _, bad := range []string{"0", "604801", "-1", "1e3", "abc", "99999999"} {
		r, body = sdkPresign(t, "GET", eksURL, bad, signOpts{})
		wantRejected(t, verifierAt(signTime), r, body, "eks", CodeIncompleteSignature, 400, ReasonInvalidExpires)
	}
}

// The SDK retries InvalidSignatureException only on clock skew, and reads the code from
// x-amzn-ErrorType; an EKS client against a handler that uses Verify sees AWS's errors.
func TestVerifyWithEKSClient(t *testing.T) {
	// Real clock: the SDK signs with time.Now, so the temporary key must expire in the future.
	liveTemp := *tempCred
	liveTemp.Expires = time.Now().Add(time.Hour)
	v := &Verifier{Region: testRegion, Credentials: StaticCredentials{testAKID: rootCred, testTempAKID: &liveTemp}}
	var lastRejection atomic.Pointer[Rejection]
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if len(body) == 0 {
			body = nil
		}
		w.Header().Set("Content-Type", "application/json")
		if _, rej := v.Verify(r, body, "eks"); rej != nil {
			lastRejection.Store(rej)
			w.Header().Set("x-amzn-ErrorType", rej.Code)
			w.WriteHeader(rej.Status)
			json.NewEncoder(w).Encode(map[string]string{"message": rej.Message})
			return
		}
		served.Add(1)
		switch {
		case r.Method == "GET" && r.URL.Path == "/clusters":
			io.WriteString(w, `{"clusters":["demo"]}`)
		case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/clusters/"):
			json.NewEncoder(w).Encode(map[string]any{"cluster": map[string]string{"name": strings.TrimPrefix(r.URL.Path, "/clusters/")}})
		default:
			io.WriteString(w, `{}`)
		}
	}))
	defer srv.Close()

	client := func(creds aws.Credentials) *eks.Client {
		return eks.New(eks.Options{
			Region:           testRegion,
			BaseEndpoint:     aws.String(srv.URL),
			Credentials:      credentials.StaticCredentialsProvider{Value: creds},
			RetryMaxAttempts: 1,
		})
	}
	arn := "arn:aws:eks:us-west-2:000000000000:cluster/demo"
	ctx := context.Background()
	for _, creds := range []aws.Credentials{rootCreds, tempCreds} {
		c := client(creds)
		out, err := c.ListClusters(ctx, &eks.ListClustersInput{MaxResults: aws.Int32(10), Include: []string{"all"}})
		if err != nil || len(out.Clusters) != 1 {
			t.Fatalf("ListClusters: %v %+v (rejection %v)", err, out, lastRejection.Load())
		}
		d, err := c.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("my cluster")})
		if err != nil || aws.ToString(d.Cluster.Name) != "my cluster" {
			t.Fatalf("DescribeCluster: %v (rejection %v)", err, lastRejection.Load())
		}
		if _, err := c.TagResource(ctx, &eks.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"team": "a b/c"}}); err != nil {
			t.Fatalf("TagResource: %v (rejection %v)", err, lastRejection.Load())
		}
		if _, err := c.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"b", "a", "x y"}}); err != nil {
			t.Fatalf("UntagResource: %v (rejection %v)", err, lastRejection.Load())
		}
	}
	if served.Load() != 8 {
		t.Fatalf("served %d calls, want 8", served.Load())
	}

	_, err := client(aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: "wrong"}).ListClusters(ctx, &eks.ListClustersInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != CodeInvalidSignature || apiErr.ErrorMessage() != msgSignatureMismatch {
		t.Fatalf("wrong secret: %v", err)
	}
	_, err = client(aws.Credentials{AccessKeyID: "AKIAUNKNOWN000000000", SecretAccessKey: "x"}).ListClusters(ctx, &eks.ListClustersInput{})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != CodeUnrecognizedClient {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestNormalizedPath(t *testing.T) {
	// Expected values are what botocore.utils.normalize_url_path returns.
	for in, want := range map[string]string{
		"/":             "/",
		"/clusters":     "/clusters",
		"/a//b":         "/a/b",
		"/a/./b/":       "/a/b/",
		"/a/b/../c":     "/a/c",
		"/../a":         "/a",
		"//":            "/",
		"/a/%2E%2E/b":   "/a/%2E%2E/b",
		"/clusters/x/.": "/clusters/x",
	} {
		got, _ := normalizedPath(in)
		if got != want {
			t.Errorf("normalizedPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSigningKeyCacheIsBounded(t *testing.T) {
	var c signingKeys
	first := c.get("secret", "20261127", testRegion, "eks")
	if first != deriveSigningKey("secret", "20261127", testRegion, "eks") {
		t.Fatal("cached key differs from derived key")
	}
	for i := 0; i < 3*signingKeyCacheSize; i++ {
		c.get("secret", "20261127", testRegion, strconv.Itoa(i))
	}
	if n := len(c.m); n > signingKeyCacheSize {
		t.Fatalf("cache holds %d keys, bound is %d", n, signingKeyCacheSize)
	}
	// A rotated secret for the same key id must not hit the old entry.
	if c.get("secret2", "20261127", testRegion, "eks") == first {
		t.Fatal("different secret, same key")
	}
}

// AWS's own published SigV4 example (IAM ListUsers, "Create a signed AWS API request",
// with the documentation key pair) must verify.
func TestVerifyAWSDocumentationExample(t *testing.T) {
	r, err := http.NewRequest("GET", "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.Header.Set("X-Amz-Date", "20150830T123600Z")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
	sr, body := overTheWire(t, r)
	v := &Verifier{
		Region:      "us-east-1",
		Credentials: StaticCredentials{"AKIDEXAMPLE": {AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}},
		Now:         func() time.Time { return time.Date(2015, 8, 30, 12, 37, 0, 0, time.UTC) },
	}
	if _, rej := v.Verify(sr, body, "iam"); rej != nil {
		t.Fatal(rej)
	}
}

// One Verifier serves all requests; its key cache must be safe under concurrent use,
// including eviction.
func TestVerifyConcurrent(t *testing.T) {
	v := verifierAt(signTime)
	r, body := sdkSign(t, "GET", eksClusters, nil, signOpts{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				if _, rej := v.Verify(r, body, "eks"); rej != nil {
					t.Error(rej)
					return
				}
				v.keys.get("other", "20261127", testRegion, strconv.Itoa(g*1000+i)) // churn the cache
			}
		}()
	}
	wg.Wait()
}
