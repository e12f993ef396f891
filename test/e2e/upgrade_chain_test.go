//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kplane/kplane/internal/node"
	"github.com/kplane/kplane/internal/versions"
)

// TestUpgradeChainOldestToNewest walks a cluster through every offered
// minor, as an EKS user upgrades: a two-replica cluster at the oldest minor
// with a one-node managed nodegroup and a Deployment under a
// PodDisruptionBudget; then, minor by minor to the newest, the cluster goes
// one minor up while four clients call its endpoint (none fails), `kubectl
// version` shows the new release and the objects are still there; EKS's
// refusals hold at each step (the same version, a lower one, a skip, and a
// next minor while the nodegroup is still behind the cluster); then
// UpdateNodegroupVersion rolls the node to the new minor with the budget
// respected (some pod Ready throughout) and the pods moved to the new node.
func TestUpgradeChainOldestToNewest(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: nodes make namespaces, cgroups and mounts")
	}
	k := startKplane(t) // two replicas
	t.Cleanup(func() { removeNodesLeft(t, k) })
	minors, patches := offeredMinors(t, k)
	if len(minors) < 4 {
		t.Fatalf("kplane offers %v, want at least four consecutive minors", minors)
	}
	for i := 1; i < len(minors); i++ {
		if !versions.IsNextMinor(minors[i-1], minors[i]) {
			t.Fatalf("offered minors %v are not consecutive", minors)
		}
	}
	const name = "chain"
	kc, cs := clusterWithWorkers(t, k, name, minors[0], "minSize=1,maxSize=2,desiredSize=1")
	checkKubelets(t, cs, patches[minors[0]])
	k.mustKubectl(kc, "create", "configmap", "probe", "--from-literal=k=v")
	k.mustKubectl(kc, "create", "namespace", "kept")
	deployPauseWeb(t, cs)
	putPDB(t, cs, 1)

	for i := 1; i < len(minors); i++ {
		from, to := minors[i-1], minors[i]
		refuseVersionUpdates(t, k, name, minors, i-1)

		stop := hammer(t, kc)
		time.Sleep(time.Second)
		u, took := k.waitUpdate(name, k.updateVersion(name, to), 6*time.Minute)
		time.Sleep(time.Second)
		calls, failures := stop()
		t.Logf("cluster %s → %s: %s after %v; %d calls through the endpoint meanwhile, %d failed", from, to, u.Status, took.Round(time.Millisecond), calls, len(failures))
		if u.Status != "Successful" {
			t.Fatalf("update to %s: %+v\n%s", to, u, k.logTail(30))
		}
		if len(failures) > 0 {
			t.Errorf("calls failed during the upgrade to %s:\n%s", to, strings.Join(failures, "\n"))
		}
		if got := k.serverGitVersion(kc); !strings.HasPrefix(got, "v"+patches[to]) {
			t.Errorf("kubectl version after the upgrade to %s: server %s, want v%s", to, got, patches[to])
		}
		k.mustKubectl(kc, "get", "namespace", "kept")
		k.mustKubectl(kc, "get", "configmap", "probe")
		k.mustKubectl(kc, "get", "deployment", "web")
		k.mustKubectl(kc, "get", "poddisruptionbudget", "web")

		// The nodegroup is now behind: no next minor for the cluster until it moves.
		if i+1 < len(minors) {
			out, err := k.awsCLI("eks", "update-cluster-version", "--name", name, "--kubernetes-version", minors[i+1])
			want := fmt.Sprintf("Nodegroups workers must be updated to match cluster version %s before updating cluster version", to)
			if err == nil || !strings.Contains(out+err.Error(), "InvalidRequestException") || !strings.Contains(out+err.Error(), want) {
				t.Errorf("update to %s with the nodegroup on %s: %v %s, want InvalidRequestException %q", minors[i+1], from, err, out, want)
			}
		}
		rollNodegroup(t, k, cs, name, to, patches[to])
	}
	if v, p := k.versionOf(name); v != minors[len(minors)-1] {
		t.Errorf("cluster at the end: %s %s, want %s", v, p, minors[len(minors)-1])
	}
}

// clusterWithWorkers creates cluster name at version in two subnets with a
// managed nodegroup "workers" of scaling ("minSize=1,maxSize=2,desiredSize=1")
// and waits until both are ACTIVE.
func clusterWithWorkers(t *testing.T, k *kplane, name, version, scaling string) (kc string, cs *kubernetes.Clientset) {
	t.Helper()
	var role struct{ Role struct{ Arn string } }
	mustUnmarshal(t, k.mustAWS("iam", "create-role", "--role-name", "eks-node-role", "--assume-role-policy-document", nodeTrustPolicy), &role)
	subnets := strings.Split(k.subnetIDs(), ",")[:2]
	k.mustAWS("eks", "create-cluster", "--name", name, "--role-arn", roleArn, "--kubernetes-version", version,
		"--resources-vpc-config", "subnetIds="+strings.Join(subnets, ","))
	k.waitActive(name, 4*time.Minute)
	kc = k.kubeconfig(name)
	k.mustAWS(append([]string{"eks", "create-nodegroup", "--cluster-name", name, "--nodegroup-name", "workers",
		"--node-role", role.Role.Arn, "--scaling-config", scaling, "--subnets"}, subnets...)...)
	if _, err := k.exec(10*time.Minute, "aws", "eks", "wait", "nodegroup-active", "--cluster-name", name, "--nodegroup-name", "workers"); err != nil {
		t.Fatalf("wait nodegroup-active: %v\nkplane log:\n%s", err, k.logTail(40))
	}
	return kc, clientset(t, kc)
}

