package nodenet

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// A node's filter lets in only what its rules allow, by source, protocol and
// port, lets out only what its egress rules allow, passes the replies of
// allowed connections both ways, and is replaced whole by the next one.
func TestFilterEnforcesSecurityGroupRules(t *testing.T) {
	needRoot(t)
	m := newManager(t)
	const vpc = "vpc-0test00000000002"
	a := node(t, "i-0aaaaaaaaaaaaaaf1", vpc, "172.31.0.0/20", "172.31.0.20")
	b := node(t, "i-0bbbbbbbbbbbbbbf2", vpc, "172.31.0.0/20", "172.31.0.21")
	c := node(t, "i-0ccccccccccccccf3", vpc, "172.31.16.0/20", "172.31.16.20")
	for _, n := range []Node{a, b, c} {
		if err := m.EnsureNode(n); err != nil {
			t.Fatal(err)
		}
	}
	open := serveRemoteAddr(t, m.NodePath(b.ID), b.Addr.String()+":0")
	closed := serveRemoteAddr(t, m.NodePath(b.ID), b.Addr.String()+":0")
	openPort := int(netip.MustParseAddrPort(open).Port())
	aServer := serveRemoteAddr(t, m.NodePath(a.ID), a.Addr.String()+":0")
	reaches := func(from Node, to string) bool {
		_, err := askFrom(m.NodePath(from.ID), to)
		return err == nil
	}
	everywhere := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}

	// b: TCP on one port from a only; all out.
	onlyA := Filter{
		Ingress: []FilterRule{{Protocol: unix.IPPROTO_TCP, FromPort: openPort, ToPort: openPort, Peers: []netip.Prefix{netip.PrefixFrom(a.Addr, 32)}}},
		Egress:  []FilterRule{{Protocol: 0, FromPort: -1, ToPort: -1, Peers: everywhere}},
	}
	for range 2 { // applied twice: replaced, not added to
		if err := m.ApplyFilter(b.ID, onlyA); err != nil {
			t.Fatal(err)
		}
	}
	if !reaches(a, open) {
		t.Error("a → b on the allowed port: refused")
	}
	if reaches(a, closed) {
		t.Error("a → b on a port no rule allows: connected")
	}
	if reaches(c, open) {
		t.Error("c → b, a source no rule allows: connected")
	}
	if !reaches(b, aServer) {
		t.Error("b → a with egress allowed: refused (replies must pass b's ingress)")
	}

	// No egress rule: b reaches nothing, and a still reaches b (replies pass).
	if err := m.ApplyFilter(b.ID, Filter{Ingress: onlyA.Ingress}); err != nil {
		t.Fatal(err)
	}
	if reaches(b, aServer) {
		t.Error("b → a without an egress rule: connected")
	}
	if !reaches(a, open) {
		t.Error("a → b after egress went: refused (replies must pass b's egress)")
	}

	// Everything in, from anywhere.
	all := Filter{Ingress: []FilterRule{{FromPort: -1, ToPort: -1, Peers: everywhere}}, Egress: onlyA.Egress}
	if err := m.ApplyFilter(b.ID, all); err != nil {
		t.Fatal(err)
	}
	if !reaches(c, closed) {
		t.Error("c → b with all traffic allowed: refused")
	}
	if err := m.ApplyFilter("../x", all); err == nil {
		t.Error("ApplyFilter of a bad node id: no error")
	}
}
