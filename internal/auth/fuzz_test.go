package auth

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// FuzzParseAuthorization: never panics, and whatever it returns came from the header.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261127/us-west-2/eks/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("ab", 32))
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e,SignedHeaders=host,Signature=x")
	f.Add("AWS4-HMAC-SHA256   Signature=b,    Credential,    SignedHeaders")
	f.Add("AWS4-HMAC-SHA256 Credential=a, Credential=b")
	f.Add("AWS4-HMAC-SHA256")
	f.Add("Bearer abc")
	f.Add("\t,,, =")
	f.Fuzz(func(t *testing.T, header string) {
		c, ok := parseAuthorization(header)
		if !ok {
			return
		}
		for _, part := range []string{c.algorithm, c.credential, c.signedHeaders, c.signature} {
			if !strings.Contains(header, part) {
				t.Fatalf("%q is not part of %q", part, header)
			}
		}
		if strings.ContainsAny(c.credential+c.signedHeaders+c.signature, " \t,") {
			t.Fatalf("separator inside a value: %+v", c)
		}
	})
}

var hex64 = regexp.MustCompile(`[0-9a-f]{64}`)

// FuzzVerify: Verify never panics on any request, answers the same twice (the second
// time from the signing-key cache), and never puts a secret or signature in a message.
func FuzzVerify(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed.method, seed.target, seed.host, seed.authorization, seed.amzDate, seed.headers, seed.service, seed.body)
	}
	f.Add("GET", "/clusters", testEKSHost, "", "", "", "eks", []byte(nil))
	f.Add("GET", "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb&X-Amz-Credential=c", "h", "", "", "", "sts", []byte(nil))
	f.Add("POST", "//a/../%zz/%2e%2e?a=%&b=+&&=", "", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261127/us-west-2/eks/aws4_request/, SignedHeaders=;;HOST;;, Signature=00", "20261127T120000Z", "Date: Fri, 27 Nov 2026 12:00:00 -0000\nX-Amz-Content-Sha256: UNSIGNED-PAYLOAD", "eks", []byte("x"))

	v := verifierAt(signTime.Add(time.Minute))
	f.Fuzz(func(t *testing.T, method, target, host, authorization, amzDate, headers, service string, body []byte) {
		r := fuzzRequest(method, target, host, authorization, amzDate, headers, body)
		cred1, rej1 := v.Verify(r, body, service)
		cred2, rej2 := v.Verify(r, body, service)

		if (cred1 == nil) == (rej1 == nil) {
			t.Fatalf("want exactly one of credential and rejection, got %v and %v", cred1, rej1)
		}
		if cred1 != cred2 || (rej1 == nil) != (rej2 == nil) || (rej1 != nil && *rej1 != *rej2) {
			t.Fatalf("not deterministic: %v %v / %v %v", cred1, rej1, cred2, rej2)
		}
		if rej1 == nil {
			return
		}
		if rej1.Code == "" || rej1.Reason == "" || rej1.Message == "" {
			t.Fatalf("incomplete rejection %+v", rej1)
		}
		if rej1.Status != 400 && rej1.Status != 403 && rej1.Status != 500 {
			t.Fatalf("status %d", rej1.Status)
		}
		for _, secret := range []string{testSecret, testTempKey, testToken} {
			if strings.Contains(rej1.Message, secret) {
				t.Fatalf("message leaks a secret: %q", rej1.Message)
			}
		}
		if sig := hex64.FindString(authorization + " " + target); sig != "" && strings.Contains(rej1.Message, sig) {
			t.Fatalf("message leaks a signature: %q", rej1.Message)
		}
	})
}

// fuzzRequest builds a server-side request without validating anything, so the fuzzer
// can reach states net/http's parser would refuse.
func fuzzRequest(method, target, host, authorization, amzDate, headers string, body []byte) *http.Request {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		path, rawQuery, _ := strings.Cut(target, "?")
		u = &url.URL{Path: path, RawQuery: rawQuery}
	}
	r := &http.Request{Method: method, URL: u, Host: host, Header: http.Header{}, ContentLength: int64(len(body))}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if authorization != "" {
		r.Header["Authorization"] = []string{authorization}
	}
	if amzDate != "" {
		r.Header["X-Amz-Date"] = []string{amzDate}
	}
	for line := range strings.SplitSeq(headers, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			r.Header.Add(k, strings.TrimLeft(v, " "))
		}
	}
	return r
}

type fuzzSeed struct {
	method, target, host, authorization, amzDate, headers, service string
	body                                                           []byte
}

// fuzzSeeds are valid requests (header-signed and presigned, signed by the Go SDK) taken
// apart into the fuzz arguments, so mutations start next to the accepting path.
func fuzzSeeds(tb testing.TB) []fuzzSeed {
	header, hbody := sdkSign(tb, "POST", "https://"+testEKSHost+"/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A000000000000%3Acluster%2Fdemo?tagKeys=a&tagKeys=b",
		[]byte(`{"tags":{"a":"b"}}`), signOpts{creds: tempCreds, headers: map[string]string{"Content-Type": "application/json", "Amz-Sdk-Request": "attempt=1; max=3"}})
	presigned, pbody := sdkPresign(tb, "GET", "https://"+testSTSHost+"/?Action=GetCallerIdentity&Version=2011-06-15", "60",
		signOpts{service: "sts", headers: map[string]string{"x-k8s-aws-id": testClusterID}})
	seed := func(r *http.Request, body []byte, service string) fuzzSeed {
		var lines []string
		for k, vs := range r.Header {
			if k == "Authorization" || k == "X-Amz-Date" {
				continue
			}
			for _, v := range vs {
				lines = append(lines, k+": "+v)
			}
		}
		sort.Strings(lines)
		return fuzzSeed{r.Method, r.RequestURI, r.Host, r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date"),
			strings.Join(lines, "\n"), service, body}
	}
	return []fuzzSeed{seed(header, hbody, "eks"), seed(presigned, pbody, "sts")}
}

// The seeds must really be accepted, or the fuzzer starts far from the interesting path.
func TestFuzzSeedsVerify(t *testing.T) {
	v := verifierAt(signTime.Add(time.Minute))
	for _, s := range fuzzSeeds(t) {
		r := fuzzRequest(s.method, s.target, s.host, s.authorization, s.amzDate, s.headers, s.body)
		if _, rej := v.Verify(r, s.body, s.service); rej != nil {
			t.Fatalf("seed %s %s rejected: %v", s.method, s.target, rej)
		}
	}
}
