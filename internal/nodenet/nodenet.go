// Package nodenet is the network of kplane's worker nodes: one network
// namespace per VPC holding a bridge (the VPC's router), and one network
// namespace per node holding the instance's private IP on a veth whose other
// end is on that bridge.
//
// The host namespace is never part of it: no interface kplane makes is ever
// in the host namespace (each veth is created in the VPC namespace with its
// peer directly in the node's), and nothing in the host routes to a VPC
// range. So a packet from a node or a pod to any address can only reach the
// VPC namespace, where addresses outside the VPC have no route at all (they
// are answered "network unreachable"): it can never reach the host's
// default route, whatever state a node is in. The host's interfaces,
// routes, sysctls and firewall rules are never changed; the sysctls kplane
// sets (ip_forward) are those of its own namespaces.
//
// See docs/architecture.md ("Node network") for the layout and its choices.
package nodenet

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"golang.org/x/sys/unix"
)

// Manager makes and removes the namespaces of one kplane (one data
// directory). Its methods are idempotent and safe for concurrent use; what
// exists is read back from the kernel, so a restarted kplane carries on
// from whatever a killed one left.
type Manager struct {
	dir string
	mu  sync.Mutex
}

// DirFor is where the namespaces of the kplane with data directory dataDir
// are bound: under /run, which is about this boot (namespaces do not survive
// a reboot), named by a hash of the data directory so that two kplanes on one
// machine never share one.
func DirFor(dataDir string) string {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join("/run/kplane", hex.EncodeToString(sum[:6]), "netns")
}

// New returns the manager of the namespaces bound under dir (see DirFor).
func New(dir string) *Manager { return &Manager{dir: dir} }

// Dir is the directory the namespaces are bound under. It is a mount point
// of its own with shared propagation while any namespace exists: a node
// process that makes a private mount namespace should detach it (one
// umount2(Dir, MNT_DETACH)), so that its copy of the binds does not keep
// other nodes' namespaces alive after they are removed.
func (m *Manager) Dir() string { return m.dir }

// VPCPath is the bound namespace of VPC id.
func (m *Manager) VPCPath(vpcID string) string { return filepath.Join(m.dir, "vpc", vpcID) }

// NodePath is the bound namespace of node id: the network namespace the
// node's processes (containerd, kubelet, kube-proxy, CNI) run in.
func (m *Manager) NodePath(nodeID string) string { return filepath.Join(m.dir, "node", nodeID) }

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

func checkID(kind, id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("nodenet: bad %s id %q", kind, id)
	}
	return nil
}

// Node is one instance's place in its VPC.
type Node struct {
	ID     string       // instance id, e.g. i-0123456789abcdef0
	VPC    string       // VPC id
	Subnet netip.Prefix // the subnet's CIDR block
	Addr   netip.Addr   // the instance's private IP, inside Subnet
	// PodCIDR is routed to Addr by the VPC (see PodCIDR); empty for none.
	PodCIDR netip.Prefix
}

func (n Node) validate() error {
	if err := checkID("node", n.ID); err != nil {
		return err
	}
	if err := checkID("vpc", n.VPC); err != nil {
		return err
	}
	if !n.Subnet.IsValid() || !n.Subnet.Addr().Is4() || n.Subnet.Bits() > 28 || n.Subnet != n.Subnet.Masked() {
		return fmt.Errorf("nodenet: node %s: subnet %v is not an IPv4 CIDR block of /28 or larger", n.ID, n.Subnet)
	}
	if !n.Subnet.Contains(n.Addr) || n.Addr == Gateway(n.Subnet) || n.Addr == n.Subnet.Addr() || n.Addr == lastAddr(n.Subnet) {
		return fmt.Errorf("nodenet: node %s: address %v is not a host address of subnet %v", n.ID, n.Addr, n.Subnet)
	}
	if n.PodCIDR.IsValid() && (!n.PodCIDR.Addr().Is4() || n.PodCIDR != n.PodCIDR.Masked() || n.PodCIDR.Overlaps(n.Subnet)) {
		return fmt.Errorf("nodenet: node %s: pod CIDR %v is not an IPv4 block apart from its subnet", n.ID, n.PodCIDR)
	}
	return nil
}

// Gateway is the subnet's router address, its first host address (AWS's
// VPC router is at the subnet's base + 1 too). It sits on the VPC's bridge.
func Gateway(subnet netip.Prefix) netip.Addr { return subnet.Masked().Addr().Next() }

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= (1 << (32 - p.Bits())) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// lock serializes changes within this process (mu) and between processes
// sharing the directory (an flock beside it).
func (m *Manager) lock() (unlock func(), err error) {
	m.mu.Lock()
	if err := os.MkdirAll(filepath.Dir(m.dir), 0o755); err != nil {
		m.mu.Unlock()
		return nil, err
	}
	f, err := os.OpenFile(m.dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		m.mu.Unlock()
		return nil, err
	}
	return func() { f.Close(); m.mu.Unlock() }, nil
}

// List returns the ids of the VPCs and nodes that have a namespace.
func (m *Manager) List() (vpcs, nodes []string, err error) {
	vpcs, err = listBound(filepath.Join(m.dir, "vpc"))
	if err != nil {
		return nil, nil, err
	}
	nodes, err = listBound(filepath.Join(m.dir, "node"))
	return vpcs, nodes, err
}

func listBound(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if isNamespace(filepath.Join(dir, e.Name())) {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// releaseIfEmpty removes the directory's own mount once no namespace is
// bound under it, so a kplane with no nodes leaves no mount behind.
func (m *Manager) releaseIfEmpty() error {
	vpcs, nodes, err := m.List()
	if err != nil || len(vpcs)+len(nodes) > 0 {
		return err
	}
	if err := releaseDir(m.dir); err != nil {
		return err
	}
	os.Remove(m.dir + ".lock")
	os.Remove(filepath.Dir(m.dir))               // the per-kplane directory, if empty
	os.Remove(filepath.Dir(filepath.Dir(m.dir))) // /run/kplane, if no other kplane has one
	return nil
}
