package ec2

import (
	"errors"
	"net/netip"

	"github.com/kplane/kplane/internal/store"
)

func (h *Handler) vpcFields() fields[store.VPC] {
	one := func(f func(store.VPC) string) func(store.VPC) []string {
		return func(v store.VPC) []string { return []string{f(v)} }
	}
	cidr := one(func(v store.VPC) string { return v.CidrBlock })
	dflt := func(v store.VPC) []string { return boolString(v.IsDefault) }
	return fields[store.VPC]{
		"vpc-id":                                one(func(v store.VPC) string { return v.ID }),
		"cidr":                                  cidr,
		"cidr-block-association.cidr-block":     cidr,
		"cidr-block-association.association-id": one(func(v store.VPC) string { return "vpc-cidr-assoc-" + suffix(v.ID) }),
		"cidr-block-association.state":          one(func(store.VPC) string { return "associated" }),
		"is-default":                            dflt,
		"isDefault":                             dflt,
		"state":                                 one(func(store.VPC) string { return "available" }),
		"dhcp-options-id":                       one(func(store.VPC) string { return "default" }),
		"owner-id":                              one(func(store.VPC) string { return h.cfg.AccountID }),
	}
}

func (h *Handler) describeVpcs(c *call) (any, *apiError) {
	n, err := h.cfg.Store.Network(c.ctx)
	if err != nil {
		return nil, h.storeError(c, err)
	}
	vpcs := n.VPCs
	if ids := c.in.lists["VpcId"]; len(ids) > 0 {
		vpcs = nil
		for _, id := range ids {
			if e := vpcIDs.check(id); e != nil {
				return nil, e
			}
			v, found := n.VPC(id)
			if !found {
				return nil, vpcIDs.notFoundError(id)
			}
			vpcs = append(vpcs, v)
		}
	}
	vpcs, e := filterItems(vpcs, c.in.filters, h.vpcFields(), func(v store.VPC) map[string]string { return v.Tags })
	if e != nil {
		return nil, e
	}
	page, next, e := paginate(vpcs, func(v store.VPC) string { return v.ID }, c.in)
	if e != nil {
		return nil, e
	}
	out := &describeVpcsResult{NextToken: next}
	for _, v := range page {
		out.Vpcs.Items = append(out.Vpcs.Items, h.vpcItem(v))
	}
	return out, nil
}

// Bounds of a VPC's CIDR block, as AWS sets them.
const (
	minVPCBits = 16
	maxVPCBits = 28
)

// reservedBlocks cannot hold a VPC: they are not unicast addresses a
// network can use.
var reservedBlocks = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/3"), // multicast and reserved
}

// parseCIDR reads an IPv4 CIDR block for parameter param, which must be
// canonical (no host bits set).
func parseCIDR(param, s string) (netip.Prefix, *apiError) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || p != p.Masked() {
		return netip.Prefix{}, invalidValue(param, printable(s), "This is not a valid CIDR block.")
	}
	return p, nil
}

func (h *Handler) createVpc(c *call) (any, *apiError) {
	for _, p := range []string{"Ipv6Pool", "Ipv6CidrBlock", "Ipv6IpamPoolId", "Ipv6NetmaskLength", "Ipv6CidrBlockNetworkBorderGroup"} {
		if c.in.has(p) {
			return nil, errorf(codeUnsupportedOperation, "kplane's VPCs are IPv4 only: %s is not supported.", p)
		}
	}
	if v6, e := c.in.boolean("AmazonProvidedIpv6CidrBlock"); e != nil || v6 {
		if e != nil {
			return nil, e
		}
		return nil, errorf(codeUnsupportedOperation, "kplane's VPCs are IPv4 only: AmazonProvidedIpv6CidrBlock is not supported.")
	}
	if c.in.has("Ipv4IpamPoolId") || c.in.has("Ipv4NetmaskLength") {
		return nil, errorf(codeUnsupportedOperation, "kplane has no IP address manager (IPAM): give the VPC a CidrBlock.")
	}
	raw := c.in.str("CidrBlock")
	if raw == "" {
		return nil, errorf(codeMissingParameter, "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.")
	}
	p, e := parseCIDR("cidrBlock", raw)
	if e != nil {
		return nil, e
	}
	reserved := false
	for _, r := range reservedBlocks {
		reserved = reserved || r.Overlaps(p)
	}
	if p.Bits() < minVPCBits || p.Bits() > maxVPCBits || reserved {
		return nil, errorf(codeInvalidVpcRange, "The CIDR '%s' is invalid.", p)
	}
	tenancy := c.in.str("InstanceTenancy")
	switch tenancy {
	case "", "default", "dedicated":
	default:
		return nil, invalidValue("instanceTenancy", printable(tenancy), "Valid values are: default, dedicated.")
	}
	tagsOf, e := tagsFromSpecs(c.in.tagSpecs, "vpc")
	if e != nil {
		return nil, e
	}
	vpc := store.VPC{ID: store.NewResourceID("vpc"), CidrBlock: p.String(), InstanceTenancy: tenancy, Tags: tagsOf}
	if _, err := h.cfg.Store.CreateVPC(c.ctx, vpc); err != nil {
		return nil, h.storeError(c, err)
	}
	return &createVpcResult{Vpc: h.vpcItem(vpc)}, nil
}

func (h *Handler) deleteVpc(c *call) (any, *apiError) {
	id := c.in.str("VpcId")
	if id == "" {
		return nil, missing("VpcId")
	}
	if e := vpcIDs.check(id); e != nil {
		return nil, e
	}
	switch err := h.cfg.Store.DeleteVPC(c.ctx, id); {
	case errors.Is(err, store.ErrNotFound):
		return nil, vpcIDs.notFoundError(id)
	case errors.Is(err, store.ErrInUse):
		return nil, errorf(codeDependencyViolation, "The vpc '%s' has dependencies and cannot be deleted.", id)
	case err != nil:
		return nil, h.storeError(c, err)
	}
	return success, nil
}
