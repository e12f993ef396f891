package nodenet

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Packets from a node to any address (another node, an unused VPC address,
// the host's own gateway, a public address) reach the VPC's router and never
// the host: a capture on the host's way out sees none of them while one in
// the VPC's namespace sees each. The host's interfaces, addresses, routes,
// rules, sysctls and nftables ruleset are the same while nodes exist and
// after they are removed; afterwards no mount, file or namespace is left.
func TestNothingReachesTheHost(t *testing.T) {
	needRoot(t)
	m := newManager(t)
	before := snapshotHost(t, m.Dir())

	const vpc = "vpc-0test00000000003"
	a := node(t, "i-0aaaaaaaaaaaaaaa4", vpc, "172.31.32.0/20", "172.31.32.20")
	b := node(t, "i-0bbbbbbbbbbbbbbb5", vpc, "172.31.32.0/20", "172.31.32.21")
	for _, n := range []Node{a, b} {
		if err := m.EnsureNode(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.EnsureGateways(vpc, []netip.Prefix{netip.MustParsePrefix("172.31.64.0/20")}); err != nil {
		t.Fatal(err)
	}
	during := snapshotHost(t, m.Dir())
	delete(during, "mounts") // the namespaces are bound while they exist
	b2 := before.clone()
	delete(b2, "mounts")
	b2.compare(t, during, "while nodes exist")

	// The host's way out: its default route's interface and gateway.
	inVPC := netip.MustParseAddr("172.31.200.200") // in the VPC's CIDR, in no subnet
	outside := []netip.Addr{netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("100.64.255.1")}
	hostOut, hostGW := defaultRoute(t)
	if hostGW.IsValid() {
		outside = append(outside, hostGW)
	}

	// Before a single packet is sent, the routes say where it goes: the node
	// sends everything to its gateway on eth0; the VPC has no route for
	// anything outside its subnets and pod CIDRs.
	nh, err := handle(m.NodePath(a.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	eth, err := nh.LinkByName(NodeInterface)
	if err != nil {
		t.Fatal(err)
	}
	vh, err := handle(m.VPCPath(vpc))
	if err != nil {
		t.Fatal(err)
	}
	defer vh.Close()
	for _, dst := range append([]netip.Addr{inVPC}, outside...) {
		rs, err := nh.RouteGet(net.IP(dst.AsSlice()))
		if err != nil || len(rs) != 1 || rs[0].LinkIndex != eth.Attrs().Index || !rs[0].Gw.Equal(net.IP(Gateway(a.Subnet).AsSlice())) {
			t.Fatalf("node's route to %v: %+v, %v; want via %v on %s", dst, rs, err, Gateway(a.Subnet), NodeInterface)
		}
		if rs, err := vh.RouteGet(net.IP(dst.AsSlice())); !errors.Is(err, unix.ENETUNREACH) {
			t.Fatalf("VPC's route to %v: %+v, %v; want network unreachable", dst, rs, err)
		}
	}
	// The node and VPC namespaces hold only their own interfaces: loopback,
	// the bridge and veths (whose other ends are in each other, as the host's
	// interfaces are unchanged above).
	for path, want := range map[string][]string{m.NodePath(a.ID): {"lo", NodeInterface}, m.VPCPath(vpc): {"lo", BridgeName, vethName(a.ID), vethName(b.ID)}} {
		h, err := handle(path)
		if err != nil {
			t.Fatal(err)
		}
		links, err := h.LinkList()
		h.Close()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range links {
			names = append(names, l.Attrs().Name)
		}
		slices.Sort(names)
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Fatalf("%s has links %v, want %v", path, names, want)
		}
	}

	// Now send: UDP from node a to each address, each with a marker.
	dsts := append([]netip.Addr{b.Addr, inVPC}, outside...)
	tag := make([]byte, 8)
	rand.Read(tag)
	markers := make([]string, len(dsts))
	for i, d := range dsts {
		markers[i] = "kplane-nodenet-leak-test-" + hex.EncodeToString(tag) + "-" + d.String()
	}
	host := startCapture(t, "", hostOut, markers)
	vpcCap := startCapture(t, m.VPCPath(vpc), 0, markers)
	err = InNamespace(m.NodePath(a.ID), func() error {
		for i, d := range dsts {
			c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(d, 9)))
			if err != nil {
				return err
			}
			c.Write([]byte(markers[i]))
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	seenVPC, _ := vpcCap.finish(t)
	seenHost, drops := host.finish(t)
	if drops > 0 {
		t.Fatalf("the host capture dropped %d frames: it proves nothing", drops)
	}
	for i, d := range dsts {
		if !seenVPC[markers[i]] {
			t.Errorf("packet to %v: not seen in the VPC's namespace (the capture would not prove anything)", d)
		}
		if seenHost[markers[i]] {
			t.Errorf("packet to %v: seen on the host's interface %d", d, hostOut)
		}
	}

	// Remove everything: the host is as it was, nothing of ours remains.
	inodes := map[string]uint64{"vpc": nsInode(t, m.VPCPath(vpc)), "a": nsInode(t, m.NodePath(a.ID)), "b": nsInode(t, m.NodePath(b.ID))}
	if err := m.RemoveNode(a.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveVPC(vpc); err != nil { // removes b with it
		t.Fatal(err)
	}
	before.compare(t, snapshotHost(t, m.Dir()), "after removal")
	for name, ino := range inodes {
		if where := nsInUse(ino); len(where) > 0 {
			t.Errorf("namespace of %s still held: %v", name, where)
		}
	}
	if _, err := os.Stat(m.Dir()); !os.IsNotExist(err) {
		t.Errorf("%s: %v, want gone", m.Dir(), err)
	}
}

func (s hostSnapshot) clone() hostSnapshot {
	c := hostSnapshot{}
	for k, v := range s {
		c[k] = v
	}
	return c
}

// defaultRoute is the host's way out: the interface and gateway of its
// route to a public address; with none, nothing could leave, and the capture
// watches every interface of the host.
func defaultRoute(t *testing.T) (int, netip.Addr) {
	t.Helper()
	rs, err := netlink.RouteGet(net.IPv4(203, 0, 113, 9))
	if err != nil || len(rs) == 0 {
		return 0, netip.Addr{}
	}
	gw, _ := netip.AddrFromSlice(rs[0].Gw.To4())
	return rs[0].LinkIndex, gw
}
