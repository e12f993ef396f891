package localnodes

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/nodecreds"
	"github.com/kplane/kplane/internal/nodegroup"
)

// The node's token file holds the node role's IAM token (what `kplane node
// token` prints), mode 0600, signed again only when it gets old or the
// credentials change.
func TestEnsureTokenSignsAndRenews(t *testing.T) {
	dir := t.TempDir()
	spec := nodegroup.NodeSpec{ClusterName: "demo", Region: "us-west-2"}
	f := nodecreds.File{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret", SessionToken: "session", Expiration: time.Now().Add(time.Hour)}
	if err := ensureToken(context.Background(), spec, dir, f, false); err != nil {
		t.Fatal(err)
	}
	path := nodecreds.TokenPath(dir)
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := nodecreds.Token(context.Background(), f, "demo", "us-west-2", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The signature holds the time; the rest is the token `kplane node token` prints.
	if !strings.HasPrefix(string(first), "k8s-aws-v1.") || len(first) != len(want) {
		t.Errorf("token %q, want one like %q", first, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v", err)
	}

	// Fresh: left alone, even with other credentials in hand.
	other := f
	other.AccessKeyID = "ASIAOTHER"
	if err := ensureToken(context.Background(), spec, dir, other, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != string(first) {
		t.Error("a fresh token was signed again")
	}
	// New credentials, or a token past tokenRenewal: signed again.
	if err := ensureToken(context.Background(), spec, dir, other, true); err != nil {
		t.Fatal(err)
	}
	renewed, _ := os.ReadFile(path)
	if string(renewed) == string(first) {
		t.Error("new credentials, same token")
	}
	old := time.Now().Add(-tokenRenewal - time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if err := ensureToken(context.Background(), spec, dir, f, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) == string(renewed) {
		t.Error("an old token was not signed again")
	}
}
