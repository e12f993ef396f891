package ec2

import (
	"sort"

	"github.com/kplane/kplane/internal/store"
)

// The XML shapes of EC2's results (botocore's ec2 model, 2016-11-15): member
// names are the model's locationNames; lists are <name><item/>...</name>,
// always written, so an empty result parses as an empty list.

type tagItem struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type tagSet struct {
	Items []tagItem `xml:"item"`
}

// tagSetOf renders tags sorted by key; nil (no element) when there are none.
func tagSetOf(tags map[string]string) *tagSet {
	if len(tags) == 0 {
		return nil
	}
	s := &tagSet{}
	for k, v := range tags {
		s.Items = append(s.Items, tagItem{k, v})
	}
	sort.Slice(s.Items, func(i, j int) bool { return s.Items[i].Key < s.Items[j].Key })
	return s
}

type cidrBlockState struct {
	State string `xml:"state"`
}

type cidrAssociation struct {
	AssociationID  string         `xml:"associationId"`
	CidrBlock      string         `xml:"cidrBlock"`
	CidrBlockState cidrBlockState `xml:"cidrBlockState"`
}

type vpcItem struct {
	VpcID                   string            `xml:"vpcId"`
	OwnerID                 string            `xml:"ownerId"`
	State                   string            `xml:"state"`
	CidrBlock               string            `xml:"cidrBlock"`
	CidrBlockAssociationSet []cidrAssociation `xml:"cidrBlockAssociationSet>item"`
	DhcpOptionsID           string            `xml:"dhcpOptionsId"`
	InstanceTenancy         string            `xml:"instanceTenancy"`
	IsDefault               bool              `xml:"isDefault"`
	TagSet                  *tagSet           `xml:"tagSet,omitempty"`
}

type privateDNSOptions struct {
	HostnameType                    string `xml:"hostnameType"`
	EnableResourceNameDNSARecord    bool   `xml:"enableResourceNameDnsARecord"`
	EnableResourceNameDNSAAAARecord bool   `xml:"enableResourceNameDnsAAAARecord"`
}

type subnetItem struct {
	SubnetID                      string            `xml:"subnetId"`
	SubnetArn                     string            `xml:"subnetArn"`
	State                         string            `xml:"state"`
	VpcID                         string            `xml:"vpcId"`
	OwnerID                       string            `xml:"ownerId"`
	CidrBlock                     string            `xml:"cidrBlock"`
	AvailableIPAddressCount       int               `xml:"availableIpAddressCount"`
	AvailabilityZone              string            `xml:"availabilityZone"`
	AvailabilityZoneID            string            `xml:"availabilityZoneId"`
	DefaultForAz                  bool              `xml:"defaultForAz"`
	MapPublicIPOnLaunch           bool              `xml:"mapPublicIpOnLaunch"`
	MapCustomerOwnedIPOnLaunch    bool              `xml:"mapCustomerOwnedIpOnLaunch"`
	AssignIpv6AddressOnCreation   bool              `xml:"assignIpv6AddressOnCreation"`
	EnableDNS64                   bool              `xml:"enableDns64"`
	Ipv6Native                    bool              `xml:"ipv6Native"`
	PrivateDNSNameOptionsOnLaunch privateDNSOptions `xml:"privateDnsNameOptionsOnLaunch"`
	TagSet                        *tagSet           `xml:"tagSet,omitempty"`
}

// itemSet is a list: <name><item/>...</name>.
type itemSet[T any] struct {
	Items []T `xml:"item"`
}

// emptySet is a list kplane has nothing to put in, such as a zone's messages.
type emptySet struct{}

type securityGroupItem struct {
	OwnerID             string                    `xml:"ownerId"`
	GroupID             string                    `xml:"groupId"`
	GroupName           string                    `xml:"groupName"`
	GroupDescription    string                    `xml:"groupDescription"`
	VpcID               string                    `xml:"vpcId"`
	SecurityGroupArn    string                    `xml:"securityGroupArn"`
	IPPermissions       itemSet[ipPermissionItem] `xml:"ipPermissions"`
	IPPermissionsEgress itemSet[ipPermissionItem] `xml:"ipPermissionsEgress"`
	TagSet              *tagSet                   `xml:"tagSet,omitempty"`
}

