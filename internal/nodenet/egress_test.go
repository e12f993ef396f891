package nodenet

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/server/egressselector"
)

// The egress proxy tunnels CONNECTs to the VPC's nodes and pods from inside
// the VPC, as kube-apiserver's egress selector sends them, and refuses every
// other target.
func TestEgressProxy(t *testing.T) {
	needRoot(t)
	m := newManager(t)
	const vpc = "vpc-0test00000000004"
	a := node(t, "i-0aaaaaaaaaaaaaaa6", vpc, "172.31.48.0/20", "172.31.48.30")
	if err := m.EnsureNode(a); err != nil {
		t.Fatal(err)
	}
	kubelet := serveRemoteAddr(t, m.NodePath(a.ID), a.Addr.String()+":0")

	// A socket in directories that do not exist yet: they are made, and
	// removed by Close.
	top := filepath.Join(t.TempDir(), "run")
	sock := filepath.Join(top, "kplane", "egress.sock")
	e, err := m.ListenEgress(sock, vpc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	// The apiserver's exchange (egress_selector.go's tunnelHTTPConnect):
	// CONNECT, a 200, then the tunnel's bytes.
	connect := func(target string) (int, *bufio.Reader, net.Conn) {
		t.Helper()
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", target)
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			c.Close()
			t.Fatalf("CONNECT %s: %v", target, err)
		}
		return res.StatusCode, br, c
	}
	code, br, c := connect(kubelet)
	if code != 200 {
		t.Fatalf("CONNECT to the node: %d", code)
	}
	line, err := br.ReadString('\n')
	c.Close()
	if got := strings.TrimSpace(line); err != nil || got != Gateway(a.Subnet).String() {
		t.Errorf("through the tunnel the node saw %q (%v), want the VPC's gateway %v", got, err, Gateway(a.Subnet))
	}

	for target, want := range map[string]int{
		"127.0.0.1:22":                          403, // the host's own loopback
		"172.31.48.31:10250":                    403, // in the subnet, not a node
		"203.0.113.9:443":                       403, // outside the VPC
		"ip-172-31-48-30.ec2.internal:10250":    400, // names are not resolved
		a.PodCIDR.Addr().Next().String() + ":1": 502, // a pod address of the node: allowed, nothing listens
	} {
		code, _, c := connect(target)
		c.Close()
		if code != want {
			t.Errorf("CONNECT %s: %d, want %d", target, code, want)
		}
	}

	// A removed node is no longer a target.
	if err := m.RemoveNode(a.ID); err != nil {
		t.Fatal(err)
	}
	if code, _, c := connect(kubelet); code != 403 {
		t.Errorf("CONNECT to a removed node: %d, want 403", code)
	} else {
		c.Close()
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("unix", sock); err == nil {
		t.Errorf("the socket still accepts after Close")
	}
	if _, err := os.Stat(top); !os.IsNotExist(err) {
		t.Errorf("%s after Close: %v, want gone", top, err)
	}
}

// kube-apiserver's own reader and validation accept the configuration.
func TestEgressSelectorConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "egress.yaml")
	if err := os.WriteFile(file, EgressSelectorConfig("/data/clusters/x/egress.sock"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := egressselector.ReadEgressSelectorConfiguration(file)
	if err != nil {
		t.Fatal(err)
	}
	if errs := egressselector.ValidateEgressSelectorConfiguration(cfg); len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(cfg.EgressSelections) != 1 {
		t.Fatalf("%+v", cfg)
	}
	s := cfg.EgressSelections[0]
	if s.Name != "cluster" || s.Connection.ProxyProtocol != "HTTPConnect" || s.Connection.Transport.UDS.UDSName != "/data/clusters/x/egress.sock" {
		t.Errorf("%+v", s)
	}
}

// A kplane killed with SIGKILL leaves its egress sockets beside the
// namespaces (EgressSocket); the next start removes them, and the
// directories once nothing else is there, and keeps every other file.
func TestRemoveStaleEgressSockets(t *testing.T) {
	run := filepath.Join(t.TempDir(), "kplane")
	m := New(filepath.Join(run, "0123456789ab", "netns"))
	stale := func(id string) string {
		t.Helper()
		path := m.EgressSocket(id)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		l.SetUnlinkOnClose(false) // as a killed process leaves it
		l.Close()
		return path
	}
	a, b := stale("c1"), stale("c2")
	other := filepath.Join(filepath.Dir(a), "egress-c3.sock")
	if err := os.WriteFile(other, nil, 0o600); err != nil { // not a socket: not ours to remove
		t.Fatal(err)
	}
	removed, err := m.RemoveStaleEgressSockets()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(removed, " ") != a+" "+b {
		t.Errorf("removed %v, want %s %s", removed, a, b)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file that is not a socket went: %v", err)
	}
	os.Remove(other)
	if _, err := m.RemoveStaleEgressSockets(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(run); !os.IsNotExist(err) {
		t.Errorf("%s still there once empty: %v", run, err)
	}
}
