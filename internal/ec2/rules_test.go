package ec2

import (
	"fmt"
	"testing"
)

func (e *testEnv) rules(kv ...string) []ruleItem {
	e.t.Helper()
	var out describeRulesResult
	e.ok(&out, "DescribeSecurityGroupRules", kv...)
	return out.Rules.Items
}

// The wire forms of rules: nested IpPermissions, the flat CidrIp form,
// protocol numbers recorded by name, the default VPC's lenient revoke, the
// quota, and unknown nested parameters.
func TestSecurityGroupRuleForms(t *testing.T) {
	e := newTestEnv(t)
	dflt := e.groups("GroupName.1", "default")[0]
	if len(dflt.IPPermissions.Items) != 1 || len(dflt.IPPermissions.Items[0].Groups) != 1 ||
		dflt.IPPermissions.Items[0].Groups[0].GroupID != dflt.GroupID || dflt.IPPermissions.Items[0].IPProtocol != "-1" ||
		len(dflt.IPPermissionsEgress.Items) != 1 || dflt.IPPermissionsEgress.Items[0].IPRanges[0].CidrIP != "0.0.0.0/0" {
		t.Fatalf("the default group's rules: %+v", dflt)
	}
	var g createSecurityGroupResult
	e.ok(&g, "CreateSecurityGroup", "GroupName", "web", "GroupDescription", "web")

	// The flat form, by group name in the default VPC; 17 is recorded as udp.
	var auth authorizeRulesResult
	e.ok(&auth, "AuthorizeSecurityGroupIngress", "GroupName", "web", "CidrIp", "10.1.0.0/16", "IpProtocol", "17", "FromPort", "53", "ToPort", "53")
	if r := auth.Rules.Items; len(r) != 1 || r[0].IPProtocol != "udp" || r[0].FromPort != 53 || r[0].GroupID != g.GroupID {
		t.Fatalf("flat form: %+v", auth)
	}
	// ICMP takes a type and code; a protocol without ports records -1.
	e.ok(nil, "AuthorizeSecurityGroupIngress", "GroupId", g.GroupID, "IpPermissions.1.IpProtocol", "icmp",
		"IpPermissions.1.FromPort", "8", "IpPermissions.1.ToPort", "-1", "IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0",
		"IpPermissions.2.IpProtocol", "50", "IpPermissions.2.FromPort", "1", "IpPermissions.2.ToPort", "2", "IpPermissions.2.IpRanges.1.CidrIp", "0.0.0.0/0")
	rules := e.rules("Filter.1.Name", "group-id", "Filter.1.Value.1", g.GroupID)
	if len(rules) != 4 {
		t.Fatalf("rules: %+v", rules)
	}
	for _, r := range rules {
		if r.IPProtocol == "50" && (r.FromPort != -1 || r.ToPort != -1) || r.IPProtocol == "icmp" && (r.FromPort != 8 || r.ToPort != -1) {
			t.Errorf("rule %+v", r)
		}
	}
	e.fails(codeUnknownParameter, "The parameter IpPermissions.1.IpRanges.1.Cidr is not recognized", "AuthorizeSecurityGroupIngress",
		"GroupId", g.GroupID, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "1", "IpPermissions.1.ToPort", "2",
		"IpPermissions.1.IpRanges.1.Cidr", "10.0.0.0/8")
	e.fails(codeInvalidParameterValue, "Invalid value 'xyz' for IP protocol. Unknown protocol.", "AuthorizeSecurityGroupIngress",
		"GroupId", g.GroupID, "IpPermissions.1.IpProtocol", "xyz", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")
	e.fails(codeInvalidParameterValue, "Invalid TCP/UDP port range: 90-80", "AuthorizeSecurityGroupIngress",
		"GroupId", g.GroupID, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "90", "IpPermissions.1.ToPort", "80",
		"IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8")
	e.fails(codeMissingParameter, "The request must contain the parameter ipPermissions", "AuthorizeSecurityGroupEgress", "GroupId", g.GroupID)
	e.fails(codeUnknownParameter, "", "AuthorizeSecurityGroupEgress", "GroupName", "web")
	e.fails("InvalidSecurityGroupRuleId.Malformed", "", "RevokeSecurityGroupIngress", "GroupId", g.GroupID, "SecurityGroupRuleId.1", "rule-1")

	// In the default VPC a revoke of a rule that is not there succeeds and
	// lists it as unknown, revoking the rest.
	var rev revokeRulesResult
	e.ok(&rev, "RevokeSecurityGroupIngress", "GroupId", g.GroupID,
		"IpPermissions.1.IpProtocol", "udp", "IpPermissions.1.FromPort", "53", "IpPermissions.1.ToPort", "53",
		"IpPermissions.1.IpRanges.1.CidrIp", "10.1.0.0/16", "IpPermissions.1.IpRanges.2.CidrIp", "10.2.0.0/16")
	if len(rev.Revoked.Items) != 1 || rev.Unknown == nil || len(rev.Unknown.Items) != 1 || rev.Unknown.Items[0].IPRanges[0].CidrIP != "10.2.0.0/16" {
		t.Fatalf("lenient revoke: %+v", rev)
	}

	// At most 60 rules each way.
	kv := []string{"GroupId", g.GroupID, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "1", "IpPermissions.1.ToPort", "1"}
	for i := 1; i <= 57; i++ {
		kv = append(kv, fmt.Sprintf("IpPermissions.1.IpRanges.%d.CidrIp", i), fmt.Sprintf("10.9.%d.0/24", i))
	}
	e.ok(nil, "AuthorizeSecurityGroupIngress", kv...) // 2 + 57 = 59
	e.fails(codeRulesLimitExceeded, "", "AuthorizeSecurityGroupIngress", "GroupId", g.GroupID, "IpPermissions.1.IpProtocol", "-1",
		"IpPermissions.1.IpRanges.1.CidrIp", "10.8.0.0/16", "IpPermissions.1.IpRanges.2.CidrIp", "10.7.0.0/16")

	// A duplicate within one call is refused, and nothing of the call is kept.
	var other createSecurityGroupResult
	e.ok(&other, "CreateSecurityGroup", "GroupName", "dup", "GroupDescription", "dup")
	e.fails(codeInvalidPermissionDuplicate, `the specified rule "peer: 10.0.0.0/8, ALL, ALLOW" already exists`, "AuthorizeSecurityGroupIngress",
		"GroupId", other.GroupID, "IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8",
		"IpPermissions.2.IpProtocol", "all", "IpPermissions.2.IpRanges.1.CidrIp", "10.0.0.0/8")
	if r := e.rules("Filter.1.Name", "group-id", "Filter.1.Value.1", other.GroupID); len(r) != 1 {
		t.Fatalf("after a refused call: %+v", r)
	}
}

// A group referenced by another's rule cannot be deleted until the rule
// goes; a self-reference does not hold a group.
func TestSecurityGroupPeerReference(t *testing.T) {
	e := newTestEnv(t)
	var a, b createSecurityGroupResult
	e.ok(&a, "CreateSecurityGroup", "GroupName", "a", "GroupDescription", "a")
	e.ok(&b, "CreateSecurityGroup", "GroupName", "b", "GroupDescription", "b")
	var auth authorizeRulesResult
	e.ok(&auth, "AuthorizeSecurityGroupIngress", "GroupId", a.GroupID, "IpPermissions.1.IpProtocol", "-1",
		"IpPermissions.1.Groups.1.GroupId", b.GroupID, "IpPermissions.1.Groups.2.GroupId", a.GroupID)
	e.fails(codeDependencyViolation, "", "DeleteSecurityGroup", "GroupId", b.GroupID)
	e.ok(nil, "RevokeSecurityGroupIngress", "GroupId", a.GroupID, "SecurityGroupRuleId.1", auth.Rules.Items[0].SecurityGroupRuleID)
	e.ok(nil, "DeleteSecurityGroup", "GroupId", b.GroupID)
	// a still names itself; it goes all the same.
	e.ok(nil, "DeleteSecurityGroup", "GroupId", a.GroupID)

	// Deleting the referencing group releases the peer.
	e.ok(&a, "CreateSecurityGroup", "GroupName", "a", "GroupDescription", "a")
	e.ok(&b, "CreateSecurityGroup", "GroupName", "b", "GroupDescription", "b")
	e.ok(nil, "AuthorizeSecurityGroupEgress", "GroupId", a.GroupID, "IpPermissions.1.IpProtocol", "tcp",
		"IpPermissions.1.FromPort", "443", "IpPermissions.1.ToPort", "443", "IpPermissions.1.Groups.1.GroupId", b.GroupID)
	e.ok(nil, "DeleteSecurityGroup", "GroupId", a.GroupID)
	e.ok(nil, "DeleteSecurityGroup", "GroupId", b.GroupID)
}