type zoneItem struct {
	ZoneName           string   `xml:"zoneName"`
	ZoneID             string   `xml:"zoneId"`
	ZoneState          string   `xml:"zoneState"`
	OptInStatus        string   `xml:"optInStatus"`
	MessageSet         emptySet `xml:"messageSet"`
	RegionName         string   `xml:"regionName"`
	GroupName          string   `xml:"groupName"`
	NetworkBorderGroup string   `xml:"networkBorderGroup"`
	ZoneType           string   `xml:"zoneType"`
}

// Results: the elements inside <ActionResponse> after <requestId>.

type describeVpcsResult struct {
	Vpcs      itemSet[vpcItem] `xml:"vpcSet"`
	NextToken string           `xml:"nextToken,omitempty"`
}

type describeSubnetsResult struct {
	Subnets   itemSet[subnetItem] `xml:"subnetSet"`
	NextToken string              `xml:"nextToken,omitempty"`
}

type describeSecurityGroupsResult struct {
	Groups    itemSet[securityGroupItem] `xml:"securityGroupInfo"`
	NextToken string                     `xml:"nextToken,omitempty"`
}

type describeZonesResult struct {
	Zones itemSet[zoneItem] `xml:"availabilityZoneInfo"`
}

type createVpcResult struct {
	Vpc vpcItem `xml:"vpc"`
}

type createSubnetResult struct {
	Subnet subnetItem `xml:"subnet"`
}

type createSecurityGroupResult struct {
	Return           bool    `xml:"return"`
	GroupID          string  `xml:"groupId"`
	SecurityGroupArn string  `xml:"securityGroupArn"`
	TagSet           *tagSet `xml:"tagSet,omitempty"`
}

type deleteSecurityGroupResult struct {
	Return  bool   `xml:"return"`
	GroupID string `xml:"groupId"`
}

// returnResult is the answer of calls that return nothing but success.
type returnResult struct {
	Return bool `xml:"return"`
}

var success = returnResult{Return: true}

// The conversions from the inventory.

func (h *Handler) vpcItem(v store.VPC) vpcItem {
	tenancy := v.InstanceTenancy
	if tenancy == "" {
		tenancy = "default"
	}
	return vpcItem{
		VpcID: v.ID, OwnerID: h.cfg.AccountID, State: "available", CidrBlock: v.CidrBlock,
		CidrBlockAssociationSet: []cidrAssociation{{
			AssociationID: "vpc-cidr-assoc-" + suffix(v.ID), CidrBlock: v.CidrBlock,
			CidrBlockState: cidrBlockState{State: "associated"},
		}},
		DhcpOptionsID: "default", InstanceTenancy: tenancy, IsDefault: v.IsDefault, TagSet: tagSetOf(v.Tags),
	}
}

func (h *Handler) subnetItem(s store.Subnet) subnetItem {
	return subnetItem{
		SubnetID: s.ID, SubnetArn: h.arn("subnet", s.ID), State: "available", VpcID: s.VpcID, OwnerID: h.cfg.AccountID,
		CidrBlock: s.CidrBlock, AvailableIPAddressCount: s.Available(),
		AvailabilityZone: s.AvailabilityZone, AvailabilityZoneID: h.zoneID(s.AvailabilityZone),
		// AWS's default subnets give instances public addresses; others do not.
		DefaultForAz: s.DefaultForAz, MapPublicIPOnLaunch: s.DefaultForAz,
		PrivateDNSNameOptionsOnLaunch: privateDNSOptions{HostnameType: "ip-name"},
		TagSet:                        tagSetOf(s.Tags),
	}
}

func (h *Handler) securityGroupItem(g store.SecurityGroup) securityGroupItem {
	return securityGroupItem{
		OwnerID: h.cfg.AccountID, GroupID: g.ID, GroupName: g.Name, GroupDescription: g.Description,
		VpcID: g.VpcID, SecurityGroupArn: h.arn("security-group", g.ID), TagSet: tagSetOf(g.Tags),
		IPPermissions:       itemSet[ipPermissionItem]{Items: permissionsOf(g.Rules, false, h.cfg.AccountID)},
		IPPermissionsEgress: itemSet[ipPermissionItem]{Items: permissionsOf(g.Rules, true, h.cfg.AccountID)},
	}
}

func (h *Handler) arn(kind, id string) string {
	return "arn:aws:ec2:" + h.cfg.Region + ":" + h.cfg.AccountID + ":" + kind + "/" + id
}

// suffix is an id without its kind: "0a1b" of "vpc-0a1b".
func suffix(id string) string {
	for i := 0; i < len(id); i++ {
		if id[i] == '-' {
			return id[i+1:]
		}
	}
	return id
}
