//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplane/kplane/internal/localnodes"
	"github.com/kplane/kplane/internal/nodenet"
)

// remoteRegistry is a network namespace standing in for the internet, its
// only link a veth to the host (addresses of 198.18.0.0/15, benchmarking
// space that is never routed on the internet), serving an image registry
// (go-containerregistry's) over plain http on REMOTE:5000.
type remoteRegistry struct {
	ns, addr string // addr is REMOTE:5000
	veth     string // the host's end
	remove   func()
}

func newRemoteRegistry(t *testing.T) *remoteRegistry {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	id := fmt.Sprintf("%x", b)
	hostAddr, remoteAddr := fmt.Sprintf("198.18.%d.%d", b[0], b[1]&0xfc+1), fmt.Sprintf("198.18.%d.%d", b[0], b[1]&0xfc+2)
	r := &remoteRegistry{ns: "kpreg-" + id, addr: remoteAddr + ":5000"}
	mustIP(t, "netns", "add", r.ns)
	var srv *http.Server
	removed := false
	r.remove = func() {
		if removed {
			return
		}
		removed = true
		if srv != nil {
			srv.Close()
		}
		// The host's end first: deleting it deletes the pair at once, while
		// a deleted namespace takes its interfaces with it only when the
		// kernel gets to it (asynchronously), after the test has looked.
		if out, err := exec.Command("ip", "link", "del", r.veth).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find device") {
			t.Errorf("ip link del %s: %v: %s", r.veth, err, out)
		}
		if out, err := exec.Command("ip", "netns", "del", r.ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", r.ns, err, out)
		}
	}
	t.Cleanup(r.remove)
	veth := "kpr" + id
	r.veth = veth
	mustIP(t, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", r.ns)
	mustIP(t, "addr", "add", hostAddr+"/30", "dev", veth)
	mustIP(t, "link", "set", veth, "up")
	mustIP(t, "-n", r.ns, "link", "set", "lo", "up")
	mustIP(t, "-n", r.ns, "addr", "add", remoteAddr+"/30", "dev", "eth0")
	mustIP(t, "-n", r.ns, "link", "set", "eth0", "up")
	ln, err := nodenet.ListenIn(context.Background(), "/run/netns/"+r.ns, nil, r.addr)
	if err != nil {
		t.Fatal(err)
	}
	srv = &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(ln)
	return r
}

