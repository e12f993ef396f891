package server_test

import (
	"testing"
)

// TestSecurityGroupRuleTagsWithAWSCLI: create-tags and delete-tags take
// security group rule ids (sgr-), with a group's id in the same call; the
// tags show in describe-security-group-rules; an unknown rule id is
// InvalidSecurityGroupRuleId.NotFound and leaves the call's other ids as
// they were (all or none).
func TestSecurityGroupRuleTagsWithAWSCLI(t *testing.T) {
	s := startServer(t, nil)
	e := newCLIEnv(t, s)
	var g struct{ GroupId string }
	e.ok(&g, "default", "ec2", "create-security-group", "--group-name", "tagged-rules", "--description", "rules with tags")
	var added struct {
		SecurityGroupRules []struct{ SecurityGroupRuleId string }
	}
	e.ok(&added, "default", "ec2", "authorize-security-group-ingress", "--group-id", g.GroupId, "--protocol", "tcp", "--port", "443", "--cidr", "10.0.0.0/8")
	rule := added.SecurityGroupRules[0].SecurityGroupRuleId
	e.ok(nil, "default", "ec2", "create-tags", "--resources", rule, g.GroupId, "--tags", "Key=Name,Value=https")

	type tagged struct{ Tags []struct{ Key, Value string } }
	var rules struct{ SecurityGroupRules []tagged }
	e.ok(&rules, "default", "ec2", "describe-security-group-rules", "--security-group-rule-ids", rule)
	if len(rules.SecurityGroupRules) != 1 || len(rules.SecurityGroupRules[0].Tags) != 1 || rules.SecurityGroupRules[0].Tags[0].Value != "https" {
		t.Fatalf("rule after create-tags: %+v", rules)
	}
	var groups struct{ SecurityGroups []tagged }
	e.ok(&groups, "default", "ec2", "describe-security-groups", "--group-ids", g.GroupId)
	if len(groups.SecurityGroups) != 1 || len(groups.SecurityGroups[0].Tags) != 1 || groups.SecurityGroups[0].Tags[0].Value != "https" {
		t.Fatalf("group after create-tags: %+v", groups)
	}

	e.fails("(InvalidSecurityGroupRuleId.NotFound) when calling the CreateTags operation: The security group rule ID 'sgr-0123456789abcdef0' does not exist",
		"default", "ec2", "create-tags", "--resources", rule, "sgr-0123456789abcdef0", "--tags", "Key=team,Value=a")
	e.ok(&rules, "default", "ec2", "describe-security-group-rules", "--security-group-rule-ids", rule)
	if len(rules.SecurityGroupRules[0].Tags) != 1 {
		t.Fatalf("a failed create-tags changed the rule's tags: %+v", rules)
	}
	e.ok(nil, "default", "ec2", "delete-tags", "--resources", rule, "--tags", "Key=Name")
	var after struct{ SecurityGroupRules []tagged } // fresh: JSON without Tags leaves old ones in a reused value
	e.ok(&after, "default", "ec2", "describe-security-group-rules", "--security-group-rule-ids", rule)
	if len(after.SecurityGroupRules) != 1 || len(after.SecurityGroupRules[0].Tags) != 0 {
		t.Fatalf("rule after delete-tags: %+v", after)
	}
}
