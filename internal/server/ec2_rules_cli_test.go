package server_test

import (
	"strings"
	"testing"
)

type cliRule struct {
	SecurityGroupRuleId, GroupId, IpProtocol, CidrIpv4, CidrIpv6, PrefixListId, Description string
	IsEgress                                                                                bool
	FromPort, ToPort                                                                        int
	ReferencedGroupInfo                                                                     *struct{ GroupId, UserId string }
	Tags                                                                                    []struct{ Key, Value string }
}

type cliPermission struct {
	IpProtocol       string
	FromPort, ToPort *int
	IpRanges         []struct{ CidrIp, Description string }
	Ipv6Ranges       []struct{ CidrIpv6 string }
	UserIdGroupPairs []struct{ GroupId, UserId string }
	PrefixListIds    []struct{ PrefixListId string }
}

// Security group rules with the real aws CLI and boto3: the default egress
// rule, authorize with every kind of peer, the duplicate and not-found
// errors, revoke by properties and by id, modify, describe with filters and
// pages, a peer group that cannot go while referenced, and enforcement.
func TestSecurityGroupRulesWithAWSCLI(t *testing.T) {
	s := startServer(t, nil)
	c := newCLI(t, s)
	vpc := c.text("ec2", "create-vpc", "--cidr-block", "10.30.0.0/16", "--query", "Vpc.VpcId")
	cluster := c.text("ec2", "create-security-group", "--group-name", "cluster", "--description", "cluster", "--vpc-id", vpc, "--query", "GroupId")
	node := c.text("ec2", "create-security-group", "--group-name", "node", "--description", "node", "--vpc-id", vpc, "--query", "GroupId")

	var rules struct {
		SecurityGroupRules []cliRule
		NextToken          string
	}
	c.json(&rules, "ec2", "describe-security-group-rules", "--filters", "Name=group-id,Values="+cluster)
	if r := rules.SecurityGroupRules; len(r) != 1 || !r[0].IsEgress || r[0].IpProtocol != "-1" || r[0].CidrIpv4 != "0.0.0.0/0" ||
		r[0].FromPort != -1 || !strings.HasPrefix(r[0].SecurityGroupRuleId, "sgr-") {
		t.Fatalf("a new group's rules: %+v", r)
	}
	defaultEgress := rules.SecurityGroupRules[0].SecurityGroupRuleId

	// terraform-aws-eks's rules: 443 from the nodes into the cluster, node to node, 443 from a CIDR.
	var made struct {
		Return             bool
		SecurityGroupRules []cliRule
	}
	c.json(&made, "ec2", "authorize-security-group-ingress", "--group-id", cluster, "--ip-permissions",
		`[{"IpProtocol":"tcp","FromPort":443,"ToPort":443,"UserIdGroupPairs":[{"GroupId":"`+node+`","Description":"Node groups to cluster API"}],`+
			`"IpRanges":[{"CidrIp":"10.30.0.0/16"}],"Ipv6Ranges":[{"CidrIpv6":"2600:1f14::/56"}],"PrefixListIds":[{"PrefixListId":"pl-0123abcd"}]}]`,
		"--tag-specifications", "ResourceType=security-group-rule,Tags=[{Key=Name,Value=api}]")
	if !made.Return || len(made.SecurityGroupRules) != 4 {
		t.Fatalf("authorize: %+v", made)
	}
	for _, r := range made.SecurityGroupRules {
		if r.GroupId != cluster || r.IsEgress || r.IpProtocol != "tcp" || r.FromPort != 443 || r.ToPort != 443 || len(r.Tags) != 1 {
			t.Fatalf("authorized rule: %+v", r)
		}
	}
	if g := made.SecurityGroupRules[3].ReferencedGroupInfo; g == nil || g.GroupId != node || g.UserId != s.AccountID {
		t.Fatalf("group peer: %+v", made.SecurityGroupRules[3])
	}
	c.json(nil, "ec2", "authorize-security-group-ingress", "--group-id", node, "--protocol", "-1", "--source-group", node)
	c.json(nil, "ec2", "authorize-security-group-ingress", "--group-id", node, "--protocol", "6", "--port", "10250", "--cidr", "10.30.1.7/24")
	c.fails(`(InvalidPermission.Duplicate) when calling the AuthorizeSecurityGroupIngress operation: the specified rule "peer: 10.30.1.0/24, TCP, from port: 10250, to port: 10250, ALLOW" already exists`,
		"ec2", "authorize-security-group-ingress", "--group-id", node, "--protocol", "tcp", "--port", "10250", "--cidr", "10.30.1.0/24")
	c.fails(`(InvalidPermission.Duplicate) when calling the AuthorizeSecurityGroupEgress operation`,
		"ec2", "authorize-security-group-egress", "--group-id", node, "--ip-permissions", `[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]`)
	c.fails("(InvalidParameterValue) when calling the AuthorizeSecurityGroupIngress operation: Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange",
		"ec2", "authorize-security-group-ingress", "--group-id", node, "--ip-permissions", `[{"IpProtocol":"tcp","IpRanges":[{"CidrIp":"10.0.0.0/8"}]}]`)
	c.fails("(InvalidParameterValue) when calling the AuthorizeSecurityGroupIngress operation: CIDR block 10.0.0.0/33 is malformed",
		"ec2", "authorize-security-group-ingress", "--group-id", node, "--protocol", "tcp", "--port", "22", "--cidr", "10.0.0.0/33")
	c.fails("(InvalidGroup.NotFound) when calling the AuthorizeSecurityGroupIngress operation: The security group 'sg-0000000000000000f' does not exist",
		"ec2", "authorize-security-group-ingress", "--group-id", "sg-0000000000000000f", "--protocol", "tcp", "--port", "22", "--cidr", "10.0.0.0/8")
	c.fails("(InvalidGroup.NotFound) when calling the AuthorizeSecurityGroupIngress operation: The security group 'sg-0000000000000000e' does not exist",
		"ec2", "authorize-security-group-ingress", "--group-id", node, "--protocol", "tcp", "--port", "22", "--source-group", "sg-0000000000000000e")
	// A group of another VPC cannot be a peer.
	other := c.text("ec2", "describe-security-groups", "--group-names", "default", "--query", "SecurityGroups[0].GroupId")
	c.fails("(InvalidGroup.NotFound) when calling the AuthorizeSecurityGroupIngress operation: You have specified two resources that belong to different networks.",
		"ec2", "authorize-security-group-ingress", "--group-id", node, "--protocol", "tcp", "--port", "22", "--source-group", other)

	// DescribeSecurityGroups groups the rules into IpPermissions.
	var groups struct {
		SecurityGroups []struct {
			GroupId                            string
			IpPermissions, IpPermissionsEgress []cliPermission
		}
	}
	c.json(&groups, "ec2", "describe-security-groups", "--group-ids", cluster)
	g := groups.SecurityGroups[0]
	if len(g.IpPermissions) != 1 || len(g.IpPermissionsEgress) != 1 {
		t.Fatalf("permissions: %+v", g)
	}
	p := g.IpPermissions[0]
	if p.IpProtocol != "tcp" || *p.FromPort != 443 || len(p.IpRanges) != 1 || len(p.Ipv6Ranges) != 1 || len(p.PrefixListIds) != 1 ||
		len(p.UserIdGroupPairs) != 1 || p.UserIdGroupPairs[0].GroupId != node || g.IpPermissionsEgress[0].FromPort != nil {
		t.Fatalf("ingress permission: %+v", p)
	}
	groups.SecurityGroups = nil
	c.json(&groups, "ec2", "describe-security-groups", "--filters", "Name=ip-permission.group-id,Values="+node, "Name=vpc-id,Values="+vpc)
	if len(groups.SecurityGroups) != 2 {
		t.Fatalf("by ip-permission.group-id: %+v", groups)
	}

	// The node group is referenced by the cluster group's rule: it cannot go.
	c.fails("(DependencyViolation) when calling the DeleteSecurityGroup operation", "ec2", "delete-security-group", "--group-id", node)

	// Revoke by properties; a rule that is not there is NotFound outside the default VPC.
	var revoked struct {
		Return                    bool
		RevokedSecurityGroupRules []cliRule
	}
	c.json(&revoked, "ec2", "revoke-security-group-ingress", "--group-id", cluster, "--ip-permissions",
		`[{"IpProtocol":"tcp","FromPort":443,"ToPort":443,"UserIdGroupPairs":[{"GroupId":"`+node+`"}]}]`)
	if len(revoked.RevokedSecurityGroupRules) != 1 || revoked.RevokedSecurityGroupRules[0].SecurityGroupRuleId != made.SecurityGroupRules[3].SecurityGroupRuleId {
		t.Fatalf("revoke: %+v", revoked)
	}
	c.fails("(InvalidPermission.NotFound) when calling the RevokeSecurityGroupIngress operation: The specified rule does not exist in this security group.",
		"ec2", "revoke-security-group-ingress", "--group-id", cluster, "--protocol", "tcp", "--port", "22", "--cidr", "10.0.0.0/8")
	// Modify a rule in place, then revoke by id; an unknown id is NotFound.
	c.json(nil, "ec2", "modify-security-group-rules", "--group-id", cluster, "--security-group-rules",
		`[{"SecurityGroupRuleId":"`+made.SecurityGroupRules[0].SecurityGroupRuleId+`","SecurityGroupRule":{"IpProtocol":"tcp","FromPort":8443,"ToPort":8443,"CidrIpv4":"10.30.0.0/16","Description":"webhooks"}}]`)
	c.json(&rules, "ec2", "describe-security-group-rules", "--security-group-rule-ids", made.SecurityGroupRules[0].SecurityGroupRuleId)
	if r := rules.SecurityGroupRules; len(r) != 1 || r[0].FromPort != 8443 || r[0].Description != "webhooks" || len(r[0].Tags) != 1 {
		t.Fatalf("modified: %+v", r)
	}
	c.json(nil, "ec2", "revoke-security-group-egress", "--group-id", cluster, "--security-group-rule-ids", defaultEgress)
	c.fails("(InvalidSecurityGroupRuleId.NotFound) when calling the RevokeSecurityGroupEgress operation: The security group rule ID '"+defaultEgress+"' does not exist",
		"ec2", "revoke-security-group-egress", "--group-id", cluster, "--security-group-rule-ids", defaultEgress)

	// boto3: paging over the rules, and the modeled error class.
	script := `
import boto3, sys
ec2 = boto3.client("ec2")
ids = [r["SecurityGroupRuleId"] for page in ec2.get_paginator("describe_security_group_rules").paginate(
    Filters=[{"Name": "group-id", "Values": ["` + cluster + `", "` + node + `"]}], PaginationConfig={"PageSize": 5}) for r in page["SecurityGroupRules"]]
assert len(ids) == 6 and len(set(ids)) == 6, ids
try:
    ec2.authorize_security_group_egress(GroupId="` + node + `", IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    sys.exit("duplicate accepted")
except ec2.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidPermission.Duplicate", e.response
print("ok")
`
	if out, err := c.run("python3", "-c", script); err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("boto3: %v\n%s", err, out)
	}

	// Once no rule names it, the node group goes.
	c.json(nil, "ec2", "delete-security-group", "--group-id", node)
	c.json(nil, "ec2", "delete-security-group", "--group-id", cluster)
	c.fails("(InvalidSecurityGroupRuleId.NotFound)", "ec2", "describe-security-group-rules", "--security-group-rule-ids", made.SecurityGroupRules[0].SecurityGroupRuleId)
	rules.SecurityGroupRules = nil
	c.json(&rules, "ec2", "describe-security-group-rules", "--filters", "Name=group-id,Values="+cluster)
	if len(rules.SecurityGroupRules) != 0 {
		t.Fatalf("rules of a deleted group: %+v", rules)
	}
}

