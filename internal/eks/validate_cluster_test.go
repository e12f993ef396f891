package eks

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/kplane/kplane/internal/eks/shapes"
)

func TestValidateCreateCluster(t *testing.T) {
	ip := InvalidParameter
	many := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d", prefix, i)
		}
		return out
	}
	manyCIDRs := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("203.0.113.%d/32", i)
		}
		return out
	}
	cases := []struct {
		name   string
		base   string // fullCreateBody if empty
		mutate func(r *shapes.CreateClusterRequest)
		typ    string // "" means valid
		msg    string
		fields map[string]any
	}{
		// Valid requests.
		{name: "full request", mutate: func(r *shapes.CreateClusterRequest) {}},
		{name: "minimal request", base: minimalCreateBody, mutate: func(r *shapes.CreateClusterRequest) {}},
		{name: "name of 100 characters", mutate: func(r *shapes.CreateClusterRequest) { r.Name = "a" + strings.Repeat("b-_9", 24) + "xyz" }},
		{name: "name starting with a digit", mutate: func(r *shapes.CreateClusterRequest) { r.Name = "9lives_Cluster-1" }},
		{name: "service-linked role with path", mutate: func(r *shapes.CreateClusterRequest) {
			r.RoleArn = "arn:aws:iam::111122223333:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS"
		}},
		{name: "role in aws-us-gov", mutate: func(r *shapes.CreateClusterRequest) {
			r.RoleArn = "arn:aws-us-gov:iam::111122223333:role/a+b=c,d.e@f-g_h"
		}},
		{name: "private endpoint only", mutate: func(r *shapes.CreateClusterRequest) {
			r.ResourcesVpcConfig.EndpointPublicAccess, r.ResourcesVpcConfig.EndpointPrivateAccess = ptr(false), ptr(true)
		}},
		{name: "publicAccessCidrs 0.0.0.0/0 and a /32", mutate: func(r *shapes.CreateClusterRequest) {
			r.ResourcesVpcConfig.PublicAccessCidrs = []string{"0.0.0.0/0", "203.0.113.5/32"}
		}},
		{name: "40 publicAccessCidrs", mutate: func(r *shapes.CreateClusterRequest) { r.ResourcesVpcConfig.PublicAccessCidrs = manyCIDRs(40) }},
		{name: "IPv6 public CIDR on an IPv6 cluster", mutate: func(r *shapes.CreateClusterRequest) {
			r.KubernetesNetworkConfig.IPFamily = "ipv6"
			r.ResourcesVpcConfig.PublicAccessCidrs = []string{"0.0.0.0/0", "::/0", "2001:db8::/32"}
		}},
		{name: "two subnets in one AZ plus one in another", mutate: func(r *shapes.CreateClusterRequest) {
			r.ResourcesVpcConfig.SubnetIDs = []string{"subnet-a", "subnet-a2", "subnet-b"}
		}},
		{name: "no security groups", mutate: func(r *shapes.CreateClusterRequest) { r.ResourcesVpcConfig.SecurityGroupIDs = nil }},
		{name: "no version", mutate: func(r *shapes.CreateClusterRequest) { r.Version = "" }},
		{name: "other listed version", mutate: func(r *shapes.CreateClusterRequest) { r.Version = "1.36" }},
		{name: "50 tags", mutate: func(r *shapes.CreateClusterRequest) {
			r.Tags = map[string]string{}
			for _, k := range many("k", 50) {
				r.Tags[k] = "v"
			}
		}},
		{name: "service CIDR 192.168.0.0/24", mutate: func(r *shapes.CreateClusterRequest) { r.KubernetesNetworkConfig.ServiceIpv4Cidr = "192.168.0.0/24" }},
		{name: "service CIDR 10.0.0.0/12", mutate: func(r *shapes.CreateClusterRequest) { r.KubernetesNetworkConfig.ServiceIpv4Cidr = "10.0.0.0/12" }},
		{name: "service CIDR in 172.16/12 next to the VPC", mutate: func(r *shapes.CreateClusterRequest) { r.KubernetesNetworkConfig.ServiceIpv4Cidr = "172.20.0.0/16" }},
		{name: "KMS alias ARN", mutate: func(r *shapes.CreateClusterRequest) {
			r.EncryptionConfig[0].Provider.KeyArn = "arn:aws:kms:us-west-2:111122223333:alias/eks/secrets"
		}},
		{name: "logging without types", mutate: func(r *shapes.CreateClusterRequest) { r.Logging = &shapes.Logging{} }},

		// name
		{name: "name missing", mutate: func(r *shapes.CreateClusterRequest) { r.Name = "" }, typ: ip, msg: "at 'name'", fields: noFields},
		{name: "name of 101 characters", mutate: func(r *shapes.CreateClusterRequest) { r.Name = strings.Repeat("a", 101) },
			typ: ip, msg: "length less than or equal to 100", fields: noFields},
		{name: "name starting with a dash", mutate: func(r *shapes.CreateClusterRequest) { r.Name = "-prod" },
			typ: ip, msg: "The parameter name contains invalid characters", fields: noFields},
		{name: "name with a dot", mutate: func(r *shapes.CreateClusterRequest) { r.Name = "prod.eu" }, typ: ip, msg: "invalid characters", fields: noFields},
		{name: "name with a non-ASCII letter", mutate: func(r *shapes.CreateClusterRequest) { r.Name = "clüster" }, typ: ip, msg: "invalid characters", fields: noFields},

		// outpostConfig
		{name: "outpostConfig", mutate: func(r *shapes.CreateClusterRequest) {
			r.OutpostConfig = &shapes.OutpostConfig{OutpostArns: []string{"arn:aws:outposts:us-west-2:111122223333:outpost/op-1"}, ControlPlaneInstanceType: "m5.large"}
		}, typ: ip, msg: "Outposts"},

		// roleArn
		{name: "roleArn missing", mutate: func(r *shapes.CreateClusterRequest) { r.RoleArn = "" }, typ: ip, msg: "at 'roleArn'"},
		{name: "roleArn is a role name", mutate: func(r *shapes.CreateClusterRequest) { r.RoleArn = "eks-cluster-role" }, typ: ip, msg: "is not valid"},
		{name: "roleArn with an 11-digit account", mutate: func(r *shapes.CreateClusterRequest) { r.RoleArn = "arn:aws:iam::11112222333:role/r" }, typ: ip, msg: "is not valid"},
		{name: "roleArn of a user", mutate: func(r *shapes.CreateClusterRequest) { r.RoleArn = "arn:aws:iam::111122223333:user/bob" }, typ: ip, msg: "is not valid"},
		{name: "roleArn of STS", mutate: func(r *shapes.CreateClusterRequest) { r.RoleArn = "arn:aws:sts::111122223333:assumed-role/r/s" }, typ: ip, msg: "is not valid"},
		{name: "roleArn in an unknown partition", mutate: func(r *shapes.CreateClusterRequest) { r.RoleArn = "arn:aws-xx:iam::111122223333:role/r" }, typ: ip, msg: "is not valid"},
		{name: "roleArn with a region", mutate: func(r *shapes.CreateClusterRequest) { r.RoleArn = "arn:aws:iam:us-west-2:111122223333:role/r" }, typ: ip, msg: "is not valid"},
		{name: "role name of 65 characters", mutate: func(r *shapes.CreateClusterRequest) {
			r.RoleArn = "arn:aws:iam::111122223333:role/" + strings.Repeat("r", 65)
		}, typ: ip, msg: "is not valid"},
		{name: "role with an empty path segment", mutate: func(r *shapes.CreateClusterRequest) { r.RoleArn = "arn:aws:iam::111122223333:role//r" },
			typ: ip, msg: "is not valid"},
		{name: "role name with a space", mutate: func(r *shapes.CreateClusterRequest) { r.RoleArn = "arn:aws:iam::111122223333:role/my role" }, typ: ip, msg: "is not valid"},
		{name: "role path over 512 characters", mutate: func(r *shapes.CreateClusterRequest) {
			r.RoleArn = "arn:aws:iam::111122223333:role/" + strings.Repeat("p", 512) + "/r"
		}, typ: ip, msg: "is not valid"},

		// resourcesVpcConfig: subnets
		{name: "resourcesVpcConfig missing", mutate: func(r *shapes.CreateClusterRequest) { r.ResourcesVpcConfig = nil }, typ: ip, msg: "at 'resourcesVpcConfig'"},
		{name: "no subnets", mutate: func(r *shapes.CreateClusterRequest) { r.ResourcesVpcConfig.SubnetIDs = nil },
			typ: ip, msg: "Subnets specified must be in at least two different AZs"},
		{name: "one subnet", mutate: func(r *shapes.CreateClusterRequest) { r.ResourcesVpcConfig.SubnetIDs = []string{"subnet-a"} },
			typ: ip, msg: "Subnets specified must be in at least two different AZs"},
		{name: "two subnets in one AZ", mutate: func(r *shapes.CreateClusterRequest) {
			r.ResourcesVpcConfig.SubnetIDs = []string{"subnet-a", "subnet-a2"}
		},
			typ: ip, msg: "Subnets specified must be in at least two different AZs"},
		{name: "subnet that does not exist", mutate: func(r *shapes.CreateClusterRequest) {
			r.ResourcesVpcConfig.SubnetIDs = []string{"subnet-a", "subnet-nope"}
		}, typ: ip, msg: "The subnet ID 'subnet-nope' does not exist"},
		{name: "subnets in two VPCs", mutate: func(r *shapes.CreateClusterRequest) {
			r.ResourcesVpcConfig.SubnetIDs = []string{"subnet-a", "subnet-x"}
		},
			typ: ip, msg: "Subnets specified must all be in the same VPC"},
		{name: "17 subnets", mutate: func(r *shapes.CreateClusterRequest) { r.ResourcesVpcConfig.SubnetIDs = many("subnet-", 17) },
			typ: ip, msg: "At most 16 subnets"},
		{name: "duplicate subnet", mutate: func(r *shapes.CreateClusterRequest) {
			r.ResourcesVpcConfig.SubnetIDs = []string{"subnet-a", "subnet-b", "subnet-a"}
		}, typ: ip, msg: "'subnet-a' more than once"},
		{name: "subnet in an unsupported AZ", mutate: func(r *shapes.CreateClusterRequest) {
			r.ResourcesVpcConfig.SubnetIDs = []string{"subnet-a", "subnet-d"}
		}, typ: UnsupportedAvailabilityZone,
			msg:    "Cannot create cluster 'prod' because us-west-2d, the targeted availability zone, does not currently have sufficient capacity to support the cluster. Retry and choose from these availability zones: us-west-2a, us-west-2b, us-west-2c",
			fields: map[string]any{"clusterName": "prod", "validZones": []string{"us-west-2a", "us-west-2b", "us-west-2c"}}},

		// resourcesVpcConfig: security groups
		{name: "six security groups", mutate: func(r *shapes.CreateClusterRequest) { r.ResourcesVpcConfig.SecurityGroupIDs = many("sg-", 6) },
			typ: ip, msg: "up to 5 security groups"},
		{name: "security group that does not exist", mutate: func(r *shapes.CreateClusterRequest) {
			r.ResourcesVpcConfig.SecurityGroupIDs = []string{"sg-default", "sg-nope"}
		}, typ: ip, msg: "The security group 'sg-nope' does not exist"},
		{name: "security group of another VPC", mutate: func(r *shapes.CreateClusterRequest) {
			r.ResourcesVpcConfig.SecurityGroupIDs = []string{"sg-default", "sg-other"}
		}, typ: ip, msg: "Security group(s) [sg-other] are not in the same VPC as the subnets. Please specify a security group that is associated with the VPC: vpc-main."},
		{name: "duplicate security group", mutate: func(r *shapes.CreateClusterRequest) {
			r.ResourcesVpcConfig.SecurityGroupIDs = []string{"sg-default", "sg-default"}
		}, typ: ip, msg: "'sg-default' more than once"},

		// resourcesVpcConfig: endpoint access
		{name: "both endpoints false", mutate: func(r *shapes.CreateClusterRequest) {
			r.ResourcesVpcConfig.EndpointPublicAccess, r.ResourcesVpcConfig.EndpointPrivateAccess = ptr(false), ptr(false)
		}, typ: ip, msg: "Both private and public endpoint access cannot be false"},
		{name: "public false, private defaulted", mutate: func(r *shapes.CreateClusterRequest) {
			r.ResourcesVpcConfig.EndpointPublicAccess, r.ResourcesVpcConfig.EndpointPrivateAccess = ptr(false), nil
		}, typ: ip, msg: "Both private and public endpoint access cannot be false"},
		{name: "public CIDR with host bits", mutate: func(r *shapes.CreateClusterRequest) {
			r.ResourcesVpcConfig.PublicAccessCidrs = []string{"203.0.113.5/32", "10.0.0.1/8"}
		}, typ: ip, msg: "The following CIDRs are invalid in publicAccessCidrs: [10.0.0.1/8]"},
		{name: "public CIDRs malformed", mutate: func(r *shapes.CreateClusterRequest) {
			r.ResourcesVpcConfig.PublicAccessCidrs = []string{"foo", "203.0.113.5", "203.0.113.0/33", "1.2.3.4/32"}
		}, typ: ip, msg: "The following CIDRs are invalid in publicAccessCidrs: [foo,203.0.113.5,203.0.113.0/33]"},
		{name: "IPv6 public CIDR on an IPv4 cluster", mutate: func(r *shapes.CreateClusterRequest) {
			r.ResourcesVpcConfig.PublicAccessCidrs = []string{"::/0"}
		}, typ: ip, msg: "invalid in publicAccessCidrs: [::/0]"},
		{name: "41 publicAccessCidrs", mutate: func(r *shapes.CreateClusterRequest) { r.ResourcesVpcConfig.PublicAccessCidrs = manyCIDRs(41) },
			typ: ip, msg: "at most 40"},
		{name: "controlPlaneEgressMode not in enum", mutate: func(r *shapes.CreateClusterRequest) { r.ResourcesVpcConfig.ControlPlaneEgressMode = "aws_managed" },
			typ: ip, msg: "Value 'aws_managed' at 'resourcesVpcConfig.controlPlaneEgressMode' failed to satisfy constraint: Member must satisfy enum value set: [AWS_MANAGED, CUSTOMER_ROUTED, CUSTOMER_ISOLATED]"},

		// version
		{name: "unsupported version", mutate: func(r *shapes.CreateClusterRequest) { r.Version = "1.20" }, typ: ip, msg: "unsupported Kubernetes version 1.20; supported versions: 1.36, 1.37"},
		{name: "patch version", mutate: func(r *shapes.CreateClusterRequest) { r.Version = "1.37.2" }, typ: ip, msg: "unsupported Kubernetes version 1.37.2; supported versions: 1.36, 1.37"},

		// tags
		{name: "51 tags", mutate: func(r *shapes.CreateClusterRequest) {
			r.Tags = map[string]string{}
			for _, k := range many("k", 51) {
				r.Tags[k] = "v"
			}
		}, typ: ip, msg: "exceeds the limit of 50"},
		{name: "aws: tag key", mutate: func(r *shapes.CreateClusterRequest) { r.Tags["aws:eks:cluster-name"] = "x" }, typ: ip, msg: "reserved"},
		{name: "AWS: tag key", mutate: func(r *shapes.CreateClusterRequest) { r.Tags["AwS:x"] = "x" }, typ: ip, msg: "reserved"},
		{name: "tag key of 129 characters", mutate: func(r *shapes.CreateClusterRequest) { r.Tags[strings.Repeat("k", 129)] = "x" }, typ: ip, msg: "less than or equal to 128"},
		{name: "tag value of 257 characters", mutate: func(r *shapes.CreateClusterRequest) { r.Tags["k"] = strings.Repeat("v", 257) }, typ: ip, msg: "less than or equal to 256"},
		{name: "empty tag key", mutate: func(r *shapes.CreateClusterRequest) { r.Tags[""] = "x" }, typ: ip, msg: "greater than or equal to 1"},
		{name: "tag key with *", mutate: func(r *shapes.CreateClusterRequest) { r.Tags["a*b"] = "x" }, typ: ip, msg: "The tag key 'a*b' is not valid"},
		{name: "tag value with a tab", mutate: func(r *shapes.CreateClusterRequest) { r.Tags["k"] = "a\tb" }, typ: ip, msg: "The tag value"},

		// kubernetesNetworkConfig
		{name: "ipFamily not in enum", mutate: func(r *shapes.CreateClusterRequest) { r.KubernetesNetworkConfig.IPFamily = "IPv4" },
			typ: ip, msg: "Value 'IPv4' at 'kubernetesNetworkConfig.ipFamily'"},
		{name: "service CIDR outside the private blocks", mutate: func(r *shapes.CreateClusterRequest) { r.KubernetesNetworkConfig.ServiceIpv4Cidr = "100.64.0.0/16" },
			typ: ip, msg: "within one of the private IP address blocks"},
		{name: "service CIDR straddling 172.16.0.0/12", mutate: func(r *shapes.CreateClusterRequest) { r.KubernetesNetworkConfig.ServiceIpv4Cidr = "172.0.0.0/12" },
			typ: ip, msg: "within one of the private IP address blocks"},
		{name: "service CIDR larger than 192.168.0.0/16", mutate: func(r *shapes.CreateClusterRequest) { r.KubernetesNetworkConfig.ServiceIpv4Cidr = "192.168.0.0/13" },
			typ: ip, msg: "within one of the private IP address blocks"},
		{name: "service CIDR /11", mutate: func(r *shapes.CreateClusterRequest) { r.KubernetesNetworkConfig.ServiceIpv4Cidr = "10.0.0.0/11" },
			typ: ip, msg: "between /24 and /12"},
		{name: "service CIDR /25", mutate: func(r *shapes.CreateClusterRequest) { r.KubernetesNetworkConfig.ServiceIpv4Cidr = "10.100.0.0/25" },
			typ: ip, msg: "between /24 and /12"},
		{name: "service CIDR inside the VPC", mutate: func(r *shapes.CreateClusterRequest) { r.KubernetesNetworkConfig.ServiceIpv4Cidr = "172.31.200.0/24" },
			typ: ip, msg: "overlaps 172.31.0.0/16"},
		{name: "service CIDR containing the VPC", mutate: func(r *shapes.CreateClusterRequest) { r.KubernetesNetworkConfig.ServiceIpv4Cidr = "172.16.0.0/12" },
			typ: ip, msg: "overlaps 172.31.0.0/16"},
		{name: "service CIDR with host bits", mutate: func(r *shapes.CreateClusterRequest) { r.KubernetesNetworkConfig.ServiceIpv4Cidr = "10.100.0.1/16" },
			typ: ip, msg: "not a valid IPv4 CIDR block"},
		{name: "service CIDR IPv6", mutate: func(r *shapes.CreateClusterRequest) { r.KubernetesNetworkConfig.ServiceIpv4Cidr = "fd00::/108" },
			typ: ip, msg: "not a valid IPv4 CIDR block"},

		// encryptionConfig
		{name: "two encryption configs", mutate: func(r *shapes.CreateClusterRequest) {
			r.EncryptionConfig = append(r.EncryptionConfig, r.EncryptionConfig[0])
		}, typ: ip, msg: "'encryptionConfig' failed to satisfy constraint: Member must have length less than or equal to 1"},
		{name: "encrypting configmaps", mutate: func(r *shapes.CreateClusterRequest) { r.EncryptionConfig[0].Resources = []string{"configmaps"} },
			typ: ip, msg: "the only supported value is secrets"},
		{name: "encrypting nothing", mutate: func(r *shapes.CreateClusterRequest) { r.EncryptionConfig[0].Resources = nil },
			typ: ip, msg: "the only supported value is secrets"},
		{name: "encrypting secrets twice", mutate: func(r *shapes.CreateClusterRequest) { r.EncryptionConfig[0].Resources = []string{"secrets", "secrets"} },
			typ: ip, msg: "the only supported value is secrets"},
		{name: "no provider", mutate: func(r *shapes.CreateClusterRequest) { r.EncryptionConfig[0].Provider = nil }, typ: ip, msg: "KeyArn is required"},
		{name: "empty keyArn", mutate: func(r *shapes.CreateClusterRequest) { r.EncryptionConfig[0].Provider.KeyArn = "" }, typ: ip, msg: "KeyArn is required"},
		{name: "keyArn is a key id", mutate: func(r *shapes.CreateClusterRequest) {
			r.EncryptionConfig[0].Provider.KeyArn = "1234abcd-12ab-34cd-56ef-1234567890ab"
		}, typ: ip, msg: "not a valid KMS key ARN"},
		{name: "keyArn of another service", mutate: func(r *shapes.CreateClusterRequest) {
			r.EncryptionConfig[0].Provider.KeyArn = "arn:aws:iam::111122223333:role/r"
		}, typ: ip, msg: "not a valid KMS key ARN"},
		{name: "keyArn in another region", mutate: func(r *shapes.CreateClusterRequest) {
			r.EncryptionConfig[0].Provider.KeyArn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
		}, typ: ip, msg: "same region as the cluster (us-west-2)"},

		// logging
		{name: "log type in the wrong case", mutate: func(r *shapes.CreateClusterRequest) { r.Logging.ClusterLogging[1].Types[0] = "ControllerManager" },
			typ: ip, msg: "Value 'ControllerManager' at 'logging.clusterLogging.2.member.types.1.member' failed to satisfy constraint: Member must satisfy enum value set: [api, audit, authenticator, controllerManager, scheduler]"},
		{name: "unknown log type", mutate: func(r *shapes.CreateClusterRequest) {
			r.Logging.ClusterLogging[0].Types = append(r.Logging.ClusterLogging[0].Types, "kube-apiserver")
		},
			typ: ip, msg: "Value 'kube-apiserver' at 'logging.clusterLogging.1.member.types.4.member'"},

		// the other enums and ranges
		{name: "authenticationMode not in enum", mutate: func(r *shapes.CreateClusterRequest) { r.AccessConfig.AuthenticationMode = "api" },
			typ: ip, msg: "Value 'api' at 'accessConfig.authenticationMode' failed to satisfy constraint: Member must satisfy enum value set: [API, API_AND_CONFIG_MAP, CONFIG_MAP]"},
		{name: "supportType not in enum", mutate: func(r *shapes.CreateClusterRequest) { r.UpgradePolicy.SupportType = "standard" },
			typ: ip, msg: "Value 'standard' at 'upgradePolicy.supportType'"},
		{name: "tier not in enum", mutate: func(r *shapes.CreateClusterRequest) { r.ControlPlaneScalingConfig.Tier = "tier-16xl" },
			typ: ip, msg: "Value 'tier-16xl' at 'controlPlaneScalingConfig.tier'"},
		{name: "node port range reversed", mutate: func(r *shapes.CreateClusterRequest) {
			r.KubeAPIServerConfig.ServiceNodePortRange = &shapes.ServiceNodePortRange{MinPort: 32767, MaxPort: 30000}
		}, typ: ip, msg: "serviceNodePortRange 32767-30000"},
		{name: "node port range of one port", mutate: func(r *shapes.CreateClusterRequest) {
			r.KubeAPIServerConfig.ServiceNodePortRange = &shapes.ServiceNodePortRange{MinPort: 30000, MaxPort: 30000}
		}, typ: ip, msg: "serviceNodePortRange"},
		{name: "node port range from 0", mutate: func(r *shapes.CreateClusterRequest) {
			r.KubeAPIServerConfig.ServiceNodePortRange = &shapes.ServiceNodePortRange{MinPort: 0, MaxPort: 30000}
		}, typ: ip, msg: "serviceNodePortRange"},
		{name: "node port range past 65535", mutate: func(r *shapes.CreateClusterRequest) {
			r.KubeAPIServerConfig.ServiceNodePortRange = &shapes.ServiceNodePortRange{MinPort: 30000, MaxPort: 65536}
		}, typ: ip, msg: "serviceNodePortRange"},
		{name: "scoring strategy not in enum", mutate: func(r *shapes.CreateClusterRequest) {
			r.KubeSchedulerConfig.NodeResourcesFit.ScoringStrategy.Type = "RequestedToCapacityRatio"
		}, typ: ip, msg: "Value 'RequestedToCapacityRatio' at 'kubeSchedulerConfig.nodeResourcesFit.scoringStrategy.type' failed to satisfy constraint: Member must satisfy enum value set: [LeastAllocated, MostAllocated]"},
	}
	network, lim := testNetwork(), testLimits()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.base
			if base == "" {
				base = fullCreateBody
			}
			req := decodeCreate(t, base)
			tc.mutate(req)
			checkError(t, validateCreateCluster(req, network, lim), tc.typ, tc.msg, tc.fields, req.Name)
		})
	}
}

