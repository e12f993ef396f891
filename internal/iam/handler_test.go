package iam

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kplane/kplane/internal/auth"
)

// call signs a query-protocol POST the way the SDKs do and returns status and body.
func (e *testEnv) call(t *testing.T, service, region, body string, creds aws.Credentials) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "text/xml" {
		t.Errorf("Content-Type %q", ct)
	}
	if id := resp.Header.Get("x-amzn-RequestId"); id != testRequestID {
		t.Errorf("x-amzn-RequestId %q", id)
	}
	return resp.StatusCode, string(b)
}

// The XML, byte for byte, in IAM's and STS's shapes.
func TestXMLResponses(t *testing.T) {
	e := newTestEnv(t)
	const ns = `xmlns="https://iam.amazonaws.com/doc/2010-05-08/"`
	meta := `<ResponseMetadata><RequestId>` + testRequestID + `</RequestId></ResponseMetadata>`

	status, body := e.call(t, "iam", "us-east-1", "Action=ListUsers&Version=2010-05-08", e.rootAWS)
	if want := `<ListUsersResponse ` + ns + `><ListUsersResult><Users></Users><IsTruncated>false</IsTruncated></ListUsersResult>` + meta + `</ListUsersResponse>`; status != 200 || body != want {
		t.Fatalf("ListUsers: %d\n%s\nwant\n%s", status, body, want)
	}

	fixed := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	e.svc.now = func() time.Time { return fixed }
	status, body = e.call(t, "iam", "us-east-1", "Action=CreateUser&Version=2010-05-08&UserName=bob&Path=%2Fa%2F&Tags.member.1.Key=k&Tags.member.1.Value=v+1%2F2", e.rootAWS)
	u, err := e.st.GetIAMUser(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	want := `<CreateUserResponse ` + ns + `><CreateUserResult><User><Path>/a/</Path><UserName>bob</UserName><UserId>` + u.UserID +
		`</UserId><Arn>arn:aws:iam::000000000000:user/a/bob</Arn><CreateDate>2026-11-27T12:00:00Z</CreateDate>` +
		`<Tags><member><Key>k</Key><Value>v 1/2</Value></member></Tags></User></CreateUserResult>` + meta + `</CreateUserResponse>`
	if status != 200 || body != want {
		t.Fatalf("CreateUser: %d\n%s\nwant\n%s", status, body, want)
	}

	doc := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"000000000000"},"Action":"sts:AssumeRole"}]}`
	status, body = e.call(t, "iam", "us-east-1", "Action=CreateRole&Version=2010-05-08&RoleName=r&Description=a%3Cb+%26+c&AssumeRolePolicyDocument="+urlEscape(doc), e.rootAWS)
	r, err := e.st.GetIAMRole(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	want = `<CreateRoleResponse ` + ns + `><CreateRoleResult><Role><Path>/</Path><RoleName>r</RoleName><RoleId>` + r.RoleID +
		`</RoleId><Arn>arn:aws:iam::000000000000:role/r</Arn><CreateDate>2026-11-27T12:00:00Z</CreateDate>` +
		`<AssumeRolePolicyDocument>%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22AWS%22%3A%22000000000000%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D</AssumeRolePolicyDocument>` +
		`<Description>a&lt;b &amp; c</Description><MaxSessionDuration>3600</MaxSessionDuration></Role></CreateRoleResult>` + meta + `</CreateRoleResponse>`
	if status != 200 || body != want {
		t.Fatalf("CreateRole: %d\n%s\nwant\n%s", status, body, want)
	}

	status, body = e.call(t, "iam", "us-east-1", "Action=DeleteUser&Version=2010-05-08&UserName=bob", e.rootAWS)
	if want := `<DeleteUserResponse ` + ns + `>` + meta + `</DeleteUserResponse>`; status != 200 || body != want {
		t.Fatalf("DeleteUser: %d\n%s", status, body)
	}
	status, body = e.call(t, "iam", "us-east-1", "Action=GetUser&Version=2010-05-08&UserName=bob", e.rootAWS)
	if want := `<ErrorResponse ` + ns + `><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The user with name bob cannot be found.</Message></Error>` +
		`<RequestId>` + testRequestID + `</RequestId></ErrorResponse>`; status != 404 || body != want {
		t.Fatalf("GetUser: %d\n%s", status, body)
	}
	status, body = e.call(t, "iam", "us-east-1", "Version=2010-05-08", e.rootAWS)
	if status != 400 || !strings.Contains(body, "<Code>MissingAction</Code>") {
		t.Fatalf("no action: %d %s", status, body)
	}
	status, body = e.call(t, "iam", "us-east-1", "Action=ListUsers&Version=2011-06-15", e.rootAWS)
	if status != 400 || !strings.Contains(body, "<Code>InvalidAction</Code><Message>Could not find operation ListUsers for version 2011-06-15</Message>") {
		t.Fatalf("wrong version: %d %s", status, body)
	}
	// A service kplane does not have is refused as STS refuses a wrong scope.
	status, body = e.call(t, "ec2", testRegion, "Action=DescribeVpcs&Version=2016-11-15", e.rootAWS)
	if status != 403 || !strings.Contains(body, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidSignatureException</Code>`) {
		t.Fatalf("ec2: %d %s", status, body)
	}

	status, body = e.call(t, "sts", testRegion, "Action=GetCallerIdentity&Version=2011-06-15", e.rootAWS)
	if want := `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>` +
		`<Arn>arn:aws:iam::000000000000:root</Arn><UserId>000000000000</UserId><Account>000000000000</Account>` +
		`</GetCallerIdentityResult>` + meta + `</GetCallerIdentityResponse>`; status != 200 || body != want {
		t.Fatalf("GetCallerIdentity: %d\n%s", status, body)
	}
}

