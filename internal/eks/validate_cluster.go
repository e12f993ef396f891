package eks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// Validation of CreateCluster and UpdateClusterConfig bodies apart from the
// network they name (validate_network.go).

// validateCreateCluster checks a CreateCluster request against the model's rules and the network inventory.
// It returns nil or the modeled error (type, status, message, fields like clusterName/validZones).
func validateCreateCluster(req *shapes.CreateClusterRequest, network *store.Network, lim Limits) *Error {
	if req == nil {
		return Errorf(InvalidParameter, "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	if err := validateClusterName(req.Name); err != nil {
		return err
	}
	name := req.Name
	if req.OutpostConfig != nil {
		return InvalidParam(name, "kplane does not support Amazon EKS local clusters on AWS Outposts: remove outpostConfig to create the cluster in the region")
	}
	if err := checkRoleArn(name, req.RoleArn); err != nil {
		return err
	}
	if req.Version != "" && !slices.Contains(lim.Versions, req.Version) {
		// EKS's text, then what kplane offers (as UpdateClusterVersion says).
		return InvalidParam(name, "unsupported Kubernetes version %s; %s", req.Version, offeredVersions(lim.Versions))
	}
	if err := validateTags(req.Tags, lim); err != nil {
		return err.With("clusterName", name)
	}
	if err := checkLogging(name, req.Logging); err != nil {
		return err
	}
	if err := checkEncryptionConfig(name, req.EncryptionConfig, lim.Region); err != nil {
		return err
	}
	ipFamily := ""
	if knc := req.KubernetesNetworkConfig; knc != nil {
		if err := checkEnum(name, knc.IPFamily, "kubernetesNetworkConfig.ipFamily", enumIPFamily); err != nil {
			return err
		}
		ipFamily = knc.IPFamily
	}
	if ac := req.AccessConfig; ac != nil {
		if err := checkEnum(name, ac.AuthenticationMode, "accessConfig.authenticationMode", enumAuthenticationMode); err != nil {
			return err
		}
	}
	if err := checkCommonConfig(name, req.UpgradePolicy, req.ControlPlaneScalingConfig, req.KubeAPIServerConfig, req.KubeSchedulerConfig); err != nil {
		return err
	}
	vpc, err := checkCreateVpcConfig(name, req.ResourcesVpcConfig, ipFamily == "ipv6", network, lim)
	if err != nil {
		return err
	}
	if knc := req.KubernetesNetworkConfig; knc != nil && knc.ServiceIpv4Cidr != "" {
		if err := checkServiceCIDR(name, knc.ServiceIpv4Cidr, vpc); err != nil {
			return err
		}
	}
	return nil
}

// checkRoleArn requires a well-formed IAM role ARN.
func checkRoleArn(cluster, arn string) *Error {
	if arn == "" {
		return InvalidParam(cluster, "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
	}
	ok := roleArnRE.MatchString(arn)
	if ok {
		// role/<path>name: the path (between "role" and the name) is at most 512 characters.
		res := arn[strings.Index(arn, ":role/")+len(":role"):]
		ok = strings.LastIndex(res, "/")+1 <= maxRolePathLen
	}
	if !ok {
		return InvalidParam(cluster, "The role ARN '%s' is not valid. It must be an IAM role ARN such as arn:aws:iam::111122223333:role/eks-cluster-role", arn)
	}
	return nil
}

// checkLogging requires every log type to be from the LogType enum.
func checkLogging(cluster string, l *shapes.Logging) *Error {
	if l == nil {
		return nil
	}
	for i, s := range l.ClusterLogging {
		for j, t := range s.Types {
			if !slices.Contains(enumLogType, t) {
				return enumError(cluster, t, fmt.Sprintf("logging.clusterLogging.%d.member.types.%d.member", i+1, j+1), enumLogType)
			}
		}
	}
	return nil
}

// checkEncryptionConfig allows one entry, encrypting exactly secrets with a
// KMS key of the cluster's region.
func checkEncryptionConfig(cluster string, ec []shapes.EncryptionConfig, region string) *Error {
	if len(ec) > maxEncryptionConfigs {
		return InvalidParam(cluster, "1 validation error detected: Value at 'encryptionConfig' failed to satisfy constraint: Member must have length less than or equal to %d", maxEncryptionConfigs)
	}
	for _, c := range ec {
		if len(c.Resources) != 1 || c.Resources[0] != "secrets" {
			// The model: "The only supported value is secrets."
			return InvalidParam(cluster, "Invalid encryptionConfig resources [%s]: the only supported value is secrets", strings.Join(c.Resources, ", "))
		}
		if c.Provider == nil || c.Provider.KeyArn == "" {
			return InvalidParam(cluster, "KeyArn is required") // EKS's text
		}
		m := kmsArnRE.FindStringSubmatch(c.Provider.KeyArn)
		if m == nil {
			return InvalidParam(cluster, "The keyArn '%s' is not a valid KMS key ARN or alias ARN", c.Provider.KeyArn)
		}
		if region != "" && m[2] != region {
			// The model: "The KMS key must be ... created in the same Amazon Web Services Region as the cluster."
			return InvalidParam(cluster, "The KMS key %s must be in the same region as the cluster (%s)", c.Provider.KeyArn, region)
		}
	}
	return nil
}

// checkCommonConfig checks the members CreateCluster and UpdateClusterConfig share.
func checkCommonConfig(cluster string, up *shapes.UpgradePolicy, sc *shapes.ControlPlaneScalingConfig, api *shapes.KubeAPIServerConfig, sched *shapes.KubeSchedulerConfig) *Error {
	if up != nil {
		if err := checkEnum(cluster, up.SupportType, "upgradePolicy.supportType", enumSupportType); err != nil {
			return err
		}
	}
	if sc != nil {
		if err := checkEnum(cluster, sc.Tier, "controlPlaneScalingConfig.tier", enumProvisionedControlPlaneTier); err != nil {
			return err
		}
	}
	if api != nil && api.ServiceNodePortRange != nil {
		r := api.ServiceNodePortRange
		if r.MinPort < 1 || r.MaxPort > maxPort || r.MinPort >= r.MaxPort {
			return InvalidParam(cluster, "Invalid kubeApiServerConfig.serviceNodePortRange %d-%d: minPort and maxPort must satisfy 1 <= minPort < maxPort <= %d", r.MinPort, r.MaxPort, maxPort)
		}
	}
	if sched != nil && sched.NodeResourcesFit != nil && sched.NodeResourcesFit.ScoringStrategy != nil {
		if err := checkEnum(cluster, sched.NodeResourcesFit.ScoringStrategy.Type, "kubeSchedulerConfig.nodeResourcesFit.scoringStrategy.type", enumScoringStrategyType); err != nil {
			return err
		}
	}
	return nil
}

// updateKinds names the kinds of change an UpdateClusterConfig request asks
// for, by the EKS update type each becomes. EKS Auto Mode changes
// computeConfig, storageConfig and kubernetesNetworkConfig together, and the
// three control plane component configs are one update.
func updateKinds(req *shapes.UpdateClusterConfigRequest) []string {
	var kinds []string
	add := func(set bool, kind string) {
		if set {
			kinds = append(kinds, kind)
		}
	}
	add(req.ResourcesVpcConfig != nil, "VpcConfigUpdate")
	add(req.Logging != nil, "LoggingUpdate")
	add(req.AccessConfig != nil, "AccessConfigUpdate")
	add(req.UpgradePolicy != nil, "UpgradePolicyUpdate")
	add(req.ZonalShiftConfig != nil, "ZonalShiftConfigUpdate")
	add(req.ComputeConfig != nil || req.StorageConfig != nil || req.KubernetesNetworkConfig != nil, "AutoModeUpdate")
	add(req.RemoteNetworkConfig != nil, "RemoteNetworkConfigUpdate")
	add(req.DeletionProtection != nil, "DeletionProtectionUpdate")
	add(req.ControlPlaneScalingConfig != nil, "ControlPlaneScalingConfigUpdate")
	add(req.KubeAPIServerConfig != nil || req.KubeControllerManagerConfig != nil || req.KubeSchedulerConfig != nil, "ControlPlaneComponentConfigUpdate")
	return kinds
}

// validateUpdateClusterConfig checks an UpdateClusterConfig body for cluster name (exactly one kind of change per call as EKS requires; logging types from the enum; publicAccessCidrs valid; authenticationMode enum).
//
// What depends on the cluster's state is left to the caller: whether the
// change changes anything, the direction of an authenticationMode change,
// the endpoint access that results when only one of the two flags is given,
// the subnets' inventory, and IPv6 public access CIDRs (accepted here, valid
// only for IPv6 clusters).
func validateUpdateClusterConfig(name string, req *shapes.UpdateClusterConfigRequest) *Error {
	if err := validateClusterName(name); err != nil {
		return err
	}
	if req == nil {
		req = &shapes.UpdateClusterConfigRequest{}
	}
	switch kinds := updateKinds(req); len(kinds) {
	case 0:
		return InvalidParam(name, "The type for cluster update was not provided.") // EKS's text
	case 1:
	default:
		return InvalidParam(name, "Only one type of update can be allowed.") // EKS's text
	}
	if v := req.ResourcesVpcConfig; v != nil {
		pub := v.EndpointPublicAccess == nil || *v.EndpointPublicAccess
		priv := v.EndpointPrivateAccess == nil || *v.EndpointPrivateAccess
		if err := checkEndpointAccess(name, v, pub, priv, true); err != nil {
			return err
		}
		if err := checkIDList(name, "subnetIds", v.SubnetIDs, maxSubnets, tooManySubnets); err != nil {
			return err
		}
		if len(v.SubnetIDs) > 0 && len(v.SubnetIDs) < minSubnets {
			return InvalidParam(name, twoAZs)
		}
		if err := checkIDList(name, "securityGroupIds", v.SecurityGroupIDs, maxSecurityGroups, tooManySecurityGroups); err != nil {
			return err
		}
	}
	if err := checkLogging(name, req.Logging); err != nil {
		return err
	}
	if ac := req.AccessConfig; ac != nil {
		if err := checkEnum(name, ac.AuthenticationMode, "accessConfig.authenticationMode", enumAuthenticationMode); err != nil {
			return err
		}
	}
	if knc := req.KubernetesNetworkConfig; knc != nil {
		if err := checkEnum(name, knc.IPFamily, "kubernetesNetworkConfig.ipFamily", enumIPFamily); err != nil {
			return err
		}
	}
	return checkCommonConfig(name, req.UpgradePolicy, req.ControlPlaneScalingConfig, req.KubeAPIServerConfig, req.KubeSchedulerConfig)
}
