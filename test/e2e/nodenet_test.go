//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/nodenet"
)

// TestNodeNetwork: a node namespace in the cluster's VPC (made with
// internal/nodenet as the nodegroup reconciler does) reaches the cluster's
// endpoint at its subnet's gateway, with TLS verified against the cluster's
// CA for that address; the apiserver reaches a server on the node's address
// (standing in for the kubelet's port) through its egress selector and
// kplane's proxy, and cannot reach a host address through a Node that names
// one.
func TestNodeNetwork(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes network namespaces")
	}
	k := startKplaneWith(t, "--control-plane-replicas", "1")
	const name = "vpcnet"
	c := k.createActive(name)
	kc := k.kubeconfig(name)
	creds := k.readKubeconfig(kc)

	v := clusterVPCOf(t, k, name)
	subnet := v.subnet
	addr := v.hostAddr(100)
	podCIDR, err := nodenet.PodCIDR(v.cidr, v.podRange, addr)
	if err != nil {
		t.Fatal(err)
	}
	m := nodenet.New(nodenet.DirFor(k.dataDir))
	node := nodenet.Node{ID: "i-0e2e0000000000001", VPC: v.id, Subnet: subnet, Addr: addr, PodCIDR: podCIDR}
	if err := m.EnsureNode(node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.RemoveNode(node.ID); err != nil {
			t.Errorf("remove node: %v", err)
		}
	})
	nodePath := m.NodePath(node.ID)

	// The endpoint from inside the node: the gateway of the cluster's subnet
	// in the node's zone, on the endpoint's port.
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "https://" + net.JoinHostPort(nodenet.Gateway(subnet).String(), u.Port())
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(creds.CAPEM)
	pair, err := tls.X509KeyPair(creds.CertPEM, creds.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	fromNode := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return nodenet.DialIn(ctx, nodePath, nil, addr)
		},
		TLSClientConfig:   &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}},
		DisableKeepAlives: true,
	}}
	// The balancer opens its socket in the VPC at the provisioner's next look
	// at the cluster (every 5 s), and the replica restarts once for the
	// certificate that names the gateway and for the egress selector.
	eventually(t, 90*time.Second, pollStep, "endpoint reached from the node at "+endpoint, func() error {
		resp, err := fromNode.Get(endpoint + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s", resp.Status)
		}
		return nil
	})

	// A server on the node's address (the kubelet's port), reached by the
	// apiserver only through the egress proxy from inside the VPC.
	ln, err := nodenet.ListenIn(context.Background(), nodePath, nil, netip.AddrPortFrom(addr, 10250).String())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintf(w, "node-side %s from %s", r.URL.Path, host)
	}))
	srv.Listener = ln
	srv.StartTLS()
	defer srv.Close()

	nodeObject := func(nodeName, ip string, port int) string {
		return fmt.Sprintf(`{"apiVersion":"v1","kind":"Node","metadata":{"name":%q},"status":{"addresses":[{"type":"InternalIP","address":%q}],"daemonEndpoints":{"kubeletEndpoint":{"Port":%d}}}}`, nodeName, ip, port)
	}
	apply := func(obj string) {
		t.Helper()
		f := k.work + "/node.json"
		if err := os.WriteFile(f, []byte(obj), 0o600); err != nil {
			t.Fatal(err)
		}
		k.mustKubectl(kc, "create", "-f", f)
	}
	nodeName := "ip-" + strings.ReplaceAll(addr.String(), ".", "-") + ".us-west-2.compute.internal"
	apply(nodeObject(nodeName, addr.String(), 10250))
	out := k.mustKubectl(kc, "get", "--raw", "/api/v1/nodes/"+nodeName+"/proxy/hello")
	if want := "node-side /hello from " + nodenet.Gateway(subnet).String(); out != want {
		t.Errorf("node proxy through the egress selector: %q, want %q", out, want)
	}

	// A Node naming an address of the host (its own, not loopback, which
	// the apiserver refuses by itself) is not reached: the proxy refuses
	// what is not a node or pod of the VPC, so the host never dials it.
	hostIP := ""
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
			hostIP = p.Addr().String()
			break
		}
	}
	if hostIP == "" {
		t.Log("the host has no address but loopback: no Node can name one")
		return
	}
	apply(nodeObject("evil", hostIP, k.port))
	if out, err := k.kubectl(kc, "get", "--raw", "/api/v1/nodes/evil/proxy/_kplane/readyz"); err == nil {
		t.Errorf("the apiserver reached the host's %s through a Node: %q", hostIP, out)
	} else if !strings.Contains(err.Error(), "403 Forbidden") {
		t.Errorf("a Node naming a host address: %v; want the egress proxy's 403", err)
	}
}

// TestStaleEgressSocketRemovedAtStart: a kplane whose data directory's path
// is too long for a unix socket keeps each cluster's egress socket under
// /run/kplane/HASH; SIGKILLed, it leaves the socket there, and its next
// start removes it, and the directory with it (no node namespace is there).
func TestStaleEgressSocketRemovedAtStart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the egress proxy runs when kplane may make network namespaces")
	}
	k := startKplaneWith(t, "--control-plane-replicas", "1")
	c := k.createActive("stale-egress")
	sock := nodenet.New(nodenet.DirFor(k.dataDir)).EgressSocket(c.ID)
	if len(filepath.Join(k.clusterDir(c.ID), "egress.sock")) <= 100 {
		t.Fatalf("data directory %s is short enough for the socket in the cluster's directory: the test needs a longer one", k.dataDir)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("egress socket %s: %v %v", sock, fi, err)
	}
	k.sigkill()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("a SIGKILLed kplane's socket is already gone (nothing to show): %v", err)
	}
	// Started again without reconciling, nothing makes the socket anew.
	k.args = append(k.args, "--no-reconcile")
	k.start()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("stale egress socket %s after the next start: %v", sock, err)
	}
	if _, err := os.Stat(filepath.Dir(sock)); !os.IsNotExist(err) {
		t.Errorf("%s still there with nothing in it: %v", filepath.Dir(sock), err)
	}
	if !strings.Contains(readTrim(t, k.logPath), "removed stale egress sockets") {
		t.Errorf("kplane's log does not say it removed the socket")
	}
}
