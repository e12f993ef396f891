package ec2

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

func TestDescribeDefaultNetwork(t *testing.T) {
	e := newTestEnv(t)
	var zones describeZonesResult
	e.ok(&zones, "DescribeAvailabilityZones")
	if len(zones.Zones.Items) != 3 {
		t.Fatalf("zones: %+v", zones)
	}
	for i, z := range zones.Zones.Items {
		if z.ZoneName != testZones[i] || z.ZoneID != fmt.Sprintf("usw2-az%d", i+1) || z.ZoneState != "available" || z.RegionName != testRegion {
			t.Errorf("zone %d: %+v", i, z)
		}
	}
	zones = describeZonesResult{}
	e.ok(&zones, "DescribeAvailabilityZones", "ZoneName.1", "us-west-2b")
	if len(zones.Zones.Items) != 1 || zones.Zones.Items[0].ZoneID != "usw2-az2" {
		t.Fatalf("zone b: %+v", zones)
	}
	e.fails(codeInvalidParameterValue, "Invalid availability zone: [us-west-2z]", "DescribeAvailabilityZones", "ZoneName.1", "us-west-2z")

	var vpcs describeVpcsResult
	e.ok(&vpcs, "DescribeVpcs")
	if len(vpcs.Vpcs.Items) != 1 || !vpcs.Vpcs.Items[0].IsDefault || vpcs.Vpcs.Items[0].CidrBlock != "172.31.0.0/16" ||
		vpcs.Vpcs.Items[0].OwnerID != testAccount || vpcs.Vpcs.Items[0].State != "available" {
		t.Fatalf("vpcs: %+v", vpcs)
	}
	subnets := e.subnets("Filter.1.Name", "default-for-az", "Filter.1.Value.1", "true")
	if len(subnets) != 3 {
		t.Fatalf("default subnets: %+v", subnets)
	}
	for i, s := range subnets {
		if s.AvailabilityZone != testZones[i] || s.AvailabilityZoneID != fmt.Sprintf("usw2-az%d", i+1) ||
			s.AvailableIPAddressCount != 4091 || !s.DefaultForAz || s.VpcID != vpcs.Vpcs.Items[0].VpcID ||
			s.SubnetArn != "arn:aws:ec2:us-west-2:000000000000:subnet/"+s.SubnetID {
			t.Errorf("subnet %d: %+v", i, s)
		}
	}
	groups := e.groups()
	if len(groups) != 1 || groups[0].GroupName != "default" || groups[0].VpcID != vpcs.Vpcs.Items[0].VpcID {
		t.Fatalf("groups: %+v", groups)
	}
	// The default VPC's groups by name.
	if g := e.groups("GroupName.1", "default"); len(g) != 1 {
		t.Fatalf("by name: %+v", g)
	}
	e.fails(codeInvalidGroupNotFound, "", "DescribeSecurityGroups", "GroupName.1", "nope")
}