// hostsDir writes a containerd registry hosts directory that names the
// registry a plain-http one, as an operator does for such a registry.
func (r *remoteRegistry) hostsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, r.addr), 0o755); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf("server = \"http://%s\"\n\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", r.addr, r.addr)
	if err := os.WriteFile(filepath.Join(dir, r.addr, "hosts.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestNodegroupPullsFromARemoteRegistry: a nodegroup's node runs a pod
// whose image (imagePullPolicy Always) its containerd pulls from a registry
// only the host reaches, through the node's registry proxy; the node's
// containerd alone has the proxy, the pod itself does not reach the
// registry; deleting everything leaves the host as it was.
func TestNodegroupPullsFromARemoteRegistry(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: nodes and the stand-in internet make namespaces")
	}
	before := readHostState(t)
	reg := newRemoteRegistry(t)
	image := reg.addr + "/hello:1"
	ref, err := name.ParseReference(image, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, goImage(t, httpdSource)); err != nil {
		t.Fatalf("push %s: %v", image, err)
	}

	k := startKplaneWith(t, "--control-plane-replicas", "1", "--registry-config", reg.hostsDir(t))
	t.Cleanup(func() { removeNodesLeft(t, k) })
	var role struct{ Role struct{ Arn string } }
	mustUnmarshal(t, k.mustAWS("iam", "create-role", "--role-name", "eks-node-role", "--assume-role-policy-document", nodeTrustPolicy), &role)
	const cluster = "pull"
	subnets := strings.Split(k.subnetIDs(), ",")[:2]
	k.mustAWS("eks", "create-cluster", "--name", cluster, "--role-arn", roleArn, "--resources-vpc-config", "subnetIds="+strings.Join(subnets, ","))
	k.waitActive(cluster, 3*time.Minute)
	kc := k.kubeconfig(cluster)
	cs := clientset(t, kc)
	k.mustAWS("eks", "create-nodegroup", "--cluster-name", cluster, "--nodegroup-name", "workers",
		"--node-role", role.Role.Arn, "--scaling-config", "minSize=1,maxSize=1,desiredSize=1", "--subnets", subnets[0])
	eventually(t, 3*time.Minute, time.Second, "nodegroup ACTIVE", func() error {
		if st, issues := describeNodegroup(t, k, cluster); st != "ACTIVE" {
			return fmt.Errorf("%s %v", st, issues)
		}
		return nil
	})

	// Only the node's containerd is given the proxy, on the node's loopback.
	dirs := localnodesDirs(t, localnodes.NodesDir(k.dataDir))
	if len(dirs) != 1 {
		t.Fatalf("node directories: %v", dirs)
	}
	checkContainerdProxyEnv(t, dirs[0])

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pulled"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: image, ImagePullPolicy: corev1.PullAlways,
		}}},
	}
	if _, err := cs.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, cs, "pulled", 2*time.Minute, func(p *corev1.Pod) error {
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("phase %s: %+v", p.Status.Phase, p.Status.ContainerStatuses)
		}
		return nil
	})
	if out := k.mustKubectl(kc, "logs", "pulled"); !strings.Contains(out, "serving on :8080") {
		t.Errorf("kubectl logs pulled: %q", out)
	}
	// Pod traffic stays on the machine: the pod itself reaches neither the
	// registry nor the proxy (its own loopback has none).
	for _, u := range []string{"http://" + reg.addr + "/v2/", "http://" + proxyAddrOf(t, dirs[0]) + "/"} {
		out, _ := k.kubectl(kc, "exec", "pulled", "--", "/prog", "-get", u, "1")
		if !strings.Contains(out, "error:") {
			t.Errorf("the pod reached %s: %q", u, out)
		}
	}

	if err := cs.CoreV1().Pods("default").Delete(context.Background(), "pulled", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	k.mustAWS("eks", "delete-nodegroup", "--cluster-name", cluster, "--nodegroup-name", "workers")
	if _, err := k.exec(5*time.Minute, "aws", "eks", "wait", "nodegroup-deleted", "--cluster-name", cluster, "--nodegroup-name", "workers"); err != nil {
		t.Fatalf("wait nodegroup-deleted: %v\nkplane log:\n%s", err, k.logTail(40))
	}
	if entries, _ := os.ReadDir(filepath.Join(nodenetDir(k), "node")); len(entries) > 0 {
		t.Errorf("node network namespaces left: %v", entries)
	}
	k.mustAWS("eks", "delete-cluster", "--name", cluster)
	k.waitGone(cluster)
	reg.remove()
	after := readHostState(t)
	checkHostSysctlsAndFirewall(t, before, after)
	for _, i := range after.Interfaces {
		if !slices.Contains(before.Interfaces, i) {
			t.Errorf("interface %s appeared on the host", i)
		}
	}
	for _, n := range after.Netns {
		if !slices.Contains(before.Netns, n) {
			t.Errorf("network namespace %s left in /run/netns", n)
		}
	}
}

// containerdEnv is the environment of the containerd of the node in dir.
func containerdEnv(t *testing.T, dir string) []string {
	t.Helper()
	sock := filepath.Join(dir, "c.sock")
	for pid, cmd := range processesMatching(dir) {
		if strings.HasPrefix(cmd, "containerd ") && strings.Contains(cmd, "--config") {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
			if err != nil {
				t.Fatal(err)
			}
			return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		}
	}
	t.Fatalf("no containerd of the node (%s) found", sock)
	return nil
}

// checkContainerdProxyEnv: the node's containerd has HTTP(S)_PROXY on
// 127.0.0.1 and NO_PROXY with the cluster's own ranges.
func checkContainerdProxyEnv(t *testing.T, dir string) {
	t.Helper()
	env := containerdEnv(t, dir)
	get := func(k string) string {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, k+"="); ok {
				return v
			}
		}
		return ""
	}
	if p := get("HTTPS_PROXY"); !strings.HasPrefix(p, "http://127.0.0.1:") || get("HTTP_PROXY") != p {
		t.Errorf("containerd's HTTPS_PROXY %q, HTTP_PROXY %q: want one http://127.0.0.1:PORT", p, get("HTTP_PROXY"))
	}
	if np := get("NO_PROXY"); !strings.Contains(np, "127.0.0.1") || !strings.Contains(np, "10.100.0.0/16") && !strings.Contains(np, "172.20.0.0/16") {
		t.Errorf("containerd's NO_PROXY %q: want loopback and the Service CIDR", np)
	}
}

// proxyAddrOf is the node's registry proxy's 127.0.0.1:PORT.
func proxyAddrOf(t *testing.T, dir string) string {
	for _, kv := range containerdEnv(t, dir) {
		if v, ok := strings.CutPrefix(kv, "HTTPS_PROXY=http://"); ok {
			return v
		}
	}
	t.Fatal("no HTTPS_PROXY in containerd's environment")
	return ""
}