// A caller whose policy allows reading security groups but not
// ec2:AuthorizeSecurityGroupIngress is refused in EC2's shape, and allowed
// once its policy names the group.
func TestSecurityGroupRulesEnforced(t *testing.T) {
	s := startServer(t, nil)
	e := newCLIEnv(t, s)
	var g struct{ GroupId string }
	e.ok(&g, "default", "ec2", "create-security-group", "--group-name", "guarded", "--description", "guarded")
	arn := e.user("netops")
	e.ok(nil, "default", "iam", "put-user-policy", "--user-name", "netops", "--policy-name", "read", "--policy-document",
		policyDoc(`{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}`))
	e.ok(nil, "netops", "ec2", "describe-security-group-rules")
	groupArn := "arn:aws:ec2:" + s.Region + ":" + s.AccountID + ":security-group/" + g.GroupId
	e.fails("An error occurred (UnauthorizedOperation) when calling the AuthorizeSecurityGroupIngress operation: You are not authorized to perform this operation. User: "+
		arn+" is not authorized to perform: ec2:AuthorizeSecurityGroupIngress on resource: "+groupArn,
		"netops", "ec2", "authorize-security-group-ingress", "--group-id", g.GroupId, "--protocol", "tcp", "--port", "443", "--cidr", "10.0.0.0/8")
	e.ok(nil, "default", "iam", "put-user-policy", "--user-name", "netops", "--policy-name", "rules", "--policy-document",
		policyDoc(`{"Effect":"Allow","Action":"ec2:AuthorizeSecurityGroupIngress","Resource":"`+groupArn+`"}`))
	e.ok(nil, "netops", "ec2", "authorize-security-group-ingress", "--group-id", g.GroupId, "--protocol", "tcp", "--port", "443", "--cidr", "10.0.0.0/8")
}
