//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/kplane/kplane/internal/node"
)

// httpdSource is the test's HTTP server, built static and packaged as an
// image by the test (no registry is reachable). With -alloc it allocates
// memory until it is killed (the OOM test).
const httpdSource = `package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-alloc" {
		var keep [][]byte
		for {
			b := make([]byte, 4<<20)
			for i := range b {
				b[i] = 1
			}
			keep = append(keep, b)
			time.Sleep(10 * time.Millisecond)
		}
	}
	if len(os.Args) > 2 && os.Args[1] == "-get" {
		// -get URL N: GET URL N times, one body per line (a client in a pod).
		n := 1
		if len(os.Args) > 3 {
			fmt.Sscan(os.Args[3], &n)
		}
		c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for i := 0; i < n; i++ {
			resp, err := c.Get(os.Args[2])
			if err != nil {
				fmt.Println("error:", err)
				continue
			}
			b := make([]byte, 200)
			k, _ := resp.Body.Read(b)
			resp.Body.Close()
			fmt.Print(string(b[:k]))
		}
		return
	}
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "hello from %s\n", host) })
	fmt.Println("serving on :8080 as", host)
	http.ListenAndServe(":8080", nil)
}
`

const httpdImage = "kplane.local/httpd:test"

// buildHTTPImage builds httpdSource and writes it as a docker-save archive.
func buildHTTPImage(t *testing.T) string { return buildGoImage(t, httpdSource, httpdImage) }

// buildGoImage builds the Go program src, static, and writes an image
// holding it alone (its entrypoint) as a docker-save archive named ref.
func buildGoImage(t *testing.T, src, ref string) string {
	t.Helper()
	img := goImage(t, src)
	archive := filepath.Join(t.TempDir(), "image.tar")
	if err := node.WriteImageArchive(archive, ref, img); err != nil {
		t.Fatal(err)
	}
	return archive
}

// goImage builds the Go program src, static, into an image holding it
// alone, as its entrypoint.
func goImage(t *testing.T, src string) v1.Image {
	t.Helper()
	dir := t.TempDir()
	mainGo := filepath.Join(dir, "main.go")
	if err := os.WriteFile(mainGo, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "prog")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, mainGo)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the image's program: %v: %s", err, out)
	}
	prog, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	img, err := node.ImageFromFiles(map[string]node.File{"prog": {Data: prog, Mode: 0o755}}, []string{"/prog"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// waitNodeReady waits until node name is Ready and returns it.
func waitNodeReady(t *testing.T, cs *kubernetes.Clientset, name string, timeout time.Duration) *corev1.Node {
	t.Helper()
	var got *corev1.Node
	took := eventually(t, timeout, time.Second, "node "+name+" Ready", func() error {
		n, err := cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					got = n
					return nil
				}
				return fmt.Errorf("Ready=%s: %s", c.Status, c.Message)
			}
		}
		return fmt.Errorf("no Ready condition yet")
	})
	t.Logf("node %s Ready after %v", name, took.Round(time.Millisecond))
	return got
}

