package nodenet

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Filter is what a node's security groups let through its interface to the
// VPC (NodeInterface), in and out. Like a security group it is stateful:
// the replies of an allowed connection pass whatever the rules say, and
// what no rule allows is dropped. Traffic that stays inside the node (its
// pods among themselves, loopback) is not filtered, as on an instance.
type Filter struct {
	Ingress []FilterRule // what may come in, by source
	Egress  []FilterRule // what may go out, by destination
}

// FilterRule allows one protocol on a range of ports from (or to) a set of
// IPv4 prefixes.
type FilterRule struct {
	// Protocol is an IP protocol number; 0 allows every protocol (EC2's -1).
	Protocol uint8
	// FromPort..ToPort for TCP and UDP; for ICMP, FromPort is the type and
	// ToPort the code. -1 for either: any.
	FromPort, ToPort int
	Peers            []netip.Prefix
}

// filterTable is the node's nftables table of its security groups: in
// family inet so that IPv6 on the VPC interface (which the VPC never
// routes) is dropped too.
const filterTable = "kplane_security_groups"

// ApplyFilter makes node id's namespace enforce f on its VPC interface,
// replacing whatever filter it had, in one nftables transaction: no packet
// ever sees half of the old rules and half of the new. Only the node's own
// namespace is touched.
func (m *Manager) ApplyFilter(nodeID string, f Filter) error {
	if err := checkID("node", nodeID); err != nil {
		return err
	}
	ns, err := unix.Open(m.NodePath(nodeID), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("nodenet: node %s namespace: %w", nodeID, err)
	}
	defer unix.Close(ns)
	c, err := nftables.New(nftables.WithNetNSFd(ns))
	if err != nil {
		return fmt.Errorf("nodenet: nftables in node %s: %w", nodeID, err)
	}
	t := c.AddTable(&nftables.Table{Name: filterTable, Family: nftables.TableFamilyINet})
	c.FlushTable(t) // the chains stay; their rules go, in this same transaction
	in := c.AddChain(&nftables.Chain{Name: "ingress", Table: t})
	out := c.AddChain(&nftables.Chain{Name: "egress", Table: t})
	accept := nftables.ChainPolicyAccept
	for _, hook := range []struct {
		name string
		hook *nftables.ChainHook
	}{{"input", nftables.ChainHookInput}, {"forward", nftables.ChainHookForward}, {"output", nftables.ChainHookOutput}} {
		base := c.AddChain(&nftables.Chain{Name: hook.name, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: hook.hook, Priority: nftables.ChainPriorityFilter, Policy: &accept})
		if hook.name != "output" {
			c.AddRule(&nftables.Rule{Table: t, Chain: base, Exprs: jumpOn(expr.MetaKeyIIFNAME, in.Name)})
		}
		if hook.name != "input" {
			c.AddRule(&nftables.Rule{Table: t, Chain: base, Exprs: jumpOn(expr.MetaKeyOIFNAME, out.Name)})
		}
	}
	for _, dir := range []struct {
		chain *nftables.Chain
		rules []FilterRule
		peer  uint32 // offset of the peer's address in the IPv4 header
	}{{in, f.Ingress, 12}, {out, f.Egress, 16}} {
		c.AddRule(&nftables.Rule{Table: t, Chain: dir.chain, Exprs: acceptReplies()})
		for _, r := range dir.rules {
			for _, p := range r.Peers {
				if !p.Addr().Is4() {
					continue
				}
				c.AddRule(&nftables.Rule{Table: t, Chain: dir.chain, Exprs: allowExprs(r, p, dir.peer)})
			}
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: dir.chain, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nodenet: filter of node %s: %w", nodeID, err)
	}
	return nil
}

// jumpOn jumps to chain for packets in (iifname) or out (oifname) of the
// node's VPC interface.
func jumpOn(key expr.MetaKey, chain string) []expr.Any {
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, NodeInterface)
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
		&expr.Verdict{Kind: expr.VerdictJump, Chain: chain},
	}
}

// acceptReplies is `ct state established,related accept`: security groups
// are stateful.
func acceptReplies() []expr.Any {
	mask := binary.NativeEndian.AppendUint32(nil, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED)
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

// allowExprs is one rule: IPv4, the peer prefix at offset peer of the IP
// header (source 12, destination 16), the protocol and its ports, accept.
func allowExprs(r FilterRule, p netip.Prefix, peer uint32) []expr.Any {
	p = p.Masked()
	mask := net4Mask(p.Bits())
	addr := p.Addr().As4()
	ex := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: peer, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr[:]},
	}
	if r.Protocol != 0 {
		ex = append(ex,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{r.Protocol}})
		switch r.Protocol {
		case unix.IPPROTO_TCP, unix.IPPROTO_UDP:
			if r.FromPort >= 0 && r.ToPort >= 0 {
				ex = append(ex,
					&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
					&expr.Range{Op: expr.CmpOpEq, Register: 1,
						FromData: binary.BigEndian.AppendUint16(nil, uint16(r.FromPort)),
						ToData:   binary.BigEndian.AppendUint16(nil, uint16(r.ToPort))})
			}
		case unix.IPPROTO_ICMP:
			for i, v := range []int{r.FromPort, r.ToPort} { // type, then code
				if v >= 0 {
					ex = append(ex,
						&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: uint32(i), Len: 1},
						&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(v)}})
				}
			}
		}
	}
	return append(ex, &expr.Verdict{Kind: expr.VerdictAccept})
}

func net4Mask(bits int) []byte {
	return binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-bits)&0xffffffff)
}
