package eks

// Request validation: pure functions (no I/O) that check a decoded request
// against the EKS 2017-11-01 model's constraints and EKS's documented rules,
// and return the modeled error EKS would return.
//
// Message texts: where EKS's own wording is known it is used verbatim (the
// comments say so); elsewhere the text follows AWS's generic constraint
// wording ("1 validation error detected: Value ... at ... failed to satisfy
// constraint: ...") or is kplane's own.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// Limits are the server settings validation depends on.
type Limits struct {
	Region           string
	Versions         []string // Kubernetes versions DescribeClusterVersions lists, e.g. ["1.37"]
	UnsupportedZones []string // availability zones configured as unsupported
	MaxTags          int      // 50
}

// Bounds from the model, the EKS API reference and the EKS service quotas.
const (
	clusterNameMaxLen    = 100 // ClusterName: min 1, max 100
	minSubnets           = 2   // "You must specify at least two subnets."
	maxSubnets           = 16
	maxSecurityGroups    = 5  // "You may specify up to five security groups"
	maxPublicAccessCidrs = 40 // EKS quota: public endpoint access CIDR ranges per cluster
	maxEncryptionConfigs = 1  // EncryptionConfigList: max 1
	defaultMaxTags       = 50 // TagMap: max 50
	tagKeyMaxLen         = 128
	tagValueMaxLen       = 256
	maxTagKeys           = 50 // TagKeyList: min 1, max 50
	minMaxResults        = 1  // *MaxResults: min 1, max 100
	maxMaxResults        = 100
	minServiceCIDRBits   = 12 // serviceIpv4Cidr: "Between /24 and /12."
	maxServiceCIDRBits   = 24
	maxPort              = 65535
)

// The model enums validation checks values against (eks-shapes.txt, Go SDK
// v1.105.6 types/enums.go). model_test.go compares each with the model.
var (
	enumLogType                     = shapes.LogTypes // api|audit|authenticator|controllerManager|scheduler
	enumAuthenticationMode          = []string{"API", "API_AND_CONFIG_MAP", "CONFIG_MAP"}
	enumIPFamily                    = []string{"ipv4", "ipv6"}
	enumSupportType                 = []string{"STANDARD", "EXTENDED"}
	enumControlPlaneEgressMode      = []string{"AWS_MANAGED", "CUSTOMER_ROUTED", "CUSTOMER_ISOLATED"}
	enumProvisionedControlPlaneTier = []string{"standard", "tier-xl", "tier-2xl", "tier-4xl", "tier-8xl"}
	enumScoringStrategyType         = []string{"LeastAllocated", "MostAllocated"}
)

// validatedEnums names each enum above by its model shape.
var validatedEnums = map[string][]string{
	"LogType":                     enumLogType,
	"AuthenticationMode":          enumAuthenticationMode,
	"IpFamily":                    enumIPFamily,
	"SupportType":                 enumSupportType,
	"ControlPlaneEgressModeType":  enumControlPlaneEgressMode,
	"ProvisionedControlPlaneTier": enumProvisionedControlPlaneTier,
	"ScoringStrategyType":         enumScoringStrategyType,
}

