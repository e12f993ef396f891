package iam

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/store"
)

const (
	testAccount   = "000000000000"
	testRegion    = "us-west-2"
	testRequestID = "c2b7a8f0-0000-4000-8000-000000000001"
)

// testEnv is kplane's IAM and STS on a real store (embedded etcd) behind an
// httptest server, verifying as the real server does.
type testEnv struct {
	t        testing.TB
	dataDir  string
	st       *store.Store
	svc      *Service
	verifier *auth.Verifier
	srv      *httptest.Server
	root     *auth.Credential
	rootAWS  aws.Credentials
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	dataDir := t.TempDir()
	root, err := auth.LoadOrCreateRoot(dataDir, testAccount)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Config{DataDir: dataDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := New(st, dataDir, testAccount, testRegion, root)
	if err != nil {
		t.Fatal(err)
	}
	v := &auth.Verifier{Region: testRegion, Credentials: svc.Credentials()}
	srv := httptest.NewServer(svc.Handler(v, func(*http.Request) string { return testRequestID }))
	t.Cleanup(srv.Close)
	return &testEnv{t: t, dataDir: dataDir, st: st, svc: svc, verifier: v, srv: srv, root: root,
		rootAWS: aws.Credentials{AccessKeyID: root.AccessKeyID, SecretAccessKey: root.SecretAccessKey}}
}

// iam is an IAM client as the AWS SDK makes one: region us-east-1, IAM's only.
func (e *testEnv) iam(creds aws.Credentials) *iam.Client {
	return e.iamIn("us-east-1", creds)
}

func (e *testEnv) iamIn(region string, creds aws.Credentials) *iam.Client {
	return iam.New(iam.Options{
		Region:           region,
		BaseEndpoint:     aws.String(e.srv.URL),
		Credentials:      credentials.StaticCredentialsProvider{Value: creds},
		RetryMaxAttempts: 1,
	})
}

func (e *testEnv) sts(creds aws.Credentials) *sts.Client {
	return sts.New(sts.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(e.srv.URL),
		Credentials:      credentials.StaticCredentialsProvider{Value: creds},
		RetryMaxAttempts: 1,
	})
}

// wantAPIError checks err is the AWS error code with message msg ("" for any)
// and HTTP status, as the SDK parsed it, and returns it.
func wantAPIError(t *testing.T, err error, code, msg string, status int) smithy.APIError {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if apiErr.ErrorCode() != code || msg != "" && apiErr.ErrorMessage() != msg {
		t.Fatalf("want %s %q, got %s %q", code, msg, apiErr.ErrorCode(), apiErr.ErrorMessage())
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("no HTTP response in %v", err)
	}
	if re.HTTPStatusCode() != status {
		t.Fatalf("%s: status %d, want %d", code, re.HTTPStatusCode(), status)
	}
	if re.ServiceRequestID() != testRequestID {
		t.Fatalf("request id %q", re.ServiceRequestID())
	}
	return apiErr
}
