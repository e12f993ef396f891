package server_test

import (
	"os"
	"strings"
	"testing"

	"github.com/kplane/kplane/internal/server"
)

// The version DescribeClusterVersions reports is the Kubernetes built in.
func TestKubernetesVersionMatchesGoMod(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := "k8s.io/kubernetes v" + server.KubernetesVersion + "\n"
	if !strings.Contains(string(mod), want) {
		t.Fatalf("go.mod does not require %q", strings.TrimSpace(want))
	}
	if !strings.HasPrefix(server.KubernetesVersion, server.Versions[0].Minor+".") {
		t.Fatalf("Versions[0] %s is not the minor of %s", server.Versions[0].Minor, server.KubernetesVersion)
	}
}
