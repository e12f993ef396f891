package eks

// Validation of CreateNodegroup and UpdateNodegroupConfig: the model's
// bounds and enums, EKS's scaling rules, and the Kubernetes syntax of labels
// and taints. Pure functions; what needs the store (the node role, the
// subnets) is checked in nodegroups.go.

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/kplane/kplane/internal/eks/shapes"
)

// Bounds of nodegroups (model, EKS API reference and service quotas).
const (
	nodegroupNameMaxLen = 63  // "The name can contain up to 63 characters"
	maxNodesPerGroup    = 450 // EKS quota: nodes per managed node group
	maxNodegroupLabels  = 50
	maxNodegroupTaints  = 50
	labelNameMaxLen     = 63
	labelPrefixMaxLen   = 253
	labelValueMaxLen    = 63
	maxUnavailableMost  = 100 // NodegroupUpdateConfig.maxUnavailable: 1-100
	maxNodegroupSubnets = 16
	// Default scaling when scalingConfig is omitted, as EKS fills it in.
	defaultMinSize, defaultMaxSize, defaultDesiredSize = 1, 2, 2
	defaultDiskSize                                    = 20
	defaultInstanceType                                = "t3.medium"
	defaultAmiType                                     = "AL2023_x86_64_STANDARD"
)

// The nodegroup enums of the EKS model (botocore's eks/2017-11-01/service-2.json);
// model_test.go compares them with it.
var (
	enumAMITypes = []string{"AL2_x86_64", "AL2_x86_64_GPU", "AL2_ARM_64", "CUSTOM", "BOTTLEROCKET_ARM_64", "BOTTLEROCKET_x86_64",
		"BOTTLEROCKET_ARM_64_FIPS", "BOTTLEROCKET_x86_64_FIPS", "BOTTLEROCKET_ARM_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA",
		"BOTTLEROCKET_ARM_64_NVIDIA_FIPS", "BOTTLEROCKET_x86_64_NVIDIA_FIPS", "WINDOWS_CORE_2019_x86_64", "WINDOWS_FULL_2019_x86_64",
		"WINDOWS_CORE_2022_x86_64", "WINDOWS_FULL_2022_x86_64", "WINDOWS_CORE_2025_x86_64", "WINDOWS_FULL_2025_x86_64",
		"AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD", "AL2023_x86_64_NEURON", "AL2023_x86_64_NVIDIA", "AL2023_ARM_64_NVIDIA"}
	enumCapacityTypes  = []string{"ON_DEMAND", "SPOT", "CAPACITY_BLOCK"}
	enumTaintEffect    = []string{"NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"}
	enumUpdateStrategy = []string{"DEFAULT", "MINIMAL"}
	// amiTypesRun are the AMI types whose nodes kplane runs: Linux on x86-64
	// without accelerators (a node is a kubelet on this machine).
	amiTypesRun = []string{"AL2023_x86_64_STANDARD", "AL2_x86_64", "BOTTLEROCKET_x86_64", "BOTTLEROCKET_x86_64_FIPS"}
)

func init() {
	validatedEnums["AMITypes"] = enumAMITypes
	validatedEnums["CapacityTypes"] = enumCapacityTypes
	validatedEnums["TaintEffect"] = enumTaintEffect
	validatedEnums["NodegroupUpdateStrategies"] = enumUpdateStrategy
}