// offeredMinors are the minors describe-cluster-versions offers, oldest
// first, with the Kubernetes release of each.
func offeredMinors(t *testing.T, k *kplane) ([]string, map[string]string) {
	t.Helper()
	var resp struct {
		ClusterVersions []struct{ ClusterVersion, KubernetesPatchVersion string }
	}
	mustUnmarshal(t, k.mustAWS("eks", "describe-cluster-versions"), &resp)
	var minors []string
	patches := map[string]string{}
	for _, v := range resp.ClusterVersions {
		minors = append(minors, v.ClusterVersion)
		patches[v.ClusterVersion] = v.KubernetesPatchVersion
	}
	slices.SortFunc(minors, versions.CompareMinor)
	return minors, patches
}

// refuseVersionUpdates checks EKS's refusals for a cluster on minors[at]
// whose nodegroup is on the same minor: the same version, a lower one and
// a skip of a minor are InvalidParameterException.
func refuseVersionUpdates(t *testing.T, k *kplane, name string, minors []string, at int) {
	t.Helper()
	tries := []string{minors[at]}
	if at > 0 {
		tries = append(tries, minors[at-1])
	}
	if at+2 < len(minors) {
		tries = append(tries, minors[at+2])
	}
	for _, v := range tries {
		if out, err := k.awsCLI("eks", "update-cluster-version", "--name", name, "--kubernetes-version", v); err == nil || !strings.Contains(out+err.Error(), "InvalidParameterException") {
			t.Errorf("update to %s from %s: %v %s, want InvalidParameterException", v, minors[at], err, out)
		}
	}
	if d := k.mustDescribe(name); d.Status != "ACTIVE" {
		t.Errorf("cluster %s after refused updates", d.Status)
	}
}

// rollNodegroup moves the nodegroup to the cluster's minor to: a new node
// first, the old one drained while the budget keeps a web pod Ready, then
// the node runs release patch and the web pods run on it.
func rollNodegroup(t *testing.T, k *kplane, cs *kubernetes.Clientset, cluster, to, patch string) {
	t.Helper()
	old := kubeletVersions(t, cs)
	var resp struct{ Update update }
	mustUnmarshal(t, k.mustAWS("eks", "update-nodegroup-version", "--cluster-name", cluster, "--nodegroup-name", "workers"), &resp)
	if resp.Update.Status != "InProgress" || resp.Update.Type != "VersionUpdate" {
		t.Fatalf("update-nodegroup-version to %s: %+v", to, resp.Update)
	}
	stop := watchReadyPods(t, cs, "app=web")
	start := time.Now()
	for {
		u := describeNodegroupUpdate(t, k, cluster, resp.Update.ID)
		if u.Status == "Successful" {
			break
		}
		if u.Status != "InProgress" || time.Since(start) > 6*time.Minute {
			t.Fatalf("nodegroup update to %s: %+v after %v; nodes %v\n%s", to, u, time.Since(start), kubeletVersions(t, cs), k.logTail(30))
		}
		time.Sleep(time.Second)
	}
	least := stop()
	t.Logf("nodegroup → %s in %v; web pods Ready never below %d", to, time.Since(start).Round(time.Millisecond), least)
	if least < 1 {
		t.Errorf("web pods Ready fell to %d during the roll to %s (the budget keeps 1)", least, to)
	}
	if v := nodegroupVersion(t, k, cluster); v.Version != to || v.Status != "ACTIVE" {
		t.Errorf("nodegroup after the update: %+v, want %s ACTIVE", v, to)
	}
	now := checkKubelets(t, cs, patch)
	for id := range old {
		if _, ok := now[id]; ok {
			t.Errorf("old node %s still there after the roll to %s", id, to)
		}
	}
	newNode := nodeNames(t, cs, now)
	eventually(t, 2*time.Minute, time.Second, "2 web pods Ready on the new node", func() error {
		pods, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return err
		}
		n := 0
		for _, p := range pods.Items {
			if newNode[p.Spec.NodeName] && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				n++
			}
		}
		if n != 2 {
			return fmt.Errorf("%d of %d pods running on %v", n, len(pods.Items), newNode)
		}
		return nil
	})
}

// checkKubelets: the nodegroup's one node runs the kubelet of release patch.
func checkKubelets(t *testing.T, cs *kubernetes.Clientset, patch string) map[string]string {
	t.Helper()
	var nodes map[string]string
	eventually(t, time.Minute, time.Second, "one node of v"+patch, func() error {
		nodes = kubeletVersions(t, cs)
		if len(nodes) != 1 || !allPrefixed(nodes, "v"+patch) {
			return fmt.Errorf("nodes %v", nodes)
		}
		return nil
	})
	return nodes
}

// deployPauseWeb runs a Deployment "web" of two pods of the sandbox image
// (on every node: no registry needed) and waits until both are Ready.
func deployPauseWeb(t *testing.T, cs *kubernetes.Clientset) {
	t.Helper()
	labels := map[string]string{"app": "web"}
	two := int32(2)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &two,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "pause", Image: node.SandboxImage, ImagePullPolicy: corev1.PullNever,
				}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(context.Background(), dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, time.Second, "2 web pods Ready", func() error {
		d, err := cs.AppsV1().Deployments("default").Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.ReadyReplicas != 2 {
			b, _ := json.Marshal(d.Status)
			return fmt.Errorf("deployment status %s", b)
		}
		return nil
	})
}
