package ec2

import (
	"errors"
	"strconv"
	"strings"

	"github.com/kplane/kplane/internal/store"
)

func (h *Handler) subnetFields() fields[store.Subnet] {
	one := func(f func(store.Subnet) string) func(store.Subnet) []string {
		return func(s store.Subnet) []string { return []string{f(s)} }
	}
	zone := one(func(s store.Subnet) string { return s.AvailabilityZone })
	cidr := one(func(s store.Subnet) string { return s.CidrBlock })
	dflt := func(s store.Subnet) []string { return boolString(s.DefaultForAz) }
	return fields[store.Subnet]{
		"subnet-id":                  one(func(s store.Subnet) string { return s.ID }),
		"vpc-id":                     one(func(s store.Subnet) string { return s.VpcID }),
		"availability-zone":          zone,
		"availabilityZone":           zone,
		"availability-zone-id":       one(func(s store.Subnet) string { return h.zoneID(s.AvailabilityZone) }),
		"availabilityZoneId":         one(func(s store.Subnet) string { return h.zoneID(s.AvailabilityZone) }),
		"cidr-block":                 cidr,
		"cidr":                       cidr,
		"cidrBlock":                  cidr,
		"default-for-az":             dflt,
		"defaultForAz":               dflt,
		"map-public-ip-on-launch":    dflt,
		"state":                      one(func(store.Subnet) string { return "available" }),
		"owner-id":                   one(func(store.Subnet) string { return h.cfg.AccountID }),
		"subnet-arn":                 one(func(s store.Subnet) string { return h.arn("subnet", s.ID) }),
		"available-ip-address-count": one(func(s store.Subnet) string { return strconv.Itoa(s.Available()) }),
	}
}

func (h *Handler) describeSubnets(c *call) (any, *apiError) {
	n, err := h.cfg.Store.Network(c.ctx)
	if err != nil {
		return nil, h.storeError(c, err)
	}
	subnets := n.Subnets
	if ids := c.in.lists["SubnetId"]; len(ids) > 0 {
		subnets = nil
		for _, id := range ids {
			if e := subnetIDs.check(id); e != nil {
				return nil, e
			}
			s, found := n.Subnet(id)
			if !found {
				return nil, subnetIDs.notFoundError(id)
			}
			subnets = append(subnets, s)
		}
	}
	subnets, e := filterItems(subnets, c.in.filters, h.subnetFields(), func(s store.Subnet) map[string]string { return s.Tags })
	if e != nil {
		return nil, e
	}
	// By zone, then id: the order a user reads them in.
	page, next, e := paginate(subnets, func(s store.Subnet) string { return s.AvailabilityZone + "\x00" + s.ID }, c.in)
	if e != nil {
		return nil, e
	}
	out := &describeSubnetsResult{NextToken: next}
	for _, s := range page {
		out.Subnets.Items = append(out.Subnets.Items, h.subnetItem(s))
	}
	return out, nil
}

// Bounds of a subnet's CIDR block, as AWS sets them.
const (
	minSubnetBits = 16
	maxSubnetBits = 28
)

