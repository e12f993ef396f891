package ec2

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/kplane/kplane/internal/store"
)

// Reading security group rules from a call: IpPermissions (each permission
// is one protocol and port range with any number of peers, each peer one
// rule), the older flat form (CidrIp, IpProtocol, FromPort, ToPort,
// SourceSecurityGroupName) and ModifySecurityGroupRules' SecurityGroupRuleRequest.

// protocolNames are the protocols EC2 records by name, by their numbers.
var protocolNames = map[string]string{"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}

// normalProtocol is the protocol as EC2 records it, or ok false.
func normalProtocol(p string) (string, bool) {
	p = strings.ToLower(p)
	if n, ok := protocolNames[p]; ok {
		return n, true
	}
	switch p {
	case "tcp", "udp", "icmp", "icmpv6", "-1":
		return p, true
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 255 || strconv.Itoa(n) != p {
		return "", false
	}
	return p, true
}

// ports checks the port range of protocol as EC2 does and returns what it
// records: -1, -1 for protocols without ports.
func ports(protocol string, from, to int, hasFrom, hasTo bool) (int, int, *apiError) {
	switch protocol {
	case "tcp", "udp":
		if !hasFrom || !hasTo {
			return 0, 0, errorf(codeInvalidParameterValue, "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange")
		}
		if from < 0 || to > 65535 || from > to {
			return 0, 0, errorf(codeInvalidParameterValue, "Invalid TCP/UDP port range: %d-%d", from, to)
		}
		return from, to, nil
	case "icmp", "icmpv6":
		if !hasFrom && !hasTo && protocol == "icmpv6" {
			return -1, -1, nil
		}
		if !hasFrom || !hasTo {
			return 0, 0, errorf(codeInvalidParameterValue, "Invalid value 'Must specify both ICMP type and code.' for icmpTypeCode")
		}
		if from < -1 || from > 255 || to < -1 || to > 255 {
			return 0, 0, errorf(codeInvalidParameterValue, "ICMP type %d and code %d are invalid: each is -1 to 255.", from, to)
		}
		return from, to, nil
	}
	// All protocols, or one without ports: any range given is ignored.
	return -1, -1, nil
}

func checkCidr4(s string) (string, *apiError) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return "", errorf(codeInvalidParameterValue, "CIDR block %s is malformed", printable(s))
	}
	return p.Masked().String(), nil
}

func checkCidr6(s string) (string, *apiError) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
		return "", errorf(codeInvalidParameterValue, "CIDR block %s is malformed", printable(s))
	}
	return p.Masked().String(), nil
}

func checkRuleDescription(d string) *apiError {
	if !validGroupText(d) {
		return invalidValue("description", printable(d), "Character sets beyond ASCII are not supported; up to 255 characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*")
	}
	return nil
}

var prefixListIDs = idKind{"pl-", "InvalidPrefixListID.NotFound", "InvalidPrefixListID.Malformed", "prefix list ID"}

// peerGroup resolves a rule's group peer (by id, or by name in the VPC of
// the group the rule belongs to) in n.
func (h *Handler) peerGroup(n *store.Network, vpcID, id, name, userID string) (string, *apiError) {
	if userID != "" && userID != h.cfg.AccountID {
		return "", errorf(codeInvalidGroupNotFound, "You have specified two resources that belong to different networks.")
	}
	if id != "" {
		if e := groupIDs.check(id); e != nil {
			return "", e
		}
		return id, nil
	}
	for _, g := range n.SecurityGroups {
		if g.VpcID == vpcID && g.Name == name {
			return g.ID, nil
		}
	}
	return "", errorf(codeInvalidGroupNotFound, "The security group '%s' does not exist in VPC '%s'", printable(name), vpcID)
}

// protocolAndPorts reads IpProtocol, FromPort and ToPort of t into a rule.
func protocolAndPorts(t *tree) (store.SecurityGroupRule, *apiError) {
	raw := t.str("IpProtocol")
	proto, ok := normalProtocol(raw)
	if !ok {
		return store.SecurityGroupRule{}, errorf(codeInvalidParameterValue, "Invalid value '%s' for IP protocol. Unknown protocol.", printable(raw))
	}
	from, hasFrom, e := t.integer("FromPort")
	if e != nil {
		return store.SecurityGroupRule{}, e
	}
	to, hasTo, e := t.integer("ToPort")
	if e != nil {
		return store.SecurityGroupRule{}, e
	}
	if from, to, e = ports(proto, from, to, hasFrom, hasTo); e != nil {
		return store.SecurityGroupRule{}, e
	}
	return store.SecurityGroupRule{Protocol: proto, FromPort: from, ToPort: to}, nil
}

// ipPermissionShape is IpPermission as the ec2 protocol names its members.
var ipPermissionsShape = listOf(structOf(map[string]*shape{
	"IpProtocol": scalarShape, "FromPort": scalarShape, "ToPort": scalarShape,
	"IpRanges":      listOf(structOf(map[string]*shape{"CidrIp": scalarShape, "Description": scalarShape})),
	"Ipv6Ranges":    listOf(structOf(map[string]*shape{"CidrIpv6": scalarShape, "Description": scalarShape})),
	"PrefixListIds": listOf(structOf(map[string]*shape{"PrefixListId": scalarShape, "Description": scalarShape})),
	"Groups": listOf(structOf(map[string]*shape{"Description": scalarShape, "UserId": scalarShape, "GroupName": scalarShape,
		"GroupId": scalarShape, "VpcId": scalarShape, "VpcPeeringConnectionId": scalarShape, "PeeringStatus": scalarShape})),
}))

