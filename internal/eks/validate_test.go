package eks

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

const testRegion = "us-west-2"

// testNetwork is the inventory the tests validate against: the default VPC
// 172.31.0.0/16 with subnets in us-west-2a (two), b, c and d (d is configured
// as unsupported) and two security groups, plus a second VPC with one subnet
// (in a zone the default VPC lacks) and one security group.
func testNetwork() *store.Network {
	return &store.Network{
		VPCs: []store.VPC{
			{ID: "vpc-main", CidrBlock: "172.31.0.0/16", IsDefault: true},
			{ID: "vpc-other", CidrBlock: "10.0.0.0/16"},
		},
		Subnets: []store.Subnet{
			{ID: "subnet-a", VpcID: "vpc-main", AvailabilityZone: "us-west-2a", CidrBlock: "172.31.0.0/20"},
			{ID: "subnet-a2", VpcID: "vpc-main", AvailabilityZone: "us-west-2a", CidrBlock: "172.31.48.0/20"},
			{ID: "subnet-b", VpcID: "vpc-main", AvailabilityZone: "us-west-2b", CidrBlock: "172.31.16.0/20"},
			{ID: "subnet-c", VpcID: "vpc-main", AvailabilityZone: "us-west-2c", CidrBlock: "172.31.32.0/20"},
			{ID: "subnet-d", VpcID: "vpc-main", AvailabilityZone: "us-west-2d", CidrBlock: "172.31.64.0/20"},
			{ID: "subnet-x", VpcID: "vpc-other", AvailabilityZone: "us-west-2e", CidrBlock: "10.0.0.0/20"},
		},
		SecurityGroups: []store.SecurityGroup{
			{ID: "sg-default", VpcID: "vpc-main", Name: "default"},
			{ID: "sg-extra", VpcID: "vpc-main", Name: "extra"},
			{ID: "sg-other", VpcID: "vpc-other", Name: "default"},
		},
	}
}

func testLimits() Limits {
	return Limits{Region: testRegion, Versions: []string{"1.36", "1.37"}, UnsupportedZones: []string{"us-west-2d"}, MaxTags: 50}
}

// fullCreateBody sets every CreateCluster member kplane accepts, valid.
const fullCreateBody = `{
  "name": "prod",
  "version": "1.37",
  "roleArn": "arn:aws:iam::111122223333:role/eks-cluster-role",
  "resourcesVpcConfig": {
    "subnetIds": ["subnet-a", "subnet-b", "subnet-c"],
    "securityGroupIds": ["sg-default", "sg-extra"],
    "endpointPublicAccess": true,
    "endpointPrivateAccess": true,
    "publicAccessCidrs": ["203.0.113.5/32", "198.51.100.0/24"],
    "controlPlaneEgressMode": "AWS_MANAGED"
  },
  "kubernetesNetworkConfig": {"serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4", "elasticLoadBalancing": {"enabled": false}},
  "logging": {"clusterLogging": [
    {"types": ["api", "audit", "authenticator"], "enabled": true},
    {"types": ["controllerManager", "scheduler"], "enabled": false}
  ]},
  "clientRequestToken": "1d2129a1-3d38-460a-9756-e5b91fddb951",
  "tags": {"env": "prod", "team/owner": "platform@example.com", "Name": "prod cluster", "cost-center": "1234 + 5=x:y"},
  "encryptionConfig": [{"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}}],
  "accessConfig": {"authenticationMode": "API_AND_CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": true},
  "bootstrapSelfManagedAddons": true,
  "upgradePolicy": {"supportType": "STANDARD"},
  "zonalShiftConfig": {"enabled": true},
  "remoteNetworkConfig": {"remoteNodeNetworks": [{"cidrs": ["192.168.0.0/16"]}]},
  "computeConfig": {"enabled": false},
  "storageConfig": {"blockStorage": {"enabled": false}},
  "deletionProtection": false,
  "controlPlaneScalingConfig": {"tier": "standard"},
  "kubeApiServerConfig": {"eventTtl": "1h", "serviceNodePortRange": {"minPort": 30000, "maxPort": 32767}},
  "kubeControllerManagerConfig": {"podGcControllerConfig": {"terminatedPodGcThreshold": 100}},
  "kubeSchedulerConfig": {"nodeResourcesFit": {"scoringStrategy": {"type": "LeastAllocated", "resources": [{"name": "cpu", "weight": 1}]}}}
}`

