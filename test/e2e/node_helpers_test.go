//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kplane/kplane/internal/node"
)

// testNetns is a network namespace the test made to stand in for an
// instance's: loopback up and eth0 holding the node's IP, a default route
// through a gateway that does not exist (nothing leaves).
type testNetns struct {
	name, path string
}

// mustIP runs ip(8) with args and fails the test if it fails.
func mustIP(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func newTestNetns(t *testing.T, ipCIDR string) *testNetns {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	ns := &testNetns{name: "kpn-" + hex.EncodeToString(b)}
	ns.path = "/run/netns/" + ns.name
	run := func(args ...string) { mustIP(t, args...) }
	run("netns", "add", ns.name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns.name, err, out)
		}
	})
	run("-n", ns.name, "link", "set", "lo", "up")
	// Both ends of the veth are made inside the namespace (no dummy
	// driver on this kernel). The default route's gateway (.1) never
	// answers ARP: packets to anything but pods end there, as on an
	// instance whose gateway is dead (a blackhole route would fail the
	// connect to a ClusterIP before kube-proxy's DNAT).
	run("-n", ns.name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer")
	run("-n", ns.name, "addr", "add", ipCIDR, "dev", "eth0")
	run("-n", ns.name, "link", "set", "eth0", "up")
	run("-n", ns.name, "link", "set", "eth0-peer", "up")
	gw := strings.Join(append(strings.Split(strings.Split(ipCIDR, "/")[0], ".")[:3], "1"), ".")
	run("-n", ns.name, "route", "add", "default", "via", gw, "dev", "eth0")
	return ns
}

// inNetns runs f on an OS thread that entered the namespace at path, and
// brings the thread back to its own namespace before it is unlocked (a
// thread may not go back to Go's pool in another namespace).
func inNetns(path string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(own)
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err = f()
		if unix.Setns(own, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread() // else the thread ends with the goroutine
		}
		errc <- err
	}()
	return <-errc
}

// forwardIntoNetns listens on listenAddr inside the namespace and forwards
// each connection to target on the host (the cluster endpoint on loopback),
// until the test ends.
func forwardIntoNetns(t *testing.T, nsPath, listenAddr, target string) {
	t.Helper()
	var l net.Listener
	if err := inNetns(nsPath, func() (err error) {
		l, err = net.Listen("tcp", listenAddr)
		return err
	}); err != nil {
		t.Fatalf("listening on %s in %s: %v", listenAddr, nsPath, err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.DialTimeout("tcp", target, 5*time.Second)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, u)
			}()
		}
	}()
}

// httpGetInNetns GETs url from inside the namespace.
func httpGetInNetns(nsPath, rawURL string) (string, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := inNetns(nsPath, func() (err error) {
				c, err = net.DialTimeout(network, addr, 3*time.Second)
				return err
			})
			return c, err
		},
	}}
	resp, err := client.Get(rawURL)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("GET %s: %s", rawURL, resp.Status)
	}
	return string(b), err
}

// testNode is one `kplane node-run` the test started against cluster c.
type testNode struct {
	t       *testing.T
	dir     string
	spec    node.Spec
	nsPath  string // the node's network namespace
	proc    *node.Process
	stopped bool
}

// nodePlace is where a test node runs: its network namespace, the cluster
// endpoint as reached from there, and its pod CIDR.
type nodePlace struct {
	instanceID, zone        string
	nsPath, apiURL, podCIDR string
	clusterCIDR             string // every pod of the cluster; "" = podCIDR
}

// startTestNode starts a node in a network namespace of the test's own
// (newTestNetns), which reaches the cluster endpoint through a forwarder to
// the host's loopback. Cleanup stops and deletes it.
func startTestNode(t *testing.T, k *kplane, c *cluster, ip string, mutate func(*node.Spec)) *testNode {
	t.Helper()
	ns := newTestNetns(t, ip+"/24")
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	// The endpoint's address inside the namespace is the namespace's own
	// loopback, forwarded to the host's.
	forwardIntoNetns(t, ns.path, u.Host, u.Host)
	return startNodeAt(t, k, c, ip, nodePlace{
		instanceID: "i-0123456789abcdef0", zone: region + "a",
		nsPath: ns.path, apiURL: c.Endpoint, podCIDR: "10.244.1.0/24",
	}, mutate)
}

