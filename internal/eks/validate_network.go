package eks

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// Validation of what a cluster asks of the network: endpoint access,
// subnets and security groups against the inventory, free addresses,
// zones, the service CIDR.

// The private blocks serviceIpv4Cidr must lie in.
var privateIPv4Blocks = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

// checkEndpointAccess checks the members of a VpcConfigRequest that do not
// need the inventory. pub and priv are the endpoint access the request
// results in; allowIPv6 admits IPv6 public access CIDRs (IPv6 clusters).
func checkEndpointAccess(cluster string, v *shapes.VpcConfigRequest, pub, priv, allowIPv6 bool) *Error {
	if !pub && !priv {
		return InvalidParam(cluster, "Both private and public endpoint access cannot be false") // EKS's text
	}
	if len(v.PublicAccessCidrs) > maxPublicAccessCidrs {
		return InvalidParam(cluster, "publicAccessCidrs has %d CIDR blocks; at most %d are allowed", len(v.PublicAccessCidrs), maxPublicAccessCidrs)
	}
	var invalid []string
	for _, c := range v.PublicAccessCidrs {
		if !validPublicCIDR(c, allowIPv6) {
			invalid = append(invalid, c)
		}
	}
	if len(invalid) > 0 {
		return InvalidParam(cluster, "The following CIDRs are invalid in publicAccessCidrs: [%s]", strings.Join(invalid, ",")) // EKS's text
	}
	return checkEnum(cluster, v.ControlPlaneEgressMode, "resourcesVpcConfig.controlPlaneEgressMode", enumControlPlaneEgressMode)
}

// validPublicCIDR reports whether c is a canonical CIDR block (no host bits
// set) of an allowed family.
func validPublicCIDR(c string, allowIPv6 bool) bool {
	p, err := netip.ParsePrefix(c)
	if err != nil || p != p.Masked() {
		return false
	}
	a := p.Addr()
	return a.Is4() || (allowIPv6 && a.Is6() && !a.Is4In6())
}

// checkIDList checks a list of ids for its length and duplicates.
func checkIDList(cluster, member string, ids []string, most int, tooMany string) *Error {
	if len(ids) > most {
		return InvalidParam(cluster, tooMany, most, len(ids))
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			return InvalidParam(cluster, "The %s list contains '%s' more than once", member, id)
		}
		seen[id] = true
	}
	return nil
}

const (
	tooManySubnets        = "At most %d subnets can be specified, but %d were specified"
	tooManySecurityGroups = "You may specify up to %d security groups, but %d were specified"
	twoAZs                = "Subnets specified must be in at least two different AZs" // EKS's text
)

// checkCreateVpcConfig checks resourcesVpcConfig against the inventory and
// returns the VPC the subnets are in.
func checkCreateVpcConfig(cluster string, v *shapes.VpcConfigRequest, allowIPv6 bool, network *store.Network, lim Limits) (store.VPC, *Error) {
	if v == nil {
		return store.VPC{}, InvalidParam(cluster, "1 validation error detected: Value null at 'resourcesVpcConfig' failed to satisfy constraint: Member must not be null")
	}
	if network == nil {
		network = &store.Network{}
	}
	pub := v.EndpointPublicAccess == nil || *v.EndpointPublicAccess    // default true
	priv := v.EndpointPrivateAccess != nil && *v.EndpointPrivateAccess // default false
	if err := checkEndpointAccess(cluster, v, pub, priv, allowIPv6); err != nil {
		return store.VPC{}, err
	}

	// Subnets: 2-16, distinct, existing, one VPC, two or more supported AZs.
	if err := checkIDList(cluster, "subnetIds", v.SubnetIDs, maxSubnets, tooManySubnets); err != nil {
		return store.VPC{}, err
	}
	if len(v.SubnetIDs) < minSubnets {
		return store.VPC{}, InvalidParam(cluster, twoAZs)
	}
	subnets := make([]store.Subnet, len(v.SubnetIDs))
	for i, id := range v.SubnetIDs {
		s, ok := network.Subnet(id)
		if !ok {
			return store.VPC{}, InvalidParam(cluster, "The subnet ID '%s' does not exist", id) // EC2's text, as EKS relays it
		}
		subnets[i] = s
	}
	vpcID := subnets[0].VpcID
	for _, s := range subnets[1:] {
		if s.VpcID != vpcID {
			return store.VPC{}, InvalidParam(cluster, "Subnets specified must all be in the same VPC: subnet %s is in %s, subnet %s is in %s", subnets[0].ID, vpcID, s.ID, s.VpcID)
		}
	}
	for _, s := range subnets {
		if slices.Contains(lim.UnsupportedZones, s.AvailabilityZone) {
			return store.VPC{}, unsupportedZone(cluster, s.AvailabilityZone, vpcID, network, lim)
		}
	}
	zones := map[string]bool{}
	for _, s := range subnets {
		zones[s.AvailabilityZone] = true
	}
	if len(zones) < minSubnets {
		return store.VPC{}, InvalidParam(cluster, twoAZs)
	}
	if err := checkFreeAddresses(cluster, subnets); err != nil {
		return store.VPC{}, err
	}

	// Security groups: up to 5, distinct, existing, in the subnets' VPC.
	if err := checkIDList(cluster, "securityGroupIds", v.SecurityGroupIDs, maxSecurityGroups, tooManySecurityGroups); err != nil {
		return store.VPC{}, err
	}
	var elsewhere []string
	for _, id := range v.SecurityGroupIDs {
		g, ok := network.SecurityGroup(id)
		if !ok {
			return store.VPC{}, InvalidParam(cluster, "The security group '%s' does not exist", id) // EC2's text
		}
		if g.VpcID != vpcID {
			elsewhere = append(elsewhere, id)
		}
	}
	if len(elsewhere) > 0 {
		// EKS's text.
		return store.VPC{}, InvalidParam(cluster, "Security group(s) [%s] are not in the same VPC as the subnets. Please specify a security group that is associated with the VPC: %s.", strings.Join(elsewhere, ", "), vpcID)
	}

	for _, vpc := range network.VPCs {
		if vpc.ID == vpcID {
			return vpc, nil
		}
	}
	return store.VPC{ID: vpcID}, nil
}

