//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// update is the part of describe-update the tests look at.
type update struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Type   string `json:"type"`
	Params []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"params"`
	Errors []struct {
		ErrorCode    string `json:"errorCode"`
		ErrorMessage string `json:"errorMessage"`
	} `json:"errors"`
}

// updateVersion calls update-cluster-version and returns the update's id.
func (k *kplane) updateVersion(name, version string) string {
	k.t.Helper()
	var resp struct{ Update update }
	if err := json.Unmarshal([]byte(k.mustAWS("eks", "update-cluster-version", "--name", name, "--kubernetes-version", version)), &resp); err != nil {
		k.t.Fatal(err)
	}
	if resp.Update.Status != "InProgress" || resp.Update.Type != "VersionUpdate" {
		k.t.Fatalf("update-cluster-version: %+v", resp.Update)
	}
	return resp.Update.ID
}

// waitUpdate polls describe-update until the update ends and returns it;
// meanwhile the cluster must be UPDATING.
func (k *kplane) waitUpdate(name, id string, timeout time.Duration) (update, time.Duration) {
	k.t.Helper()
	start := time.Now()
	for {
		// The cluster first: the update ends in the same write that makes
		// it ACTIVE, so an update still InProgress after must find it UPDATING.
		c := k.mustDescribe(name)
		var resp struct{ Update update }
		if err := json.Unmarshal([]byte(k.mustAWS("eks", "describe-update", "--name", name, "--update-id", id)), &resp); err != nil {
			k.t.Fatal(err)
		}
		if resp.Update.Status != "InProgress" {
			return resp.Update, time.Since(start)
		}
		if c.Status != "UPDATING" {
			k.t.Errorf("cluster %s while its update is InProgress, want UPDATING", c.Status)
		}
		if time.Since(start) > timeout {
			k.t.Fatalf("update %s still InProgress after %v", id, timeout)
		}
		time.Sleep(pollStep)
	}
}

// hammer keeps calling the cluster's endpoint from 4 clients until stop is
// called, which returns how many calls were made and the failures.
func hammer(t *testing.T, kc string) (stop func() (calls int64, failures []string)) {
	var n atomic.Int64
	var mu sync.Mutex
	var failures []string
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		cs := clientset(t, kc)
		wg.Go(func() {
			ctx := context.Background()
			for {
				select {
				case <-quit:
					return
				default:
				}
				i := n.Add(1)
				var err error
				if i%2 == 0 {
					_, err = cs.CoreV1().ConfigMaps("default").Get(ctx, "probe", metav1.GetOptions{})
				} else {
					_, err = cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{Limit: 5})
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s call %d: %v", time.Now().Format("15:04:05.000"), i, err))
					mu.Unlock()
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	return func() (int64, []string) {
		close(quit)
		wg.Wait()
		return n.Load(), failures
	}
}

// replicaPrograms names the program each replica runs.
func (k *kplane) replicaPrograms(id string) []string {
	var out []string
	for _, pid := range k.replicaPIDs(id) {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		out = append(out, filepath.Base(exe))
	}
	return out
}

// TestUpgradeClusterVersion upgrades a two-replica cluster from 1.36 to 1.37
// while four clients keep calling its endpoint: none of their calls fails,
// the update is InProgress (cluster UPDATING) until both replicas run 1.37,
// then Successful (ACTIVE) with the Version and PlatformVersion params;
// `kubectl version` shows 1.37 and the objects made before are there.
func TestUpgradeClusterVersion(t *testing.T) {
	k := startKplane(t) // two replicas
	const name = "upgrade"
	k.mustAWS("eks", "create-cluster", "--name", name, "--role-arn", roleArn, "--kubernetes-version", olderMinor,
		"--resources-vpc-config", "subnetIds="+k.subnetIDs())
	c, took := k.waitActive(name, 4*time.Minute)
	t.Logf("%s cluster ACTIVE in %v", olderMinor, took.Round(time.Millisecond))
	kc := k.kubeconfig(name)
	k.mustKubectl(kc, "create", "configmap", "probe", "--from-literal=k=v")
	k.mustKubectl(kc, "create", "namespace", "kept")
	eventually(t, 2*time.Minute, 200*time.Millisecond, "both replicas on "+olderMinor, func() error {
		if got := k.replicaPrograms(c.ID); strings.Join(got, ",") != "kplane-k8s-1.36,kplane-k8s-1.36" {
			return fmt.Errorf("replicas run %v", got)
		}
		return nil
	})

	// Refusals first: a skip and a downgrade.
	if out, err := k.awsCLI("eks", "update-cluster-version", "--name", name, "--kubernetes-version", "1.38"); err == nil || !strings.Contains(out+err.Error(), "InvalidParameterException") {
		t.Errorf("update to 1.38 from %s: %v %s", olderMinor, err, out)
	}
	if out, err := k.awsCLI("eks", "update-cluster-version", "--name", name, "--kubernetes-version", "1.35"); err == nil || !strings.Contains(out+err.Error(), "InvalidParameterException") {
		t.Errorf("update to 1.35 from %s: %v %s", olderMinor, err, out)
	}

	stop := hammer(t, kc)
	time.Sleep(time.Second)
	id := k.updateVersion(name, "1.37")
	u, took := k.waitUpdate(name, id, 6*time.Minute)
	time.Sleep(time.Second)
	calls, failures := stop()
	t.Logf("update %s after %v; %d calls through the endpoint meanwhile, %d failed", u.Status, took.Round(time.Millisecond), calls, len(failures))
	if u.Status != "Successful" || len(u.Errors) != 0 {
		t.Fatalf("update %+v, want Successful", u)
	}
	params := map[string]string{}
	for _, p := range u.Params {
		params[p.Type] = p.Value
	}
	if params["Version"] != "1.37" || params["PlatformVersion"] != "eks.1" {
		t.Errorf("update params %v", params)
	}
	if len(failures) > 0 {
		t.Errorf("calls failed during the upgrade:\n%s", strings.Join(failures, "\n"))
	}
	if calls < 100 {
		t.Errorf("only %d calls during the upgrade", calls)
	}
	if v, p := k.versionOf(name); v != "1.37" || p != "eks.1" {
		t.Errorf("after the update: version %s platform %s, want 1.37 eks.1", v, p)
	}
	if d := k.mustDescribe(name); d.Status != "ACTIVE" {
		t.Errorf("cluster %s after the update", d.Status)
	}
	if got := k.replicaPrograms(c.ID); strings.Join(got, ",") != "kplane,kplane" {
		t.Errorf("replicas run %v after the update, want kplane's own 1.37", got)
	}
	if got := k.serverGitVersion(kc); !strings.HasPrefix(got, "v1.37.") {
		t.Errorf("kubectl version: server %s after the update", got)
	}
	k.mustKubectl(kc, "get", "namespace", "kept")
	k.mustKubectl(kc, "get", "configmap", "probe")
	// The same version again is refused now.
	if out, err := k.awsCLI("eks", "update-cluster-version", "--name", name, "--kubernetes-version", "1.37"); err == nil || !strings.Contains(out+err.Error(), "InvalidParameterException") {
		t.Errorf("update to 1.37 on 1.37: %v %s", err, out)
	}
}

// TestUpgradeFailsAndRollsBack: the new minor's control plane cannot start
// (a fault injected into the 1.37 program's start), so the update ends
// Failed with its errors after the update timeout, and the cluster is ACTIVE
// on 1.36 again, serving, on both replicas.
func TestUpgradeFailsAndRollsBack(t *testing.T) {
	k := startKplaneEnv(t, []string{"KPLANE_TEST_FAIL_CONTROL_PLANE_MINOR=1.37"}, "--update-timeout", "45s")
	const name = "rollback"
	k.mustAWS("eks", "create-cluster", "--name", name, "--role-arn", roleArn, "--kubernetes-version", olderMinor,
		"--resources-vpc-config", "subnetIds="+k.subnetIDs())
	c, _ := k.waitActive(name, 4*time.Minute)
	kc := k.kubeconfig(name)
	k.mustKubectl(kc, "create", "configmap", "probe", "--from-literal=k=v")
	eventually(t, 2*time.Minute, 200*time.Millisecond, "both replicas up", func() error {
		if got := k.replicaPrograms(c.ID); strings.Join(got, ",") != "kplane-k8s-1.36,kplane-k8s-1.36" {
			return fmt.Errorf("replicas run %v", got)
		}
		return nil
	})
	stop := hammer(t, kc)
	id := k.updateVersion(name, "1.37")
	u, took := k.waitUpdate(name, id, 4*time.Minute)
	calls, failures := stop()
	t.Logf("update %s after %v: %+v; %d calls meanwhile, %d failed", u.Status, took.Round(time.Millisecond), u.Errors, calls, len(failures))
	if u.Status != "Failed" || len(u.Errors) == 0 || !strings.Contains(u.Errors[0].ErrorMessage, "fault injected") {
		t.Fatalf("update %+v, want Failed naming the replica's start failure", u)
	}
	if len(failures) > 0 {
		t.Errorf("calls failed during the failed upgrade:\n%s", strings.Join(failures, "\n"))
	}
	if v, _ := k.versionOf(name); v != olderMinor {
		t.Errorf("version %s after the failed update, want %s", v, olderMinor)
	}
	if d := k.mustDescribe(name); d.Status != "ACTIVE" {
		t.Errorf("cluster %s after the failed update", d.Status)
	}
	if got := k.serverGitVersion(kc); !strings.HasPrefix(got, olderPatch) {
		t.Errorf("kubectl version: server %s after the failed update", got)
	}
	// The replica the change reached restarts on 1.36 (the other never left it).
	eventually(t, 2*time.Minute, 200*time.Millisecond, "both replicas back on "+olderMinor, func() error {
		if got := k.replicaPrograms(c.ID); strings.Join(got, ",") != "kplane-k8s-1.36,kplane-k8s-1.36" {
			return fmt.Errorf("replicas run %v", got)
		}
		return k.replicaReady(c.ID, k.replicaZones(c.ID)[0])
	})
	k.mustKubectl(kc, "get", "configmap", "probe")
}
