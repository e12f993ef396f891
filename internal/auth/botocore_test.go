package auth

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

type botocoreRequest struct {
	Name    string            `json:"name"`
	Service string            `json:"service"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// signWithBotocore runs testdata/botocore_sign.py. The AWS CLI is botocore and
// this is the test that proves kplane accepts it, but `go test ./internal/...`
// needs nothing but Go: without python3 and botocore it skips, and .ci/run
// refuses to start without them, so CI always runs it.
func signWithBotocore(t *testing.T) []botocoreRequest {
	t.Helper()
	needBotocore(t)
	cmd := exec.Command("python3", "testdata/botocore_sign.py", testAKID, testSecret, testTempAKID, testTempKey, testToken)
	// Keep the developer's own AWS settings out of botocore.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("botocore_sign.py: %v\n%s", err, stderr.String())
	}
	var reqs []botocoreRequest
	if err := json.Unmarshal(out, &reqs); err != nil {
		t.Fatalf("decode botocore output: %v\n%s", err, out)
	}
	return reqs
}

func TestVerifyBotocoreSignedRequests(t *testing.T) {
	reqs := signWithBotocore(t)
	if len(reqs) != 17 {
		t.Fatalf("botocore produced %d requests, want 17", len(reqs))
	}
	// Real clock, since botocore signs with it; the temporary key expires in an hour.
	liveTemp := *tempCred
	liveTemp.Expires = time.Now().Add(time.Hour)
	v := &Verifier{Region: testRegion, Credentials: StaticCredentials{testAKID: rootCred, testTempAKID: &liveTemp}}

	for _, br := range reqs {
		t.Run(br.Name, func(t *testing.T) {
			var body []byte
			if br.Body != "" {
				body = latin1(br.Body) // the script wrote the body as latin-1: one rune per byte
			}
			req := newClientRequest(t, br.Method, br.URL, body, nil)
			for k, val := range br.Headers {
				req.Header[http.CanonicalHeaderKey(k)] = []string{val}
			}
			r, gotBody := overTheWire(t, req)

			want := rootCred
			if strings.Contains(br.Name, "session token") || br.Name == "eks client tag resource" {
				want = &liveTemp
			}
			got, rej := v.Verify(r, gotBody, br.Service)
			if rej != nil {
				t.Fatalf("rejected: %v\n%s %s\n%v", rej, r.Method, r.URL, r.Header)
			}
			if got != want {
				t.Fatalf("verified as %s, want %s", got.AccessKeyID, want.AccessKeyID)
			}
			checkBotocoreShape(t, br, r)
		})
	}
}

// checkBotocoreShape makes sure each case really exercises what its name says, so a
// change in botocore cannot quietly turn the test into a weaker one.
func checkBotocoreShape(t *testing.T, br botocoreRequest, r *http.Request) {
	t.Helper()
	c, ok := parseAuthorization(r.Header.Get("Authorization"))
	if strings.HasPrefix(br.Name, "get-token") {
		q, present, _ := parsePresigned(r.URL.RawQuery)
		if !present || q.signedHeaders != "host;x-k8s-aws-id" || q.expires != "60" {
			t.Errorf("get-token URL not presigned as expected: %s", r.URL)
		}
		if strings.Contains(br.Name, "custom endpoint") && r.Host != "127.0.0.1:8443" {
			t.Errorf("host %q", r.Host)
		}
		return
	}
	if !ok || c.credential == "" {
		t.Fatalf("no Authorization header")
	}
	switch br.Name {
	case "sigv4 date header":
		if r.Header.Get("X-Amz-Date") != "" || !listsHeader(c.signedHeaders, "date") {
			t.Errorf("expected a Date-signed request, got %v", r.Header)
		}
	case "sigv4 dot segments":
		if !strings.Contains(r.URL.EscapedPath(), "/./") {
			t.Errorf("path was normalized before sending: %s", r.URL.EscapedPath())
		}
	case "eks client describe cluster":
		if r.URL.EscapedPath() != "/clusters/my%20cluster" {
			t.Errorf("path %s", r.URL.EscapedPath())
		}
	case "eks client untag resource":
		if !strings.Contains(r.URL.RawQuery, "tagKeys=b&tagKeys=a&tagKeys=x%20y") {
			t.Errorf("query %s", r.URL.RawQuery)
		}
	case "sts client get caller identity":
		if r.Method != "POST" || !IsQueryRequest(r) {
			t.Errorf("not a query-protocol POST: %s %v", r.Method, r.Header)
		}
	}
	if strings.Contains(br.Name, "session token") || br.Name == "eks client tag resource" {
		if !listsHeader(c.signedHeaders, "x-amz-security-token") {
			t.Errorf("token not signed: %s", c.signedHeaders)
		}
	}
}

func latin1(s string) []byte {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		b = append(b, byte(r))
	}
	return b
}

// needBotocore skips the test when python3 cannot import botocore.
func needBotocore(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("python3", "-c", "import botocore").CombinedOutput(); err != nil {
		t.Skipf("python3 with botocore is needed (the aws CLI's library): %v %s", err, bytes.TrimSpace(out))
	}
}