func (h *Handler) createSubnet(c *call) (any, *apiError) {
	for _, p := range []string{"Ipv6CidrBlock", "Ipv6IpamPoolId", "Ipv6NetmaskLength"} {
		if c.in.has(p) {
			return nil, errorf(codeUnsupportedOperation, "kplane's subnets are IPv4 only: %s is not supported.", p)
		}
	}
	if v6, e := c.in.boolean("Ipv6Native"); e != nil || v6 {
		if e != nil {
			return nil, e
		}
		return nil, errorf(codeUnsupportedOperation, "kplane's subnets are IPv4 only: Ipv6Native is not supported.")
	}
	if c.in.has("OutpostArn") {
		return nil, errorf(codeUnsupportedOperation, "kplane has no AWS Outposts: OutpostArn is not supported.")
	}
	if c.in.has("Ipv4IpamPoolId") || c.in.has("Ipv4NetmaskLength") {
		return nil, errorf(codeUnsupportedOperation, "kplane has no IP address manager (IPAM): give the subnet a CidrBlock.")
	}
	vpcID := c.in.str("VpcId")
	if vpcID == "" {
		return nil, missing("VpcId")
	}
	if e := vpcIDs.check(vpcID); e != nil {
		return nil, e
	}
	raw := c.in.str("CidrBlock")
	if raw == "" {
		return nil, missing("CidrBlock")
	}
	p, e := parseCIDR("cidrBlock", raw)
	if e != nil {
		return nil, e
	}
	if p.Bits() < minSubnetBits || p.Bits() > maxSubnetBits {
		return nil, errorf(codeInvalidSubnetRange, "The CIDR '%s' is invalid.", p)
	}
	zone, e := h.subnetZone(c, vpcID)
	if e != nil {
		return nil, e
	}
	tagsOf, e := tagsFromSpecs(c.in.tagSpecs, "subnet")
	if e != nil {
		return nil, e
	}
	sn := store.Subnet{ID: store.NewResourceID("subnet"), VpcID: vpcID, AvailabilityZone: zone, CidrBlock: p.String(), Tags: tagsOf}
	switch err := h.cfg.Store.CreateSubnet(c.ctx, sn); {
	case errors.Is(err, store.ErrNotFound):
		return nil, vpcIDs.notFoundError(vpcID)
	case errors.Is(err, store.ErrOutOfRange):
		return nil, errorf(codeInvalidSubnetRange, "The CIDR '%s' is invalid.", p)
	case errors.Is(err, store.ErrOverlap):
		return nil, errorf(codeInvalidSubnetConflict, "The CIDR '%s' conflicts with another subnet", p)
	case err != nil:
		return nil, h.storeError(c, err)
	}
	return &createSubnetResult{Subnet: h.subnetItem(sn)}, nil
}

// subnetZone is the zone CreateSubnet asks for (by name or id), or, when it
// names none, the zone where the VPC has the fewest subnets, as AWS picks one.
func (h *Handler) subnetZone(c *call, vpcID string) (string, *apiError) {
	name, id := c.in.str("AvailabilityZone"), c.in.str("AvailabilityZoneId")
	if name != "" && !h.isZone(name) {
		return "", invalidValue("availabilityZone", printable(name),
			"Subnets can currently only be created in the following availability zones: "+strings.Join(h.cfg.Zones, ", ")+".")
	}
	if id != "" {
		z, found := h.zoneByID(id)
		if !found {
			var ids []string
			for _, z := range h.cfg.Zones {
				ids = append(ids, h.zoneID(z))
			}
			return "", invalidValue("availabilityZoneId", printable(id),
				"Subnets can currently only be created in the following availability zone ids: "+strings.Join(ids, ", ")+".")
		}
		if name != "" && name != z {
			return "", errorf(codeInvalidParameterCombo, "The availability zone %s and the availability zone id %s are different zones.", name, id)
		}
		name = z
	}
	if name != "" {
		return name, nil
	}
	if len(h.cfg.Zones) == 0 {
		return "", errorf(codeInvalidParameterValue, "The region has no availability zones.")
	}
	n, err := h.cfg.Store.Network(c.ctx)
	if err != nil {
		return "", h.storeError(c, err)
	}
	count := map[string]int{}
	for _, s := range n.Subnets {
		if s.VpcID == vpcID {
			count[s.AvailabilityZone]++
		}
	}
	best := h.cfg.Zones[0]
	for _, z := range h.cfg.Zones[1:] {
		if count[z] < count[best] {
			best = z
		}
	}
	return best, nil
}

func (h *Handler) deleteSubnet(c *call) (any, *apiError) {
	id := c.in.str("SubnetId")
	if id == "" {
		return nil, missing("SubnetId")
	}
	if e := subnetIDs.check(id); e != nil {
		return nil, e
	}
	switch err := h.cfg.Store.DeleteSubnet(c.ctx, id); {
	case errors.Is(err, store.ErrNotFound):
		return nil, subnetIDs.notFoundError(id)
	case errors.Is(err, store.ErrInUse):
		// A cluster's network interface is in it, as on AWS.
		return nil, errorf(codeDependencyViolation, "The subnet '%s' has dependencies and cannot be deleted.", id)
	case err != nil:
		return nil, h.storeError(c, err)
	}
	return success, nil
}
