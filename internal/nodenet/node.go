package nodenet

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NodeInterface is the name of the node's end of its veth, in the node's
// namespace, as an instance's first network interface is named.
const NodeInterface = "eth0"

const podFallbackMetric = 4000

// vethName is the VPC end of node id's veth: derived from the id (names are
// at most 15 bytes), so it is found again after a restart.
func vethName(nodeID string) string {
	sum := sha256.Sum256([]byte(nodeID))
	return "n" + hex.EncodeToString(sum[:6])
}

// EnsureNode makes node n's namespace if it is missing and brings its
// network to n: the veth between it and the VPC's bridge, the instance's
// address and default route through its subnet's gateway, forwarding on (it
// routes its pods), the gateway on the bridge and the VPC's route of the
// node's pod CIDR. It makes the VPC's namespace too if needed.
//
// The veth is created inside the VPC's namespace with its peer directly in
// the node's: neither end is ever in the host's namespace, not even for the
// moment between creating and moving it.
func (m *Manager) EnsureNode(n Node) error {
	if err := n.validate(); err != nil {
		return err
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if vpc, err := m.vpcOfNode(n.ID); err != nil {
		return err
	} else if vpc != "" && vpc != n.VPC {
		return fmt.Errorf("nodenet: node %s is attached to %s, not %s", n.ID, vpc, n.VPC)
	}
	if err := m.ensureVPC(n.VPC); err != nil {
		return err
	}
	nodePath := m.NodePath(n.ID)
	if _, err := createNamespace(nodePath); err != nil {
		return err
	}
	vh, err := handle(m.VPCPath(n.VPC))
	if err != nil {
		return err
	}
	defer vh.Close()
	nh, err := handle(nodePath)
	if err != nil {
		return err
	}
	defer nh.Close()
	br, err := vh.LinkByName(BridgeName)
	if err != nil {
		return err
	}
	if err := ensureVeth(vh, nh, nodePath, n, br.Attrs().Index); err != nil {
		return fmt.Errorf("node %s: %w", n.ID, err)
	}

	// The VPC side: the subnet's gateway on the bridge, the pod CIDR routed
	// to the node.
	gw := Gateway(n.Subnet)
	if err := vh.AddrReplace(br, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(gw, n.Subnet.Bits()))}); err != nil {
		return fmt.Errorf("node %s: gateway %v on the bridge: %w", n.ID, gw, err)
	}
	if n.PodCIDR.IsValid() {
		r := &netlink.Route{Dst: ipNet(n.PodCIDR), Gw: net.IP(n.Addr.AsSlice()), LinkIndex: br.Attrs().Index}
		if err := vh.RouteReplace(r); err != nil {
			return fmt.Errorf("node %s: route pod CIDR %v: %w", n.ID, n.PodCIDR, err)
		}
	}

	// The node side: its address and its only route out, its gateway.
	if err := linkUp(nh, "lo"); err != nil {
		return err
	}
	eth, err := nh.LinkByName(NodeInterface)
	if err != nil {
		return err
	}
	if err := nh.AddrReplace(eth, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(n.Addr, n.Subnet.Bits()))}); err != nil {
		return fmt.Errorf("node %s: address %v: %w", n.ID, n.Addr, err)
	}
	if err := nh.LinkSetUp(eth); err != nil {
		return err
	}
	def := &netlink.Route{Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, Gw: net.IP(gw.AsSlice()), LinkIndex: eth.Attrs().Index}
	if err := nh.RouteReplace(def); err != nil {
		return fmt.Errorf("node %s: default route via %v: %w", n.ID, gw, err)
	}
	if n.PodCIDR.IsValid() {
		// Until the node's CNI puts its pod bridge up (its connected route
		// has metric 0 and wins), an address of the pod CIDR with no pod is
		// unreachable here, instead of going back to the VPC, which routes
		// it here again until its TTL runs out.
		r := &netlink.Route{Dst: ipNet(n.PodCIDR), Type: unix.RTN_UNREACHABLE, Priority: podFallbackMetric}
		if err := nh.RouteReplace(r); err != nil {
			return fmt.Errorf("node %s: fallback route of pod CIDR %v: %w", n.ID, n.PodCIDR, err)
		}
	}
	return writeSysctl(nodePath, "net/ipv4/ip_forward", "1")
}