var (
	// A label name, and a prefix's DNS subdomain (Kubernetes' qualified name).
	labelNameRE    = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	dnsSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	instanceTypeRE = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9-]+$`)
	// Label prefixes EKS and Kubernetes keep for themselves.
	reservedLabelPrefixes = []string{"kubernetes.io/", "k8s.io/", "eks.amazonaws.com/"}
)

// ngParam is an InvalidParameterException naming the cluster and nodegroup.
func ngParam(cluster, nodegroup, format string, args ...any) *Error {
	e := InvalidParam(cluster, format, args...)
	if nodegroup != "" {
		e.With("nodegroupName", nodegroup)
	}
	return e
}

// validateNodegroupName checks a nodegroup name (body member or path label).
func validateNodegroupName(cluster, name string) *Error {
	switch {
	case name == "":
		return InvalidParam(cluster, "1 validation error detected: Value null at 'nodegroupName' failed to satisfy constraint: Member must not be null")
	case len(name) > nodegroupNameMaxLen:
		return ngParam(cluster, name, "1 validation error detected: Value '%s' at 'nodegroupName' failed to satisfy constraint: Member must have length less than or equal to %d", name, nodegroupNameMaxLen)
	case !clusterNameRE.MatchString(name):
		return ngParam(cluster, name, `The parameter nodegroupName contains invalid characters. It should conform to the regular expression "^[0-9A-Za-z][A-Za-z0-9-_]*". In other words, it should start with a number or letter, and can contain numbers, letters, dashes, and underscores.`)
	}
	return nil
}

// validateCreateNodegroup checks what a CreateNodegroup request can be
// judged on alone, and fills in EKS's defaults.
func validateCreateNodegroup(cluster string, req *shapes.CreateNodegroupRequest, lim Limits) *Error {
	name := req.NodegroupName
	if err := validateNodegroupName(cluster, name); err != nil {
		return err
	}
	bad := func(format string, args ...any) *Error { return ngParam(cluster, name, format, args...) }
	if req.NodeRole == "" {
		return bad("1 validation error detected: Value null at 'nodeRole' failed to satisfy constraint: Member must not be null")
	}
	if err := checkRoleArn(cluster, req.NodeRole); err != nil {
		return err.With("nodegroupName", name)
	}
	if len(req.Subnets) == 0 {
		return bad("1 validation error detected: Value null at 'subnets' failed to satisfy constraint: Member must not be null")
	}
	if len(req.Subnets) > maxNodegroupSubnets {
		return bad("You can specify at most %d subnets for a nodegroup", maxNodegroupSubnets)
	}
	seen := map[string]bool{}
	for _, s := range req.Subnets {
		if seen[s] {
			return bad("Subnet %s is given more than once", s)
		}
		seen[s] = true
	}
	if lt := req.LaunchTemplate; lt != nil {
		switch {
		case lt.ID == "" && lt.Name == "":
			return bad("Either launch template ID or name must be specified.")
		case lt.ID != "" && lt.Name != "":
			return bad("Either launch template ID or name can be specified, but not both.")
		case req.RemoteAccess != nil:
			return bad("Remote access configuration cannot be specified with a launch template.")
		case req.DiskSize != nil:
			return bad("Disk size must be specified within the launch template.")
		}
	}
	if req.RemoteAccess != nil {
		return bad("kplane has no EC2 key pairs: remoteAccess is not supported")
	}
	if req.WarmPoolConfig != nil {
		return bad("kplane does not support warm pools yet")
	}
	if err := checkEnum(cluster, req.AmiType, "amiType", enumAMITypes); err != nil {
		return err.With("nodegroupName", name)
	}
	if err := checkEnum(cluster, req.CapacityType, "capacityType", enumCapacityTypes); err != nil {
		return err.With("nodegroupName", name)
	}
	if req.AmiType == "" {
		req.AmiType = defaultAmiType
	}
	if req.AmiType == "CUSTOM" {
		return bad("amiType CUSTOM needs a launch template, which kplane does not support yet")
	}
	if !slices.Contains(amiTypesRun, req.AmiType) {
		return bad("kplane runs Linux x86_64 nodes only: amiType %s is not supported; use one of %s", req.AmiType, strings.Join(amiTypesRun, ", "))
	}
	if req.CapacityType == "CAPACITY_BLOCK" {
		return bad("capacityType CAPACITY_BLOCK needs a launch template, which kplane does not support yet")
	}
	if req.CapacityType == "" {
		req.CapacityType = "ON_DEMAND"
	}
	if len(req.InstanceTypes) == 0 && req.LaunchTemplate == nil {
		// With a launch template, the default comes after its instance type is known (applyLaunchTemplate).
		req.InstanceTypes = []string{defaultInstanceType}
	}
	if req.CapacityType == "ON_DEMAND" && len(req.InstanceTypes) > 1 {
		// EKS: several instance types are for Spot capacity.
		return bad("Instance types can only be a list of 1 item for ON_DEMAND capacity type; got %d", len(req.InstanceTypes))
	}
	for _, t := range req.InstanceTypes {
		if !instanceTypeRE.MatchString(t) {
			return bad("Instance type %s is not valid", t)
		}
	}
	if req.DiskSize != nil && (*req.DiskSize < 1 || *req.DiskSize > 16384) {
		return bad("diskSize %d is not valid: give 1 to 16384 GiB", *req.DiskSize)
	}
	if req.DiskSize == nil && req.LaunchTemplate == nil {
		req.DiskSize = shapes.Int(defaultDiskSize)
	}
	if req.ScalingConfig == nil {
		req.ScalingConfig = &shapes.NodegroupScalingConfig{}
	}
	sc := req.ScalingConfig
	if sc.MinSize == nil {
		sc.MinSize = shapes.Int(defaultMinSize)
	}
	if sc.MaxSize == nil {
		sc.MaxSize = shapes.Int(max(defaultMaxSize, *sc.MinSize))
	}
	if sc.DesiredSize == nil {
		sc.DesiredSize = shapes.Int(min(max(defaultDesiredSize, *sc.MinSize), *sc.MaxSize))
	}
	if err := checkScaling(cluster, name, sc); err != nil {
		return err
	}
	if err := checkLabels(cluster, name, req.Labels, nil); err != nil {
		return err
	}
	if err := checkTaints(cluster, name, "taints", req.Taints, true); err != nil {
		return err
	}
	if len(req.Taints) > maxNodegroupTaints {
		return bad("A nodegroup can have at most %d taints; this request has %d", maxNodegroupTaints, len(req.Taints))
	}
	if err := checkUpdateConfig(cluster, name, req.UpdateConfig); err != nil {
		return err
	}
	if req.UpdateConfig == nil {
		req.UpdateConfig = &shapes.NodegroupUpdateConfig{MaxUnavailable: shapes.Int(1)}
	}
	if req.Tags != nil {
		if err := validateTags(req.Tags, lim); err != nil {
			return err.With("clusterName", cluster).With("nodegroupName", name)
		}
	}
	return nil
}

// checkScaling applies EKS's scaling rules to a complete scalingConfig.
func checkScaling(cluster, name string, sc *shapes.NodegroupScalingConfig) *Error {
	lo, hi, want := *sc.MinSize, *sc.MaxSize, *sc.DesiredSize
	bad := func(format string, args ...any) *Error { return ngParam(cluster, name, format, args...) }
	switch {
	case lo < 0:
		return bad("1 validation error detected: Value '%d' at 'scalingConfig.minSize' failed to satisfy constraint: Member must have value greater than or equal to 0", lo)
	case want < 0:
		return bad("1 validation error detected: Value '%d' at 'scalingConfig.desiredSize' failed to satisfy constraint: Member must have value greater than or equal to 0", want)
	case hi < 1:
		return bad("1 validation error detected: Value '%d' at 'scalingConfig.maxSize' failed to satisfy constraint: Member must have value greater than or equal to 1", hi)
	case hi > maxNodesPerGroup:
		return bad("Maximum capacity %d can't be greater than %d, the most nodes a managed nodegroup may have", hi, maxNodesPerGroup)
	case lo > hi:
		return bad("Minimum capacity %d can't be greater than max size %d", lo, hi)
	case lo > want:
		return bad("Minimum capacity %d can't be greater than desired size %d", lo, want)
	case want > hi:
		return bad("Desired capacity %d can't be greater than max size %d", want, hi)
	}
	return nil
}

// checkLabelKey applies Kubernetes' qualified-name syntax and EKS's reserved prefixes.
func checkLabelKey(cluster, name, what, k string) *Error {
	prefix, label, hasPrefix := strings.Cut(k, "/")
	if !hasPrefix {
		prefix, label = "", k
	}
	ok := len(label) <= labelNameMaxLen && labelNameRE.MatchString(label) &&
		(!hasPrefix || (len(prefix) <= labelPrefixMaxLen && dnsSubdomainRE.MatchString(prefix)))
	if !ok {
		return ngParam(cluster, name, "%s key '%s' is not valid: a Kubernetes label key is an optional DNS subdomain prefix and '/', then up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", what, k)
	}
	for _, p := range reservedLabelPrefixes {
		if strings.HasPrefix(k, p) || (hasPrefix && strings.HasSuffix(prefix, "."+strings.TrimSuffix(p, "/"))) {
			return ngParam(cluster, name, "%s key '%s' is not valid: the prefixes %s are reserved", what, k, strings.Join(reservedLabelPrefixes, ", "))
		}
	}
	return nil
}

func checkLabelValue(cluster, name, what, k, v string, required bool) *Error {
	if v == "" && !required {
		return nil
	}
	if len(v) > labelValueMaxLen || !labelNameRE.MatchString(v) {
		return ngParam(cluster, name, "%s value '%s' of key '%s' is not valid: up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", what, v, k)
	}
	return nil
}

// checkLabels checks labels to set; current (for an update) counts toward the limit.
func checkLabels(cluster, name string, labels map[string]string, current map[string]string) *Error {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := checkLabelKey(cluster, name, "Label", k); err != nil {
			return err
		}
		// labelValue: min 1 in the model.
		if err := checkLabelValue(cluster, name, "Label", k, labels[k], true); err != nil {
			return err
		}
	}
	total := len(labels)
	for k := range current {
		if _, ok := labels[k]; !ok {
			total++
		}
	}
	if total > maxNodegroupLabels {
		return ngParam(cluster, name, "A nodegroup can have at most %d labels; this request would make %d", maxNodegroupLabels, total)
	}
	return nil
}

// checkTaints checks taints; full taints (to add) need an effect, and a key
// and effect may appear once.
func checkTaints(cluster, name, member string, taints []shapes.Taint, full bool) *Error {
	seen := map[string]bool{}
	for i, t := range taints {
		if t.Key == "" {
			return ngParam(cluster, name, "1 validation error detected: Value null at '%s.%d.member.key' failed to satisfy constraint: Member must not be null", member, i+1)
		}
		if err := checkLabelKey(cluster, name, "Taint", t.Key); err != nil {
			return err
		}
		if err := checkLabelValue(cluster, name, "Taint", t.Key, t.Value, false); err != nil {
			return err
		}
		if full && t.Effect == "" {
			return ngParam(cluster, name, "1 validation error detected: Value null at '%s.%d.member.effect' failed to satisfy constraint: Member must not be null", member, i+1)
		}
		if err := checkEnum(cluster, t.Effect, fmt.Sprintf("%s.%d.member.effect", member, i+1), enumTaintEffect); err != nil {
			return err.With("nodegroupName", name)
		}
		if seen[t.Key+"\x00"+t.Effect] {
			return ngParam(cluster, name, "Taint with key '%s' and effect %s is given more than once", t.Key, t.Effect)
		}
		seen[t.Key+"\x00"+t.Effect] = true
	}
	return nil
}

func checkUpdateConfig(cluster, name string, u *shapes.NodegroupUpdateConfig) *Error {
	if u == nil {
		return nil
	}
	bad := func(format string, args ...any) *Error { return ngParam(cluster, name, format, args...) }
	switch {
	case u.MaxUnavailable != nil && u.MaxUnavailablePercentage != nil:
		return bad("Only one of maxUnavailable and maxUnavailablePercentage may be given")
	case u.MaxUnavailable != nil && (*u.MaxUnavailable < 1 || *u.MaxUnavailable > maxUnavailableMost):
		return bad("maxUnavailable %d is not valid: give 1 to %d", *u.MaxUnavailable, maxUnavailableMost)
	case u.MaxUnavailablePercentage != nil && (*u.MaxUnavailablePercentage < 1 || *u.MaxUnavailablePercentage > 100):
		return bad("maxUnavailablePercentage %d is not valid: give 1 to 100", *u.MaxUnavailablePercentage)
	}
	if err := checkEnum(cluster, u.UpdateStrategy, "updateConfig.updateStrategy", enumUpdateStrategy); err != nil {
		return err.With("nodegroupName", name)
	}
	return nil
}

// validateUpdateNodegroupConfig checks an UpdateNodegroupConfig request
// against the nodegroup it changes.
func validateUpdateNodegroupConfig(cluster string, cur *shapes.Nodegroup, req *shapes.UpdateNodegroupConfigRequest) *Error {
	name := cur.NodegroupName
	bad := func(format string, args ...any) *Error { return ngParam(cluster, name, format, args...) }
	if req.WarmPoolConfig != nil {
		return bad("kplane does not support warm pools yet")
	}
	if req.Labels == nil && req.Taints == nil && req.ScalingConfig == nil && req.UpdateConfig == nil && req.NodeRepairConfig == nil {
		return bad("The request must contain a change to the nodegroup configuration")
	}
	if l := req.Labels; l != nil {
		if len(l.AddOrUpdateLabels) == 0 && len(l.RemoveLabels) == 0 {
			return bad("labels must contain addOrUpdateLabels or removeLabels")
		}
		for _, k := range l.RemoveLabels {
			if _, both := l.AddOrUpdateLabels[k]; both {
				return bad("Label '%s' cannot be both added and removed", k)
			}
		}
		if err := checkLabels(cluster, name, l.AddOrUpdateLabels, cur.Labels); err != nil {
			return err
		}
	}
	if t := req.Taints; t != nil {
		if len(t.AddOrUpdateTaints) == 0 && len(t.RemoveTaints) == 0 {
			return bad("taints must contain addOrUpdateTaints or removeTaints")
		}
		if err := checkTaints(cluster, name, "taints.addOrUpdateTaints", t.AddOrUpdateTaints, true); err != nil {
			return err
		}
		if err := checkTaints(cluster, name, "taints.removeTaints", t.RemoveTaints, false); err != nil {
			return err
		}
		for _, a := range t.AddOrUpdateTaints {
			for _, r := range t.RemoveTaints {
				if a.Key == r.Key && (r.Effect == "" || r.Effect == a.Effect) {
					return bad("Taint with key '%s' cannot be both added and removed", a.Key)
				}
			}
		}
	}
	if err := checkUpdateConfig(cluster, name, req.UpdateConfig); err != nil {
		return err
	}
	next := *cur
	next.Apply(req)
	if s := req.ScalingConfig; s != nil {
		if s.MinSize == nil && s.MaxSize == nil && s.DesiredSize == nil {
			return bad("scalingConfig must contain minSize, maxSize or desiredSize")
		}
		if err := checkScaling(cluster, name, next.ScalingConfig); err != nil {
			return err
		}
	}
	if len(next.Taints) > maxNodegroupTaints {
		return bad("A nodegroup can have at most %d taints; this request would make %d", maxNodegroupTaints, len(next.Taints))
	}
	return nil
}
