//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kplane/kplane/internal/localnodes"
	"github.com/kplane/kplane/internal/node"
	"github.com/kplane/kplane/internal/nodenet"
)

// nodeTrustPolicy lets EC2 instances take the node role, as EKS's node role does.
const nodeTrustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// TestNodegroupNodes: managed nodegroups run real nodes under `kplane
// serve`, in both authentication modes, with the aws CLI and kubectl: a
// nodegroup of 2 nodes in 2 zones becomes ACTIVE with 2 Ready nodes
// carrying EKS's labels; an image imported with `kplane images import
// --cluster` runs in a Deployment spread over both nodes behind a Service,
// whose ClusterIP reaches both pods from a pod; kubectl logs, exec and
// port-forward work; deleting the nodegroup leaves nothing on the host.
func TestNodegroupNodes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: nodes make namespaces, cgroups and mounts")
	}
	before := readHostState(t)
	k := startKplaneWith(t, "--control-plane-replicas", "1", "--node-join-timeout", "30s")
	t.Cleanup(func() { removeNodesLeft(t, k) })
	archive := buildHTTPImage(t)
	var role struct{ Role struct{ Arn string } }
	mustUnmarshal(t, k.mustAWS("iam", "create-role", "--role-name", "eks-node-role", "--assume-role-policy-document", nodeTrustPolicy), &role)
	for _, mode := range []string{"CONFIG_MAP", "API"} {
		t.Run(mode, func(t *testing.T) { runNodegroupNodes(t, k, mode, role.Role.Arn, archive) })
	}
	if t.Failed() {
		return
	}
	after := readHostState(t)
	checkHostSysctlsAndFirewall(t, before, after)
	for _, m := range after.Mounts {
		if strings.Contains(m, k.work) || strings.Contains(m, nodenetHash(k)) {
			t.Errorf("mount %s left behind", m)
		}
	}
	for _, i := range after.Interfaces {
		if !slices.Contains(before.Interfaces, i) && (i == "cni0" || strings.HasPrefix(i, "veth") || strings.HasPrefix(i, "n") && len(i) == 13) {
			t.Errorf("interface %s appeared on the host", i)
		}
	}
}

// nodenetHash is the /run/kplane/HASH part of k's node network directory.
func nodenetHash(k *kplane) string {
	return filepath.Base(filepath.Dir(nodenetDir(k)))
}