func TestNetworkLifecycle(t *testing.T) {
	e := newTestEnv(t)
	var vpc createVpcResult
	e.ok(&vpc, "CreateVpc", "CidrBlock", "10.0.0.0/16",
		"TagSpecification.1.ResourceType", "vpc", "TagSpecification.1.Tag.1.Key", "Name", "TagSpecification.1.Tag.1.Value", "lab")
	vpcID := vpc.Vpc.VpcID
	if !strings.HasPrefix(vpcID, "vpc-") || vpc.Vpc.CidrBlock != "10.0.0.0/16" || vpc.Vpc.IsDefault || tagsOf(vpc.Vpc.TagSet)["Name"] != "lab" {
		t.Fatalf("CreateVpc: %+v", vpc)
	}
	var vpcs describeVpcsResult
	e.ok(&vpcs, "DescribeVpcs", "Filter.1.Name", "tag:Name", "Filter.1.Value.1", "la*")
	if len(vpcs.Vpcs.Items) != 1 || vpcs.Vpcs.Items[0].VpcID != vpcID {
		t.Fatalf("by tag: %+v", vpcs)
	}
	vpcs = describeVpcsResult{}
	e.ok(&vpcs, "DescribeVpcs", "VpcId.1", vpcID)
	if len(vpcs.Vpcs.Items) != 1 {
		t.Fatalf("by id: %+v", vpcs)
	}
	e.fails("InvalidVpcID.NotFound", "The vpc ID 'vpc-0000000000000000f' does not exist", "DescribeVpcs", "VpcId.1", "vpc-0000000000000000f")
	e.fails("InvalidVpcID.Malformed", "", "DescribeVpcs", "VpcId.1", "subnet-1")

	// A new VPC has its default group.
	if g := e.groups("Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpcID); len(g) != 1 || g[0].GroupName != "default" {
		t.Fatalf("new VPC's groups: %+v", g)
	}

	var sn createSubnetResult
	e.ok(&sn, "CreateSubnet", "VpcId", vpcID, "CidrBlock", "10.0.1.0/24", "AvailabilityZone", "us-west-2a")
	if sn.Subnet.AvailableIPAddressCount != 251 || sn.Subnet.AvailabilityZoneID != "usw2-az1" || sn.Subnet.DefaultForAz {
		t.Fatalf("CreateSubnet: %+v", sn)
	}
	first := sn.Subnet.SubnetID
	sn = createSubnetResult{}
	e.ok(&sn, "CreateSubnet", "VpcId", vpcID, "CidrBlock", "10.0.2.0/28", "AvailabilityZoneId", "usw2-az2",
		"TagSpecification.1.ResourceType", "subnet", "TagSpecification.1.Tag.1.Key", "tier", "TagSpecification.1.Tag.1.Value", "private")
	if sn.Subnet.AvailabilityZone != "us-west-2b" || sn.Subnet.AvailableIPAddressCount != 11 {
		t.Fatalf("CreateSubnet by zone id: %+v", sn)
	}
	second := sn.Subnet.SubnetID
	// Without a zone, the one the VPC has fewest subnets in.
	sn = createSubnetResult{}
	e.ok(&sn, "CreateSubnet", "VpcId", vpcID, "CidrBlock", "10.0.3.0/24")
	if sn.Subnet.AvailabilityZone != "us-west-2c" {
		t.Fatalf("CreateSubnet without zone: %+v", sn)
	}
	third := sn.Subnet.SubnetID

	for _, c := range []struct{ code, msg, cidr, zone string }{
		{codeInvalidSubnetConflict, "The CIDR '10.0.1.128/25' conflicts with another subnet", "10.0.1.128/25", ""},
		{codeInvalidSubnetConflict, "", "10.0.0.0/16", ""},
		{codeInvalidSubnetRange, "The CIDR '10.1.0.0/24' is invalid.", "10.1.0.0/24", ""},
		{codeInvalidSubnetRange, "The CIDR '10.0.4.0/29' is invalid.", "10.0.4.0/29", ""},
		{codeInvalidSubnetRange, "", "10.0.0.0/15", ""},
		{codeInvalidParameterValue, "Value (10.0.4.1/24) for parameter cidrBlock is invalid. This is not a valid CIDR block.", "10.0.4.1/24", ""},
		{codeInvalidParameterValue, "", "banana", ""},
		{codeInvalidParameterValue, "Value (us-west-2z) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: us-west-2a, us-west-2b, us-west-2c.", "10.0.4.0/24", "us-west-2z"},
	} {
		kv := []string{"VpcId", vpcID, "CidrBlock", c.cidr}
		if c.zone != "" {
			kv = append(kv, "AvailabilityZone", c.zone)
		}
		e.fails(c.code, c.msg, "CreateSubnet", kv...)
	}
	e.fails("InvalidVpcID.NotFound", "", "CreateSubnet", "VpcId", "vpc-0000000000000000f", "CidrBlock", "10.0.9.0/24")

	// Filters: vpc-id, tags, zones, wildcards; filters AND, values OR.
	if s := e.subnets("Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpcID); len(s) != 3 {
		t.Fatalf("by vpc: %+v", s)
	}
	if s := e.subnets("Filter.1.Name", "tag:tier", "Filter.1.Value.1", "private"); len(s) != 1 || s[0].SubnetID != second {
		t.Fatalf("by tag: %+v", s)
	}
	if s := e.subnets("Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpcID,
		"Filter.2.Name", "availability-zone", "Filter.2.Value.1", "us-west-2a", "Filter.2.Value.2", "us-west-2c"); len(s) != 2 || s[0].SubnetID != first || s[1].SubnetID != third {
		t.Fatalf("by vpc and zones: %+v", s)
	}
	if s := e.subnets("Filter.1.Name", "tag-key", "Filter.1.Value.1", "t?er"); len(s) != 1 {
		t.Fatalf("by tag key: %+v", s)
	}
	if s := e.subnets("SubnetId.1", first, "SubnetId.2", second); len(s) != 2 {
		t.Fatalf("by ids: %+v", s)
	}
	e.fails("InvalidSubnetID.NotFound", "The subnet ID 'subnet-0000000000000000f' does not exist", "DescribeSubnets", "SubnetId.1", first, "SubnetId.2", "subnet-0000000000000000f")
	e.fails(codeInvalidParameterValue, "The filter 'bogus' is invalid", "DescribeSubnets", "Filter.1.Name", "bogus", "Filter.1.Value.1", "x")

	// Security groups: names unique per VPC.
	var g createSecurityGroupResult
	e.ok(&g, "CreateSecurityGroup", "GroupName", "web", "GroupDescription", "web servers", "VpcId", vpcID,
		"TagSpecification.1.ResourceType", "security-group", "TagSpecification.1.Tag.1.Key", "team", "TagSpecification.1.Tag.1.Value", "a")
	if !strings.HasPrefix(g.GroupID, "sg-") || tagsOf(g.TagSet)["team"] != "a" || g.SecurityGroupArn != "arn:aws:ec2:us-west-2:000000000000:security-group/"+g.GroupID {
		t.Fatalf("CreateSecurityGroup: %+v", g)
	}
	web := g.GroupID
	e.fails(codeInvalidGroupDuplicate, "The security group 'web' already exists for VPC '"+vpcID+"'", "CreateSecurityGroup", "GroupName", "web", "GroupDescription", "again", "VpcId", vpcID)
	e.fails(codeInvalidParameterValue, "Cannot use reserved security group name: default", "CreateSecurityGroup", "GroupName", "default", "GroupDescription", "d", "VpcId", vpcID)
	e.fails(codeInvalidParameterValue, "", "CreateSecurityGroup", "GroupName", "sg-1", "GroupDescription", "d", "VpcId", vpcID)
	e.fails(codeInvalidParameterValue, "", "CreateSecurityGroup", "GroupName", "ok", "GroupDescription", "é", "VpcId", vpcID)
	e.fails(codeMissingParameter, "", "CreateSecurityGroup", "GroupName", "x", "VpcId", vpcID)
	// Without VpcId: the default VPC, where the same name is free.
	g = createSecurityGroupResult{}
	e.ok(&g, "CreateSecurityGroup", "GroupName", "web", "GroupDescription", "web servers")
	if gs := e.groups("GroupId.1", g.GroupID); len(gs) != 1 || gs[0].VpcID != e.net.VPCs[0].ID {
		t.Fatalf("group in the default VPC: %+v", gs)
	}
	e.ok(nil, "DeleteSecurityGroup", "GroupName", "web")
	if gs := e.groups("Filter.1.Name", "group-name", "Filter.1.Value.1", "web"); len(gs) != 1 || gs[0].GroupID != web {
		t.Fatalf("by name filter: %+v", gs)
	}

	// Tags on every kind, all or none.
	e.ok(nil, "CreateTags", "ResourceId.1", vpcID, "ResourceId.2", first, "ResourceId.3", web, "Tag.1.Key", "env", "Tag.1.Value", "dev")
	if s := e.subnets("Filter.1.Name", "tag:env", "Filter.1.Value.1", "dev"); len(s) != 1 || s[0].SubnetID != first {
		t.Fatalf("tagged subnets: %+v", s)
	}
	e.fails("InvalidSubnetID.NotFound", "", "CreateTags", "ResourceId.1", vpcID, "ResourceId.2", "subnet-0000000000000000f", "Tag.1.Key", "x", "Tag.1.Value", "y")
	vpcs = describeVpcsResult{}
	e.ok(&vpcs, "DescribeVpcs", "VpcId.1", vpcID)
	if tags := tagsOf(vpcs.Vpcs.Items[0].TagSet); tags["x"] != "" || tags["env"] != "dev" || tags["Name"] != "lab" {
		t.Fatalf("tags after a failed CreateTags: %v", tags)
	}
	e.fails(codeInvalidParameterValue, "Tag keys starting with 'aws:' are reserved for internal use", "CreateTags", "ResourceId.1", vpcID, "Tag.1.Key", "aws:x", "Tag.1.Value", "y")
	e.fails(codeInvalidID, "The ID 'i-0123' is not valid", "CreateTags", "ResourceId.1", "i-0123", "Tag.1.Key", "x", "Tag.1.Value", "y")
	// A value that does not match keeps the tag; a bare key deletes it.
	e.ok(nil, "DeleteTags", "ResourceId.1", vpcID, "Tag.1.Key", "env", "Tag.1.Value", "prod")
	vpcs = describeVpcsResult{}
	e.ok(&vpcs, "DescribeVpcs", "VpcId.1", vpcID)
	if tagsOf(vpcs.Vpcs.Items[0].TagSet)["env"] != "dev" {
		t.Fatal("DeleteTags with another value deleted the tag")
	}
	e.ok(nil, "DeleteTags", "ResourceId.1", vpcID, "Tag.1.Key", "env")
	vpcs = describeVpcsResult{}
	e.ok(&vpcs, "DescribeVpcs", "VpcId.1", vpcID)
	if tags := tagsOf(vpcs.Vpcs.Items[0].TagSet); tags["env"] != "" || tags["Name"] != "lab" {
		t.Fatalf("after DeleteTags: %v", tags)
	}
	var many []string
	for i := 1; i <= 51; i++ {
		many = append(many, fmt.Sprintf("Tag.%d.Key", i), fmt.Sprint("k", i), fmt.Sprintf("Tag.%d.Value", i), "v")
	}
	e.fails(codeTagLimitExceeded, "", "CreateTags", append([]string{"ResourceId.1", first}, many...)...)

	// Deletes: a VPC only once it is empty; its default group goes with it.
	e.fails(codeDependencyViolation, "The vpc '"+vpcID+"' has dependencies and cannot be deleted.", "DeleteVpc", "VpcId", vpcID)
	dflt := e.groups("Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpcID, "Filter.2.Name", "group-name", "Filter.2.Value.1", "default")[0].GroupID
	e.fails(codeCannotDelete, "", "DeleteSecurityGroup", "GroupId", dflt)
	for _, id := range []string{first, second, third} {
		e.ok(nil, "DeleteSubnet", "SubnetId", id)
	}
	e.fails("InvalidSubnetID.NotFound", "", "DeleteSubnet", "SubnetId", first)
	e.fails(codeDependencyViolation, "", "DeleteVpc", "VpcId", vpcID)
	var del deleteSecurityGroupResult
	e.ok(&del, "DeleteSecurityGroup", "GroupId", web)
	if !del.Return || del.GroupID != web {
		t.Fatalf("DeleteSecurityGroup: %+v", del)
	}
	e.fails(codeInvalidGroupNotFound, "The security group '"+web+"' does not exist", "DeleteSecurityGroup", "GroupId", web)
	e.ok(nil, "DeleteVpc", "VpcId", vpcID)
	e.fails("InvalidVpcID.NotFound", "", "DeleteVpc", "VpcId", vpcID)
	if gs := e.groups("GroupId.1", e.groups()[0].GroupID); len(gs) != 1 {
		t.Fatal(gs)
	}
	e.fails(codeInvalidGroupNotFound, "", "DescribeSecurityGroups", "GroupId.1", dflt)
}

// A cluster holds the subnets and groups it names, and its own group is in
// the inventory until it goes.
func TestClusterDependencies(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	subnet := e.net.Subnets[0].ID
	ids := []string{subnet, e.net.Subnets[1].ID}
	var g createSecurityGroupResult
	e.ok(&g, "CreateSecurityGroup", "GroupName", "extra", "GroupDescription", "d")
	clusterSG := store.NewResourceID("sg")
	rec := &store.ClusterRecord{Cluster: shapes.Cluster{Name: "demo", ID: "c0ffee00-0000", Status: shapes.StatusCreating,
		ResourcesVpcConfig: &shapes.VpcConfigResponse{SubnetIDs: ids, SecurityGroupIDs: []string{g.GroupID},
			ClusterSecurityGroupID: clusterSG, VpcID: e.net.VPCs[0].ID}}}
	if _, _, err := e.st.CreateCluster(ctx, rec, "", 10); err != nil {
		t.Fatal(err)
	}
	if s := e.subnets("SubnetId.1", subnet); s[0].AvailableIPAddressCount != 4090 {
		t.Fatalf("available with a cluster: %+v", s[0])
	}
	e.fails(codeDependencyViolation, "The subnet '"+subnet+"' has dependencies and cannot be deleted.", "DeleteSubnet", "SubnetId", subnet)
	e.fails(codeDependencyViolation, "resource "+g.GroupID+" has a dependent object", "DeleteSecurityGroup", "GroupId", g.GroupID)
	e.fails(codeDependencyViolation, "", "DeleteSecurityGroup", "GroupId", clusterSG)
	gs := e.groups("Filter.1.Name", "tag:aws:eks:cluster-name", "Filter.1.Value.1", "demo")
	if len(gs) != 1 || gs[0].GroupID != clusterSG || gs[0].GroupName != "eks-cluster-sg-demo-c0ffee00" ||
		tagsOf(gs[0].TagSet)["kubernetes.io/cluster/demo"] != "owned" {
		t.Fatalf("cluster's group: %+v", gs)
	}
	e.fails(codeInvalidParameterValue, "", "DeleteTags", "ResourceId.1", clusterSG, "Tag.1.Key", "aws:eks:cluster-name")
	e.ok(nil, "DeleteTags", "ResourceId.1", clusterSG)
	if gs := e.groups("GroupId.1", clusterSG); tagsOf(gs[0].TagSet)["aws:eks:cluster-name"] != "demo" || tagsOf(gs[0].TagSet)["Name"] != "" {
		t.Fatalf("DeleteTags without tags: %+v", gs[0].TagSet)
	}

	if err := e.st.RemoveCluster(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	e.fails(codeInvalidGroupNotFound, "", "DescribeSecurityGroups", "GroupId.1", clusterSG)
	e.ok(nil, "DeleteSecurityGroup", "GroupId", g.GroupID)
	e.ok(nil, "DeleteSubnet", "SubnetId", subnet)
}

func TestPagination(t *testing.T) {
	e := newTestEnv(t)
	var vpc createVpcResult
	e.ok(&vpc, "CreateVpc", "CidrBlock", "10.0.0.0/16")
	for i := 0; i < 12; i++ {
		e.ok(nil, "CreateSubnet", "VpcId", vpc.Vpc.VpcID, "CidrBlock", fmt.Sprintf("10.0.%d.0/24", i))
	}
	seen := map[string]bool{}
	token, pages := "", 0
	for {
		kv := []string{"Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpc.Vpc.VpcID, "MaxResults", "5"}
		if token != "" {
			kv = append(kv, "NextToken", token)
		}
		var out describeSubnetsResult
		e.ok(&out, "DescribeSubnets", kv...)
		pages++
		for _, s := range out.Subnets.Items {
			if seen[s.SubnetID] {
				t.Fatalf("subnet %s twice", s.SubnetID)
			}
			seen[s.SubnetID] = true
		}
		if token = out.NextToken; token == "" {
			break
		}
	}
	if len(seen) != 12 || pages != 3 {
		t.Fatalf("%d subnets in %d pages", len(seen), pages)
	}
	e.fails(codeInvalidParameterValue, "Value ( 4 ) for parameter MaxResults is invalid. Parameter must be between 5 and 1000.", "DescribeSubnets", "MaxResults", "4")
	e.fails(codeInvalidPaginationToken, "", "DescribeVpcs", "NextToken", "!!")
}

func TestProtocolErrors(t *testing.T) {
	e := newTestEnv(t)
	e.fails(codeInvalidAction, "The action RunInstances is not valid for this web service.", "RunInstances")
	e.fails(codeUnknownParameter, "The parameter Bogus is not recognized", "DescribeVpcs", "Bogus", "1")
	e.fails(codeUnknownParameter, "The parameter VpcId is not recognized", "DescribeVpcs", "VpcId", "vpc-1")
	e.fails(codeUnknownParameter, "The parameter Filter.1.Nme is not recognized", "DescribeVpcs", "Filter.1.Nme", "x")
	e.fails(codeUnknownParameter, "", "DescribeVpcs", "VpcId.01", "vpc-1")
	e.fails(codeInvalidParameterValue, "", "DescribeVpcs", "VpcId.1001", "vpc-1")
	e.fails(codeInvalidParameterValue, "The filter 'null' is invalid", "DescribeVpcs", "Filter.1.Value.1", "x")
	e.fails(codeInvalidParameterValue, "", "DescribeVpcs", "DryRun", "maybe")
	e.fails(codeDryRunOperation, "Request would have succeeded, but DryRun flag is set.", "CreateVpc", "CidrBlock", "10.0.0.0/16", "DryRun", "true")
	e.fails(codeMissingParameter, "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.", "CreateVpc")
	e.fails(codeInvalidVpcRange, "The CIDR '10.0.0.0/8' is invalid.", "CreateVpc", "CidrBlock", "10.0.0.0/8")
	e.fails(codeInvalidVpcRange, "", "CreateVpc", "CidrBlock", "127.0.0.0/16")
	e.fails(codeUnsupportedOperation, "", "CreateVpc", "CidrBlock", "10.0.0.0/16", "AmazonProvidedIpv6CidrBlock", "true")
	e.fails(codeInvalidParameterValue, "'subnet' is not a valid taggable resource type for this operation.", "CreateVpc", "CidrBlock", "10.0.0.0/16",
		"TagSpecification.1.ResourceType", "subnet", "TagSpecification.1.Tag.1.Key", "k")
	e.fails(codeMissingParameter, "", "DeleteVpc")
	e.fails(codeMissingParameter, "", "CreateTags", "Tag.1.Key", "k")

	r := e.send(e.signed("Action=DescribeVpcs&Version=2010-01-01"))
	if r.code != codeNoSuchVersion {
		t.Fatalf("old version: %+v", r)
	}
	r = e.send(e.signed("Version=2016-11-15"))
	if r.code != codeMissingAction {
		t.Fatalf("no action: %+v", r)
	}
	// Unsigned, signed with a wrong secret, or with an unknown key.
	unsigned, _ := http.NewRequest("POST", e.srv.URL, strings.NewReader("Action=DescribeVpcs&Version=2016-11-15"))
	unsigned.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := e.send(unsigned); r.code != "MissingAuthenticationToken" || r.status != 401 {
		t.Fatalf("unsigned: %+v", r)
	}
	bad := e.signed("Action=DescribeVpcs&Version=2016-11-15")
	bad.Header.Set("Authorization", strings.Replace(bad.Header.Get("Authorization"), "Signature=", "Signature=0", 1))
	if r := e.send(bad); r.code != "SignatureDoesNotMatch" && r.code != "IncompleteSignature" {
		t.Fatalf("bad signature: %+v", r)
	}
	other := *e.root
	other.AccessKeyID = "AKIAIOSFODNN7EXAMPLE"
	saved := e.root
	e.root = &other
	if r := e.send(e.signed("Action=DescribeVpcs&Version=2016-11-15")); r.code != "AuthFailure" || r.status != 401 {
		t.Fatalf("unknown key: %+v", r)
	}
	e.root = saved
}
