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

// AddAddress puts addr (a cluster's network interface in one of the VPC's
// subnets) on the VPC's bridge as a /32, so that kplane can listen on it
// inside the VPC namespace (see Listen). Nodes reach it directly in its
// subnet (the bridge answers ARP for it) or through their gateway.
func (m *Manager) AddAddress(vpcID string, addr netip.Addr) error {
	return m.changeAddress(vpcID, addr, true)
}

// RemoveAddress takes addr off the VPC's bridge; absent is fine.
func (m *Manager) RemoveAddress(vpcID string, addr netip.Addr) error {
	return m.changeAddress(vpcID, addr, false)
}

func (m *Manager) changeAddress(vpcID string, addr netip.Addr, add bool) error {
	if err := checkID("vpc", vpcID); err != nil {
		return err
	}
	if !addr.Is4() {
		return fmt.Errorf("nodenet: address %v is not IPv4", addr)
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if add {
		if err := m.ensureVPC(vpcID); err != nil {
			return err
		}
	} else if !isNamespace(m.VPCPath(vpcID)) {
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
	a := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(addr, 32))}
	if add {
		return h.AddrReplace(br, a)
	}
	if err := h.AddrDel(br, a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// Addresses lists the /32 addresses on the VPC's bridge (AddAddress).
func (m *Manager) Addresses(vpcID string) ([]netip.Addr, error) {
	if !isNamespace(m.VPCPath(vpcID)) {
		return nil, nil
	}
	h, err := handle(m.VPCPath(vpcID))
	if err != nil {
		return nil, err
	}
	defer h.Close()
	br, err := h.LinkByName(BridgeName)
	if err != nil {
		return nil, err
	}
	addrs, err := h.AddrList(br, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		if ones, _ := a.Mask.Size(); ones == 32 {
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
				out = append(out, ip)
			}
		}
	}
	return out, nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