func runNodegroupNodes(t *testing.T, k *kplane, mode, nodeRole, archive string) {
	name := "ng-" + strings.ToLower(strings.ReplaceAll(mode, "_", "-"))
	subnets := strings.Split(k.subnetIDs(), ",")[:2]
	k.mustAWS("eks", "create-cluster", "--name", name, "--role-arn", roleArn,
		"--resources-vpc-config", "subnetIds="+strings.Join(subnets, ","),
		"--access-config", "authenticationMode="+mode)
	c, took := k.waitActive(name, 3*time.Minute)
	t.Logf("cluster %s ACTIVE after %v", name, took.Round(time.Millisecond))
	kc := k.kubeconfig(name)
	cs := clientset(t, kc)

	start := time.Now()
	k.mustAWS(append([]string{"eks", "create-nodegroup", "--cluster-name", name, "--nodegroup-name", "workers",
		"--node-role", nodeRole, "--scaling-config", "minSize=1,maxSize=3,desiredSize=2",
		"--labels", "team=web", "--subnets"}, subnets...)...)
	if _, err := k.exec(10*time.Minute, "aws", "eks", "wait", "nodegroup-active", "--cluster-name", name, "--nodegroup-name", "workers"); err != nil {
		t.Fatalf("wait nodegroup-active: %v\n%s\nkplane log:\n%s", err, k.mustAWS("eks", "describe-nodegroup", "--cluster-name", name, "--nodegroup-name", "workers"), k.logTail(40))
	}
	t.Logf("nodegroup ACTIVE %v after create-nodegroup (the waiter polls every 30 s)", time.Since(start).Round(time.Second))

	// 2 Ready nodes, one per zone, with EKS's labels and fields.
	var insts struct {
		Reservations []struct {
			Instances []struct {
				InstanceID       string `json:"InstanceId"`
				PrivateDNSName   string `json:"PrivateDnsName"`
				PrivateIPAddress string `json:"PrivateIpAddress"`
				Placement        struct{ AvailabilityZone string }
			}
		}
	}
	mustUnmarshal(t, k.mustAWS("ec2", "describe-instances", "--filters", "Name=tag:eks:cluster-name,Values="+name, "Name=instance-state-name,Values=running"), &insts)
	if len(insts.Reservations) != 2 {
		t.Fatalf("running instances: %+v", insts)
	}
	zones := map[string]bool{}
	var nodeNames []string
	for _, r := range insts.Reservations {
		inst := r.Instances[0]
		n := waitNodeReady(t, cs, inst.PrivateDNSName, time.Minute)
		zone := inst.Placement.AvailabilityZone
		zones[zone] = true
		nodeNames = append(nodeNames, n.Name)
		want := map[string]string{
			"eks.amazonaws.com/nodegroup": "workers", "eks.amazonaws.com/capacityType": "ON_DEMAND",
			"topology.kubernetes.io/region": region, "topology.kubernetes.io/zone": zone,
			"node.kubernetes.io/instance-type": "t3.medium", "team": "web",
		}
		for key, v := range want {
			if n.Labels[key] != v {
				t.Errorf("node %s: label %s=%q, want %q", n.Name, key, n.Labels[key], v)
			}
		}
		if n.Labels["eks.amazonaws.com/nodegroup-image"] == "" {
			t.Errorf("node %s has no eks.amazonaws.com/nodegroup-image label", n.Name)
		}
		if want := "aws:///" + zone + "/" + inst.InstanceID; n.Spec.ProviderID != want {
			t.Errorf("node %s: providerID %q, want %q", n.Name, n.Spec.ProviderID, want)
		}
	}
	if len(zones) != 2 {
		t.Errorf("nodes in zones %v, want 2 zones", zones)
	}
	nodesDir := localnodes.NodesDir(k.dataDir)

	// A locally built image, imported into every node of the cluster.
	if out, err := k.kplaneCLI("images", "import", "--cluster", name, archive); err != nil {
		t.Fatalf("kplane images import --cluster: %v: %s", err, out)
	}
	pods := deploySpreadWeb(t, cs, nodeNames)

	// From the pod on one node, the Service's ClusterIP reaches both pods.
	svc, err := cs.CoreV1().Services("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	eventually(t, time.Minute, time.Second, "both pods answer on the ClusterIP", func() error {
		out, err := k.kubectl(kc, "exec", pods[0].Name, "--", "/prog", "-get", "http://"+svc.Spec.ClusterIP+"/", "20")
		if err != nil {
			return err
		}
		for _, p := range pods {
			if strings.Contains(out, "hello from "+p.Name) {
				seen[p.Name] = true
			}
		}
		if len(seen) != len(pods) {
			return fmt.Errorf("answers from %v only: %q", seen, out)
		}
		return nil
	})

	// kubectl logs and port-forward (exec worked above).
	if out := k.mustKubectl(kc, "logs", pods[1].Name); !strings.Contains(out, "serving on :8080 as "+pods[1].Name) {
		t.Errorf("kubectl logs %s: %q", pods[1].Name, out)
	}
	checkPortForward(t, k, kc, pods[1].Name)
	checkJoinedThroughIAM(t, localnodesDirs(t, localnodes.NodesDir(k.dataDir)))

	if mode == "API" {
		scaleWithoutNodeRoleMapping(t, k, cs, name,
			func() { k.mustAWS("eks", "delete-access-entry", "--cluster-name", name, "--principal-arn", nodeRole) },
			func() {
				k.mustAWS("eks", "create-access-entry", "--cluster-name", name, "--principal-arn", nodeRole, "--type", "EC2_LINUX")
			})
		scaleDownThroughPDB(t, k, cs, name)
	} else {
		checkSecurityGroupsReachPods(t, k, kc, name, pods)
		checkOOMKilled(t, cs, "", corev1.PullIfNotPresent) // a nodegroup node
		if err := cs.CoreV1().Pods("default").Delete(context.Background(), "hog", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		restartsNodesAndKplane(t, k, cs, name)
		// After the restart too, kplane does not map the role again.
		var saved string
		scaleWithoutNodeRoleMapping(t, k, cs, name,
			func() { saved = unmapNodeRole(t, cs, nodeRole) },
			func() { setMapRoles(t, cs, saved) })
	}

	// Delete: drained, stopped, and nothing of the nodes is left.
	var roots []string
	for _, d := range localnodesDirs(t, nodesDir) {
		var st struct{ Root string }
		if b, err := os.ReadFile(filepath.Join(d, "cgroups.json")); err == nil && json.Unmarshal(b, &st) == nil {
			roots = append(roots, st.Root)
		}
	}
	k.mustAWS("eks", "delete-nodegroup", "--cluster-name", name, "--nodegroup-name", "workers")
	if _, err := k.exec(5*time.Minute, "aws", "eks", "wait", "nodegroup-deleted", "--cluster-name", name, "--nodegroup-name", "workers"); err != nil {
		t.Fatalf("wait nodegroup-deleted: %v\nkplane log:\n%s", err, k.logTail(40))
	}
	if left := localnodesDirs(t, nodesDir); len(left) > 0 {
		t.Errorf("node directories left: %v", left)
	}
	if procs := processesMatching(nodesDir); len(procs) > 0 {
		t.Errorf("node processes left: %v", procs)
	}
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hier {
		for _, r := range roots {
			if _, err := os.Stat(filepath.Join(h, r)); err == nil {
				t.Errorf("cgroup %s left behind", filepath.Join(h, r))
			}
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(nodenetDir(k), "node")); len(entries) > 0 {
		t.Errorf("node network namespaces left: %v", entries)
	}
	list, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 0 {
		t.Errorf("Node objects after delete: %v %d", err, len(list.Items))
	}
	if mode == "CONFIG_MAP" {
		// EKS removes the entry it added with the nodegroup.
		if cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(context.Background(), "aws-auth", metav1.GetOptions{}); err != nil || strings.Contains(cm.Data["mapRoles"], nodeRole) {
			t.Errorf("aws-auth after the nodegroup's delete: %v %q", err, cm.Data["mapRoles"])
		}
	}
	k.mustAWS("eks", "delete-cluster", "--name", name)
	k.waitGone(name)
	_ = c
}

func nodenetDir(k *kplane) string { return nodenet.DirFor(k.dataDir) }

func localnodesDirs(t *testing.T, nodesDir string) []string {
	entries, _ := os.ReadDir(nodesDir)
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "i-") {
			out = append(out, filepath.Join(nodesDir, e.Name()))
		}
	}
	return out
}

