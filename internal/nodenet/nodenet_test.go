package nodenet

import (
	"context"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// Three nodes of one VPC, two in one subnet and one in another, reach each
// other's addresses and pod CIDRs through the VPC's bridge, without NAT;
// the VPC's namespace reaches them and serves an address they reach.
func TestNodesTalkThroughTheVPC(t *testing.T) {
	needRoot(t)
	m := newManager(t)
	const vpc = "vpc-0test00000000001"
	a := node(t, "i-0aaaaaaaaaaaaaaa1", vpc, "172.31.0.0/20", "172.31.0.10")
	b := node(t, "i-0bbbbbbbbbbbbbbb2", vpc, "172.31.0.0/20", "172.31.0.11")
	c := node(t, "i-0ccccccccccccccc3", vpc, "172.31.16.0/20", "172.31.16.10")
	for _, n := range []Node{a, b, c, a} { // a twice: idempotent
		if err := m.EnsureNode(n); err != nil {
			t.Fatal(err)
		}
	}
	got, err := m.Nodes(vpc)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !slices.Contains(got, a) || !slices.Contains(got, b) || !slices.Contains(got, c) {
		t.Fatalf("Nodes = %+v, want a, b and c", got)
	}

	// Same subnet (one bridge hop) and another subnet (through the gateway):
	// the server sees the client's own address.
	bAddr := serveRemoteAddr(t, m.NodePath(b.ID), b.Addr.String()+":0")
	cAddr := serveRemoteAddr(t, m.NodePath(c.ID), c.Addr.String()+":0")
	for _, to := range []string{bAddr, cAddr} {
		if src, err := askFrom(m.NodePath(a.ID), to); err != nil || src != a.Addr.String() {
			t.Errorf("a → %s: source %q, %v; want %v", to, src, err, a.Addr)
		}
	}
	if src, err := askFrom(m.NodePath(c.ID), bAddr); err != nil || src != c.Addr.String() {
		t.Errorf("c → b: source %q, %v; want %v", src, err, c.Addr)
	}

	// A pod address of c (on a bridge standing in for c's pod
	// bridge, as CNI's bridge plugin makes) is reached from a through the VPC's route of c's pod CIDR.
	pod := c.PodCIDR.Addr().Next()
	h, err := handle(m.NodePath(c.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	dummy := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "cni0"}}
	if err := h.LinkAdd(dummy); err != nil {
		t.Fatal(err)
	}
	if err := h.AddrAdd(dummy, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(pod, 32))}); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(dummy); err != nil {
		t.Fatal(err)
	}
	podAddr := serveRemoteAddr(t, m.NodePath(c.ID), pod.String()+":0")
	if src, err := askFrom(m.NodePath(a.ID), podAddr); err != nil || src != a.Addr.String() {
		t.Errorf("a → pod %v on c: source %q, %v; want %v", pod, src, err, a.Addr)
	}
	// b's pod CIDR has no pod: nothing answers, and nothing else does.
	if _, err := askFrom(m.NodePath(a.ID), netip.AddrPortFrom(b.PodCIDR.Addr().Next(), 80).String()); err == nil {
		t.Errorf("a → an empty pod address of b: connected")
	}

	// A cluster's endpoint for its nodes: the gateway of one of its subnets
	// (here one with no node yet), on the VPC's bridge, listened on inside
	// the VPC on every address; reached by nodes of both subnets, which the
	// endpoint sees with their own addresses.
	if err := m.EnsureGateways(vpc, []netip.Prefix{netip.MustParsePrefix("172.31.64.0/20")}); err != nil {
		t.Fatal(err)
	}
	inode := m.VPCInode(vpc)
	if inode == 0 {
		t.Fatal("VPCInode = 0 for an existing VPC")
	}
	ln, err := m.ListenVPC(context.Background(), vpc, nil, "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	endpoint := netip.AddrPortFrom(netip.MustParseAddr("172.31.64.1"), uint16(ln.Addr().(*net.TCPAddr).Port)).String()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Write([]byte(conn.RemoteAddr().(*net.TCPAddr).IP.String() + "\n"))
			conn.Close()
		}
	}()
	for _, n := range []Node{a, c} {
		if src, err := askFrom(m.NodePath(n.ID), endpoint); err != nil || src != n.Addr.String() {
			t.Errorf("%s → cluster endpoint %s: source %q, %v; want %v", n.ID, endpoint, src, err, n.Addr)
		}
	}
	// The host's namespace has no such address: the listener is not there.
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), 200*time.Millisecond); err == nil {
		c.Close()
		t.Errorf("reached the VPC's listener %s from the host namespace", ln.Addr())
	}

	// kplane dials nodes from the VPC's namespace (the apiserver's egress):
	// the node sees the gateway of its subnet.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := m.DialVPC(ctx, vpc, nil, cAddr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := conn.Read(buf)
	conn.Close()
	if got := string(buf[:n]); got != "172.31.16.1\n" {
		t.Errorf("VPC → c: c saw %q, want the gateway 172.31.16.1", got)
	}

	// A removed node is gone: its namespace, its veth, its route.
	if err := m.RemoveNode(b.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveNode(b.ID); err != nil { // absent is fine
		t.Fatal(err)
	}
	if _, err := os.Stat(m.NodePath(b.ID)); !os.IsNotExist(err) {
		t.Errorf("b's namespace file: %v, want gone", err)
	}
	if _, err := askFrom(m.NodePath(a.ID), bAddr); err == nil {
		t.Errorf("a → removed b: connected")
	}
	if got, _ := m.Nodes(vpc); len(got) != 2 {
		t.Errorf("after removing b, Nodes = %+v", got)
	}
	vh, err := handle(m.VPCPath(vpc))
	if err != nil {
		t.Fatal(err)
	}
	defer vh.Close()
	if rs, err := vh.RouteGet(net.IP(b.PodCIDR.Addr().AsSlice())); err == nil {
		t.Errorf("VPC still routes b's pod CIDR: %v", rs)
	}

	// A node cannot move VPCs without being removed first.
	moved := a
	moved.VPC = "vpc-0test00000000002"
	if err := m.EnsureNode(moved); err == nil {
		t.Errorf("EnsureNode of a into another VPC: no error")
	}

	// The VPC's namespace goes with its last node; the directory with it.
	for _, n := range []Node{a, c} {
		if err := m.RemoveNode(n.ID); err != nil {
			t.Fatal(err)
		}
	}
	if m.VPCInode(vpc) != 0 {
		t.Errorf("the VPC's namespace outlived its last node")
	}
	ln.Close()
	if where := nsInUse(inode); len(where) > 0 {
		t.Errorf("the VPC's namespace is still held: %v", where)
	}
	if _, err := os.Stat(m.Dir()); !os.IsNotExist(err) {
		t.Errorf("%s: %v, want gone", m.Dir(), err)
	}
}