// TestValidateCreateClusterPure checks validation neither changes the request
// nor the inventory, and copes with a nil inventory and a nil request.
func TestValidateCreateClusterPure(t *testing.T) {
	network, lim := testNetwork(), testLimits()
	req := decodeCreate(t, fullCreateBody)
	before, nbefore := *decodeCreate(t, fullCreateBody), testNetwork()
	if err := validateCreateCluster(req, network, lim); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*req, before) || !reflect.DeepEqual(network, nbefore) {
		t.Error("validateCreateCluster changed its arguments")
	}
	checkError(t, validateCreateCluster(req, nil, lim), InvalidParameter, "The subnet ID 'subnet-a' does not exist", nil, "prod")
	checkError(t, validateCreateCluster(nil, network, lim), InvalidParameter, "at 'name'", noFields, "")
}

func TestValidateUpdateClusterConfig(t *testing.T) {
	ip := InvalidParameter
	cases := []struct {
		name, cluster, body string
		typ, msg            string
		fields              map[string]any
	}{
		{name: "logging", body: `{"logging":{"clusterLogging":[{"types":["api","audit"],"enabled":true}]},"clientRequestToken":"t"}`},
		{name: "endpoint access", body: `{"resourcesVpcConfig":{"endpointPublicAccess":false,"endpointPrivateAccess":true}}`},
		{name: "public false alone", body: `{"resourcesVpcConfig":{"endpointPublicAccess":false}}`},
		{name: "public access CIDRs, IPv6 too", body: `{"resourcesVpcConfig":{"publicAccessCidrs":["203.0.113.0/24","::/0"]}}`},
		{name: "subnets and security groups", body: `{"resourcesVpcConfig":{"subnetIds":["subnet-a","subnet-b"],"securityGroupIds":["sg-1"]}}`},
		{name: "authentication mode", body: `{"accessConfig":{"authenticationMode":"API"}}`},
		{name: "upgrade policy", body: `{"upgradePolicy":{"supportType":"EXTENDED"}}`},
		{name: "zonal shift", body: `{"zonalShiftConfig":{"enabled":true}}`},
		{name: "auto mode, all three members", body: `{"computeConfig":{"enabled":true,"nodePools":["general-purpose"],"nodeRoleArn":"arn:aws:iam::111122223333:role/node"},"kubernetesNetworkConfig":{"elasticLoadBalancing":{"enabled":true}},"storageConfig":{"blockStorage":{"enabled":true}}}`},
		{name: "control plane components together", body: `{"kubeApiServerConfig":{"eventTtl":"2h"},"kubeControllerManagerConfig":{},"kubeSchedulerConfig":{"nodeResourcesFit":{"scoringStrategy":{"type":"MostAllocated"}}}}`},
		{name: "remote network", body: `{"remoteNetworkConfig":{"remoteNodeNetworks":[],"remotePodNetworks":[]}}`},
		{name: "deletion protection", body: `{"deletionProtection":true}`},
		{name: "tier", body: `{"controlPlaneScalingConfig":{"tier":"tier-xl"}}`},
		{name: "unknown member beside a change", body: `{"deletionProtection":false,"someFutureMember":{"x":1}}`},

		{name: "empty body", body: ``, typ: ip, msg: "The type for cluster update was not provided."},
		{name: "only a token", body: `{"clientRequestToken":"t"}`, typ: ip, msg: "The type for cluster update was not provided."},
		{name: "only an unknown member", body: `{"someFutureMember":true}`, typ: ip, msg: "The type for cluster update was not provided."},
		{name: "logging and endpoint access", body: `{"logging":{"clusterLogging":[]},"resourcesVpcConfig":{"endpointPrivateAccess":true}}`,
			typ: ip, msg: "Only one type of update can be allowed."},
		{name: "access config and upgrade policy", body: `{"accessConfig":{"authenticationMode":"API"},"upgradePolicy":{"supportType":"STANDARD"}}`,
			typ: ip, msg: "Only one type of update can be allowed."},
		{name: "deletion protection and tier", body: `{"deletionProtection":true,"controlPlaneScalingConfig":{"tier":"standard"}}`,
			typ: ip, msg: "Only one type of update can be allowed."},
		{name: "both endpoints false", body: `{"resourcesVpcConfig":{"endpointPublicAccess":false,"endpointPrivateAccess":false}}`,
			typ: ip, msg: "Both private and public endpoint access cannot be false"},
		{name: "invalid public CIDR", body: `{"resourcesVpcConfig":{"publicAccessCidrs":["203.0.113.7/24"]}}`,
			typ: ip, msg: "The following CIDRs are invalid in publicAccessCidrs: [203.0.113.7/24]"},
		{name: "41 public CIDRs", body: `{"resourcesVpcConfig":{"publicAccessCidrs":[` + strings.Repeat(`"0.0.0.0/0",`, 40) + `"0.0.0.0/0"]}}`,
			typ: ip, msg: "at most 40"},
		{name: "one subnet", body: `{"resourcesVpcConfig":{"subnetIds":["subnet-a"]}}`, typ: ip, msg: "at least two different AZs"},
		{name: "duplicate subnets", body: `{"resourcesVpcConfig":{"subnetIds":["subnet-a","subnet-a"]}}`, typ: ip, msg: "more than once"},
		{name: "six security groups", body: `{"resourcesVpcConfig":{"securityGroupIds":["sg-1","sg-2","sg-3","sg-4","sg-5","sg-6"]}}`, typ: ip, msg: "up to 5 security groups"},
		{name: "egress mode not in enum", body: `{"resourcesVpcConfig":{"controlPlaneEgressMode":"NONE"}}`, typ: ip, msg: "'resourcesVpcConfig.controlPlaneEgressMode'"},
		{name: "log type not in enum", body: `{"logging":{"clusterLogging":[{"types":["api","kubelet"],"enabled":true}]}}`,
			typ: ip, msg: "Value 'kubelet' at 'logging.clusterLogging.1.member.types.2.member'"},
		{name: "authentication mode not in enum", body: `{"accessConfig":{"authenticationMode":"IAM"}}`, typ: ip, msg: "Value 'IAM' at 'accessConfig.authenticationMode'"},
		{name: "support type not in enum", body: `{"upgradePolicy":{"supportType":"LTS"}}`, typ: ip, msg: "at 'upgradePolicy.supportType'"},
		{name: "tier not in enum", body: `{"controlPlaneScalingConfig":{"tier":"huge"}}`, typ: ip, msg: "at 'controlPlaneScalingConfig.tier'"},
		{name: "ipFamily not in enum", body: `{"kubernetesNetworkConfig":{"ipFamily":"dual"}}`, typ: ip, msg: "at 'kubernetesNetworkConfig.ipFamily'"},
		{name: "node port range reversed", body: `{"kubeApiServerConfig":{"serviceNodePortRange":{"minPort":32000,"maxPort":31000}}}`, typ: ip, msg: "serviceNodePortRange"},
		{name: "scoring strategy not in enum", body: `{"kubeSchedulerConfig":{"nodeResourcesFit":{"scoringStrategy":{"type":"Balanced"}}}}`, typ: ip, msg: "scoringStrategy.type"},
		{name: "invalid cluster name", cluster: "-bad", body: `{"deletionProtection":true}`, typ: ip, msg: "invalid characters", fields: noFields},
		{name: "cluster name too long", cluster: strings.Repeat("c", 101), body: `{"deletionProtection":true}`, typ: ip, msg: "100", fields: noFields},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cluster := tc.cluster
			if cluster == "" {
				cluster = "prod"
			}
			var req shapes.UpdateClusterConfigRequest
			if err := decodeBody([]byte(tc.body), &req); err != nil {
				t.Fatalf("decodeBody: %v", err)
			}
			checkError(t, validateUpdateClusterConfig(cluster, &req), tc.typ, tc.msg, tc.fields, cluster)
		})
	}
	checkError(t, validateUpdateClusterConfig("prod", nil), InvalidParameter, "not provided", nil, "prod")
}
