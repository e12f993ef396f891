package lb

import "net/netip"

// Access is who may connect to an endpoint: EKS's endpointPublicAccess,
// endpointPrivateAccess and publicAccessCidrs, decided on the client's
// source address as an AWS NLB with security groups would.
type Access struct {
	Public, Private bool
	PublicCIDRs     []netip.Prefix // sources allowed on the public side
	PrivateCIDRs    []netip.Prefix // sources that count as inside the cluster's VPC
}

// Allowed reports whether src may connect. A source inside PrivateCIDRs is
// allowed when Private is on; any other source (and a private one when
// Private is off, as VPC traffic then leaves through the public side) is
// allowed when Public is on and it is inside one of PublicCIDRs. An empty
// PublicCIDRs allows no one: the caller passes 0.0.0.0/0 for EKS's default.
func (a Access) Allowed(src netip.Addr) bool {
	src = src.Unmap() // an IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d
	if a.Private && containsAddr(a.PrivateCIDRs, src) {
		return true
	}
	return a.Public && containsAddr(a.PublicCIDRs, src)
}

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clone copies the slices so a caller reusing its Listener cannot change
// what the accept loop reads without the lock.
func (a Access) clone() Access {
	a.PublicCIDRs = append([]netip.Prefix(nil), a.PublicCIDRs...)
	a.PrivateCIDRs = append([]netip.Prefix(nil), a.PrivateCIDRs...)
	return a
}