func urlEscape(s string) string { return policyEscape(s) }

// What package auth's STS handler answered before, this one answers too.
func TestQueryProtocolEdges(t *testing.T) {
	e := newTestEnv(t)

	resp, err := http.Post(e.srv.URL+"/", "application/x-www-form-urlencoded; charset=utf-8", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>` +
		`<Code>MissingAuthenticationTokenException</Code><Message>Missing Authentication Token</Message></Error>` +
		`<RequestId>` + testRequestID + `</RequestId></ErrorResponse>`
	if resp.StatusCode != 403 || string(body) != want {
		t.Fatalf("unsigned: %d %s", resp.StatusCode, body)
	}

	h := e.svc.Handler(e.verifier, nil) // request ids made up
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("a", maxQueryBody+1)))
	r.Header.Set("Content-Type", formContentType)
	h.ServeHTTP(rec, r)
	if rec.Code != 413 || !strings.Contains(rec.Body.String(), "<Code>RequestEntityTooLarge</Code>") || rec.Header().Get("x-amzn-RequestId") == "" {
		t.Fatalf("large body: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	r = httptest.NewRequest("POST", "/", io.MultiReader(strings.NewReader(strings.Repeat("a", maxQueryBody)), strings.NewReader("b")))
	r.ContentLength = -1
	r.Header.Set("Content-Type", formContentType)
	h.ServeHTTP(rec, r)
	if rec.Code != 413 {
		t.Fatalf("large chunked body: %d", rec.Code)
	}

	// A client that stops sending its body does not hold the handler.
	slow := e.svc.Handler(e.verifier, nil).(*handler)
	slow.readTimeout = 200 * time.Millisecond
	srv := httptest.NewServer(slow)
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nAction=")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	sresp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || sresp.StatusCode != 400 {
		t.Fatalf("stalled body: %v %v", sresp, err)
	}
}

// aws eks get-token's presigned GetCallerIdentity works with an IAM user's key,
// which is how a user would log in to a cluster.
func TestPresignedGetCallerIdentity(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.iam(e.rootAWS)
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dev")}); err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("dev")})
	if err != nil {
		t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: *k.AccessKey.AccessKeyId, SecretAccessKey: *k.AccessKey.SecretAccessKey}
	presigned, err := sts.NewPresignClient(e.sts(creds)).PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.PresignOptions) {
		o.ClientOptions = append(o.ClientOptions, sts.WithAPIOptions(smithyhttp.AddHeaderValue("x-k8s-aws-id", "demo")))
	})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(presigned.Method, presigned.URL, nil)
	req.Header = presigned.SignedHeader.Clone()
	if !auth.IsQueryRequest(req) {
		t.Fatal("not a query-protocol request")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<Arn>arn:aws:iam::000000000000:user/dev</Arn>") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

// No secret reaches etcd: neither access key secrets, nor session secrets and
// tokens, nor the master key.
func TestNoSecretsInEtcd(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.iam(e.rootAWS)
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("u")}); err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("u")})
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/u"},"Action":"sts:AssumeRole"}]}`
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: *k.AccessKey.AccessKeyId, SecretAccessKey: *k.AccessKey.SecretAccessKey}
	ar, err := e.sts(creds).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), RoleSessionName: aws.String("s1")})
	if err != nil {
		t.Fatal(err)
	}
	master, err := os.ReadFile(filepath.Join(e.dataDir, MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"access key secret": *k.AccessKey.SecretAccessKey,
		"session secret":    *ar.Credentials.SecretAccessKey,
		"session token":     *ar.Credentials.SessionToken,
		"master key":        string(master),
		"master key (hex)":  hex.EncodeToString(master),
		"root secret":       e.root.SecretAccessKey,
	}
	kvs, err := e.st.Dump(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) < 4 {
		t.Fatalf("only %d keys in etcd", len(kvs))
	}
	for key, value := range kvs {
		for what, s := range secrets {
			if strings.Contains(string(value), s) || strings.Contains(key, s) {
				t.Errorf("%s stored at %s", what, key)
			}
		}
	}
}

