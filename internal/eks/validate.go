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
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/kplane/kplane/internal/eks/shapes"
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
