package node

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// With NodeRoleToken the kubelet reads its token from a file: its
// kubeconfig names the file and starts no credential program.
func TestNodeRoleTokenFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("CA"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := &NodeRoleToken{TokenFile: filepath.Join(dir, "pki", "node-role.token")}
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
}