// deploySpreadWeb runs Deployment web (2 replicas of the imported image,
// one per node) and Service web, and returns the running pods.
func deploySpreadWeb(t *testing.T, cs *kubernetes.Clientset, nodeNames []string) []corev1.Pod {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app": "web"}
	two := int32(2)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &two,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchLabels: labels}, TopologyKey: "kubernetes.io/hostname",
						}},
					}},
					Containers: []corev1.Container{{
						Name: "web", Image: httpdImage, ImagePullPolicy: corev1.PullIfNotPresent,
						Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
					}},
				},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	eventually(t, 3*time.Minute, time.Second, "2 web pods running on 2 nodes", func() error {
		list, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return err
		}
		pods = pods[:0]
		on := map[string]bool{}
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && p.DeletionTimestamp == nil {
				pods = append(pods, p)
				on[p.Spec.NodeName] = true
			}
		}
		if len(pods) != 2 || len(on) != 2 {
			var st []string
			for _, p := range list.Items {
				st = append(st, fmt.Sprintf("%s %s on %q %+v", p.Name, p.Status.Phase, p.Spec.NodeName, p.Status.ContainerStatuses))
			}
			return fmt.Errorf("pods: %v", st)
		}
		return nil
	})
	for _, p := range pods {
		if !slices.Contains(nodeNames, p.Spec.NodeName) {
			t.Errorf("pod %s on %s, not a node of the nodegroup %v", p.Name, p.Spec.NodeName, nodeNames)
		}
	}
	return pods
}

// checkPortForward runs kubectl port-forward to pod's 8080 and GETs through it.
func checkPortForward(t *testing.T, k *kplane, kc, pod string) {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command("kubectl", "--kubeconfig", kc, "port-forward", "pod/"+pod, fmt.Sprintf("%d:8080", port))
	cmd.Env = k.env()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	eventually(t, 30*time.Second, 500*time.Millisecond, "GET through kubectl port-forward", func() error {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b := make([]byte, 200)
		n, _ := resp.Body.Read(b)
		if !strings.Contains(string(b[:n]), "hello from "+pod) {
			return fmt.Errorf("answer %q", b[:n])
		}
		return nil
	})
}

