package ec2

import (
	"strconv"
	"time"

	"github.com/kplane/kplane/internal/store"
)

// DescribeInstances: the instances of managed nodegroups (each node is
// one), in EC2's reservation shape, one reservation per instance as an Auto
// Scaling group launches them.

var instanceIDs = idKind{"i-", "InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed", "instance ID"}

// stateCodes are EC2's instance state codes.
var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

type instanceState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type placement struct {
	AvailabilityZone string `xml:"availabilityZone"`
	GroupName        string `xml:"groupName"`
	Tenancy          string `xml:"tenancy"`
}

type stateReason struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type groupIdentifier struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type instanceItem struct {
	InstanceID         string            `xml:"instanceId"`
	ImageID            string            `xml:"imageId"`
	InstanceState      instanceState     `xml:"instanceState"`
	PrivateDNSName     string            `xml:"privateDnsName"`
	DNSName            string            `xml:"dnsName"`
	Reason             string            `xml:"reason"`
	AmiLaunchIndex     int               `xml:"amiLaunchIndex"`
	InstanceType       string            `xml:"instanceType"`
	LaunchTime         string            `xml:"launchTime"`
	Placement          placement         `xml:"placement"`
	Monitoring         instanceState     `xml:"monitoring"`
	SubnetID           string            `xml:"subnetId,omitempty"`
	VpcID              string            `xml:"vpcId,omitempty"`
	PrivateIPAddress   string            `xml:"privateIpAddress,omitempty"`
	SourceDestCheck    bool              `xml:"sourceDestCheck"`
	Groups             []groupIdentifier `xml:"groupSet>item"`
	StateReason        *stateReason      `xml:"stateReason,omitempty"`
	Architecture       string            `xml:"architecture"`
	RootDeviceType     string            `xml:"rootDeviceType"`
	RootDeviceName     string            `xml:"rootDeviceName"`
	VirtualizationType string            `xml:"virtualizationType"`
	Hypervisor         string            `xml:"hypervisor"`
	TagSet             *tagSet           `xml:"tagSet,omitempty"`
	EbsOptimized       bool              `xml:"ebsOptimized"`
	EnaSupport         bool              `xml:"enaSupport"`
	PlatformDetails    string            `xml:"platformDetails"`
	UsageOperation     string            `xml:"usageOperation"`
}

type reservationItem struct {
	ReservationID string            `xml:"reservationId"`
	OwnerID       string            `xml:"ownerId"`
	RequesterID   string            `xml:"requesterId,omitempty"`
	Groups        []groupIdentifier `xml:"groupSet>item"`
	Instances     []instanceItem    `xml:"instancesSet>item"`
}

type describeInstancesResult struct {
	Reservations itemSet[reservationItem] `xml:"reservationSet"`
	NextToken    string                   `xml:"nextToken,omitempty"`
}

func (h *Handler) instanceFields() fields[store.Instance] {
	one := func(f func(store.Instance) string) func(store.Instance) []string {
		return func(i store.Instance) []string {
			if v := f(i); v != "" {
				return []string{v}
			}
			return nil
		}
	}
	return fields[store.Instance]{
		"instance-id":         one(func(i store.Instance) string { return i.ID }),
		"instance-state-name": one(func(i store.Instance) string { return i.State }),
		"instance-state-code": one(func(i store.Instance) string { return strconv.Itoa(stateCodes[i.State]) }),
		"instance-type":       one(func(i store.Instance) string { return i.InstanceType }),
		"image-id":            one(func(i store.Instance) string { return i.ImageID }),
		"subnet-id":           one(func(i store.Instance) string { return liveOnly(i, i.SubnetID) }),
		"vpc-id":              one(func(i store.Instance) string { return liveOnly(i, i.VpcID) }),
		"availability-zone":   one(func(i store.Instance) string { return i.AvailabilityZone }),
		"private-ip-address":  one(func(i store.Instance) string { return liveOnly(i, i.PrivateIP) }),
		"private-dns-name":    one(func(i store.Instance) string { return liveOnly(i, i.PrivateDNSName) }),
		"reservation-id":      one(func(i store.Instance) string { return reservationID(i.ID) }),
		"owner-id":            one(func(store.Instance) string { return h.cfg.AccountID }),
		"architecture":        one(func(store.Instance) string { return "x86_64" }),
		"instance.group-id":   func(i store.Instance) []string { return i.SecurityGroupIDs },
	}
}

