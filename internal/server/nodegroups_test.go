package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

const nodeRole = "arn:aws:iam::000000000000:role/eks-cluster-role" // kplane's default role exists in IAM

// activeCluster creates a cluster and marks it ACTIVE, as the reconciler
// would once its control plane runs (none runs in these tests).
func (s *testServer) activeCluster(name string, mode ekstypes.AuthenticationMode) {
	s.t.Helper()
	in := s.createInput(name)
	if mode != "" {
		in.AccessConfig = &ekstypes.CreateAccessConfigRequest{AuthenticationMode: mode}
	}
	if _, err := s.eks.CreateCluster(context.Background(), in); err != nil {
		s.t.Fatal(err)
	}
	s.setClusterStatus(name, shapes.StatusActive)
}

func (s *testServer) setClusterStatus(name, status string) {
	s.t.Helper()
	if _, err := s.Store.UpdateCluster(context.Background(), name, func(r *store.ClusterRecord) error {
		r.Cluster.Status = status
		return nil
	}); err != nil {
		s.t.Fatal(err)
	}
}

func (s *testServer) setNodegroupStatus(cluster, name, status string) {
	s.t.Helper()
	if _, err := s.Store.UpdateNodegroup(context.Background(), cluster, name, func(r *store.NodegroupRecord) error {
		r.Nodegroup.Status = status
		return nil
	}); err != nil {
		s.t.Fatal(err)
	}
}