// checkJoinedThroughIAM: every node's kubelet authenticates with the node
// role's IAM token (signed by kplane into a file it reads), not a certificate.
func checkJoinedThroughIAM(t *testing.T, dirs []string) {
	t.Helper()
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "kubelet.kubeconfig"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "tokenFile: "+filepath.Join(d, "pki", "node-role.token")) || strings.Contains(string(b), "client-certificate") {
			t.Errorf("%s/kubelet.kubeconfig does not authenticate with the node token:\n%s", d, b)
		}
		if tok, err := os.ReadFile(filepath.Join(d, "pki", "node-role.token")); err != nil || !strings.HasPrefix(string(tok), "k8s-aws-v1.") {
			t.Errorf("node role token of %s: %v", d, err)
		}
		if fi, err := os.Stat(filepath.Join(d, "pki", "node-role.json")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("node role credentials of %s: %v", d, err)
		}
	}
}

// describeNodegroup is describe-nodegroup's status and health issue codes.
func describeNodegroup(t *testing.T, k *kplane, cluster string) (string, []string) {
	t.Helper()
	var ng struct {
		Nodegroup struct {
			Status string
			Health struct{ Issues []struct{ Code string } }
		}
	}
	mustUnmarshal(t, k.mustAWS("eks", "describe-nodegroup", "--cluster-name", cluster, "--nodegroup-name", "workers"), &ng)
	var codes []string
	for _, is := range ng.Nodegroup.Health.Issues {
		codes = append(codes, is.Code)
	}
	return ng.Nodegroup.Status, codes
}

// readyNodes are the cluster's nodes and whether each is Ready with a
// heartbeat since since (a kubelet that died leaves its last Ready=True).
func readyNodes(cs *kubernetes.Clientset, since ...time.Time) (map[string]bool, error) {
	list, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, n := range list.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				out[n.Name] = c.Status == corev1.ConditionTrue && (len(since) == 0 || !c.LastHeartbeatTime.Time.Before(since[0].Truncate(time.Second)))
			}
		}
	}
	return out, nil
}

// scaleDownThroughPDB: scaling to 1 with a PodDisruptionBudget in the way
// is PodEvictionFailure until the budget goes.
func scaleDownThroughPDB(t *testing.T, k *kplane, cs *kubernetes.Clientset, cluster string) {
	t.Helper()
	// Scale to 1 with a budget that keeps both web pods.
	pdb := []byte(`{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"web"},"spec":{"minAvailable":2,"selector":{"matchLabels":{"app":"web"}}}}`)
	if err := cs.RESTClient().Post().AbsPath("/apis/policy/v1/namespaces/default/poddisruptionbudgets").Body(pdb).SetHeader("Content-Type", "application/json").Do(context.Background()).Error(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, time.Second, "the budget sees 2 healthy pods", func() error {
		var st struct{ Status struct{ CurrentHealthy int } }
		b, err := cs.RESTClient().Get().AbsPath("/apis/policy/v1/namespaces/default/poddisruptionbudgets/web").DoRaw(context.Background())
		if err != nil {
			return err
		}
		json.Unmarshal(b, &st)
		if st.Status.CurrentHealthy != 2 {
			return fmt.Errorf("currentHealthy %d", st.Status.CurrentHealthy)
		}
		return nil
	})
	k.mustAWS("eks", "update-nodegroup-config", "--cluster-name", cluster, "--nodegroup-name", "workers", "--scaling-config", "minSize=1,maxSize=3,desiredSize=1")
	eventually(t, 2*time.Minute, time.Second, "PodEvictionFailure while the budget blocks", func() error {
		if st, codes := describeNodegroup(t, k, cluster); !slices.Contains(codes, "PodEvictionFailure") {
			return fmt.Errorf("status %s, issues %v", st, codes)
		}
		return nil
	})
	if err := cs.RESTClient().Delete().AbsPath("/apis/policy/v1/namespaces/default/poddisruptionbudgets/web").Do(context.Background()).Error(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 4*time.Minute, time.Second, "nodegroup ACTIVE with 1 node", func() error {
		st, codes := describeNodegroup(t, k, cluster)
		ready, err := readyNodes(cs)
		if err != nil {
			return err
		}
		if st != "ACTIVE" || len(ready) != 1 {
			return fmt.Errorf("status %s %v, nodes %v", st, codes, ready)
		}
		return nil
	})
}