// startNodeAt writes a node's spec (client-certificate credentials signed
// by the cluster's CA) for the place given and starts its agent. Cleanup
// stops and deletes it.
func startNodeAt(t *testing.T, k *kplane, c *cluster, ip string, at nodePlace, mutate func(*node.Spec)) *testNode {
	t.Helper()
	// Short: containerd's socket path must fit 107 bytes.
	base, err := os.MkdirTemp("", "kpn")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "n")
	name := "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + region + ".compute.internal"
	pkiDir := filepath.Join(k.clusterDir(c.ID), "pki")
	certs, err := node.IssueCertificates(filepath.Join(pkiDir, "ca.crt"), filepath.Join(pkiDir, "ca.key"), dir, name, ip)
	if err != nil {
		t.Fatal(err)
	}
	spec := node.Spec{
		Name:              name,
		InstanceID:        at.instanceID,
		ProviderID:        "aws:///" + at.zone + "/" + at.instanceID,
		NodeIP:            ip,
		NetNSPath:         at.nsPath,
		PodCIDR:           at.podCIDR,
		ClusterCIDR:       at.clusterCIDR,
		APIServerURL:      at.apiURL,
		CAFile:            certs.CAFile,
		ClientCertFile:    certs.ClientCertFile,
		ClientKeyFile:     certs.ClientKeyFile,
		ServingCertFile:   certs.ServingCertFile,
		ServingKeyFile:    certs.ServingKeyFile,
		KubeProxyCertFile: certs.KubeProxyCertFile,
		KubeProxyKeyFile:  certs.KubeProxyKeyFile,
		ProxyMode:         "iptables",
		Labels: map[string]string{
			"eks.amazonaws.com/nodegroup":      "ng-test",
			"eks.amazonaws.com/capacityType":   "ON_DEMAND",
			"node.kubernetes.io/instance-type": "t3.medium",
			"topology.kubernetes.io/region":    region,
			"topology.kubernetes.io/zone":      at.zone,
		},
	}
	if mutate != nil {
		mutate(&spec)
	}
	if err := node.WriteSpec(dir, spec); err != nil {
		t.Fatal(err)
	}
	n := &testNode{t: t, dir: dir, spec: spec, nsPath: at.nsPath}
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"agent.log", "containerd.log"} {
				t.Logf("%s (tail):\n%s", f, tailFile(filepath.Join(dir, "logs", f), 40))
			}
		}
		n.stop()
		if err := node.Delete(dir); err != nil {
			t.Errorf("node.Delete: %v", err)
		}
		for pid := range processesMatching(dir) {
			t.Errorf("process %d of the node still runs", pid)
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		os.RemoveAll(base)
	})
	n.proc, err = node.Start(kplaneBin, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node %s: agent pid %d, dir %s, netns %s", name, n.proc.PID(), dir, at.nsPath)
	return n
}

// stop stops the node's agent (SIGTERM; it tears the node down).
func (n *testNode) stop() {
	if n.stopped || n.proc == nil {
		return
	}
	n.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), node.StopTimeout)
	defer cancel()
	if err := n.proc.Stop(ctx); err != nil {
		n.t.Errorf("stopping node %s: %v", n.spec.Name, err)
	}
}

// cgroupRoot is the node's cgroup root as its agent recorded it.
func (n *testNode) cgroupRoot() string {
	n.t.Helper()
	b, err := os.ReadFile(filepath.Join(n.dir, "cgroups.json"))
	if err != nil {
		n.t.Fatal(err)
	}
	var st struct{ Root string }
	if err := json.Unmarshal(b, &st); err != nil || st.Root == "" {
		n.t.Fatalf("cgroups.json: %v %q", err, b)
	}
	return st.Root
}

// hostState is what a node must leave as it found it on the host.
type hostState struct {
	Sysctls    map[string]string
	Interfaces []string
	Netns      []string
	Mounts     []string // mount points
	Firewall   string   // iptables-save, counters and comments dropped
}

var hostSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
	"net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet", "net/bridge/bridge-nf-call-iptables",
	"net/netfilter/nf_conntrack_max",
}

// checkHostSysctlsAndFirewall: the host's sysctls and firewall are as before.
func checkHostSysctlsAndFirewall(t *testing.T, before, after hostState) {
	t.Helper()
	for key, v := range before.Sysctls {
		if after.Sysctls[key] != v {
			t.Errorf("host sysctl %s changed: %s -> %s", key, v, after.Sysctls[key])
		}
	}
	if after.Firewall != before.Firewall {
		t.Errorf("host firewall changed:\nbefore:\n%s\nafter:\n%s", before.Firewall, after.Firewall)
	}
}

func readHostState(t *testing.T) hostState {
	t.Helper()
	st := hostState{Sysctls: map[string]string{}}
	for _, s := range hostSysctls {
		b, err := os.ReadFile("/proc/sys/" + s)
		if err == nil {
			st.Sysctls[s] = strings.TrimSpace(string(b))
		}
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		st.Interfaces = append(st.Interfaces, i.Name)
	}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		st.Netns = append(st.Netns, e.Name())
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			st.Mounts = append(st.Mounts, f[4])
		}
	}
	if out, err := exec.Command("iptables-save").Output(); err == nil {
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(l, "#") {
				lines = append(lines, strings.Split(l, " [")[0])
			}
		}
		st.Firewall = strings.Join(lines, "\n")
	}
	sort.Strings(st.Interfaces)
	sort.Strings(st.Netns)
	sort.Strings(st.Mounts)
	return st
}
