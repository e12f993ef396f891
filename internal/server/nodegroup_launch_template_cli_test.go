package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/nodegroup"
	"github.com/kplane/kplane/internal/server"
)

// create-nodegroup with a launch template, with the aws CLI: EKS's checks
// (the template exists, instance types not in both), DescribeNodegroup's
// launchTemplate {name, version, id}, and the instances taking the
// template's instance type, security groups and tags.
func TestNodegroupLaunchTemplateWithAWSCLI(t *testing.T) {
	s := startServer(t, func(c *server.Config) {
		c.Deps.Reconciler = bothReconcilers{ng: &nodegroup.Reconciler{Executor: nodegroup.Unavailable{}, Log: quietLog()}}
	})
	c := newCLI(t, s)
	s.activeCluster("lt", "")
	subnets := s.subnets()
	sg := c.text("ec2", "create-security-group", "--group-name", "lt-nodes", "--description", "nodes", "--query", "GroupId")
	ltID := c.text("ec2", "create-launch-template", "--launch-template-name", "lt-nodes", "--query", "LaunchTemplate.LaunchTemplateId",
		"--launch-template-data", `{"InstanceType":"m5.large","SecurityGroupIds":["`+sg+`"],`+
			`"TagSpecifications":[{"ResourceType":"instance","Tags":[{"Key":"team","Value":"a"}]}]}`)
	c.json(nil, "ec2", "create-launch-template-version", "--launch-template-id", ltID, "--source-version", "1",
		"--launch-template-data", `{"MetadataOptions":{"HttpTokens":"required"}}`)

	base := []string{"eks", "create-nodegroup", "--cluster-name", "lt", "--node-role", nodeRole, "--subnets", subnets[0], subnets[1],
		"--scaling-config", "minSize=1,maxSize=1,desiredSize=1"}
	c.fails("(InvalidParameterException) when calling the CreateNodegroup operation: Instance type can be specified in either the launch template or the nodegroup request, not both.",
		append(base, "--nodegroup-name", "both", "--instance-types", "t3.large", "--launch-template", "id="+ltID)...)
	c.fails("(InvalidParameterException) when calling the CreateNodegroup operation: Launch template nope does not exist",
		append(base, "--nodegroup-name", "none", "--launch-template", "name=nope")...)
	c.fails("(InvalidParameterException) when calling the CreateNodegroup operation: Launch template "+ltID+" does not have version 9",
		append(base, "--nodegroup-name", "v9", "--launch-template", "id="+ltID+",version=9")...)
	c.fails("Disk size must be specified within the launch template.",
		append(base, "--nodegroup-name", "disk", "--disk-size", "30", "--launch-template", "id="+ltID)...)

	var ng struct {
		Nodegroup struct {
			InstanceTypes  []string
			DiskSize       *int
			LaunchTemplate struct{ Id, Name, Version string }
		}
	}
	c.json(&ng, append(base, "--nodegroup-name", "workers", "--launch-template", "name=lt-nodes,version=$Latest")...)
	if lt := ng.Nodegroup.LaunchTemplate; lt.Id != ltID || lt.Name != "lt-nodes" || lt.Version != "2" ||
		ng.Nodegroup.InstanceTypes != nil || ng.Nodegroup.DiskSize != nil {
		t.Fatalf("create-nodegroup: %+v", ng)
	}
	c.json(&ng, "eks", "describe-nodegroup", "--cluster-name", "lt", "--nodegroup-name", "workers")
	if lt := ng.Nodegroup.LaunchTemplate; lt.Id != ltID || lt.Version != "2" {
		t.Fatalf("describe-nodegroup: %+v", ng)
	}
	// Its instance (terminated: no node runs under this reconciler) has the template's type, group and tag.
	var res struct {
		Reservations []struct {
			Instances []struct {
				InstanceType   string
				SecurityGroups []struct{ GroupId string }
				Tags           []struct{ Key, Value string }
			}
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		res.Reservations = nil
		c.json(&res, "ec2", "describe-instances", "--filters", "Name=tag:eks:nodegroup-name,Values=workers")
		if len(res.Reservations) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(res.Reservations) == 0 {
		t.Fatal("no instance launched")
	}
	inst := res.Reservations[0].Instances[0]
	team := ""
	for _, tag := range inst.Tags {
		if tag.Key == "team" {
			team = tag.Value
		}
	}
	if inst.InstanceType != "m5.large" || len(inst.SecurityGroups) != 1 || inst.SecurityGroups[0].GroupId != sg || team != "a" {
		t.Fatalf("instance: %+v", inst)
	}
	rec, err := s.Store.GetNodegroup(context.Background(), "lt", "workers")
	if err != nil || rec.Launch == nil || rec.Launch.InstanceType != "m5.large" || !strings.HasPrefix(rec.Launch.SecurityGroupIDs[0], "sg-") {
		t.Fatalf("record: %v %+v", err, rec)
	}
}