// restartsNodesAndKplane: a node agent killed with SIGKILL is restarted
// and its node Ready again; kplane killed with SIGKILL and started again
// brings every node back Ready and the Deployment's pods run again.
func restartsNodesAndKplane(t *testing.T, k *kplane, cs *kubernetes.Clientset, cluster string) {
	t.Helper()
	dirs := localnodesDirs(t, localnodes.NodesDir(k.dataDir))
	agentPID := func(dir string) int {
		b, _ := os.ReadFile(filepath.Join(dir, "pid"))
		var pid int
		fmt.Sscan(string(b), &pid)
		return pid
	}
	old := agentPID(dirs[0])
	if old == 0 {
		t.Fatalf("no agent pid in %s", dirs[0])
	}
	killedAt := time.Now()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, time.Second, "node agent restarted and all nodes Ready", func() error {
		if pid := agentPID(dirs[0]); pid == 0 || pid == old {
			return fmt.Errorf("agent pid %d", pid)
		}
		return allReady(t, k, cs, cluster, 2, killedAt)
	})

	k.sigkill()
	restartedAt := time.Now()
	k.start()
	eventually(t, 4*time.Minute, 2*time.Second, "nodes Ready and web pods running after kplane's restart", func() error {
		if err := allReady(t, k, cs, cluster, 2, restartedAt); err != nil {
			return err
		}
		list, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return err
		}
		running := 0
		for _, p := range list.Items {
			for _, c := range p.Status.ContainerStatuses {
				// Started again: the node's containers went with it.
				if c.Ready && c.State.Running != nil && !c.State.Running.StartedAt.Time.Before(restartedAt.Truncate(time.Second)) {
					running++
				}
			}
		}
		if running != 2 {
			return fmt.Errorf("%d web containers ready", running)
		}
		return nil
	})
}

// allReady: n nodes Ready and the nodegroup ACTIVE.
func allReady(t *testing.T, k *kplane, cs *kubernetes.Clientset, cluster string, n int, since time.Time) error {
	ready, err := readyNodes(cs, since)
	if err != nil {
		return err
	}
	count := 0
	for _, r := range ready {
		if r {
			count++
		}
	}
	if count != n {
		return fmt.Errorf("nodes %v", ready)
	}
	if st, codes := describeNodegroup(t, k, cluster); st != "ACTIVE" || len(codes) > 0 {
		return fmt.Errorf("nodegroup %s %v", st, codes)
	}
	return nil
}

// checkOOMKilled: a pod of httpdImage over its 32Mi memory limit, on node
// (any node when ""), is OOMKilled.
func checkOOMKilled(t *testing.T, cs *kubernetes.Clientset, node string, pull corev1.PullPolicy) {
	t.Helper()
	hog := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hog"},
		Spec: corev1.PodSpec{
			NodeName:      node,
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "hog", Image: httpdImage, ImagePullPolicy: pull, Args: []string{"-alloc"},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}},
			}},
		},
	}
	if _, err := cs.CoreV1().Pods("default").Create(context.Background(), hog, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, cs, "hog", 2*time.Minute, func(p *corev1.Pod) error {
		for _, s := range p.Status.ContainerStatuses {
			if term := s.State.Terminated; term != nil {
				if term.Reason != "OOMKilled" {
					t.Fatalf("hog terminated with %q (exit %d), want OOMKilled", term.Reason, term.ExitCode)
				}
				return nil
			}
		}
		return fmt.Errorf("phase %s", p.Status.Phase)
	})
}

// removeNodesLeft removes, after a failed test, the nodes its kplane could
// not: kplane is killed first (its agents die with it), then each node's
// containers, cgroups and network namespace go.
func removeNodesLeft(t *testing.T, k *kplane) {
	dirs := localnodesDirs(t, localnodes.NodesDir(k.dataDir))
	if len(dirs) == 0 {
		return
	}
	k.sigkill()
	m := nodenet.New(nodenet.DirFor(k.dataDir))
	for _, d := range dirs {
		if err := node.Teardown(d); err != nil {
			t.Errorf("teardown %s: %v", d, err)
		}
		if err := m.RemoveNode(filepath.Base(d)); err != nil {
			t.Errorf("node network of %s: %v", d, err)
		}
	}
}
