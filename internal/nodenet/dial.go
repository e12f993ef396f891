package nodenet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
)

// ListenIn opens a TCP listener whose socket is in the namespace bound at
// path (addr is an IP:port literal of that namespace; no name lookups
// happen inside it). The listener stays in that namespace while the caller's
// goroutines accept on it from the host's.
func ListenIn(ctx context.Context, path string, lc *net.ListenConfig, addr string) (net.Listener, error) {
	if lc == nil {
		lc = &net.ListenConfig{}
	}
	var ln net.Listener
	err := InNamespace(path, func() (err error) {
		ln, err = lc.Listen(ctx, "tcp", addr)
		return err
	})
	return ln, err
}

// DialIn connects to addr (an IP:port literal) from a socket made in the
// namespace bound at path.
func DialIn(ctx context.Context, path string, d *net.Dialer, addr string) (net.Conn, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	if _, err := netip.ParseAddrPort(addr); err != nil {
		return nil, fmt.Errorf("nodenet: dial %q: want an IP:port literal", addr)
	}
	var c net.Conn
	err := InNamespace(path, func() (err error) {
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	return c, err
}

// ListenVPC listens on addr inside VPC vpcID's namespace (an address put
// there with AddAddress), where the VPC's nodes reach it.
func (m *Manager) ListenVPC(ctx context.Context, vpcID string, lc *net.ListenConfig, addr string) (net.Listener, error) {
	if err := checkID("vpc", vpcID); err != nil {
		return nil, err
	}
	if !isNamespace(m.VPCPath(vpcID)) {
		return nil, fmt.Errorf("nodenet: vpc %s has no network namespace", vpcID)
	}
	return ListenIn(ctx, m.VPCPath(vpcID), lc, addr)
}

// DialVPC connects to addr from inside VPC vpcID's namespace: the way to a
// node or pod address that never leaves through the host.
func (m *Manager) DialVPC(ctx context.Context, vpcID string, d *net.Dialer, addr string) (net.Conn, error) {
	if err := checkID("vpc", vpcID); err != nil {
		return nil, err
	}
	if !isNamespace(m.VPCPath(vpcID)) {
		return nil, fmt.Errorf("nodenet: vpc %s has no network namespace", vpcID)
	}
	return DialIn(ctx, m.VPCPath(vpcID), d, addr)
}
