//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// otherHost is a network namespace standing in for another machine: its
// only way out is its own veth to the host, which holds hostAddr.
type otherHost struct {
	name, path         string
	hostAddr, ownAddr  string
	hostLink, hostCIDR string
}

func newOtherHost(t *testing.T) *otherHost {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	id := hex.EncodeToString(b)
	// A /30 of 10.213.0.0/16 chosen at random: two runs on one machine do not collide.
	third, fourth := int(b[0]), int(b[1]&0xfc)
	h := &otherHost{name: "kpj-" + id, hostLink: "kpj" + id,
		hostAddr: fmt.Sprintf("10.213.%d.%d", third, fourth+1), ownAddr: fmt.Sprintf("10.213.%d.%d", third, fourth+2)}
	h.path, h.hostCIDR = "/run/netns/"+h.name, h.hostAddr+"/30"
	run := func(args ...string) { mustIP(t, args...) }
	run("netns", "add", h.name)
	t.Cleanup(func() {
		// Deleting the namespace deletes the veth pair, the host's end too.
		if out, err := exec.Command("ip", "netns", "del", h.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", h.name, err, out)
		}
	})
	run("link", "add", h.hostLink, "type", "veth", "peer", "name", "eth0", "netns", h.name)
	run("addr", "add", h.hostCIDR, "dev", h.hostLink)
	run("link", "set", h.hostLink, "up")
	run("-n", h.name, "link", "set", "lo", "up")
	run("-n", h.name, "addr", "add", h.ownAddr+"/30", "dev", "eth0")
	run("-n", h.name, "link", "set", "eth0", "up")
	run("-n", h.name, "route", "add", "default", "via", h.hostAddr)
	return h
}

// TestNodeJoin: `kplane node join`, run in a network namespace standing in
// for another machine (it reaches kplane's EKS API and the cluster endpoint,
// both listening on the host's end of its veth, only through that veth),
// joins a cluster with the credentials of an IAM user allowed to assume the
// node role, mapped as hybrid nodes' roles are (API: a HYBRID_LINUX access
// entry; CONFIG_MAP: aws-auth with system:node:{{SessionName}}): its node
// is Ready, a pod runs on it, and when it is stopped (leave) its directory,
// processes, cgroups and mounts are gone.
func TestNodeJoin(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: nodes make namespaces, cgroups and mounts")
	}
	other := newOtherHost(t)
	k := startKplaneOn(t, other.hostAddr, nil, "--control-plane-replicas", "1", "--endpoint-address", other.hostAddr)

	// The operator: a node role the joining user may assume, allowed to
	// describe clusters.
	var acct struct{ Account string }
	mustUnmarshal(t, k.mustAWS("sts", "get-caller-identity"), &acct)
	trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"sts:AssumeRole"}]}`, acct.Account)
	var role struct{ Role struct{ Arn string } }
	mustUnmarshal(t, k.mustAWS("iam", "create-role", "--role-name", "hybrid-node-role", "--assume-role-policy-document", trust), &role)
	k.mustAWS("iam", "attach-role-policy", "--role-name", "hybrid-node-role", "--policy-arn", "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy")
	k.mustAWS("iam", "create-user", "--user-name", "node-joiner")
	k.mustAWS("iam", "put-user-policy", "--user-name", "node-joiner", "--policy-name", "assume-node-role",
		"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"`+role.Role.Arn+`"}]}`)
	var key struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	mustUnmarshal(t, k.mustAWS("iam", "create-access-key", "--user-name", "node-joiner"), &key)
	creds := []string{"AWS_ACCESS_KEY_ID=" + key.AccessKey.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + key.AccessKey.SecretAccessKey}

	for _, mode := range []string{"API", "CONFIG_MAP"} {
		t.Run(mode, func(t *testing.T) {
			name := "joined-" + strings.ToLower(strings.ReplaceAll(mode, "_", "-"))
			k.mustAWS("eks", "create-cluster", "--name", name, "--role-arn", roleArn,
				"--resources-vpc-config", "subnetIds="+k.subnetIDs(), "--access-config", "authenticationMode="+mode)
			c, _ := k.waitActive(name, 3*time.Minute)
			if !strings.Contains(c.Endpoint, other.hostAddr) {
				t.Fatalf("cluster endpoint %s is not on %s", c.Endpoint, other.hostAddr)
			}
			cs := clientset(t, k.kubeconfig(name))
			var extra []string
			if mode == "API" {
				k.mustAWS("eks", "create-access-entry", "--cluster-name", name, "--principal-arn", role.Role.Arn, "--type", "HYBRID_LINUX")
				// kube-proxy too, with the node's identity bound to system:node-proxier.
				crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "hybrid-node-proxier"},
					RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:node-proxier"},
					Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: "system:nodes"}}}
				if _, err := cs.RbacV1().ClusterRoleBindings().Create(context.Background(), crb, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
				extra = []string{"--proxy-mode", "iptables"}
			} else {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "aws-auth", Namespace: "kube-system"}, Data: map[string]string{
					"mapRoles": "- rolearn: " + role.Role.Arn + "\n  username: system:node:{{SessionName}}\n  groups: [system:bootstrappers, system:nodes]\n"}}
				if _, err := cs.CoreV1().ConfigMaps("kube-system").Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			joinAndLeave(t, k, other, cs, name, role.Role.Arn, creds, extra...)
			k.mustAWS("eks", "delete-cluster", "--name", name)
			k.waitGone(name)
		})
	}
}