func TestNodegroupLifecycleThroughSDK(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	s.activeCluster("demo", "")
	subnets := s.subnets()
	out, err := s.eks.CreateNodegroup(ctx, &eks.CreateNodegroupInput{
		ClusterName: aws.String("demo"), NodegroupName: aws.String("ng1"), NodeRole: aws.String(nodeRole), Subnets: subnets,
		Labels: map[string]string{"team": "a"},
		Taints: []ekstypes.Taint{{Key: aws.String("dedicated"), Value: aws.String("x"), Effect: ekstypes.TaintEffectNoSchedule}},
		Tags:   map[string]string{"env": "test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ng := out.Nodegroup
	if ng.Status != ekstypes.NodegroupStatusCreating || aws.ToString(ng.ClusterName) != "demo" || aws.ToString(ng.Version) != "1.37" ||
		!strings.HasPrefix(aws.ToString(ng.NodegroupArn), "arn:aws:eks:us-west-2:000000000000:nodegroup/demo/ng1/") {
		t.Errorf("nodegroup %+v", ng)
	}
	sc := ng.ScalingConfig
	if aws.ToInt32(sc.MinSize) != 1 || aws.ToInt32(sc.MaxSize) != 2 || aws.ToInt32(sc.DesiredSize) != 2 {
		t.Errorf("default scaling %d/%d/%d, want EKS's 1/2/2", aws.ToInt32(sc.MinSize), aws.ToInt32(sc.MaxSize), aws.ToInt32(sc.DesiredSize))
	}
	if ng.AmiType != ekstypes.AMITypesAl2023X8664Standard || ng.CapacityType != ekstypes.CapacityTypesOnDemand ||
		len(ng.InstanceTypes) != 1 || ng.InstanceTypes[0] != "t3.medium" || aws.ToInt32(ng.DiskSize) != 20 ||
		!strings.HasPrefix(aws.ToString(ng.ReleaseVersion), "1.37.") || ng.Resources == nil || len(ng.Resources.AutoScalingGroups) != 1 {
		t.Errorf("defaults %+v", ng)
	}
	if ng.Labels["team"] != "a" || len(ng.Taints) != 1 || ng.Taints[0].Effect != ekstypes.TaintEffectNoSchedule || ng.Tags["env"] != "test" || ng.Health == nil {
		t.Errorf("labels %v taints %+v tags %v", ng.Labels, ng.Taints, ng.Tags)
	}

	// Describe, list with paging.
	if _, err := s.eks.CreateNodegroup(ctx, &eks.CreateNodegroupInput{ClusterName: aws.String("demo"), NodegroupName: aws.String("ng2"),
		NodeRole: aws.String(nodeRole), Subnets: subnets[:1], ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(0), MaxSize: aws.Int32(3), DesiredSize: aws.Int32(0)}}); err != nil {
		t.Fatal(err)
	}
	d, err := s.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("demo"), NodegroupName: aws.String("ng1")})
	if err != nil || aws.ToString(d.Nodegroup.NodegroupArn) != aws.ToString(ng.NodegroupArn) {
		t.Fatalf("describe: %v %v", err, d)
	}
	var names []string
	p := eks.NewListNodegroupsPaginator(s.eks, &eks.ListNodegroupsInput{ClusterName: aws.String("demo"), MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, page.Nodegroups...)
	}
	if strings.Join(names, ",") != "ng1,ng2" {
		t.Errorf("listed %v", names)
	}

	// The same name again: ResourceInUseException.
	var inUse *ekstypes.ResourceInUseException
	_, err = s.eks.CreateNodegroup(ctx, &eks.CreateNodegroupInput{ClusterName: aws.String("demo"), NodegroupName: aws.String("ng1"), NodeRole: aws.String(nodeRole), Subnets: subnets})
	if !errors.As(err, &inUse) || aws.ToString(inUse.NodegroupName) != "ng1" || aws.ToString(inUse.ClusterName) != "demo" {
		t.Errorf("duplicate: %v", err)
	}
	// A cluster with nodegroups cannot be deleted.
	_, err = s.eks.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String("demo")})
	if !errors.As(err, &inUse) || aws.ToString(inUse.Message) != "Cluster has nodegroups attached" {
		t.Errorf("DeleteCluster with nodegroups: %v", err)
	}

	// Updates: refused while CREATING, recorded once ACTIVE.
	_, err = s.eks.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{ClusterName: aws.String("demo"), NodegroupName: aws.String("ng1"),
		ScalingConfig: &ekstypes.NodegroupScalingConfig{DesiredSize: aws.Int32(1)}})
	if !errors.As(err, &inUse) {
		t.Errorf("update while CREATING: %v", err)
	}
	s.setNodegroupStatus("demo", "ng1", shapes.NodegroupActive)
	up, err := s.eks.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{ClusterName: aws.String("demo"), NodegroupName: aws.String("ng1"),
		Labels: &ekstypes.UpdateLabelsPayload{AddOrUpdateLabels: map[string]string{"tier": "web"}, RemoveLabels: []string{"team"}},
		Taints: &ekstypes.UpdateTaintsPayload{RemoveTaints: []ekstypes.Taint{{Key: aws.String("dedicated"), Effect: ekstypes.TaintEffectNoSchedule}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.Update.Status != ekstypes.UpdateStatusInProgress || up.Update.Type != ekstypes.UpdateTypeConfigUpdate || len(up.Update.Params) != 3 {
		t.Errorf("update %+v", up.Update)
	}
	d, _ = s.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("demo"), NodegroupName: aws.String("ng1")})
	if d.Nodegroup.Status != ekstypes.NodegroupStatusUpdating || d.Nodegroup.Labels["tier"] != "web" || d.Nodegroup.Labels["team"] != "" || len(d.Nodegroup.Taints) != 0 {
		t.Errorf("after update: %s labels %v taints %v", d.Nodegroup.Status, d.Nodegroup.Labels, d.Nodegroup.Taints)
	}
	du, err := s.eks.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String("demo"), UpdateId: up.Update.Id, NodegroupName: aws.String("ng1")})
	if err != nil || aws.ToString(du.Update.Id) != aws.ToString(up.Update.Id) {
		t.Errorf("DescribeUpdate: %v", err)
	}
	lu, err := s.eks.ListUpdates(ctx, &eks.ListUpdatesInput{Name: aws.String("demo"), NodegroupName: aws.String("ng1")})
	if err != nil || len(lu.UpdateIds) != 1 {
		t.Errorf("ListUpdates of the nodegroup: %v %v", lu, err)
	}
	if lu, _ := s.eks.ListUpdates(ctx, &eks.ListUpdatesInput{Name: aws.String("demo")}); len(lu.UpdateIds) != 0 {
		t.Errorf("the cluster's updates list the nodegroup's: %v", lu.UpdateIds)
	}
	var nf *ekstypes.ResourceNotFoundException
	_, err = s.eks.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String("demo"), UpdateId: up.Update.Id, NodegroupName: aws.String("nope")})
	if !errors.As(err, &nf) || aws.ToString(nf.NodegroupName) != "nope" {
		t.Errorf("update of a missing nodegroup: %v", err)
	}

	// Tags on the nodegroup's ARN.
	arn := ng.NodegroupArn
	if _, err := s.eks.TagResource(ctx, &eks.TagResourceInput{ResourceArn: arn, Tags: map[string]string{"owner": "me"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.eks.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := s.eks.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil || len(tags.Tags) != 1 || tags.Tags["owner"] != "me" {
		t.Errorf("tags %v %v", tags, err)
	}
	var nfe *ekstypes.NotFoundException
	if _, err := s.eks.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: aws.String(strings.Replace(*arn, "/ng1/", "/ng9/", 1))}); !errors.As(err, &nfe) {
		t.Errorf("tags of a missing nodegroup: %v", err)
	}

	// Delete.
	del, err := s.eks.DeleteNodegroup(ctx, &eks.DeleteNodegroupInput{ClusterName: aws.String("demo"), NodegroupName: aws.String("ng2")})
	if err != nil || del.Nodegroup.Status != ekstypes.NodegroupStatusDeleting {
		t.Fatalf("delete: %v %+v", err, del)
	}
	_, err = s.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("demo"), NodegroupName: aws.String("gone")})
	if !errors.As(err, &nf) || aws.ToString(nf.Message) != "No node group found for name: gone." || aws.ToString(nf.NodegroupName) != "gone" {
		t.Errorf("missing nodegroup: %v", err)
	}
}

