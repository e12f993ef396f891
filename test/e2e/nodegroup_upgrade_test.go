//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestNodegroupVersionUpgrade: a cluster and its nodegroup created at the
// older minor run 1.36 kubelets; the cluster goes to 1.37 with the nodes
// left on 1.36 (within the skew policy); UpdateNodegroupVersion then
// replaces the nodes one at a time, a new 1.37 node first, draining the old
// ones through the eviction API: while a PodDisruptionBudget forbids it the
// nodegroup reports PodEvictionFailure and keeps the old node; once the
// budget allows one disruption the roll ends Successful with every node on
// 1.37, the pods moved and never all down at once.
func TestNodegroupVersionUpgrade(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: nodes make namespaces, cgroups and mounts")
	}
	k := startKplaneWith(t, "--control-plane-replicas", "1")
	t.Cleanup(func() { removeNodesLeft(t, k) })
	archive := buildHTTPImage(t)
	const name = "ngup"
	_, cs := clusterWithWorkers(t, k, name, olderMinor, "minSize=1,maxSize=3,desiredSize=2")
	oldNodes := kubeletVersions(t, cs)
	if len(oldNodes) != 2 || !allPrefixed(oldNodes, olderPatch) {
		t.Fatalf("nodes of a %s nodegroup: %v, want 2 kubelets %s", olderMinor, oldNodes, olderPatch)
	}
	if out, err := k.kplaneCLI("images", "import", "--cluster", name, archive); err != nil {
		t.Fatalf("kplane images import: %v: %s", err, out)
	}
	deploySpreadWeb(t, cs, mapKeys(nodeNames(t, cs, oldNodes)))

	// Nothing to update while the nodegroup is on the cluster's version.
	if out, err := k.awsCLI("eks", "update-nodegroup-version", "--cluster-name", name, "--nodegroup-name", "workers"); err == nil || !strings.Contains(out+err.Error(), "InvalidParameterException") {
		t.Errorf("update-nodegroup-version on the cluster's version: %v %s", err, out)
	}
	u, took := k.waitUpdate(name, k.updateVersion(name, "1.37"), 6*time.Minute)
	if u.Status != "Successful" {
		t.Fatalf("cluster update %+v", u)
	}
	t.Logf("cluster on 1.37 after %v; nodes %v", took.Round(time.Second), kubeletVersions(t, cs))
	if v := nodegroupVersion(t, k, name); v.Version != olderMinor {
		t.Errorf("nodegroup version %s after the cluster's upgrade, want %s (nodes stay within the skew policy)", v.Version, olderMinor)
	}

	// A budget that allows no disruption holds the first old node.
	putPDB(t, cs, 2)
	id := nodegroupVersionUpdate(t, k, name)
	eventually(t, 4*time.Minute, time.Second, "PodEvictionFailure while the budget forbids evictions", func() error {
		if st, codes := describeNodegroup(t, k, name); st != "UPDATING" || !slices.Contains(codes, "PodEvictionFailure") {
			return fmt.Errorf("status %s, issues %v, nodes %v", st, codes, kubeletVersions(t, cs))
		}
		return nil
	})
	during := kubeletVersions(t, cs)
	for n := range oldNodes {
		if _, ok := during[n]; !ok {
			t.Errorf("old node %s removed while the budget forbids evicting its pod: %v", n, during)
		}
	}
	if len(during) != 3 || countPrefixed(during, "v1.37.") != 1 {
		t.Errorf("nodes while blocked: %v, want the 2 old ones and 1 new 1.37 node", during)
	}

	// One disruption allowed: the roll goes on; some web pod serves throughout.
	stop := watchReadyPods(t, cs, "app=web")
	putPDB(t, cs, 1)
	start := time.Now()
	for {
		upd := describeNodegroupUpdate(t, k, name, id)
		if upd.Status == "Successful" {
			break
		}
		if upd.Status != "InProgress" || time.Since(start) > 8*time.Minute {
			t.Fatalf("nodegroup update %+v after %v; nodes %v\n%s", upd, time.Since(start), kubeletVersions(t, cs), k.logTail(30))
		}
		time.Sleep(2 * time.Second)
	}
	if least := stop(); least < 1 {
		t.Errorf("web pods Ready fell to %d during the roll", least)
	}
	t.Logf("nodegroup rolled in %v after the budget allowed it", time.Since(start).Round(time.Second))
	after := kubeletVersions(t, cs)
	if len(after) != 2 || !allPrefixed(after, "v1.37.") {
		t.Errorf("nodes after the update: %v, want 2 kubelets v1.37", after)
	}
	for n := range oldNodes {
		if _, ok := after[n]; ok {
			t.Errorf("old node %s still there", n)
		}
	}
	v := nodegroupVersion(t, k, name)
	if v.Version != "1.37" || !strings.HasPrefix(v.ReleaseVersion, "1.37.") || v.Status != "ACTIVE" {
		t.Errorf("nodegroup after the update: %+v", v)
	}
	newNames := nodeNames(t, cs, after)
	eventually(t, 2*time.Minute, time.Second, "2 web pods on the new nodes", func() error {
		pods, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return err
		}
		on := map[string]bool{}
		for _, p := range pods.Items {
			if newNames[p.Spec.NodeName] && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				on[p.Spec.NodeName] = true
			}
		}
		if len(on) != 2 {
			return fmt.Errorf("running on new nodes: %v", on)
		}
		return nil
	})

	// The budget would hold the last pod through the nodegroup's delete too.
	if err := cs.RESTClient().Delete().AbsPath("/apis/policy/v1/namespaces/default/poddisruptionbudgets/web").Do(context.Background()).Error(); err != nil {
		t.Fatal(err)
	}
	k.mustAWS("eks", "delete-nodegroup", "--cluster-name", name, "--nodegroup-name", "workers")
	if _, err := k.exec(5*time.Minute, "aws", "eks", "wait", "nodegroup-deleted", "--cluster-name", name, "--nodegroup-name", "workers"); err != nil {
		t.Fatalf("wait nodegroup-deleted: %v\nkplane log:\n%s", err, k.logTail(40))
	}
	k.mustAWS("eks", "delete-cluster", "--name", name)
	k.waitGone(name)
}

