// Package nodecreds is how a node joins its cluster through IAM, as an EKS
// node does: kplane gives the node temporary credentials of its nodegroup's
// node role (what EC2's instance profile gives an instance), kept in a file
// of the node's directory, and the kubelet's exec credential plugin (`kplane
// node token`) signs an STS GetCallerIdentity URL with them, locally, into
// the k8s-aws-v1. token that kplane's webhook verifies and maps (aws-auth
// mapRoles or an EC2_LINUX access entry). No network call is made by the node.
package nodecreds

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kplane/kplane/internal/fileutil"
)

// File is what the credentials file of a node holds.
type File struct {
	AccessKeyID     string    `json:"accessKeyId"`
	SecretAccessKey string    `json:"secretAccessKey"`
	SessionToken    string    `json:"sessionToken"`
	Expiration      time.Time `json:"expiration"`
}

// Path is the node directory's credentials file.
func Path(dir string) string { return filepath.Join(dir, "pki", "node-role.json") }

// TokenPath is the node directory's token file: kplane's node executor
// signs the token there for the kubelet (node.NodeRoleToken).
func TokenPath(dir string) string { return filepath.Join(dir, "pki", "node-role.token") }

// Write writes f to path, mode 0600, atomically.
func Write(path string, f File) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return fileutil.WriteFileIfChanged(path, append(b, '\n'), 0o600)
}

// Read reads the credentials file at path.
func Read(path string) (File, error) {
	var f File
	b, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	if f.AccessKeyID == "" || f.SecretAccessKey == "" {
		return f, fmt.Errorf("%s: no credentials", path)
	}
	return f, nil
}

// tokenLifetime is how long STS accepts a presigned GetCallerIdentity
// (aws-iam-authenticator's 15 minutes); the plugin says it expires a
// minute before, so client-go asks again in time.
const (
	tokenLifetime = 15 * time.Minute
	tokenMargin   = time.Minute
)

// Token presigns sts:GetCallerIdentity in region with f for cluster (the
// x-k8s-aws-id header, as `aws eks get-token --cluster-name` does) and
// returns the token and when the kubelet should ask for a new one.
func Token(ctx context.Context, f File, cluster, region string, now time.Time) (string, time.Time, error) {
	if cluster == "" || region == "" {
		return "", time.Time{}, errors.New("cluster and region are required")
	}
	if !f.Expiration.IsZero() && !now.Before(f.Expiration) {
		return "", time.Time{}, fmt.Errorf("the node role's credentials expired at %s", f.Expiration.Format(time.RFC3339))
	}
	u := "https://sts." + region + ".amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=60"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("x-k8s-aws-id", cluster)
	creds := aws.Credentials{AccessKeyID: f.AccessKeyID, SecretAccessKey: f.SecretAccessKey, SessionToken: f.SessionToken}
	// The hash of an empty body: a GET has none.
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	signed, _, err := v4.NewSigner().PresignHTTP(ctx, creds, req, emptySHA256, "sts", region, now.UTC())
	if err != nil {
		return "", time.Time{}, err
	}
	expires := now.Add(tokenLifetime - tokenMargin)
	if !f.Expiration.IsZero() && f.Expiration.Before(expires) {
		expires = f.Expiration
	}
	return "k8s-aws-v1." + base64.RawURLEncoding.EncodeToString([]byte(signed)), expires, nil
}

// ExecCredential is the ExecCredential a credential plugin prints, in the
// apiVersion client-go asked for in execInfo (KUBERNETES_EXEC_INFO; v1beta1,
// as `aws eks get-token` prints, when it says nothing).
func ExecCredential(token string, expires time.Time, execInfo string) ([]byte, error) {
	var info struct {
		APIVersion string `json:"apiVersion"`
	}
	_ = json.Unmarshal([]byte(execInfo), &info)
	if info.APIVersion == "" {
		info.APIVersion = "client.authentication.k8s.io/v1beta1"
	}
	return json.Marshal(map[string]any{
		"kind":       "ExecCredential",
		"apiVersion": info.APIVersion,
		"spec":       map[string]any{},
		"status": map[string]any{
			"expirationTimestamp": expires.UTC().Format(time.RFC3339),
			"token":               token,
		},
	})
}
