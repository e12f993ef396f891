//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
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

// TestClusterOnOlderMinor creates a cluster at 1.36: DescribeClusterVersions
// offers it, the replicas run from kplane-k8s-1.36, and `kubectl version`
// shows v1.36.
func TestClusterOnOlderMinor(t *testing.T) {
	k := startKplane(t)
	var versions struct {
		ClusterVersions []struct{ ClusterVersion, KubernetesPatchVersion, VersionStatus string }
	}
	if err := json.Unmarshal([]byte(k.mustAWS("eks", "describe-cluster-versions")), &versions); err != nil {
		t.Fatal(err)
	}
	offered := map[string]string{}
	for _, v := range versions.ClusterVersions {
		offered[v.ClusterVersion] = v.KubernetesPatchVersion
	}
	if offered[olderMinor] != strings.TrimPrefix(olderPatch, "v") || offered["1.37"] == "" {
		t.Fatalf("describe-cluster-versions does not offer %s (%s) and 1.37: %+v", olderMinor, olderPatch, versions.ClusterVersions)
	}

	const name = "old"
	k.mustAWS("eks", "create-cluster", "--name", name, "--role-arn", roleArn, "--kubernetes-version", olderMinor,
		"--resources-vpc-config", "subnetIds="+k.subnetIDs())
	c, took := k.waitActive(name, 4*time.Minute)
	t.Logf("%s cluster ACTIVE in %v", olderMinor, took.Round(time.Millisecond))
	if v, p := k.versionOf(name); v != olderMinor || p != "eks.4" {
		t.Errorf("describe-cluster: version %s platformVersion %s, want %s eks.4", v, p, olderMinor)
	}
	kc := k.kubeconfig(name)
	if got := k.serverGitVersion(kc); !strings.HasPrefix(got, olderPatch) {
		t.Errorf("kubectl version: server %q, want %s", got, olderPatch)
	}
	k.mustKubectl(kc, "create", "namespace", "still-here")
	// Every replica runs the 1.36 program.
	for _, pid := range k.replicaPIDs(c.ID) {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || filepath.Base(exe) != "kplane-k8s-"+olderMinor {
			t.Errorf("replica pid %d runs %q (%v), want kplane-k8s-%s", pid, exe, err, olderMinor)
		}
	}
}