// Bad nodes are refused before anything is made.
func TestNodeValidation(t *testing.T) {
	good := Node{ID: "i-1", VPC: "vpc-1", Subnet: netip.MustParsePrefix("172.31.0.0/20"), Addr: netip.MustParseAddr("172.31.0.9")}
	if err := good.validate(); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*Node){
		"id with a slash":       func(n *Node) { n.ID = "../x" },
		"empty vpc":             func(n *Node) { n.VPC = "" },
		"address outside":       func(n *Node) { n.Addr = netip.MustParseAddr("172.31.16.9") },
		"gateway address":       func(n *Node) { n.Addr = netip.MustParseAddr("172.31.0.1") },
		"network address":       func(n *Node) { n.Addr = netip.MustParseAddr("172.31.0.0") },
		"broadcast address":     func(n *Node) { n.Addr = netip.MustParseAddr("172.31.15.255") },
		"subnet not masked":     func(n *Node) { n.Subnet = netip.MustParsePrefix("172.31.0.9/20") },
		"subnet too small":      func(n *Node) { n.Subnet = netip.MustParsePrefix("172.31.0.8/29") },
		"ipv6 subnet":           func(n *Node) { n.Subnet = netip.MustParsePrefix("fd00::/64") },
		"pod CIDR in subnet":    func(n *Node) { n.PodCIDR = netip.MustParsePrefix("172.31.0.0/24") },
		"pod CIDR not a prefix": func(n *Node) { n.PodCIDR = netip.MustParsePrefix("100.64.1.1/24") },
	} {
		n := good
		change(&n)
		if err := n.validate(); err == nil {
			t.Errorf("%s: accepted %+v", name, n)
		}
	}
}
