package nodenet

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// internet is a network namespace standing in for the world outside the
// machine: its only link is a veth to the host, addresses of 198.18.0.0/15
// (benchmarking space, never routed on the internet). Removing it removes
// the veth, the host's end too.
type internet struct {
	name, path       string
	hostAddr, remote string
	vpcStandIn       string // a second address of the remote
}

func newInternet(t *testing.T) *internet {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	id := fmt.Sprintf("%x", b)
	third := int(b[0])
	fourth := int(b[1] & 0xf8) // a /29: the host's end, the remote's two addresses
	in := &internet{name: "kpnet-" + id, hostAddr: fmt.Sprintf("198.19.%d.%d", third, fourth+1),
		remote: fmt.Sprintf("198.19.%d.%d", third, fourth+2), vpcStandIn: fmt.Sprintf("198.19.%d.%d", third, fourth+3)}
	in.path = "/run/netns/" + in.name
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", in.name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", in.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", in.name, err, out)
		}
	})
	host := "kpn" + id
	ip("link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", in.name)
	ip("addr", "add", in.hostAddr+"/29", "dev", host)
	ip("link", "set", host, "up")
	ip("-n", in.name, "link", "set", "lo", "up")
	ip("-n", in.name, "addr", "add", in.remote+"/29", "dev", "eth0")
	ip("-n", in.name, "addr", "add", in.vpcStandIn+"/29", "dev", "eth0")
	ip("-n", in.name, "link", "set", "eth0", "up")
	return in
}