func waitPod(t *testing.T, cs *kubernetes.Clientset, name string, timeout time.Duration, ok func(*corev1.Pod) error) *corev1.Pod {
	t.Helper()
	var got *corev1.Pod
	eventually(t, timeout, time.Second, "pod "+name, func() error {
		p, err := cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		got = p
		return ok(p)
	})
	return got
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestNodeRunsPods: `kplane node-run` in a network namespace joins a real
// cluster and goes Ready (milestone 1); a pod from an imported, locally
// built image runs on kplane's own pause image and serves HTTP, its CPU and
// memory limits are in its cgroups, and a pod over its memory limit is
// OOMKilled (2); kube-proxy makes a Service's ClusterIP reach it (4); stopping and deleting the node leaves no process, mount,
// interface, namespace, cgroup or file, and the host's sysctls unchanged (3).
func TestNodeRunsPods(t *testing.T) {
	before := readHostState(t)
	k := startKplane(t)
	c := k.createActive("nodes")
	cs := clientset(t, k.kubeconfig("nodes"))

	n := startTestNode(t, k, c, "10.0.1.10", nil)
	got := waitNodeReady(t, cs, n.spec.Name, 3*time.Minute)
	if got.Spec.ProviderID != n.spec.ProviderID {
		t.Errorf("providerID %q, want %q", got.Spec.ProviderID, n.spec.ProviderID)
	}
	for key, v := range n.spec.Labels {
		if got.Labels[key] != v {
			t.Errorf("label %s=%q, want %q", key, got.Labels[key], v)
		}
	}
	var internalIP string
	for _, a := range got.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			internalIP = a.Address
		}
	}
	if internalIP != n.spec.NodeIP {
		t.Errorf("InternalIP %q, want %q", internalIP, n.spec.NodeIP)
	}

	// Milestone 2: a pod of a locally built image, imported, never pulled.
	archive := buildHTTPImage(t)
	if out, err := k.exec(2*time.Minute, kplaneBin, "images", "import", "--node-dir", n.dir, archive); err != nil {
		t.Fatalf("kplane images import: %v: %s", err, out)
	}
	measureNodeRSS(t, n, "idle")
	limits := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName: n.spec.Name,
			Containers: []corev1.Container{{
				Name: "web", Image: httpdImage, ImagePullPolicy: corev1.PullNever,
				Resources: corev1.ResourceRequirements{Limits: limits, Requests: limits},
			}},
		},
	}
	if _, err := cs.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	web := waitPod(t, cs, "web", 2*time.Minute, func(p *corev1.Pod) error {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			return fmt.Errorf("phase %s, ip %q, statuses %+v", p.Status.Phase, p.Status.PodIP, p.Status.ContainerStatuses)
		}
		return nil
	})
	body, err := "", error(nil)
	eventually(t, 30*time.Second, 500*time.Millisecond, "HTTP from pod web", func() error {
		body, err = httpGetInNetns(n.nsPath, "http://"+web.Status.PodIP+":8080/")
		return err
	})
	if !strings.Contains(body, "hello from web") {
		t.Errorf("pod web answered %q, want hello from web", body)
	}
	root := n.cgroupRoot()
	podCg := fmt.Sprintf("kubepods/pod%s", web.UID)
	if got := readTrim(t, filepath.Join("/sys/fs/cgroup/memory", root, podCg, "memory.limit_in_bytes")); got != fmt.Sprint(64<<20) {
		t.Errorf("pod memory.limit_in_bytes %s, want %d", got, 64<<20)
	}
	if got := readTrim(t, filepath.Join("/sys/fs/cgroup/cpu", root, podCg, "cpu.cfs_quota_us")); got != "20000" {
		t.Errorf("pod cpu.cfs_quota_us %s, want 20000 (200m)", got)
	}

	// Milestone 4: kube-proxy (iptables mode, in the node's namespace only)
	// makes the Service's ClusterIP reach the pod.
	svc, err := cs.CoreV1().Services("default").Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, time.Second, "HTTP to Service web's ClusterIP "+svc.Spec.ClusterIP, func() error {
		body, err = httpGetInNetns(n.nsPath, "http://"+svc.Spec.ClusterIP+"/")
		if err == nil && !strings.Contains(body, "hello from web") {
			return fmt.Errorf("answer %q", body)
		}
		return err
	})

	checkOOMKilled(t, cs, n.spec.Name, corev1.PullNever)

	// The agent killed with SIGKILL (kubelet, kube-proxy and, through
	// Pdeathsig, containerd with it): Start tears down what is left
	// (shims and containers in the node's cgroups) and runs the node
	// again; the pod comes back and serves.
	if err := unix.Kill(n.proc.PID(), unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-n.proc.Done()
	n.proc, err = node.Start(kplaneBin, n.dir)
	if err != nil {
		t.Fatalf("restarting the node: %v", err)
	}
	waitNodeReady(t, cs, n.spec.Name, 2*time.Minute)
	web = waitPod(t, cs, "web", 2*time.Minute, func(p *corev1.Pod) error {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || len(p.Status.ContainerStatuses) == 0 || !p.Status.ContainerStatuses[0].Ready {
			return fmt.Errorf("phase %s, ip %q", p.Status.Phase, p.Status.PodIP)
		}
		return nil
	})
	eventually(t, time.Minute, time.Second, "HTTP to Service web after the node's restart", func() error {
		body, err = httpGetInNetns(n.nsPath, "http://"+svc.Spec.ClusterIP+"/")
		if err == nil && !strings.Contains(body, "hello from web") {
			return fmt.Errorf("answer %q", body)
		}
		return err
	})

	// The node's mounts are its own: none is seen on the host.
	during := readHostState(t)
	for _, m := range during.Mounts {
		if strings.Contains(m, n.dir) || strings.HasPrefix(m, "/var/lib/kubelet") || strings.HasPrefix(m, "/run/netns/cni-") {
			t.Errorf("node mount %s seen on the host", m)
		}
	}
	measureNodeRSS(t, n, "with 2 pods")

	// Milestone 3: stop and delete leave nothing.
	n.stop()
	if err := node.Delete(n.dir); err != nil {
		t.Fatalf("node.Delete: %v", err)
	}
	if procs := processesMatching(n.dir); len(procs) > 0 {
		t.Errorf("processes left: %v", procs)
	}
	if _, err := os.Stat(n.dir); !os.IsNotExist(err) {
		t.Errorf("node directory still there: %v", err)
	}
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hier {
		for _, d := range []string{root, filepath.Dir(root)} {
			if _, err := os.Stat(filepath.Join(h, d)); err == nil {
				t.Errorf("cgroup %s left behind", filepath.Join(h, d))
			}
		}
	}
	after := readHostState(t)
	checkHostSysctlsAndFirewall(t, before, after)
	for _, m := range after.Mounts {
		if strings.Contains(m, n.dir) || !slices.Contains(before.Mounts, m) && (strings.Contains(m, "kubelet") || strings.Contains(m, "/run/netns/cni-")) {
			t.Errorf("mount %s left behind", m)
		}
	}
	for _, i := range after.Interfaces {
		if !slices.Contains(before.Interfaces, i) && (i == "cni0" || strings.HasPrefix(i, "veth")) {
			t.Errorf("interface %s appeared on the host", i)
		}
	}
	for _, ns := range after.Netns {
		if strings.HasPrefix(ns, "cni-") && !slices.Contains(before.Netns, ns) {
			t.Errorf("network namespace %s left on the host", ns)
		}
	}
}

// measureNodeRSS logs the memory of every process in the node's cgroups
// (the agent, which runs kubelet and kube-proxy, containerd, shims, pods).
func measureNodeRSS(t *testing.T, n *testNode, when string) {
	t.Helper()
	m, err := node.MemoryOf(n.dir)
	if err != nil {
		t.Logf("node memory: %v", err)
		return
	}
	t.Logf("node memory (its cgroups, %s): %s", when, m)
}
