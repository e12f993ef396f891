package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kplane/kplane/internal/components"
	"github.com/kplane/kplane/internal/versions"
)

// output runs the kplane command line and returns what it printed.
func output(t *testing.T, args ...string) string {
	t.Helper()
	cmd := NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("kplane %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// `kplane version` and --version, on any command, print kplane's version and
// the Kubernetes versions it carries, and do nothing else.
func TestVersion(t *testing.T) {
	want := []string{"kplane ", "Kubernetes components built in: " + components.KubernetesVersion()}
	// The test binary has no kplane-k8s-1.NN beside it: the built-in minor
	// is offered and each other minor of the calendar is said to be missing.
	builtIn, _ := versions.Embedded().Find(versions.BuiltInMinor())
	want = append(want, builtIn.Version+" ("+versions.BuiltIn+", platform version "+builtIn.DefaultPlatformVersion)
	for _, m := range versions.Embedded().Versions {
		if m.Version != builtIn.Version {
			want = append(want, "not offered: the Kubernetes "+m.Version+" components are missing")
		}
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{{"version"}, {"--version"}, {"serve", "--version", "--data-dir", dataDir}, {"network", "--version"}} {
		got := output(t, args...)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("kplane %s: no %q in\n%s", strings.Join(args, " "), w, got)
			}
		}
		if strings.Contains(got, "Usage:") {
			t.Errorf("kplane %s printed the help:\n%s", strings.Join(args, " "), got)
		}
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("kplane serve --version touched its data directory: %v", err)
	}
}

// `kplane serve --help` names every service kplane speaks.
func TestServeHelpNamesServices(t *testing.T) {
	got := output(t, "serve", "--help")
	for _, service := range []string{"Amazon EKS", "Amazon EC2", "AWS IAM", "AWS STS", "AWS KMS", "Amazon CloudWatch Logs"} {
		if !strings.Contains(got, service) {
			t.Errorf("serve --help does not name %s:\n%s", service, got)
		}
	}
}
