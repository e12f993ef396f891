package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
)

// testServer is a kplane started in-process on a fresh data directory.
type testServer struct {
	*server.Server
	t   *testing.T
	eks *eks.Client
}

func startServer(t *testing.T, mutate func(*server.Config)) *testServer {
	t.Helper()
	cfg := server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Log: quietLog()}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &testServer{Server: s, t: t, eks: eksClient(s)}
}

func quietLog() *slog.Logger {
	if os.Getenv("KPLANE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (s *testServer) creds() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(s.Root.AccessKeyID, s.Root.SecretAccessKey, "")
}

func eksClient(s *server.Server) *eks.Client {
	return eks.New(eks.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(s.Root.AccessKeyID, s.Root.SecretAccessKey, ""),
		// Tests assert on single answers; the SDK's retries would hide them.
		RetryMaxAttempts: 1,
	})
}

// subnets returns two subnet ids in different zones of the default VPC.
func (s *testServer) subnets() []string {
	n, err := s.Store.Network(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return []string{n.Subnets[0].ID, n.Subnets[1].ID}
}

const testRole = "arn:aws:iam::000000000000:role/eks-cluster-role"

func (s *testServer) createInput(name string) *eks.CreateClusterInput {
	return &eks.CreateClusterInput{
		Name:               aws.String(name),
		RoleArn:            aws.String(testRole),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: s.subnets()},
	}
}

func (s *testServer) create(name string) *ekstypes.Cluster {
	s.t.Helper()
	out, err := s.eks.CreateCluster(context.Background(), s.createInput(name))
	if err != nil {
		s.t.Fatalf("CreateCluster %s: %v", name, err)
	}
	return out.Cluster
}

// rawResponse is an answer read off the wire.
type rawResponse struct {
	Status    int
	ErrorType string
	Body      map[string]any
	Header    http.Header
}

// raw sends a SigV4-signed request with the root credentials.
func (s *testServer) raw(method, path string, body string) rawResponse {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256([]byte(body))
	creds, _ := s.creds().Retrieve(context.Background())
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "eks", s.Region, time.Now()); err != nil {
		s.t.Fatal(err)
	}
	return s.send(req)
}

func (s *testServer) send(req *http.Request) rawResponse {
	s.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := rawResponse{Status: resp.StatusCode, ErrorType: resp.Header.Get("x-amzn-ErrorType"), Header: resp.Header}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &out.Body); err != nil {
			s.t.Fatalf("%s %s: body is not JSON: %q", req.Method, req.URL.Path, b)
		}
	}
	return out
}

// expectError checks a modeled EKS error on the wire.
func expectError(t *testing.T, got rawResponse, typ string, status int) {
	t.Helper()
	if got.Status != status || got.ErrorType != typ {
		t.Fatalf("got %d %q %v, want %d %s", got.Status, got.ErrorType, got.Body, status, typ)
	}
	if msg, _ := got.Body["message"].(string); msg == "" {
		t.Fatalf("error %s has no message: %v", typ, got.Body)
	}
	if got.Header.Get("x-amzn-RequestId") == "" {
		t.Fatalf("error %s has no x-amzn-RequestId", typ)
	}
}

// escape percent-encodes a path label the way the SDKs do.
func escape(s string) string { return url.PathEscape(s) }

func staticCreds(id, secret string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(id, secret, "")
}

func vpcConfig(subnets []string) *ekstypes.VpcConfigRequest {
	return &ekstypes.VpcConfigRequest{SubnetIds: subnets}
}

// childSubnets reads subnet ids straight from the child's datastore endpoint file.
func childSubnets(t *testing.T, client *eks.Client, dir string) []string {
	t.Helper()
	ep, err := store.EmbeddedEndpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Config{DataDir: dir, Endpoints: []string{ep}, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.Network(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return []string{n.Subnets[0].ID, n.Subnets[1].ID}
}