// permissionRules are the rules of the IpPermissions tree, one per peer.
func (h *Handler) permissionRules(t *tree, egress bool, n *store.Network, g store.SecurityGroup) ([]store.SecurityGroupRule, *apiError) {
	if e := t.conform(ipPermissionsShape); e != nil {
		return nil, e
	}
	perms, e := t.items()
	if e != nil {
		return nil, e
	}
	var out []store.SecurityGroupRule
	for _, p := range perms {
		if !p.has("IpProtocol") {
			return nil, errorf(codeMissingParameter, "The request must contain the parameter ipProtocol")
		}
		base, e := protocolAndPorts(p)
		if e != nil {
			return nil, e
		}
		base.Egress = egress
		peers := 0
		add := func(r store.SecurityGroupRule, desc string) *apiError {
			if e := checkRuleDescription(desc); e != nil {
				return e
			}
			r.Description = desc
			out = append(out, r)
			peers++
			return nil
		}
		for _, sub := range []string{"IpRanges", "Ipv6Ranges", "PrefixListIds", "Groups"} {
			items, e := p.member(sub).items()
			if e != nil {
				return nil, e
			}
			for _, it := range items {
				r := base
				switch sub {
				case "IpRanges":
					if r.CidrIPv4, e = checkCidr4(it.str("CidrIp")); e != nil {
						return nil, e
					}
				case "Ipv6Ranges":
					if r.CidrIPv6, e = checkCidr6(it.str("CidrIpv6")); e != nil {
						return nil, e
					}
				case "PrefixListIds":
					r.PrefixListID = it.str("PrefixListId")
					if e := prefixListIDs.check(r.PrefixListID); e != nil {
						return nil, e
					}
				case "Groups":
					if !it.has("GroupId") && !it.has("GroupName") {
						return nil, errorf(codeMissingParameter, "The request must contain the parameter groupId or groupName")
					}
					if r.ReferencedGroupID, e = h.peerGroup(n, g.VpcID, it.str("GroupId"), it.str("GroupName"), it.str("UserId")); e != nil {
						return nil, e
					}
				}
				if e := add(r, it.str("Description")); e != nil {
					return nil, e
				}
			}
		}
		if peers == 0 {
			return nil, errorf(codeInvalidParameterValue, "The request must name a source or destination for each permission: ipRanges, ipv6Ranges, prefixListIds or groups")
		}
	}
	return out, nil
}

// flatRules is the older form's one rule: CidrIp with a protocol and ports,
// or SourceSecurityGroupName (all traffic from that group).
func (h *Handler) flatRules(in *input, n *store.Network, g store.SecurityGroup) ([]store.SecurityGroupRule, *apiError) {
	if src := in.str("SourceSecurityGroupName"); src != "" {
		peer, e := h.peerGroup(n, g.VpcID, "", src, in.str("SourceSecurityGroupOwnerId"))
		if e != nil {
			return nil, e
		}
		return []store.SecurityGroupRule{{Protocol: "-1", FromPort: -1, ToPort: -1, ReferencedGroupID: peer}}, nil
	}
	if !in.has("CidrIp") {
		return nil, errorf(codeMissingParameter, "The request must contain the parameter ipPermissions")
	}
	cidr, e := checkCidr4(in.str("CidrIp"))
	if e != nil {
		return nil, e
	}
	raw := in.str("IpProtocol")
	proto, ok := normalProtocol(raw)
	if !ok {
		return nil, errorf(codeInvalidParameterValue, "Invalid value '%s' for IP protocol. Unknown protocol.", printable(raw))
	}
	from, hasFrom, e := in.integer("FromPort", -1, 65535)
	if e != nil {
		return nil, e
	}
	to, hasTo, e := in.integer("ToPort", -1, 65535)
	if e != nil {
		return nil, e
	}
	if from, to, e = ports(proto, from, to, hasFrom, hasTo); e != nil {
		return nil, e
	}
	return []store.SecurityGroupRule{{Protocol: proto, FromPort: from, ToPort: to, CidrIPv4: cidr}}, nil
}

// ruleText is how EC2 names a rule in its Duplicate message.
func ruleText(r store.SecurityGroupRule) string {
	proto := strings.ToUpper(r.Protocol)
	switch r.Protocol {
	case "-1":
		return fmt.Sprintf("peer: %s, ALL, ALLOW", r.Peer())
	case "tcp", "udp":
		return fmt.Sprintf("peer: %s, %s, from port: %d, to port: %d, ALLOW", r.Peer(), proto, r.FromPort, r.ToPort)
	case "icmp", "icmpv6":
		return fmt.Sprintf("peer: %s, %s, type: %d, code: %d, ALLOW", r.Peer(), proto, r.FromPort, r.ToPort)
	}
	return fmt.Sprintf("peer: %s, protocol: %s, ALLOW", r.Peer(), r.Protocol)
}

func duplicateRule(r store.SecurityGroupRule) *apiError {
	return errorf(codeInvalidPermissionDuplicate, "the specified rule \"%s\" already exists", ruleText(r))
}
