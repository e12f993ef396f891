package ec2

import (
	"github.com/kplane/kplane/internal/store"
)

// The XML shapes of security group rules: SecurityGroupRule (one rule, as
// DescribeSecurityGroupRules and Authorize* answer), IpPermission (rules of
// one protocol and port range grouped, as DescribeSecurityGroups answers).

type referencedGroupInfo struct {
	GroupID string `xml:"groupId"`
	UserID  string `xml:"userId"`
	VpcID   string `xml:"vpcId,omitempty"`
}

type ruleItem struct {
	SecurityGroupRuleID  string               `xml:"securityGroupRuleId"`
	GroupID              string               `xml:"groupId"`
	GroupOwnerID         string               `xml:"groupOwnerId"`
	IsEgress             bool                 `xml:"isEgress"`
	IPProtocol           string               `xml:"ipProtocol"`
	FromPort             int                  `xml:"fromPort"`
	ToPort               int                  `xml:"toPort"`
	CidrIPv4             string               `xml:"cidrIpv4,omitempty"`
	CidrIPv6             string               `xml:"cidrIpv6,omitempty"`
	PrefixListID         string               `xml:"prefixListId,omitempty"`
	ReferencedGroupInfo  *referencedGroupInfo `xml:"referencedGroupInfo,omitempty"`
	Description          string               `xml:"description,omitempty"`
	TagSet               *tagSet              `xml:"tagSet,omitempty"`
	SecurityGroupRuleArn string               `xml:"securityGroupRuleArn"`
}

type revokedRuleItem struct {
	SecurityGroupRuleID string `xml:"securityGroupRuleId"`
	GroupID             string `xml:"groupId"`
	IsEgress            bool   `xml:"isEgress"`
	IPProtocol          string `xml:"ipProtocol"`
	FromPort            int    `xml:"fromPort"`
	ToPort              int    `xml:"toPort"`
	CidrIPv4            string `xml:"cidrIpv4,omitempty"`
	CidrIPv6            string `xml:"cidrIpv6,omitempty"`
	PrefixListID        string `xml:"prefixListId,omitempty"`
	ReferencedGroupID   string `xml:"referencedGroupId,omitempty"`
	Description         string `xml:"description,omitempty"`
}

type ipRangeItem struct {
	CidrIP      string `xml:"cidrIp"`
	Description string `xml:"description,omitempty"`
}

type ipv6RangeItem struct {
	CidrIPv6    string `xml:"cidrIpv6"`
	Description string `xml:"description,omitempty"`
}

type prefixListItem struct {
	PrefixListID string `xml:"prefixListId"`
	Description  string `xml:"description,omitempty"`
}

type groupPairItem struct {
	UserID      string `xml:"userId"`
	GroupID     string `xml:"groupId"`
	Description string `xml:"description,omitempty"`
}

type ipPermissionItem struct {
	IPProtocol    string           `xml:"ipProtocol"`
	FromPort      *int             `xml:"fromPort,omitempty"`
	ToPort        *int             `xml:"toPort,omitempty"`
	Groups        []groupPairItem  `xml:"groups>item"`
	IPRanges      []ipRangeItem    `xml:"ipRanges>item"`
	Ipv6Ranges    []ipv6RangeItem  `xml:"ipv6Ranges>item"`
	PrefixListIDs []prefixListItem `xml:"prefixListIds>item"`
}

type authorizeRulesResult struct {
	Return bool              `xml:"return"`
	Rules  itemSet[ruleItem] `xml:"securityGroupRuleSet"`
}

type revokeRulesResult struct {
	Return  bool                       `xml:"return"`
	Unknown *itemSet[ipPermissionItem] `xml:"unknownIpPermissionSet,omitempty"`
	Revoked itemSet[revokedRuleItem]   `xml:"revokedSecurityGroupRuleSet"`
}

type describeRulesResult struct {
	Rules     itemSet[ruleItem] `xml:"securityGroupRuleSet"`
	NextToken string            `xml:"nextToken,omitempty"`
}

func (h *Handler) ruleItem(g store.SecurityGroup, r store.SecurityGroupRule) ruleItem {
	item := ruleItem{
		SecurityGroupRuleID: r.ID, GroupID: g.ID, GroupOwnerID: h.cfg.AccountID, IsEgress: r.Egress,
		IPProtocol: r.Protocol, FromPort: r.FromPort, ToPort: r.ToPort,
		CidrIPv4: r.CidrIPv4, CidrIPv6: r.CidrIPv6, PrefixListID: r.PrefixListID, Description: r.Description,
		TagSet: tagSetOf(r.Tags), SecurityGroupRuleArn: h.arn("security-group-rule", r.ID),
	}
	if r.ReferencedGroupID != "" {
		item.ReferencedGroupInfo = &referencedGroupInfo{GroupID: r.ReferencedGroupID, UserID: h.cfg.AccountID}
	}
	return item
}

// permissionsOf groups rules of one direction by protocol and ports, in the
// order each combination first appears, as EC2's IpPermissions list them.
func permissionsOf(rules []store.SecurityGroupRule, egress bool, account string) []ipPermissionItem {
	type key struct {
		proto    string
		from, to int
	}
	var out []ipPermissionItem
	at := map[key]int{}
	for _, r := range rules {
		if r.Egress != egress {
			continue
		}
		k := key{r.Protocol, r.FromPort, r.ToPort}
		i, ok := at[k]
		if !ok {
			p := ipPermissionItem{IPProtocol: r.Protocol}
			switch r.Protocol {
			case "tcp", "udp", "icmp", "icmpv6":
				from, to := r.FromPort, r.ToPort
				p.FromPort, p.ToPort = &from, &to
			}
			i = len(out)
			at[k] = i
			out = append(out, p)
		}
		p := &out[i]
		switch {
		case r.CidrIPv4 != "":
			p.IPRanges = append(p.IPRanges, ipRangeItem{r.CidrIPv4, r.Description})
		case r.CidrIPv6 != "":
			p.Ipv6Ranges = append(p.Ipv6Ranges, ipv6RangeItem{r.CidrIPv6, r.Description})
		case r.PrefixListID != "":
			p.PrefixListIDs = append(p.PrefixListIDs, prefixListItem{r.PrefixListID, r.Description})
		case r.ReferencedGroupID != "":
			p.Groups = append(p.Groups, groupPairItem{UserID: account, GroupID: r.ReferencedGroupID, Description: r.Description})
		}
	}
	return out
}
