//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// olderMinor is the minor the e2e build puts beside kplane (k8s/v1.36,
// buildMinorPrograms) and the patch it carries.
const olderMinor, olderPatch = "1.36", "v1.36.3"

// versionOf reads a cluster's version and platform version.
func (k *kplane) versionOf(name string) (version, platform string) {
	k.t.Helper()
	var resp struct {
		Cluster struct{ Version, PlatformVersion string }
	}
	out := k.mustAWS("eks", "describe-cluster", "--name", name)
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		k.t.Fatal(err)
	}
	return resp.Cluster.Version, resp.Cluster.PlatformVersion
}

// serverGitVersion is `kubectl version`'s server gitVersion.
func (k *kplane) serverGitVersion(kc string) string {
	k.t.Helper()
	var v struct {
		ServerVersion struct{ GitVersion string } `json:"serverVersion"`
	}
	out := k.mustKubectl(kc, "version", "-o", "json")
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		k.t.Fatalf("kubectl version: %v: %s", err, out)
	}
	return v.ServerVersion.GitVersion
}

// TestClusterOnOlderMinor creates a cluster at each older minor whose
// program is beside kplane (kplane-k8s-1.NN, built from k8s/v1.NN):
// DescribeClusterVersions offers it with the release the program carries,
// the cluster gets the minor's platform version, its replicas run from that
// program, and `kubectl version` shows that release.
func TestClusterOnOlderMinor(t *testing.T) {
	progs, _ := filepath.Glob(filepath.Join(filepath.Dir(kplaneBin), "kplane-k8s-1.*"))
	if len(progs) == 0 {
		t.Fatalf("no kplane-k8s-1.NN beside %s (make build builds them from k8s/v1.NN)", kplaneBin)
	}
	k := startKplane(t)
	var versions struct {
		ClusterVersions []struct{ ClusterVersion, KubernetesPatchVersion, DefaultPlatformVersion string }
	}
	if err := json.Unmarshal([]byte(k.mustAWS("eks", "describe-cluster-versions")), &versions); err != nil {
		t.Fatal(err)
	}
	offered := map[string][2]string{}
	for _, v := range versions.ClusterVersions {
		offered[v.ClusterVersion] = [2]string{v.KubernetesPatchVersion, v.DefaultPlatformVersion}
	}
	if offered["1.37"][0] == "" {
		t.Errorf("describe-cluster-versions does not offer the built-in 1.37: %+v", versions.ClusterVersions)
	}
	for _, prog := range progs {
		minor := strings.TrimPrefix(filepath.Base(prog), "kplane-k8s-")
		out, err := exec.Command(prog, "kubernetes-release").Output()
		if err != nil {
			t.Fatalf("%s kubernetes-release: %v", prog, err)
		}
		patch := strings.TrimSpace(string(out))
		t.Run(minor, func(t *testing.T) {
			if offered[minor][0] != patch {
				t.Fatalf("describe-cluster-versions offers %s as %q, want %s (what %s carries)", minor, offered[minor][0], patch, prog)
			}
			name := "old-" + strings.ReplaceAll(minor, ".", "-")
			k.mustAWS("eks", "create-cluster", "--name", name, "--role-arn", roleArn, "--kubernetes-version", minor,
				"--resources-vpc-config", "subnetIds="+k.subnetIDs())
			c, took := k.waitActive(name, 4*time.Minute)
			t.Logf("%s cluster ACTIVE in %v", minor, took.Round(time.Millisecond))
			if v, p := k.versionOf(name); v != minor || p != offered[minor][1] {
				t.Errorf("describe-cluster: version %s platformVersion %s, want %s %s", v, p, minor, offered[minor][1])
			}
			kc := k.kubeconfig(name)
			if got := k.serverGitVersion(kc); !strings.HasPrefix(got, "v"+patch) {
				t.Errorf("kubectl version: server %q, want v%s", got, patch)
			}
			k.mustKubectl(kc, "create", "namespace", "still-here")
			for _, pid := range k.replicaPIDs(c.ID) {
				exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
				if err != nil || filepath.Base(exe) != filepath.Base(prog) {
					t.Errorf("replica pid %d runs %q (%v), want %s", pid, exe, err, filepath.Base(prog))
				}
			}
			k.mustAWS("eks", "delete-cluster", "--name", name)
			k.waitGone(name)
		})
	}
}
