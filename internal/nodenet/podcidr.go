package nodenet

import (
	"fmt"
	"net/netip"
)

// Pod addresses. EKS gives pods addresses of the VPC (the VPC CNI); kplane
// gives each node a pod CIDR of its own that the VPC routes to the node, as
// EKS's custom networking does with a 100.64.0.0/10 range. The node's pod
// CIDR is computed from its address, so nothing needs to be stored or
// allocated, and two nodes of one VPC can never get the same block:
//
//   - the VPC's pod range is 100.64.0.0/10 (RFC 6598 shared space, which
//     AWS accepts as a VPC range and EKS uses for pods), or 10.192.0.0/10
//     when the VPC's own CIDR or the cluster's Service CIDR overlaps it;
//   - a node's block is its address' offset in the VPC's CIDR, scaled: a
//     /16 VPC (the largest AWS allows; the default VPC is 172.31.0.0/16)
//     gives every address a /26 (62 pod addresses, of which the node's
//     bridge takes one: up to 61 pods, more than EKS's max pods for all but
//     the largest instance types), a smaller VPC gives larger blocks, up to
//     a /24.
//
// Pod ranges are per VPC (each VPC is a namespace of its own), so clusters
// in different VPCs may use the same blocks; clusters sharing a VPC never
// collide, as their nodes' addresses differ.

var podRanges = []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("10.192.0.0/10")}

// PodRange is the range pods of a VPC take their addresses from: the first
// of 100.64.0.0/10 and 10.192.0.0/10 overlapping neither the VPC's CIDR nor
// the cluster's Service CIDR (kubernetesNetworkConfig.serviceIpv4Cidr).
func PodRange(vpcCIDR, serviceCIDR netip.Prefix) (netip.Prefix, error) {
	for _, r := range podRanges {
		if !r.Overlaps(vpcCIDR) && (!serviceCIDR.IsValid() || !r.Overlaps(serviceCIDR)) {
			return r, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("nodenet: no pod range apart from VPC %v and Service CIDR %v", vpcCIDR, serviceCIDR)
}

// PodCIDR is the pod block of the node at addr in a VPC of vpcCIDR, inside
// podRange (PodRange). The VPC's namespace routes it to addr.
func PodCIDR(vpcCIDR, podRange netip.Prefix, addr netip.Addr) (netip.Prefix, error) {
	vpcCIDR = vpcCIDR.Masked()
	if !vpcCIDR.Addr().Is4() || !vpcCIDR.Contains(addr) || vpcCIDR.Bits() < 16 {
		return netip.Prefix{}, fmt.Errorf("nodenet: %v is not an address of VPC %v (an IPv4 /16 or smaller)", addr, vpcCIDR)
	}
	hostBits := 32 - vpcCIDR.Bits()
	rangeBits := 32 - podRange.Bits()
	// Each address gets 2^(rangeBits-hostBits) pod addresses, at most 256.
	blockBits := min(rangeBits-hostBits, 8)
	if blockBits < 2 {
		return netip.Prefix{}, fmt.Errorf("nodenet: pod range %v too small for VPC %v", podRange, vpcCIDR)
	}
	offset := u32(addr) - u32(vpcCIDR.Addr())
	base := u32(podRange.Masked().Addr()) + offset<<blockBits
	return netip.PrefixFrom(fromU32(base), 32-blockBits), nil
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func fromU32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
