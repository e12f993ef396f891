package nodenet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// BridgeName is the VPC namespace's bridge: every node's veth is a port of
// it, and it holds each subnet's gateway and the clusters' interface
// addresses.
const BridgeName = "vpc0"

// handle opens a netlink handle on the namespace bound at path. Netlink
// sockets are bound to the namespace they are created in, so no thread of
// ours enters it.
func handle(path string) (*netlink.Handle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}

// EnsureVPC makes the VPC's namespace if it is missing: loopback up, the
// bridge up, forwarding on, and no default route (traffic to anything
// outside the VPC's subnets and nodes' pod CIDRs is unreachable).
func (m *Manager) EnsureVPC(vpcID string) error {
	if err := checkID("vpc", vpcID); err != nil {
		return err
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return m.ensureVPC(vpcID)
}

func (m *Manager) ensureVPC(vpcID string) error {
	if err := ensureSharedDir(m.dir); err != nil {
		return err
	}
	path := m.VPCPath(vpcID)
	if _, err := createNamespace(path); err != nil {
		return err
	}
	h, err := handle(path)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := linkUp(h, "lo"); err != nil {
		return err
	}
	br, err := h.LinkByName(BridgeName)
	if err != nil {
		if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeName}}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("vpc %s: add bridge: %w", vpcID, err)
		}
		if br, err = h.LinkByName(BridgeName); err != nil {
			return err
		}
	}
	if err := h.LinkSetUp(br); err != nil {
		return fmt.Errorf("vpc %s: bridge up: %w", vpcID, err)
	}
	return writeSysctl(path, "net/ipv4/ip_forward", "1")
}

func linkUp(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	return h.LinkSetUp(l)
}

// RemoveVPC removes the VPC's namespace with its bridge, after removing the
// namespaces of every node still attached to it.
func (m *Manager) RemoveVPC(vpcID string) error {
	if err := checkID("vpc", vpcID); err != nil {
		return err
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	nodes, err := m.nodesOf(vpcID)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if err := m.removeNode(n.ID); err != nil {
			return err
		}
	}
	if err := removeNamespace(m.VPCPath(vpcID)); err != nil {
		return err
	}
	return m.releaseIfEmpty()
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// VPCInode identifies the VPC's namespace as it is now (its nsfs inode), or
// 0 when it has none: a socket opened in a namespace that was removed and
// made again must be opened again.
func (m *Manager) VPCInode(vpcID string) uint64 {
	var st unix.Stat_t
	if checkID("vpc", vpcID) != nil || !isNamespace(m.VPCPath(vpcID)) || unix.Stat(m.VPCPath(vpcID), &st) != nil {
		return 0
	}
	return st.Ino
}

// EnsureGateways puts the gateways of subnets (a cluster's subnets, whose
// gateways are the cluster's endpoint for its nodes) on the VPC's bridge,
// if the VPC has a namespace; it does not make one.
func (m *Manager) EnsureGateways(vpcID string, subnets []netip.Prefix) error {
	if err := checkID("vpc", vpcID); err != nil {
		return err
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if !isNamespace(m.VPCPath(vpcID)) {
		return nil
	}
	h, err := handle(m.VPCPath(vpcID))
	if err != nil {
		return err
	}
	defer h.Close()
	br, err := h.LinkByName(BridgeName)
	if err != nil {
		return err
	}
	for _, s := range subnets {
		if !s.Addr().Is4() || s.Bits() > 28 {
			continue
		}
		if err := h.AddrReplace(br, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(Gateway(s), s.Bits()))}); err != nil {
			return fmt.Errorf("vpc %s: gateway of %v: %w", vpcID, s, err)
		}
	}
	return nil
}