func TestCreateNodegroupIdempotentAndClusterState(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	s.create("young") // CREATING
	in := &eks.CreateNodegroupInput{ClusterName: aws.String("young"), NodegroupName: aws.String("ng"), NodeRole: aws.String(nodeRole),
		Subnets: s.subnets(), ClientRequestToken: aws.String("tok-1")}
	var ire *ekstypes.InvalidRequestException
	if _, err := s.eks.CreateNodegroup(ctx, in); !errors.As(err, &ire) {
		t.Fatalf("nodegroup on a CREATING cluster: %v", err)
	}
	s.setClusterStatus("young", shapes.StatusActive)
	a, err := s.eks.CreateNodegroup(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.eks.CreateNodegroup(ctx, in)
	if err != nil || aws.ToString(b.Nodegroup.NodegroupArn) != aws.ToString(a.Nodegroup.NodegroupArn) {
		t.Fatalf("replay: %v %v", err, b)
	}
	in.Labels = map[string]string{"other": "params"}
	if _, err := s.eks.CreateNodegroup(ctx, in); !errors.As(err, &ire) {
		t.Fatalf("token reused with other parameters: %v", err)
	}
	var nf *ekstypes.ResourceNotFoundException
	in.ClusterName = aws.String("nope")
	if _, err := s.eks.CreateNodegroup(ctx, in); !errors.As(err, &nf) {
		t.Fatalf("unknown cluster: %v", err)
	}
}

func TestCreateNodegroupAPIModeMakesEC2LinuxAccessEntry(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	s.activeCluster("api", ekstypes.AuthenticationModeApi)
	if _, err := s.eks.CreateNodegroup(ctx, &eks.CreateNodegroupInput{ClusterName: aws.String("api"), NodegroupName: aws.String("ng"),
		NodeRole: aws.String(nodeRole), Subnets: s.subnets()}); err != nil {
		t.Fatal(err)
	}
	e, err := s.eks.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: aws.String("api"), PrincipalArn: aws.String(nodeRole)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(e.AccessEntry.Type) != "EC2_LINUX" || aws.ToString(e.AccessEntry.Username) != "system:node:{{EC2PrivateDNSName}}" ||
		strings.Join(e.AccessEntry.KubernetesGroups, ",") != "system:nodes" {
		t.Errorf("access entry %+v", e.AccessEntry)
	}
	// One made by hand for another node role looks the same.
	other := "arn:aws:iam::000000000000:role/other-nodes"
	if _, err := s.eks.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String("api"), PrincipalArn: aws.String(other), Type: aws.String("EC2_LINUX")}); err != nil {
		t.Fatal(err)
	}
	e, err = s.eks.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: aws.String("api"), PrincipalArn: aws.String(other)})
	if err != nil || aws.ToString(e.AccessEntry.Username) != "system:node:{{EC2PrivateDNSName}}" || strings.Join(e.AccessEntry.KubernetesGroups, ",") != "system:nodes" {
		t.Errorf("hand-made EC2_LINUX entry %+v %v", e.AccessEntry, err)
	}
}