// joinAndLeave runs `kplane node join` on the other host into cluster,
// checks its node and a pod on it, stops it and checks nothing is left.
func joinAndLeave(t *testing.T, k *kplane, other *otherHost, cs *kubernetes.Clientset, cluster, nodeRole string, creds []string, extra ...string) {
	t.Helper()
	// The other machine: only its own credentials and kplane's URL.
	dir := filepath.Join(k.work, "node-of-"+cluster)
	join := exec.Command("nsenter", append([]string{"--net=" + other.path, kplaneBin, "node", "join",
		"--cluster", cluster, "--endpoint", k.url, "--region", region, "--role-arn", nodeRole, "--dir", dir}, extra...)...)
	join.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(k.work, "other-home")}, creds...)
	join.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, _ := join.StdoutPipe()
	logPath := filepath.Join(k.work, "join-"+cluster+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	join.Stderr = logf
	if err := join.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	go func() { exited <- join.Wait() }()
	stopJoin := func() {
		join.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("kplane node join exited with %v; log:\n%s", err, tailFile(logPath, 30))
			}
		case <-time.After(2 * time.Minute):
			join.Process.Kill()
			t.Errorf("kplane node join did not leave within 2 minutes; log:\n%s", tailFile(logPath, 30))
		}
	}
	defer func() {
		if join.ProcessState == nil {
			stopJoin()
		}
	}()

	name := "ip-" + strings.ReplaceAll(other.ownAddr, ".", "-") + "." + region + ".compute.internal"
	select {
	case line := <-lines:
		if want := "node " + name + " is Ready in cluster " + cluster; line != want {
			t.Fatalf("kplane node join said %q, want %q", line, want)
		}
	case err := <-exited:
		t.Fatalf("kplane node join exited: %v; log:\n%s", err, tailFile(logPath, 40))
	case <-time.After(4 * time.Minute):
		t.Fatalf("no Ready node after 4 minutes; log:\n%s", tailFile(logPath, 40))
	}
	n := waitNodeReady(t, cs, name, time.Minute)
	if ip := nodeInternalIP(n); ip != other.ownAddr {
		t.Errorf("node address %q, want %s (the other host's)", ip, other.ownAddr)
	}

	// A pod runs on it (the sandbox image every node has: no pull).
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "on-joined"},
		Spec: corev1.PodSpec{NodeName: name, Containers: []corev1.Container{{
			Name: "pause", Image: "kplane.local/pause:1", ImagePullPolicy: corev1.PullNever,
		}}},
	}
	if _, err := cs.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, cs, "on-joined", 2*time.Minute, func(p *corev1.Pod) error {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			return fmt.Errorf("phase %s, IP %q", p.Status.Phase, p.Status.PodIP)
		}
		return nil
	})

	if slices.Contains(extra, "--proxy-mode") {
		checkJoinedKubeProxy(t, cs, other)
	}

	// Leave: nothing of the node is left on the other host. Its Node
	// object is the operator's to delete (no node may delete its own).
	cgroupRoot := joinedCgroupRoot(t, dir)
	stopJoin()
	if err := cs.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Errorf("deleting Node %s: %v", name, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("node directory %s left: %v", dir, err)
	}
	if procs := processesMatching(dir); len(procs) > 0 {
		t.Errorf("node processes left: %v", procs)
	}
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hier {
		if _, err := os.Stat(filepath.Join(h, cgroupRoot)); err == nil {
			t.Errorf("cgroup %s left behind", filepath.Join(h, cgroupRoot))
		}
	}
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), dir) {
		t.Errorf("mounts of %s left", dir)
	}
}

// joinedCgroupRoot is the cgroup root the agent recorded in DIR/cgroups.json.
func joinedCgroupRoot(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cgroups.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Root string }
	mustUnmarshal(t, string(b), &st)
	if st.Root == "" {
		t.Fatalf("no cgroup root in %s", b)
	}
	return st.Root
}

func nodeInternalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

// checkJoinedKubeProxy: the joined node's kube-proxy programs a new
// Service's ClusterIP into the other host's firewall (its namespace's).
func checkJoinedKubeProxy(t *testing.T, cs *kubernetes.Clientset, other *otherHost) {
	t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "probe"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "probe"}, Ports: []corev1.ServicePort{{Port: 80}}}}
	svc, err := cs.CoreV1().Services("default").Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, time.Second, "kube-proxy's rules for the Service on the joined node", func() error {
		out, err := exec.Command("nsenter", "--net="+other.path, "iptables-save").CombinedOutput()
		if err != nil {
			return fmt.Errorf("iptables-save: %v: %s", err, out)
		}
		if !strings.Contains(string(out), svc.Spec.ClusterIP) {
			return fmt.Errorf("no rule names %s", svc.Spec.ClusterIP)
		}
		return nil
	})
}
