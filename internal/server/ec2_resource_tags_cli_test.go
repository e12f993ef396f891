package server_test

import (
	"testing"
)

// TestEC2ResourceTagConditionsWithAWSCLI: a policy allowing EC2 changes only
// on resources tagged team=a (aws:ResourceTag/team) lets its user tag the VPC
// and subnet, delete the subnet, add a rule to the security group and modify
// the launch template (by id and by name) of team a, and refuses the untagged ones with UnauthorizedOperation; retagging
// a group moves the right with it.
func TestEC2ResourceTagConditionsWithAWSCLI(t *testing.T) {
	s := startServer(t, nil)
	e := newCLIEnv(t, s)
	e.user("netops")
	e.ok(nil, "default", "iam", "put-user-policy", "--user-name", "netops", "--policy-name", "team-a", "--policy-document",
		policyDoc(`{"Effect":"Allow","Action":["ec2:CreateTags","ec2:AuthorizeSecurityGroupIngress","ec2:ModifyLaunchTemplate","ec2:DeleteSubnet"],"Resource":"*",
		 "Condition":{"StringEquals":{"aws:ResourceTag/team":"a"}}}`))
	var vpc struct{ Vpc struct{ VpcId string } }
	var subnet struct{ Subnet struct{ SubnetId string } }
	var group struct{ GroupId string }
	var lt struct {
		LaunchTemplate struct{ LaunchTemplateId string }
	}
	ids := map[string]map[string]string{}
	for _, tag := range []string{"a", "b"} {
		e.ok(&vpc, "default", "ec2", "create-vpc", "--cidr-block", map[string]string{"a": "10.10.0.0/16", "b": "10.20.0.0/16"}[tag],
			"--tag-specifications", "ResourceType=vpc,Tags=[{Key=team,Value="+tag+"}]")
		e.ok(&subnet, "default", "ec2", "create-subnet", "--vpc-id", vpc.Vpc.VpcId, "--cidr-block", map[string]string{"a": "10.10.1.0/24", "b": "10.20.1.0/24"}[tag],
			"--tag-specifications", "ResourceType=subnet,Tags=[{Key=team,Value="+tag+"}]")
		e.ok(&group, "default", "ec2", "create-security-group", "--group-name", "group-"+tag, "--description", "team "+tag, "--vpc-id", vpc.Vpc.VpcId,
			"--tag-specifications", "ResourceType=security-group,Tags=[{Key=team,Value="+tag+"}]")
		e.ok(&lt, "default", "ec2", "create-launch-template", "--launch-template-name", "lt-"+tag, "--launch-template-data", `{"InstanceType":"t3.medium"}`,
			"--tag-specifications", "ResourceType=launch-template,Tags=[{Key=team,Value="+tag+"}]")
		ids[tag] = map[string]string{"vpc": vpc.Vpc.VpcId, "subnet": subnet.Subnet.SubnetId, "sg": group.GroupId, "lt": lt.LaunchTemplate.LaunchTemplateId}
	}
	refused := "(UnauthorizedOperation)"
	for _, c := range []struct {
		what string
		args func(id map[string]string) []string
	}{
		{"authorize-security-group-ingress", func(id map[string]string) []string {
			return []string{"ec2", "authorize-security-group-ingress", "--group-id", id["sg"], "--protocol", "tcp", "--port", "443", "--cidr", "10.0.0.0/8"}
		}},
		{"create-tags on the subnet", func(id map[string]string) []string {
			return []string{"ec2", "create-tags", "--resources", id["subnet"], "--tags", "Key=owner,Value=netops"}
		}},
		{"modify-launch-template by id", func(id map[string]string) []string {
			return []string{"ec2", "modify-launch-template", "--launch-template-id", id["lt"], "--default-version", "1"}
		}},
		{"modify-launch-template by name", func(id map[string]string) []string {
			name := "lt-a"
			if id["lt"] == ids["b"]["lt"] {
				name = "lt-b"
			}
			return []string{"ec2", "modify-launch-template", "--launch-template-name", name, "--default-version", "1"}
		}},
		{"delete-subnet", func(id map[string]string) []string {
			return []string{"ec2", "delete-subnet", "--subnet-id", id["subnet"]}
		}},
		{"create-tags on the VPC", func(id map[string]string) []string {
			return []string{"ec2", "create-tags", "--resources", id["vpc"], "--tags", "Key=owner,Value=netops"}
		}},
	} {
		e.fails(refused, "netops", c.args(ids["b"])...)
		e.ok(nil, "netops", c.args(ids["a"])...)
	}
	// Retagging team b's group to a moves the right with it.
	e.ok(nil, "default", "ec2", "create-tags", "--resources", ids["b"]["sg"], "--tags", "Key=team,Value=a")
	e.ok(nil, "netops", "ec2", "authorize-security-group-ingress", "--group-id", ids["b"]["sg"], "--protocol", "tcp", "--port", "443", "--cidr", "10.0.0.0/8")
}
