package ec2

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/store"
)

const (
	testRegion    = "us-west-2"
	testAccount   = "000000000000"
	testRequestID = "7a62c49f-347e-4fc4-9331-6e8eEXAMPLE"
)

var testZones = []string{"us-west-2a", "us-west-2b", "us-west-2c"}

// testEnv is the EC2 API on a real store (embedded etcd, default network
// made) behind an httptest server, verifying SigV4 as the real server does.
type testEnv struct {
	t     testing.TB
	st    *store.Store
	h     *Handler
	srv   *httptest.Server
	root  *auth.Credential
	net   *store.Network // the default network
	quiet bool
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	dir := t.TempDir()
	root, err := auth.LoadOrCreateRoot(dir, testAccount)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(context.Background(), store.Config{DataDir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n, err := st.EnsureDefaultNetwork(context.Background(), testZones)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(Config{
		Store: st, Region: testRegion, AccountID: testAccount, Zones: testZones, Log: log,
		Verifier:  &auth.Verifier{Region: testRegion, Credentials: auth.StaticCredentials{root.AccessKeyID: root}},
		RequestID: func(*http.Request) string { return testRequestID },
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testEnv{t: t, st: st, h: h, srv: srv, root: root, net: n}
}

// response is an answer read off the wire.
type response struct {
	status int
	body   []byte
	code   string // the error code, "" on success
	msg    string
}

// signed is a form POST of body, signed for service ec2 as botocore signs it.
func (e *testEnv) signed(body string) *http.Request {
	req, err := http.NewRequest("POST", e.srv.URL+"/", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: e.root.AccessKeyID, SecretAccessKey: e.root.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ec2", testRegion, time.Now()); err != nil {
		e.t.Fatal(err)
	}
	return req
}

// call sends action with params (key, value, key, value, ...).
func (e *testEnv) call(action string, kv ...string) response {
	e.t.Helper()
	v := url.Values{"Action": {action}, "Version": {Version}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return e.send(e.signed(v.Encode()))
}

func (e *testEnv) send(req *http.Request) response {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, body: b}
	if resp.Header.Get(requestIDHeader) != testRequestID {
		e.t.Fatalf("request id header %q", resp.Header.Get(requestIDHeader))
	}
	if resp.StatusCode != http.StatusOK {
		var doc struct {
			XMLName xml.Name `xml:"Response"`
			Code    string   `xml:"Errors>Error>Code"`
			Message string   `xml:"Errors>Error>Message"`
			ID      string   `xml:"RequestID"`
		}
		if err := xml.Unmarshal(b, &doc); err != nil || doc.Code == "" || doc.ID != testRequestID {
			e.t.Fatalf("status %d: not EC2's error document: %v\n%s", resp.StatusCode, err, b)
		}
		out.code, out.msg = doc.Code, doc.Message
	}
	return out
}

// ok calls action and decodes its result into v.
func (e *testEnv) ok(v any, action string, kv ...string) {
	e.t.Helper()
	r := e.call(action, kv...)
	if r.status != http.StatusOK {
		e.t.Fatalf("%s %v: %d %s: %s", action, kv, r.status, r.code, r.msg)
	}
	var root struct {
		XMLName   xml.Name
		RequestID string `xml:"requestId"`
	}
	if err := xml.Unmarshal(r.body, &root); err != nil || root.XMLName.Local != action+"Response" ||
		root.XMLName.Space != namespace || root.RequestID != testRequestID {
		e.t.Fatalf("%s: response root %v %q: %v\n%s", action, root.XMLName, root.RequestID, err, r.body)
	}
	if v != nil {
		if err := xml.Unmarshal(r.body, v); err != nil {
			e.t.Fatalf("%s: %v\n%s", action, err, r.body)
		}
	}
}

// fails calls action and checks its error code (and message, when given).
func (e *testEnv) fails(code, msg string, action string, kv ...string) response {
	e.t.Helper()
	r := e.call(action, kv...)
	if r.code != code || msg != "" && r.msg != msg {
		e.t.Fatalf("%s %v: got %d %s %q, want %s %q", action, kv, r.status, r.code, r.msg, code, msg)
	}
	if r.status >= 500 {
		e.t.Fatalf("%s: status %d", action, r.status)
	}
	return r
}

func (e *testEnv) subnets(kv ...string) []subnetItem {
	e.t.Helper()
	var out describeSubnetsResult
	e.ok(&out, "DescribeSubnets", kv...)
	return out.Subnets.Items
}

func (e *testEnv) groups(kv ...string) []securityGroupItem {
	e.t.Helper()
	var out describeSecurityGroupsResult
	e.ok(&out, "DescribeSecurityGroups", kv...)
	return out.Groups.Items
}

func tagsOf(s *tagSet) map[string]string {
	m := map[string]string{}
	if s != nil {
		for _, t := range s.Items {
			m[t.Key] = t.Value
		}
	}
	return m
}