func TestCreateNodegroupValidation(t *testing.T) {
	s := startServer(t, nil)
	s.activeCluster("demo", "")
	sub := s.subnets()
	other := s.otherVpcSubnet()
	base := func(extra string) string {
		return fmt.Sprintf(`{"nodegroupName":"ng","nodeRole":%q,"subnets":[%q,%q]%s}`, nodeRole, sub[0], sub[1], extra)
	}
	cases := []struct {
		name, body, want string
	}{
		{"no name", fmt.Sprintf(`{"nodeRole":%q,"subnets":[%q]}`, nodeRole, sub[0]), "nodegroupName"},
		{"bad name", strings.Replace(base(""), `"ng"`, `"-ng"`, 1), "invalid characters"},
		{"long name", strings.Replace(base(""), `"ng"`, `"`+strings.Repeat("n", 64)+`"`, 1), "length less than or equal to 63"},
		{"no role", fmt.Sprintf(`{"nodegroupName":"ng","subnets":[%q]}`, sub[0]), "nodeRole"},
		{"bad role", strings.Replace(base(""), nodeRole, "not-an-arn", 1), "role ARN"},
		{"missing role", strings.Replace(base(""), "role/eks-cluster-role", "role/nobody", 1), "does not exist"},
		{"no subnets", fmt.Sprintf(`{"nodegroupName":"ng","nodeRole":%q}`, nodeRole), "subnets"},
		{"unknown subnet", strings.Replace(base(""), sub[1], "subnet-00000000000000000", 1), "does not exist"},
		{"other vpc", strings.Replace(base(""), sub[1], other, 1), "not in the cluster's VPC"},
		{"min > desired", base(`,"scalingConfig":{"minSize":3,"maxSize":4,"desiredSize":2}`), "Minimum capacity 3 can't be greater than desired size 2"},
		{"desired > max", base(`,"scalingConfig":{"minSize":1,"maxSize":2,"desiredSize":3}`), "Desired capacity 3 can't be greater than max size 2"},
		{"max 0", base(`,"scalingConfig":{"minSize":0,"maxSize":0,"desiredSize":0}`), "maxSize"},
		{"min -1", base(`,"scalingConfig":{"minSize":-1,"maxSize":2,"desiredSize":1}`), "minSize"},
		{"amiType", base(`,"amiType":"AL1"`), "enum value set"},
		{"windows", base(`,"amiType":"WINDOWS_CORE_2022_x86_64"`), "Linux x86_64 nodes only"},
		{"capacityType", base(`,"capacityType":"CHEAP"`), "enum value set"},
		{"taint effect", base(`,"taints":[{"key":"a","value":"b","effect":"NoSchedule"}]`), "enum value set"},
		{"taint no effect", base(`,"taints":[{"key":"a","value":"b"}]`), "effect"},
		{"label key", base(`,"labels":{"bad key":"v"}`), "Label key 'bad key' is not valid"},
		{"label value", base(`,"labels":{"k":"-v"}`), "Label value"},
		{"reserved label", base(`,"labels":{"eks.amazonaws.com/nodegroup":"x"}`), "reserved"},
		{"launch template", base(`,"launchTemplate":{"name":"lt"}`), "Launch template lt does not exist"},
		{"launch template id and name", base(`,"launchTemplate":{"name":"lt","id":"lt-0123"}`), "not both"},
		{"two ON_DEMAND types", base(`,"instanceTypes":["t3.medium","t3.large"]`), "ON_DEMAND"},
		{"update config", base(`,"updateConfig":{"maxUnavailable":1,"maxUnavailablePercentage":10}`), "Only one of"},
		{"version", base(`,"version":"1.20"`), "must match the cluster version"},
		{"tag", base(`,"tags":{"aws:x":"y"}`), "reserved"},
		{"wrong type", base(`,"scalingConfig":{"minSize":"1"}`), "could not be parsed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := s.raw(http.MethodPost, "/clusters/demo/node-groups", c.body)
			typ := "InvalidParameterException"
			if c.name == "wrong type" {
				typ = "BadRequestException"
			}
			expectError(t, got, typ, http.StatusBadRequest)
			if msg, _ := got.Body["message"].(string); !strings.Contains(msg, c.want) {
				t.Errorf("message %q does not say %q", msg, c.want)
			}
			if c.name != "wrong type" && got.Body["clusterName"] != "demo" {
				t.Errorf("clusterName %v", got.Body["clusterName"])
			}
		})
	}
	expectError(t, s.raw(http.MethodGet, "/clusters/demo/node-groups/nope", ""), "ResourceNotFoundException", http.StatusNotFound)
	expectError(t, s.raw(http.MethodGet, "/clusters/nope/node-groups", ""), "ResourceNotFoundException", http.StatusNotFound)
	expectError(t, s.raw(http.MethodGet, "/clusters/demo/node-groups?maxResults=0", ""), "InvalidParameterException", http.StatusBadRequest)
	if got := s.raw(http.MethodPost, "/clusters/demo/node-groups", base("")); got.Status != http.StatusOK {
		t.Fatalf("valid create: %d %v", got.Status, got.Body)
	}
	// UpdateNodegroupConfig's rules.
	s.setNodegroupStatus("demo", "ng", shapes.NodegroupActive)
	for body, want := range map[string]string{
		`{}`:                                  "must contain a change",
		`{"scalingConfig":{"desiredSize":5}}`: "Desired capacity 5 can't be greater than max size 2",
		`{"labels":{"addOrUpdateLabels":{"a":"b"},"removeLabels":["a"]}}`:             "both added and removed",
		`{"taints":{"addOrUpdateTaints":[{"key":"a","value":"b","effect":"WRONG"}]}}`: "enum value set",
		`{"updateConfig":{"maxUnavailable":0}}`:                                       "maxUnavailable 0",
		`{"labels":{}}`:                                                               "addOrUpdateLabels or removeLabels",
	} {
		got := s.raw(http.MethodPost, "/clusters/demo/node-groups/ng/update-config", body)
		expectError(t, got, "InvalidParameterException", http.StatusBadRequest)
		if msg, _ := got.Body["message"].(string); !strings.Contains(msg, want) || got.Body["nodegroupName"] != "ng" {
			t.Errorf("%s: %v, want %q", body, got.Body, want)
		}
	}
}

// otherVpcSubnet makes a VPC with one subnet and returns the subnet's id.
func (s *testServer) otherVpcSubnet() string {
	s.t.Helper()
	ctx := context.Background()
	vpc := store.VPC{ID: store.NewResourceID("vpc"), CidrBlock: "10.9.0.0/16"}
	if _, err := s.Store.CreateVPC(ctx, vpc); err != nil {
		s.t.Fatal(err)
	}
	sn := store.Subnet{ID: store.NewResourceID("subnet"), VpcID: vpc.ID, AvailabilityZone: "us-west-2a", CidrBlock: "10.9.0.0/24"}
	if err := s.Store.CreateSubnet(ctx, sn); err != nil {
		s.t.Fatal(err)
	}
	return sn.ID
}
