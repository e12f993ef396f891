package server_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/runinfo"
	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
)

// removeDeleted stands in for the control-plane reconciler: it removes
// clusters marked DELETING, as the real one does once their control plane
// is gone.
type removeDeleted struct{}

func (removeDeleted) Run(ctx context.Context, st *store.Store, _ runinfo.Info) error {
	changed := st.WatchClusters()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-tick.C:
		}
		for _, rec := range st.Clusters() {
			if rec.Cluster.Status == "DELETING" {
				st.RemoveCluster(ctx, rec.Cluster.Name)
			}
		}
	}
}

// The network made with the real aws CLI (botocore's ec2 protocol) against a
// real kplane, and a cluster in it with aws eks. Skips without the CLI.
func TestEC2WithAWSCLI(t *testing.T) {
	awsPath, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed")
	}
	s := startServer(t, func(c *server.Config) { c.Reconciler = removeDeleted{} })
	home := t.TempDir()
	creds := filepath.Join(home, "credentials")
	os.WriteFile(creds, []byte("[default]\naws_access_key_id = "+s.Root.AccessKeyID+"\naws_secret_access_key = "+s.Root.SecretAccessKey+"\n"), 0o600)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(awsPath, args...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "HOME="+home, "AWS_SHARED_CREDENTIALS_FILE="+creds, "AWS_CONFIG_FILE="+filepath.Join(home, "config"),
			"AWS_ENDPOINT_URL="+s.URL, "AWS_DEFAULT_REGION="+s.Region, "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	awsJSON := func(v any, args ...string) {
		t.Helper()
		out, err := run(append(args, "--output", "json")...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if v != nil {
			if err := json.Unmarshal([]byte(out), v); err != nil {
				t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}
	awsFails := func(want string, args ...string) {
		t.Helper()
		out, err := run(args...)
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("aws %s: %v, want %q in\n%s", strings.Join(args, " "), err, want, out)
		}
	}
	type subnet struct {
		SubnetId, VpcId, AvailabilityZone, AvailabilityZoneId, CidrBlock string
		AvailableIpAddressCount                                          int
		DefaultForAz                                                     bool
		Tags                                                             []struct{ Key, Value string }
	}
	var zones struct {
		AvailabilityZones []struct{ ZoneName, ZoneId, State string }
	}
	awsJSON(&zones, "ec2", "describe-availability-zones")
	if len(zones.AvailabilityZones) != 3 || zones.AvailabilityZones[0].ZoneId != "usw2-az1" || zones.AvailabilityZones[0].State != "available" {
		t.Fatalf("describe-availability-zones: %+v", zones)
	}

	// The README's way to the default subnets, exactly.
	out, err := run("ec2", "describe-subnets", "--filters", "Name=default-for-az,Values=true", "--query", "Subnets[].SubnetId", "--output", "text")
	if ids := strings.Split(strings.TrimSpace(out), "\t"); err != nil || len(ids) != 3 || !strings.HasPrefix(ids[0], "subnet-") {
		t.Fatalf("default subnets as text: %v %q", err, out)
	}

	var vpc struct {
		Vpc struct{ VpcId, CidrBlock, State string }
	}
	awsJSON(&vpc, "ec2", "create-vpc", "--cidr-block", "10.20.0.0/16", "--tag-specifications", "ResourceType=vpc,Tags=[{Key=Name,Value=cli}]")
	vpcID := vpc.Vpc.VpcId
	if !strings.HasPrefix(vpcID, "vpc-") || vpc.Vpc.CidrBlock != "10.20.0.0/16" || vpc.Vpc.State != "available" {
		t.Fatalf("create-vpc: %+v", vpc)
	}
	var made struct{ Subnet subnet }
	awsJSON(&made, "ec2", "create-subnet", "--vpc-id", vpcID, "--cidr-block", "10.20.1.0/24", "--availability-zone", "us-west-2a",
		"--tag-specifications", "ResourceType=subnet,Tags=[{Key=kubernetes.io/role/elb,Value=1}]")
	a := made.Subnet
	if a.AvailabilityZone != "us-west-2a" || a.AvailabilityZoneId != "usw2-az1" || a.AvailableIpAddressCount != 251 || a.VpcId != vpcID {
		t.Fatalf("create-subnet: %+v", a)
	}
	made.Subnet = subnet{}
	awsJSON(&made, "ec2", "create-subnet", "--vpc-id", vpcID, "--cidr-block", "10.20.2.0/24", "--availability-zone", "us-west-2b")
	b := made.Subnet
	awsFails("An error occurred (InvalidSubnet.Conflict) when calling the CreateSubnet operation: The CIDR '10.20.1.128/25' conflicts with another subnet",
		"ec2", "create-subnet", "--vpc-id", vpcID, "--cidr-block", "10.20.1.128/25", "--availability-zone", "us-west-2c")
	awsFails("(InvalidParameterValue) when calling the CreateSubnet operation: Value (us-west-2z) for parameter availabilityZone is invalid.",
		"ec2", "create-subnet", "--vpc-id", vpcID, "--cidr-block", "10.20.3.0/24", "--availability-zone", "us-west-2z")

	var list struct{ Subnets []subnet }
	awsJSON(&list, "ec2", "describe-subnets", "--filters", "Name=vpc-id,Values="+vpcID)
	if len(list.Subnets) != 2 || list.Subnets[0].SubnetId != a.SubnetId || list.Subnets[1].SubnetId != b.SubnetId {
		t.Fatalf("describe-subnets by vpc: %+v", list)
	}
	list.Subnets = nil
	awsJSON(&list, "ec2", "describe-subnets", "--filters", "Name=tag:kubernetes.io/role/elb,Values=1")
	if len(list.Subnets) != 1 || list.Subnets[0].SubnetId != a.SubnetId || list.Subnets[0].Tags[0].Key != "kubernetes.io/role/elb" {
		t.Fatalf("describe-subnets by tag: %+v", list)
	}

	var sg struct{ GroupId string }
	awsJSON(&sg, "ec2", "create-security-group", "--group-name", "web", "--description", "web servers", "--vpc-id", vpcID)
	awsFails("(InvalidGroup.Duplicate)", "ec2", "create-security-group", "--group-name", "web", "--description", "again", "--vpc-id", vpcID)
	awsJSON(nil, "ec2", "create-tags", "--resources", b.SubnetId, sg.GroupId, "--tags", "Key=team,Value=a")
	list.Subnets = nil
	awsJSON(&list, "ec2", "describe-subnets", "--filters", "Name=tag:team,Values=a", "Name=vpc-id,Values="+vpcID)
	if len(list.Subnets) != 1 || list.Subnets[0].SubnetId != b.SubnetId {
		t.Fatalf("describe-subnets after create-tags: %+v", list)
	}

	// A cluster in the subnets made above holds them.
	var cluster struct {
		Cluster struct {
			Name               string
			ResourcesVpcConfig struct {
				SubnetIds, SecurityGroupIds   []string
				VpcId, ClusterSecurityGroupId string
			}
		}
	}
	awsJSON(&cluster, "eks", "create-cluster", "--name", "demo", "--role-arn", testRole,
		"--resources-vpc-config", "subnetIds="+a.SubnetId+","+b.SubnetId+",securityGroupIds="+sg.GroupId)
	rvc := cluster.Cluster.ResourcesVpcConfig
	if rvc.VpcId != vpcID || len(rvc.SubnetIds) != 2 || rvc.ClusterSecurityGroupId == "" {
		t.Fatalf("create-cluster: %+v", cluster)
	}
	awsFails("An error occurred (DependencyViolation) when calling the DeleteSubnet operation: The subnet '"+a.SubnetId+"' has dependencies and cannot be deleted.",
		"ec2", "delete-subnet", "--subnet-id", a.SubnetId)
	awsFails("(DependencyViolation) when calling the DeleteSecurityGroup operation", "ec2", "delete-security-group", "--group-id", sg.GroupId)
	awsFails("(DependencyViolation) when calling the DeleteSecurityGroup operation", "ec2", "delete-security-group", "--group-id", rvc.ClusterSecurityGroupId)
	awsFails("(DependencyViolation) when calling the DeleteVpc operation", "ec2", "delete-vpc", "--vpc-id", vpcID)
	var groups struct {
		SecurityGroups []struct {
			GroupId, GroupName, VpcId string
			Tags                      []struct{ Key, Value string }
		}
	}
	awsJSON(&groups, "ec2", "describe-security-groups", "--filters", "Name=tag:aws:eks:cluster-name,Values=demo")
	if len(groups.SecurityGroups) != 1 || groups.SecurityGroups[0].GroupId != rvc.ClusterSecurityGroupId ||
		!strings.HasPrefix(groups.SecurityGroups[0].GroupName, "eks-cluster-sg-demo-") || groups.SecurityGroups[0].VpcId != vpcID {
		t.Fatalf("the cluster's security group: %+v", groups)
	}
	list.Subnets = nil
	awsJSON(&list, "ec2", "describe-subnets", "--subnet-ids", a.SubnetId)
	if list.Subnets[0].AvailableIpAddressCount != 250 {
		t.Fatalf("addresses with a cluster: %+v", list.Subnets[0])
	}
	// EKS refuses a subnet of another VPC.
	awsFails("(InvalidParameterException)", "eks", "create-cluster", "--name", "mixed", "--role-arn", testRole,
		"--resources-vpc-config", "subnetIds="+a.SubnetId+","+s.subnets()[1])

	awsJSON(nil, "eks", "delete-cluster", "--name", "demo")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := s.Store.GetCluster(context.Background(), "demo"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cluster demo not removed")
		}
	}
	awsFails("(InvalidGroup.NotFound)", "ec2", "describe-security-groups", "--group-ids", rvc.ClusterSecurityGroupId)
	awsJSON(nil, "ec2", "delete-subnet", "--subnet-id", a.SubnetId)
	awsJSON(nil, "ec2", "delete-subnet", "--subnet-id", b.SubnetId)
	awsJSON(nil, "ec2", "delete-security-group", "--group-id", sg.GroupId)
	awsJSON(nil, "ec2", "delete-vpc", "--vpc-id", vpcID)
	awsFails("(InvalidVpcID.NotFound)", "ec2", "describe-vpcs", "--vpc-ids", vpcID)
}
