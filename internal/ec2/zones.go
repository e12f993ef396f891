package ec2

import (
	"fmt"
	"strings"
)

// Availability zones: the region's zones are kplane's configured ones
// (server.Config.Zones). AWS gives each zone an id that names the same
// physical zone in every account, such as usw2-az1; kplane derives it from the
// region and the zone's letter (us-west-2a is usw2-az1).

// regionCode abbreviates a region as zone ids do: us-west-2 is usw2,
// ap-northeast-1 apne1, eu-central-1 euc1.
func regionCode(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) < 2 {
		return region
	}
	var b strings.Builder
	b.WriteString(parts[0])
	for _, p := range parts[1 : len(parts)-1] {
		for _, dir := range []string{"north", "south", "east", "west"} {
			if rest, ok := strings.CutPrefix(p, dir); ok {
				b.WriteByte(dir[0])
				p = rest
			}
		}
		if p != "" {
			b.WriteByte(p[0])
		}
	}
	b.WriteString(parts[len(parts)-1])
	return b.String()
}

// zoneID is the id of the zone named name: by its letter when it is the
// region's name and a letter, else by its place in the configured zones.
func (h *Handler) zoneID(name string) string {
	code := regionCode(h.cfg.Region)
	if rest, ok := strings.CutPrefix(name, h.cfg.Region); ok && len(rest) == 1 && rest[0] >= 'a' && rest[0] <= 'z' {
		return fmt.Sprintf("%s-az%d", code, rest[0]-'a'+1)
	}
	for i, z := range h.cfg.Zones {
		if z == name {
			return fmt.Sprintf("%s-az%d", code, 27+i) // past the letters
		}
	}
	return ""
}

// zoneByID returns the configured zone with id, if any.
func (h *Handler) zoneByID(id string) (string, bool) {
	for _, z := range h.cfg.Zones {
		if h.zoneID(z) == id {
			return z, true
		}
	}
	return "", false
}

func (h *Handler) isZone(name string) bool {
	for _, z := range h.cfg.Zones {
		if z == name {
			return true
		}
	}
	return false
}

var zoneFields = fields[zoneItem]{
	"zone-name":            func(z zoneItem) []string { return []string{z.ZoneName} },
	"zone-id":              func(z zoneItem) []string { return []string{z.ZoneID} },
	"region-name":          func(z zoneItem) []string { return []string{z.RegionName} },
	"state":                func(z zoneItem) []string { return []string{z.ZoneState} },
	"zone-type":            func(z zoneItem) []string { return []string{z.ZoneType} },
	"group-name":           func(z zoneItem) []string { return []string{z.GroupName} },
	"network-border-group": func(z zoneItem) []string { return []string{z.NetworkBorderGroup} },
	"opt-in-status":        func(z zoneItem) []string { return []string{z.OptInStatus} },
}

func (h *Handler) describeAvailabilityZones(c *call) (any, *apiError) {
	var zones []zoneItem
	for _, z := range h.cfg.Zones {
		zones = append(zones, zoneItem{
			ZoneName: z, ZoneID: h.zoneID(z), ZoneState: "available", OptInStatus: "opt-in-not-required",
			RegionName: h.cfg.Region, GroupName: h.cfg.Region, NetworkBorderGroup: h.cfg.Region, ZoneType: "availability-zone",
		})
	}
	if _, e := c.in.boolean("AllAvailabilityZones"); e != nil {
		return nil, e
	}
	names, ids := c.in.lists["ZoneName"], c.in.lists["ZoneId"]
	if len(names) > 0 || len(ids) > 0 {
		var picked []zoneItem
		var bad []string
		for _, n := range names {
			if z, found := findZone(zones, func(z zoneItem) bool { return z.ZoneName == n }); found {
				picked = append(picked, z)
			} else {
				bad = append(bad, printable(n))
			}
		}
		if len(bad) > 0 {
			return nil, errorf(codeInvalidParameterValue, "Invalid availability zone: [%s]", strings.Join(bad, ", "))
		}
		for _, id := range ids {
			if z, found := findZone(zones, func(z zoneItem) bool { return z.ZoneID == id }); found {
				picked = append(picked, z)
			} else {
				bad = append(bad, printable(id))
			}
		}
		if len(bad) > 0 {
			return nil, errorf(codeInvalidParameterValue, "Invalid availability zone id: [%s]", strings.Join(bad, ", "))
		}
		zones = nil
		for _, z := range picked { // a zone named by name and by id is listed once
			if _, dup := findZone(zones, func(y zoneItem) bool { return y.ZoneName == z.ZoneName }); !dup {
				zones = append(zones, z)
			}
		}
	}
	zones, e := filterItems(zones, c.in.filters, zoneFields, func(zoneItem) map[string]string { return nil })
	if e != nil {
		return nil, e
	}
	out := &describeZonesResult{}
	out.Zones.Items = zones
	return out, nil
}

func findZone(zones []zoneItem, pred func(zoneItem) bool) (zoneItem, bool) {
	for _, z := range zones {
		if pred(z) {
			return z, true
		}
	}
	return zoneItem{}, false
}