// ensureVeth makes (or checks) the veth pair of node n: its VPC end on the
// bridge, up, labelled with the node (the alias is how Nodes reads the VPC's
// nodes back from the kernel), its node end named eth0.
func ensureVeth(vh, nh *netlink.Handle, nodePath string, n Node, bridge int) error {
	name := vethName(n.ID)
	link, err := vh.LinkByName(name)
	if err == nil {
		// A pair whose node end is gone (the namespace was made again) is
		// made again.
		if _, perr := nh.LinkByName(NodeInterface); perr != nil {
			if err := vh.LinkDel(link); err != nil {
				return fmt.Errorf("remove stale veth %s: %w", name, err)
			}
			link = nil
		}
	} else {
		link = nil
	}
	if link == nil {
		ns, err := netns.GetFromPath(nodePath)
		if err != nil {
			return err
		}
		defer ns.Close()
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: name, MasterIndex: bridge},
			PeerName:      NodeInterface,
			PeerNamespace: netlink.NsFd(int(ns)),
		}
		if err := vh.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth %s: %w", name, err)
		}
		if link, err = vh.LinkByName(name); err != nil {
			return err
		}
	}
	if link.Attrs().MasterIndex != bridge {
		if err := vh.LinkSetMasterByIndex(link, bridge); err != nil {
			return err
		}
	}
	if err := vh.LinkSetAlias(link, nodeAlias(n)); err != nil {
		return err
	}
	return vh.LinkSetUp(link)
}

// nodeAlias records the node on its veth's VPC end.
func nodeAlias(n Node) string {
	s := "kplane-node " + n.ID + " " + netip.PrefixFrom(n.Addr, n.Subnet.Bits()).String()
	if n.PodCIDR.IsValid() {
		s += " " + n.PodCIDR.String()
	}
	return s
}

func parseNodeAlias(vpcID, alias string) (Node, bool) {
	f := strings.Fields(alias)
	if len(f) < 3 || f[0] != "kplane-node" {
		return Node{}, false
	}
	a, err := netip.ParsePrefix(f[2])
	if err != nil {
		return Node{}, false
	}
	n := Node{ID: f[1], VPC: vpcID, Addr: a.Addr(), Subnet: a.Masked()}
	if len(f) > 3 {
		n.PodCIDR, _ = netip.ParsePrefix(f[3])
	}
	return n, true
}

// Nodes lists the nodes attached to the VPC, read from the kernel.
func (m *Manager) Nodes(vpcID string) ([]Node, error) {
	if err := checkID("vpc", vpcID); err != nil {
		return nil, err
	}
	return m.nodesOf(vpcID)
}

func (m *Manager) nodesOf(vpcID string) ([]Node, error) {
	if !isNamespace(m.VPCPath(vpcID)) {
		return nil, nil
	}
	vh, err := handle(m.VPCPath(vpcID))
	if err != nil {
		return nil, err
	}
	defer vh.Close()
	links, err := vh.LinkList()
	if err != nil {
		return nil, err
	}
	var out []Node
	for _, l := range links {
		if n, ok := parseNodeAlias(vpcID, l.Attrs().Alias); ok && l.Type() == "veth" {
			out = append(out, n)
		}
	}
	return out, nil
}

// vpcOfNode is the VPC whose namespace holds node id's veth, or "".
func (m *Manager) vpcOfNode(nodeID string) (string, error) {
	vpcs, _, err := m.List()
	if err != nil {
		return "", err
	}
	for _, v := range vpcs {
		vh, err := handle(m.VPCPath(v))
		if err != nil {
			return "", err
		}
		_, lerr := vh.LinkByName(vethName(nodeID))
		vh.Close()
		if lerr == nil {
			return v, nil
		}
	}
	return "", nil
}

// RemoveNode removes node id's pod route, its veth and its namespace, and
// the VPC's namespace with the VPC's last node. A process still in the
// namespace keeps it alive, but without any interface but its loopback: it
// can reach nothing. Absent is fine.
func (m *Manager) RemoveNode(nodeID string) error {
	if err := checkID("node", nodeID); err != nil {
		return err
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := m.removeNode(nodeID); err != nil {
		return err
	}
	return m.releaseIfEmpty()
}

func (m *Manager) removeNode(nodeID string) error {
	vpc, err := m.vpcOfNode(nodeID)
	if err != nil {
		return err
	}
	if vpc != "" {
		if err := detach(m.VPCPath(vpc), vpc, nodeID); err != nil {
			return fmt.Errorf("node %s: %w", nodeID, err)
		}
	}
	if err := removeNamespace(m.NodePath(nodeID)); err != nil {
		return err
	}
	if vpc == "" {
		return nil
	}
	if rest, err := m.nodesOf(vpc); err != nil || len(rest) > 0 {
		return err
	}
	return removeNamespace(m.VPCPath(vpc))
}

func detach(vpcPath, vpcID, nodeID string) error {
	vh, err := handle(vpcPath)
	if err != nil {
		return err
	}
	defer vh.Close()
	link, err := vh.LinkByName(vethName(nodeID))
	if err != nil {
		return nil
	}
	if n, ok := parseNodeAlias(vpcID, link.Attrs().Alias); ok && n.PodCIDR.IsValid() {
		r := &netlink.Route{Dst: ipNet(n.PodCIDR), Gw: net.IP(n.Addr.AsSlice())}
		if err := vh.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("remove pod route %v: %w", n.PodCIDR, err)
		}
	}
	// Deleting one end deletes the pair.
	if err := vh.LinkDel(link); err != nil {
		return fmt.Errorf("remove veth: %w", err)
	}
	return nil
}