// checkFreeAddresses requires store.MinFreeAddresses free addresses in every
// subnet, as EKS does for the network interfaces it places there.
func checkFreeAddresses(cluster string, subnets []store.Subnet) *Error {
	var short []string
	for _, s := range subnets {
		if free := s.Available(); free < store.MinFreeAddresses {
			short = append(short, fmt.Sprintf("%s Free IPs: %d", s.ID, free))
		}
	}
	if len(short) == 0 {
		return nil
	}
	return InvalidParam(cluster, insufficientIPs, strings.Join(short, " "), store.MinFreeAddresses)
}

// insufficientIPs is EKS's text for subnets without enough free addresses
// (as UpdateClusterConfig returns it; CreateCluster requires six).
const insufficientIPs = "Provided subnets %s , need at least %d IPs in each subnet to be free for this operation"

// unsupportedZone is EKS's UnsupportedAvailabilityZoneException for a subnet
// in zone, listing the supported zones the VPC has subnets in.
func unsupportedZone(cluster, zone, vpcID string, network *store.Network, lim Limits) *Error {
	valid := []string{}
	for _, s := range network.Subnets {
		if s.VpcID == vpcID && s.AvailabilityZone != "" &&
			!slices.Contains(lim.UnsupportedZones, s.AvailabilityZone) && !slices.Contains(valid, s.AvailabilityZone) {
			valid = append(valid, s.AvailabilityZone)
		}
	}
	slices.Sort(valid)
	// EKS's text.
	return Errorf(UnsupportedAvailabilityZone,
		"Cannot create cluster '%s' because %s, the targeted availability zone, does not currently have sufficient capacity to support the cluster. Retry and choose from these availability zones: %s",
		cluster, zone, strings.Join(valid, ", ")).
		With("clusterName", cluster).
		With("validZones", valid)
}

// checkServiceCIDR applies the model's rules for serviceIpv4Cidr: within
// 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, between /24 and /12, not
// overlapping the VPC's CIDR block.
func checkServiceCIDR(cluster, cidr string, vpc store.VPC) *Error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || p != p.Masked() {
		return InvalidParam(cluster, "serviceIpv4Cidr %s is not a valid IPv4 CIDR block", cidr)
	}
	if p.Bits() < minServiceCIDRBits || p.Bits() > maxServiceCIDRBits {
		return InvalidParam(cluster, "serviceIpv4Cidr %s is invalid: the CIDR block must be between /%d and /%d", cidr, maxServiceCIDRBits, minServiceCIDRBits)
	}
	within := false
	for _, b := range privateIPv4Blocks {
		within = within || (b.Bits() <= p.Bits() && b.Contains(p.Addr()))
	}
	if !within {
		return InvalidParam(cluster, "serviceIpv4Cidr %s is invalid: the CIDR block must be within one of the private IP address blocks 10.0.0.0/8, 172.16.0.0/12, or 192.168.0.0/16", cidr)
	}
	if vp, err := netip.ParsePrefix(vpc.CidrBlock); err == nil && vp.Overlaps(p) {
		return InvalidParam(cluster, "serviceIpv4Cidr %s is invalid: the CIDR block overlaps %s, the CIDR block of %s", cidr, vpc.CidrBlock, vpc.ID)
	}
	return nil
}