// serve runs h in the internet's namespace on port, over TLS when tlsCfg is set.
func (in *internet) serve(t *testing.T, port int, h http.Handler, tlsCfg *tls.Config) string {
	t.Helper()
	ln, err := ListenIn(context.Background(), in.path, nil, fmt.Sprintf("%s:%d", in.remote, port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: tlsCfg}
	go func() {
		if tlsCfg != nil {
			srv.ServeTLS(ln, "", "")
		} else {
			srv.Serve(ln)
		}
	}()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// A node's containerd pulls through the registry proxy what the host can
// reach, over plain http (absolute-form requests) and https (CONNECT); the
// proxy refuses the host's loopback, instance metadata, the VPC and the
// host's own addresses; a pod of the node reaches neither of the proxy's
// ports.
func TestRegistryProxyReachesWhatTheHostReaches(t *testing.T) {
	needRoot(t)
	m := newManager(t)
	n := node(t, "i-0proxy0000000001", "vpc-0proxy000000001", "172.31.0.0/20", "172.31.0.5")
	if err := m.EnsureNode(n); err != nil {
		t.Fatal(err)
	}
	in := newInternet(t)
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	plain := in.serve(t, 5000, reg, nil)
	cert := selfSigned(t, in.remote)
	secure := in.serve(t, 5443, reg, &tls.Config{Certificates: []tls.Certificate{cert}})

	// An image pushed from the host, as a remote registry would hold it.
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	ref, err := name.ParseReference(plain+"/hello:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push to the remote registry: %v", err)
	}

	serviceCIDR := netip.MustParsePrefix("10.100.0.0/16")
	podRange, _ := PodRange(netip.MustParsePrefix("172.31.0.0/16"), serviceCIDR)
	refused := []netip.Prefix{netip.MustParsePrefix("172.31.0.0/16"), podRange, serviceCIDR, netip.MustParsePrefix(in.vpcStandIn + "/32")}
	p, err := ListenRegistryProxy(m.NodePath(n.ID), refused, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	proxyURL, _ := url.Parse(p.URL())
	if !strings.HasPrefix(proxyURL.Host, "127.0.0.1:") {
		t.Fatalf("proxy URL %s: want loopback", p.URL())
	}
	// The host does not see it: it listens in the node's namespace only.
	if c, err := net.DialTimeout("tcp", proxyURL.Host, time.Second); err == nil {
		c.Close()
		t.Fatalf("the proxy's port %s answers in the host's namespace", proxyURL.Host)
	}

	// A client in the node's namespace with the environment containerd gets.
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	inNode := &http.Transport{
		Proxy: http.ProxyURL(proxyURL),
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return DialIn(ctx, m.NodePath(n.ID), nil, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}
	// Plain http: the manifest by an absolute-form GET through the proxy.
	req, _ := http.NewRequest(http.MethodGet, "http://"+plain+"/v2/hello/manifests/1", nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
	resp, err := (&http.Client{Transport: inNode, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("plain http through the proxy: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != want.String() {
		t.Fatalf("plain http manifest: %s, digest %q; want 200, %v", resp.Status, resp.Header.Get("Docker-Content-Digest"), want)
	}
	// https: the whole image through a CONNECT tunnel.
	sref, _ := name.ParseReference(secure + "/hello:1")
	got, err := remote.Image(sref, remote.WithTransport(inNode))
	if err != nil {
		t.Fatalf("https pull through the proxy: %v", err)
	}
	if d, _ := got.Digest(); d != want {
		t.Fatalf("pulled %v, want %v", d, want)
	}
	layers, _ := got.Layers()
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("layer through the proxy: %v", err)
		}
		rc.Close()
	}
	// Without the proxy the node has no way out.
	direct := &http.Transport{DialContext: inNode.DialContext}
	if _, err := (&http.Client{Transport: direct, Timeout: 3 * time.Second}).Get("http://" + plain + "/v2/"); err == nil {
		t.Fatal("the node reached the remote registry without the proxy")
	}

	// Refused: the host's loopback (kplane's own port among them), the
	// host's own address on the remote's link, and the remote's second
	// address, given to the proxy as a refused range standing in for the
	// VPC: each would answer if the proxy dialed it.
	serveRemoteAddr(t, in.path, in.vpcStandIn+":5000")
	for _, target := range []string{"127.0.0.1:4599", "localhost:4599", in.hostAddr + ":5000", in.vpcStandIn + ":5000"} {
		if code := connect(t, m.NodePath(n.ID), proxyURL.Host, target); code != http.StatusForbidden {
			t.Errorf("CONNECT %s: %d, want 403", target, code)
		}
		r, _ := http.NewRequest(http.MethodGet, "http://"+target+"/", nil)
		if resp, err := (&http.Client{Transport: inNode, Timeout: 5 * time.Second}).Do(r); err != nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET http://%s/ through the proxy: %v %v, want 403", target, resp, err)
		} else {
			resp.Body.Close()
		}
	}
	// Instance metadata, the node's VPC, pods and Services: checked without
	// a dial (this machine may have real services at such addresses).
	for _, target := range []string{"169.254.169.254:80", "[fe80::1]:80", "172.31.0.1:443", "100.64.0.5:80", "10.100.0.1:443", "0.0.0.0:80"} {
		var refused *RefusedError
		if err := p.check(context.Background(), target); !errors.As(err, &refused) {
			t.Errorf("check %s: %v, want refused", target, err)
		}
	}
	if err := p.check(context.Background(), in.remote+":443"); err != nil {
		t.Errorf("check %s: %v, want allowed", in.remote, err)
	}

	// A pod of the node (a namespace behind a veth into the node's, as the
	// CNI bridge gives pods) reaches the node's address, but the proxy on
	// neither its own loopback nor the node's address.
	pod := newPodNamespace(t, m.NodePath(n.ID), n)
	nodeSide := serveRemoteAddr(t, m.NodePath(n.ID), n.Addr.String()+":0")
	if src, err := askFrom(pod.path, nodeSide); err != nil {
		t.Fatalf("pod → node %s: %v (the test's pod has no network)", nodeSide, err)
	} else if src != pod.addr {
		t.Fatalf("pod → node: source %s, want %s", src, pod.addr)
	}
	port := proxyURL.Port()
	for _, addr := range []string{"127.0.0.1:" + port, n.Addr.String() + ":" + port} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := DialIn(ctx, pod.path, nil, addr)
		cancel()
		if err == nil {
			c.Close()
			t.Errorf("a pod reached the registry proxy at %s", addr)
		}
	}

	// Close ends open tunnels too.
	tunnel, err := DialIn(context.Background(), m.NodePath(n.ID), nil, proxyURL.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer tunnel.Close()
	fmt.Fprintf(tunnel, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", secure, secure)
	br := bufio.NewReader(tunnel)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT %s: %v %v", secure, resp, err)
	}
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with a tunnel open")
	}
	tunnel.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the tunnel is still open after Close: %v", err)
	}
	if c, err := DialIn(context.Background(), m.NodePath(n.ID), nil, proxyURL.Host); err == nil {
		c.Close()
		t.Error("the proxy still listens after Close")
	}
}

// connect sends CONNECT target from the node's namespace and returns the
// answer's status code.
func connect(t *testing.T, nsPath, proxy, target string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialIn(ctx, nsPath, nil, proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

type podNamespace struct{ path, addr string }

// newPodNamespace makes a namespace behind a veth into the node's, with an
// address of the node's pod CIDR and its default route through the node.
func newPodNamespace(t *testing.T, nodePath string, n Node) podNamespace {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	nsName := fmt.Sprintf("kppod-%x", b)
	gw := n.PodCIDR.Addr().Next()
	addr := gw.Next()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "netns", "add", nsName)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsName).Run() })
	inNode := []string{"nsenter", "--net=" + nodePath, "ip"}
	veth := fmt.Sprintf("kpv%x", b)
	run(append(inNode, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", nsName)...)
	run(append(inNode, "addr", "add", gw.String()+"/"+fmt.Sprint(n.PodCIDR.Bits()), "dev", veth)...)
	run(append(inNode, "link", "set", veth, "up")...)
	run("ip", "-n", nsName, "link", "set", "lo", "up")
	run("ip", "-n", nsName, "addr", "add", addr.String()+"/"+fmt.Sprint(n.PodCIDR.Bits()), "dev", "eth0")
	run("ip", "-n", nsName, "link", "set", "eth0", "up")
	run("ip", "-n", nsName, "route", "add", "default", "via", gw.String())
	return podNamespace{path: "/run/netns/" + nsName, addr: addr.String()}
}

// selfSigned is a certificate for the IP address addr, signed by itself.
func selfSigned(t *testing.T, addr string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP(addr)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