// kubeletVersions maps each Node, by its providerID (aws:///ZONE/INSTANCE:
// a new instance may get the address, so the name, of one gone), to its
// kubelet's version.
func kubeletVersions(t *testing.T, cs *kubernetes.Clientset) map[string]string {
	t.Helper()
	list, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range list.Items {
		out[n.Spec.ProviderID] = n.Status.NodeInfo.KubeletVersion
	}
	return out
}

// nodeNames are the names of the nodes of providerIDs.
func nodeNames(t *testing.T, cs *kubernetes.Clientset, providerIDs map[string]string) map[string]bool {
	t.Helper()
	list, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range list.Items {
		if _, ok := providerIDs[n.Spec.ProviderID]; ok {
			out[n.Name] = true
		}
	}
	return out
}

func countPrefixed(m map[string]string, prefix string) int {
	n := 0
	for _, v := range m {
		if strings.HasPrefix(v, prefix) {
			n++
		}
	}
	return n
}

func allPrefixed(m map[string]string, prefix string) bool { return countPrefixed(m, prefix) == len(m) }

func mapKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// putPDB sets the web pods' budget to minAvailable (replacing any).
func putPDB(t *testing.T, cs *kubernetes.Clientset, minAvailable int) {
	t.Helper()
	ctx := context.Background()
	path := "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
	cs.RESTClient().Delete().AbsPath(path + "/web").Do(ctx)
	pdb := fmt.Sprintf(`{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"web"},"spec":{"minAvailable":%d,"selector":{"matchLabels":{"app":"web"}}}}`, minAvailable)
	// The disruption controller fills in the status (after an upgrade, once
	// the new controller-manager leads).
	eventually(t, 2*time.Minute, 500*time.Millisecond, "the budget in place", func() error {
		err := cs.RESTClient().Post().AbsPath(path).Body([]byte(pdb)).SetHeader("Content-Type", "application/json").Do(ctx).Error()
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		var st struct {
			Status struct{ CurrentHealthy, DesiredHealthy int }
		}
		b, err := cs.RESTClient().Get().AbsPath(path + "/web").DoRaw(ctx)
		if err != nil {
			return err
		}
		json.Unmarshal(b, &st)
		if st.Status.DesiredHealthy != minAvailable {
			return fmt.Errorf("budget status %+v", st.Status)
		}
		return nil
	})
}

// nodegroupVersionUpdate calls update-nodegroup-version and returns the update's id.
func nodegroupVersionUpdate(t *testing.T, k *kplane, cluster string) string {
	t.Helper()
	var resp struct{ Update update }
	mustUnmarshal(t, k.mustAWS("eks", "update-nodegroup-version", "--cluster-name", cluster, "--nodegroup-name", "workers"), &resp)
	params := map[string]string{}
	for _, p := range resp.Update.Params {
		params[p.Type] = p.Value
	}
	if resp.Update.Type != "VersionUpdate" || resp.Update.Status != "InProgress" || params["Version"] != "1.37" || !strings.HasPrefix(params["ReleaseVersion"], "1.37.") {
		t.Fatalf("update-nodegroup-version: %+v", resp.Update)
	}
	return resp.Update.ID
}

func describeNodegroupUpdate(t *testing.T, k *kplane, cluster, id string) update {
	t.Helper()
	var resp struct{ Update update }
	mustUnmarshal(t, k.mustAWS("eks", "describe-update", "--name", cluster, "--nodegroup-name", "workers", "--update-id", id), &resp)
	return resp.Update
}

type nodegroupVersionInfo struct{ Version, ReleaseVersion, Status string }

func nodegroupVersion(t *testing.T, k *kplane, cluster string) nodegroupVersionInfo {
	t.Helper()
	var resp struct{ Nodegroup nodegroupVersionInfo }
	mustUnmarshal(t, k.mustAWS("eks", "describe-nodegroup", "--cluster-name", cluster, "--nodegroup-name", "workers"), &resp)
	return resp.Nodegroup
}

// watchReadyPods samples, until stop, how many pods of selector are Ready;
// stop returns the least seen (a failed List counts as no change).
func watchReadyPods(t *testing.T, cs *kubernetes.Clientset, selector string) (stop func() int) {
	least := 1 << 30
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-quit:
				return
			case <-time.After(500 * time.Millisecond):
			}
			pods, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				continue
			}
			ready := 0
			for _, p := range pods.Items {
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
						ready++
					}
				}
			}
			least = min(least, ready)
		}
	})
	return func() int {
		close(quit)
		wg.Wait()
		return least
	}
}