// The master key is made once, 0600, and every secret follows from it: a
// restarted kplane (a new Service on the same data directory) accepts the same
// keys and sessions.
func TestMasterKeyAndRestart(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	path := filepath.Join(e.dataDir, MasterKeyFile)
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 || info.Size() != 32 {
		t.Fatalf("master key file: %v %v", info, err)
	}
	c := e.iam(e.rootAWS)
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("u")}); err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("u")})
	if err != nil {
		t.Fatal(err)
	}

	os.Chmod(path, 0o644)
	svc2, err := New(e.st, e.dataDir, testAccount, testRegion, e.root)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v not tightened", info.Mode())
	}
	cred, err := svc2.Credentials().Lookup(ctx, *k.AccessKey.AccessKeyId)
	if err != nil || cred.SecretAccessKey != *k.AccessKey.SecretAccessKey || cred.Arn != "arn:aws:iam::000000000000:user/u" {
		t.Fatalf("after restart: %+v %v", cred, err)
	}
	// The same Credential comes back while the key is unchanged; root is root.
	again, _ := svc2.Credentials().Lookup(ctx, *k.AccessKey.AccessKeyId)
	if again != cred {
		t.Error("credential derived again for an unchanged key")
	}
	if r, err := svc2.Credentials().Lookup(ctx, e.root.AccessKeyID); err != nil || r != e.root {
		t.Errorf("root lookup: %v %v", r, err)
	}
	for _, id := range []string{"AKIAAAAAAAAAAAAAAAAA", "ASIAAAAAAAAAAAAAAAAA", "", "x"} {
		if _, err := svc2.Credentials().Lookup(ctx, id); err != auth.ErrUnknownKey {
			t.Errorf("Lookup(%q): %v", id, err)
		}
	}

	// Another master key derives other secrets.
	if got := (deriver{master: make([]byte, 32)}).accessKeySecret(*k.AccessKey.AccessKeyId); got == cred.SecretAccessKey {
		t.Fatal("secret does not depend on the master key")
	}

	// A damaged key file stops kplane rather than minting new secrets, and
	// the error does not show the file's content.
	os.WriteFile(path, []byte("short-secret-material"), 0o600)
	if _, err := New(e.st, e.dataDir, testAccount, testRegion, e.root); err == nil || strings.Contains(err.Error(), "short-secret") {
		t.Fatalf("damaged key file: %v", err)
	}
	if _, err := New(e.st, t.TempDir(), "123", testRegion, e.root); err == nil {
		t.Fatal("bad account id accepted")
	}
}

// Many processes may start at once on one data directory: they agree on one key.
func TestMasterKeyCreatedOnce(t *testing.T) {
	dir := t.TempDir()
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := loadOrCreateMasterKey(dir)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if string(k) != string(keys[0]) {
			t.Fatal("processes disagree on the master key")
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
}

func TestDerivation(t *testing.T) {
	d := deriver{master: []byte("0123456789abcdef0123456789abcdef")}
	a, b := d.accessKeySecret("AKIAAAAAAAAAAAAAAAAA"), d.accessKeySecret("AKIAAAAAAAAAAAAAAAAB")
	if !reSecret.MatchString(a) || a == b || a != d.accessKeySecret("AKIAAAAAAAAAAAAAAAAA") {
		t.Fatalf("secrets %q %q", a, b)
	}
	if d.sessionSecret("AKIAAAAAAAAAAAAAAAAA") == a {
		t.Fatal("session and access key secrets share a derivation")
	}
	tok := d.sessionToken("ASIAAAAAAAAAAAAAAAAA")
	if len(tok) != 320 || tok == d.sessionToken("ASIAAAAAAAAAAAAAAAAB") {
		t.Fatalf("token %d chars", len(tok))
	}
}