// minimalCreateBody has only the required members.
const minimalCreateBody = `{"name": "a", "roleArn": "arn:aws:iam::111122223333:role/r", "resourcesVpcConfig": {"subnetIds": ["subnet-a", "subnet-b"]}}`

func decodeCreate(t testing.TB, body string) *shapes.CreateClusterRequest {
	t.Helper()
	var req shapes.CreateClusterRequest
	if err := decodeBody([]byte(body), &req); err != nil {
		t.Fatalf("decodeBody: %v", err)
	}
	return &req
}

func ptr[T any](v T) *T { return &v }

// noFields marks an error that must carry no fields.
var noFields = map[string]any{}

// checkError compares got with the expected type, message part and fields.
// An empty typ expects nil. For InvalidParameterException with nil fields,
// the fields must be exactly {"clusterName": cluster}.
func checkError(t *testing.T, got *Error, typ, msg string, fields map[string]any, cluster string) {
	t.Helper()
	if typ == "" {
		if got != nil {
			t.Fatalf("want no error, got %s %d %q fields %v", got.Type, got.Status, got.Message, got.Fields)
		}
		return
	}
	if got == nil {
		t.Fatalf("want %s containing %q, got nil", typ, msg)
	}
	if got.Type != typ {
		t.Errorf("type = %s, want %s (message %q)", got.Type, typ, got.Message)
	}
	if got.Status != http.StatusBadRequest {
		t.Errorf("status = %d, want 400", got.Status)
	}
	if !strings.Contains(got.Message, msg) {
		t.Errorf("message = %q, want it to contain %q", got.Message, msg)
	}
	if fields == nil && typ == InvalidParameter {
		fields = map[string]any{"clusterName": cluster}
	}
	if fields != nil && !(len(fields) == 0 && len(got.Fields) == 0) && !reflect.DeepEqual(got.Fields, fields) {
		t.Errorf("fields = %#v, want %#v", got.Fields, fields)
	}
}

func TestValidateClusterName(t *testing.T) {
	for _, name := range []string{"a", "A", "0", "prod", "my_cluster-01", strings.Repeat("x", 100)} {
		if err := validateClusterName(name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	for _, name := range []string{"", "-a", "_a", "a.b", "a b", "a/b", "a%2Fb", "ä", strings.Repeat("x", 101), "a\n"} {
		err := validateClusterName(name)
		checkError(t, err, InvalidParameter, "", noFields, "")
	}
}

func TestValidateMaxResults(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want int
		msg  string
	}{
		{raw: "", want: 100},
		{raw: "1", want: 1},
		{raw: "100", want: 100},
		{raw: "42", want: 42},
		{raw: "0", msg: "Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{raw: "-5", msg: "greater than or equal to 1"},
		{raw: "101", msg: "Value '101' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100"},
		{raw: "abc", msg: "Value 'abc' at 'maxResults'"},
		{raw: "1.5", msg: "must be an integer"},
		{raw: "99999999999999999999", msg: "must be an integer"},
	} {
		got, err := validateMaxResults(tc.raw, 100)
		if tc.msg == "" {
			if err != nil || got != tc.want {
				t.Errorf("%q: got %d, %v; want %d", tc.raw, got, err, tc.want)
			}
			continue
		}
		checkError(t, err, InvalidParameter, tc.msg, noFields, "")
	}
	if got, _ := validateMaxResults("", 7); got != 7 {
		t.Errorf("default: got %d, want 7", got)
	}
}

// TestValidatedEnumsAreTheShapesEnums checks the log types shapes uses are
// the ones validation accepts.
func TestValidatedEnumsAreTheShapesEnums(t *testing.T) {
	if !reflect.DeepEqual(validatedEnums["LogType"], shapes.LogTypes) {
		t.Errorf("LogType enum %v differs from shapes.LogTypes %v", validatedEnums["LogType"], shapes.LogTypes)
	}
}