// liveOnly is v for an instance that still has its network interface;
// a terminated instance has no subnet, VPC or private address.
func liveOnly(i store.Instance, v string) string {
	if !i.Live() {
		return ""
	}
	return v
}

// reservationID is the instance's reservation (one per instance).
func reservationID(instanceID string) string { return "r-" + suffix(instanceID) }

func (h *Handler) describeInstances(c *call) (any, *apiError) {
	ids := c.in.lists["InstanceId"]
	if len(ids) > 0 && c.in.has("MaxResults") {
		return nil, errorf(codeInvalidParameterCombo, "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	all, err := h.cfg.Store.Instances(c.ctx)
	if err != nil {
		return nil, h.storeError(c, err)
	}
	insts := all
	if len(ids) > 0 {
		byID := map[string]store.Instance{}
		for _, i := range all {
			byID[i.ID] = i
		}
		insts = nil
		var missing []string
		for _, id := range ids {
			if e := instanceIDs.check(id); e != nil {
				return nil, e
			}
			i, ok := byID[id]
			if !ok {
				missing = append(missing, id)
				continue
			}
			insts = append(insts, i)
		}
		if len(missing) > 0 {
			return nil, errorf(instanceIDs.notFound, "The instance IDs '%s' do not exist", joinQuoted(missing))
		}
	}
	insts, e := filterItems(insts, c.in.filters, h.instanceFields(), func(i store.Instance) map[string]string { return i.Tags })
	if e != nil {
		return nil, e
	}
	page, next, e := paginate(insts, func(i store.Instance) string { return i.ID }, c.in)
	if e != nil {
		return nil, e
	}
	out := &describeInstancesResult{NextToken: next}
	for _, i := range page {
		out.Reservations.Items = append(out.Reservations.Items, reservationItem{
			ReservationID: reservationID(i.ID), OwnerID: h.cfg.AccountID,
			RequesterID: "amazon-eks", // launched for the account by EKS's Auto Scaling group
			Instances:   []instanceItem{h.instanceItem(i)},
		})
	}
	return out, nil
}

func joinQuoted(ids []string) string {
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ", "
		}
		s += printable(id)
	}
	return s
}

func (h *Handler) instanceItem(i store.Instance) instanceItem {
	item := instanceItem{
		InstanceID: i.ID, ImageID: i.ImageID,
		InstanceState:  instanceState{Code: stateCodes[i.State], Name: i.State},
		PrivateDNSName: liveOnly(i, i.PrivateDNSName),
		InstanceType:   i.InstanceType,
		LaunchTime:     i.LaunchTime.UTC().Format(time.RFC3339Nano),
		Placement:      placement{AvailabilityZone: i.AvailabilityZone, Tenancy: "default"},
		Monitoring:     instanceState{Name: "disabled"},
		SubnetID:       liveOnly(i, i.SubnetID), VpcID: liveOnly(i, i.VpcID), PrivateIPAddress: liveOnly(i, i.PrivateIP),
		SourceDestCheck: true, Architecture: "x86_64", RootDeviceType: "ebs", RootDeviceName: "/dev/xvda",
		VirtualizationType: "hvm", Hypervisor: "xen", TagSet: tagSetOf(i.Tags), EbsOptimized: true, EnaSupport: true,
		PlatformDetails: "Linux/UNIX", UsageOperation: "RunInstances",
	}
	for _, g := range i.SecurityGroupIDs {
		item.Groups = append(item.Groups, groupIdentifier{GroupID: g})
	}
	if i.State == store.InstanceTerminated {
		item.Reason = "User initiated"
		item.StateReason = &stateReason{Code: "Client.UserInitiatedShutdown", Message: i.StateReason}
		if code, msg, ok := cutReason(i.StateReason); ok {
			item.StateReason = &stateReason{Code: code, Message: code + ": " + msg}
		}
	}
	return item
}

// cutReason splits "Code: message".
func cutReason(r string) (string, string, bool) {
	for k := 0; k+1 < len(r); k++ {
		if r[k] == ':' && r[k+1] == ' ' {
			return r[:k], r[k+2:], true
		}
	}
	return "", "", false
}