var (
	// ClusterName pattern (model and API reference): ^[0-9A-Za-z][A-Za-z0-9\-_]*
	clusterNameRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9\-_]*$`)
	// An IAM role ARN: the path is "/" or "/segments/" of the characters
	// IAM allows in paths (U+0021-U+007E); the name is [\w+=,.@-]{1,64}.
	roleArnRE = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov):iam::[0-9]{12}:role/(?:[\x21-\x7e]+/)?[\w+=,.@-]{1,64}$`)
	// A KMS key ARN or alias ARN ("ARN or alias of the KMS key").
	kmsArnRE = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov):kms:([a-z0-9-]+):[0-9]{12}:(key/[A-Za-z0-9-]{1,128}|alias/[A-Za-z0-9/_-]{1,256})$`)
)

const maxRolePathLen = 512 // IAM path: up to 512 characters

// The private blocks serviceIpv4Cidr must lie in.
var privateIPv4Blocks = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

// validateClusterName checks name: required, 1-100, ^[0-9A-Za-z][A-Za-z0-9\-_]*$ (used for path labels too)
func validateClusterName(name string) *Error {
	switch {
	case name == "":
		return Errorf(InvalidParameter, "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	case len(name) > clusterNameMaxLen:
		return Errorf(InvalidParameter, "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must have length less than or equal to %d", name, clusterNameMaxLen)
	case !clusterNameRE.MatchString(name):
		// EKS's own text (as returned by DescribeCluster/ListNodegroups).
		return Errorf(InvalidParameter, `The parameter name contains invalid characters. It should conform to the regular expression "^[0-9A-Za-z][A-Za-z0-9-_]*". In other words, it should start with a number or letter, and can contain numbers, letters, dashes, and underscores.`)
	}
	return nil
}

// validateMaxResults parses a maxResults query value: "" → def; otherwise an integer 1-100.
func validateMaxResults(raw string, def int) (int, *Error) {
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, Errorf(InvalidParameter, "1 validation error detected: Value '%s' at 'maxResults' failed to satisfy constraint: Member must be an integer", raw)
	}
	if n < minMaxResults {
		return 0, Errorf(InvalidParameter, "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to %d", n, minMaxResults)
	}
	if n > maxMaxResults {
		return 0, Errorf(InvalidParameter, "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to %d", n, maxMaxResults)
	}
	return n, nil
}

// decodeBody decodes a JSON request body into v. Malformed JSON or a member of the wrong JSON type
// gets a modeled 400 (choose BadRequestException with AWS-like text "...could not be parsed...");
// unknown members are accepted (clients newer than the model send them). Empty body → treat as {}.
//
// A JSON null body is treated as {} too. encoding/json matches member names
// case-insensitively, so "Name" fills name; restJson1 clients never send that.
func decodeBody(body []byte, v any) *Error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var (
		syntax  *json.SyntaxError
		typ     *json.UnmarshalTypeError
		invalid *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &syntax):
		return Errorf(BadRequest, "The request body could not be parsed as JSON: %s (at byte %d)", syntax.Error(), syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return Errorf(BadRequest, "The request body could not be parsed: expected a JSON object, got %s", jsonValueKind(typ.Value))
		}
		return Errorf(BadRequest, "The request body could not be parsed: member '%s' must be %s, got %s", typ.Field, jsonKindOf(typ.Type), jsonValueKind(typ.Value))
	case errors.As(err, &invalid):
		// A programming error in the caller, not the client's.
		return Errorf(ServerError, "internal error decoding the request body")
	}
	return Errorf(BadRequest, "The request body could not be parsed: %s", err.Error())
}

// jsonKindOf describes the JSON a Go type expects.
func jsonKindOf(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a JSON value"
}

// jsonValueKind turns UnmarshalTypeError.Value ("string", "number 1.5", ...) into prose.
func jsonValueKind(v string) string {
	switch {
	case v == "array":
		return "a list"
	case v == "object":
		return "an object"
	case v == "bool":
		return "a boolean"
	case v == "string":
		return "a string"
	case strings.HasPrefix(v, "number"):
		return strings.TrimSpace("a " + v)
	}
	return v
}

// enumError is AWS's constraint text for a value outside an enum.
func enumError(cluster, value, path string, allowed []string) *Error {
	return InvalidParam(cluster, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", value, path, strings.Join(allowed, ", "))
}

// checkEnum validates an optional enum member ("" means absent).
func checkEnum(cluster, value, path string, allowed []string) *Error {
	if value == "" || slices.Contains(allowed, value) {
		return nil
	}
	return enumError(cluster, value, path, allowed)
}

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

// checkEndpointAccess checks the members of a VpcConfigRequest that do not
// need the inventory. pub and priv are the endpoint access the request
// results in; allowIPv6 admits IPv6 public access CIDRs (IPv6 clusters).
func checkEndpointAccess(cluster string, v *shapes.VpcConfigRequest, pub, priv, allowIPv6 bool) *Error {
	if !pub && !priv {
		return InvalidParam(cluster, "Both private and public endpoint access cannot be false") // EKS's text
	}
	if len(v.PublicAccessCidrs) > maxPublicAccessCidrs {
		return InvalidParam(cluster, "publicAccessCidrs has %d CIDR blocks; at most %d are allowed", len(v.PublicAccessCidrs), maxPublicAccessCidrs)
	}
	var invalid []string
	for _, c := range v.PublicAccessCidrs {
		if !validPublicCIDR(c, allowIPv6) {
			invalid = append(invalid, c)
		}
	}
	if len(invalid) > 0 {
		return InvalidParam(cluster, "The following CIDRs are invalid in publicAccessCidrs: [%s]", strings.Join(invalid, ",")) // EKS's text
	}
	return checkEnum(cluster, v.ControlPlaneEgressMode, "resourcesVpcConfig.controlPlaneEgressMode", enumControlPlaneEgressMode)
}

// validPublicCIDR reports whether c is a canonical CIDR block (no host bits
// set) of an allowed family.
func validPublicCIDR(c string, allowIPv6 bool) bool {
	p, err := netip.ParsePrefix(c)
	if err != nil || p != p.Masked() {
		return false
	}
	a := p.Addr()
	return a.Is4() || (allowIPv6 && a.Is6() && !a.Is4In6())
}

// checkIDList checks a list of ids for its length and duplicates.
func checkIDList(cluster, member string, ids []string, most int, tooMany string) *Error {
	if len(ids) > most {
		return InvalidParam(cluster, tooMany, most, len(ids))
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			return InvalidParam(cluster, "The %s list contains '%s' more than once", member, id)
		}
		seen[id] = true
	}
	return nil
}

const (
	tooManySubnets        = "At most %d subnets can be specified, but %d were specified"
	tooManySecurityGroups = "You may specify up to %d security groups, but %d were specified"
	twoAZs                = "Subnets specified must be in at least two different AZs" // EKS's text
)

// checkCreateVpcConfig checks resourcesVpcConfig against the inventory and
// returns the VPC the subnets are in.
func checkCreateVpcConfig(cluster string, v *shapes.VpcConfigRequest, allowIPv6 bool, network *store.Network, lim Limits) (store.VPC, *Error) {
	if v == nil {
		return store.VPC{}, InvalidParam(cluster, "1 validation error detected: Value null at 'resourcesVpcConfig' failed to satisfy constraint: Member must not be null")
	}
	if network == nil {
		network = &store.Network{}
	}
	pub := v.EndpointPublicAccess == nil || *v.EndpointPublicAccess    // default true
	priv := v.EndpointPrivateAccess != nil && *v.EndpointPrivateAccess // default false
	if err := checkEndpointAccess(cluster, v, pub, priv, allowIPv6); err != nil {
		return store.VPC{}, err
	}

	// Subnets: 2-16, distinct, existing, one VPC, two or more supported AZs.
	if err := checkIDList(cluster, "subnetIds", v.SubnetIDs, maxSubnets, tooManySubnets); err != nil {
		return store.VPC{}, err
	}
	if len(v.SubnetIDs) < minSubnets {
		return store.VPC{}, InvalidParam(cluster, twoAZs)
	}
	subnets := make([]store.Subnet, len(v.SubnetIDs))
	for i, id := range v.SubnetIDs {
		s, ok := network.Subnet(id)
		if !ok {
			return store.VPC{}, InvalidParam(cluster, "The subnet ID '%s' does not exist", id) // EC2's text, as EKS relays it
		}
		subnets[i] = s
	}
	vpcID := subnets[0].VpcID
	for _, s := range subnets[1:] {
		if s.VpcID != vpcID {
			return store.VPC{}, InvalidParam(cluster, "Subnets specified must all be in the same VPC: subnet %s is in %s, subnet %s is in %s", subnets[0].ID, vpcID, s.ID, s.VpcID)
		}
	}
	for _, s := range subnets {
		if slices.Contains(lim.UnsupportedZones, s.AvailabilityZone) {
			return store.VPC{}, unsupportedZone(cluster, s.AvailabilityZone, vpcID, network, lim)
		}
	}
	zones := map[string]bool{}
	for _, s := range subnets {
		zones[s.AvailabilityZone] = true
	}
	if len(zones) < minSubnets {
		return store.VPC{}, InvalidParam(cluster, twoAZs)
	}
	if err := checkFreeAddresses(cluster, subnets); err != nil {
		return store.VPC{}, err
	}

	// Security groups: up to 5, distinct, existing, in the subnets' VPC.
	if err := checkIDList(cluster, "securityGroupIds", v.SecurityGroupIDs, maxSecurityGroups, tooManySecurityGroups); err != nil {
		return store.VPC{}, err
	}
	var elsewhere []string
	for _, id := range v.SecurityGroupIDs {
		g, ok := network.SecurityGroup(id)
		if !ok {
			return store.VPC{}, InvalidParam(cluster, "The security group '%s' does not exist", id) // EC2's text
		}
		if g.VpcID != vpcID {
			elsewhere = append(elsewhere, id)
		}
	}
	if len(elsewhere) > 0 {
		// EKS's text.
		return store.VPC{}, InvalidParam(cluster, "Security group(s) [%s] are not in the same VPC as the subnets. Please specify a security group that is associated with the VPC: %s.", strings.Join(elsewhere, ", "), vpcID)
	}

	for _, vpc := range network.VPCs {
		if vpc.ID == vpcID {
			return vpc, nil
		}
	}
	return store.VPC{ID: vpcID}, nil
}

// checkFreeAddresses requires store.MinFreeAddresses free addresses in every
// subnet, as EKS does for the network interfaces it places there.
func checkFreeAddresses(cluster string, subnets []store.Subnet) *Error {
	var short []string
	for _, s := range subnets {
		if free := s.Available(); free < store.MinFreeAddresses {
			short = append(short, fmt.Sprintf("%s Free IPs: %d", s.ID, free))
		}
	}
	if len(short) == 0 {
		return nil
	}
	return InvalidParam(cluster, insufficientIPs, strings.Join(short, " "), store.MinFreeAddresses)
}

// insufficientIPs is EKS's text for subnets without enough free addresses
// (as UpdateClusterConfig returns it; CreateCluster requires six).
const insufficientIPs = "Provided subnets %s , need at least %d IPs in each subnet to be free for this operation"

// unsupportedZone is EKS's UnsupportedAvailabilityZoneException for a subnet
// in zone, listing the supported zones the VPC has subnets in.
func unsupportedZone(cluster, zone, vpcID string, network *store.Network, lim Limits) *Error {
	valid := []string{}
	for _, s := range network.Subnets {
		if s.VpcID == vpcID && s.AvailabilityZone != "" &&
			!slices.Contains(lim.UnsupportedZones, s.AvailabilityZone) && !slices.Contains(valid, s.AvailabilityZone) {
			valid = append(valid, s.AvailabilityZone)
		}
	}
	slices.Sort(valid)
	// EKS's text.
	return Errorf(UnsupportedAvailabilityZone,
		"Cannot create cluster '%s' because %s, the targeted availability zone, does not currently have sufficient capacity to support the cluster. Retry and choose from these availability zones: %s",
		cluster, zone, strings.Join(valid, ", ")).
		With("clusterName", cluster).
		With("validZones", valid)
}

// checkServiceCIDR applies the model's rules for serviceIpv4Cidr: within
// 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, between /24 and /12, not
// overlapping the VPC's CIDR block.
func checkServiceCIDR(cluster, cidr string, vpc store.VPC) *Error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || p != p.Masked() {
		return InvalidParam(cluster, "serviceIpv4Cidr %s is not a valid IPv4 CIDR block", cidr)
	}
	if p.Bits() < minServiceCIDRBits || p.Bits() > maxServiceCIDRBits {
		return InvalidParam(cluster, "serviceIpv4Cidr %s is invalid: the CIDR block must be between /%d and /%d", cidr, maxServiceCIDRBits, minServiceCIDRBits)
	}
	within := false
	for _, b := range privateIPv4Blocks {
		within = within || (b.Bits() <= p.Bits() && b.Contains(p.Addr()))
	}
	if !within {
		return InvalidParam(cluster, "serviceIpv4Cidr %s is invalid: the CIDR block must be within one of the private IP address blocks 10.0.0.0/8, 172.16.0.0/12, or 192.168.0.0/16", cidr)
	}
	if vp, err := netip.ParsePrefix(vpc.CidrBlock); err == nil && vp.Overlaps(p) {
		return InvalidParam(cluster, "serviceIpv4Cidr %s is invalid: the CIDR block overlaps %s, the CIDR block of %s", cidr, vpc.CidrBlock, vpc.ID)
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
