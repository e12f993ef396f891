package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kplane/kplane/internal/nodecreds"
)

// With NodeRoleToken the kubelet reads the token the agent signed from a
// file: its kubeconfig names the file and starts no credential program.
func TestNodeRoleTokenFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("CA"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := &NodeRoleToken{CredentialsFile: nodecreds.Path(dir), TokenFile: nodecreds.TokenPath(dir), Cluster: "demo", Region: "us-west-2"}
	spec := validSpec(dir)
	spec.ClientCertFile, spec.ClientKeyFile, spec.NodeRoleToken = "", "", tok
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := kubeconfig(spec, false)
	if err != nil {
		t.Fatal(err)
	}
	var kc struct {
		Users []struct {
			User map[string]any
		}
	}
	if err := yaml.Unmarshal(b, &kc); err != nil {
		t.Fatal(err)
	}
	if u := kc.Users[0].User; len(u) != 1 || u["tokenFile"] != tok.TokenFile {
		t.Fatalf("kubelet user %v, want only tokenFile %s", u, tok.TokenFile)
	}

	// No credentials yet: the agent cannot start the kubelet.
	if err := writeNodeRoleToken(context.Background(), tok); err == nil {
		t.Fatal("a token without credentials")
	}
	if err := nodecreds.Write(tok.CredentialsFile, nodecreds.File{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret",
		SessionToken: "session", Expiration: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := writeNodeRoleToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(tok.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := nodecreds.Token(context.Background(), nodecreds.File{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret", SessionToken: "session"}, "demo", "us-west-2", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The signature holds the time; the rest is the token `kplane node token` prints.
	if !strings.HasPrefix(string(got), "k8s-aws-v1.") || len(got) != len(want) {
		t.Errorf("token %q, want one like %q", got, want)
	}
	if fi, err := os.Stat(tok.TokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode: %v %v", fi.Mode(), err)
	}
}
