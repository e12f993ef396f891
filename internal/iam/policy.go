package iam

import (
	"strings"

	"github.com/kplane/kplane/internal/policy"
)

// parseTrustPolicy checks a trust policy (a role's AssumeRolePolicyDocument)
// the way IAM does at CreateRole and returns it ready to evaluate
// (policy.EvaluateTrust). The message is IAM's MalformedPolicyDocument text.
func parseTrustPolicy(doc string) (*policy.Policy, string) {
	p, err := policy.ParseTrust(doc)
	if err != nil {
		return nil, err.Error()
	}
	return p, ""
}

// arn is the parts of arn:partition:service:region:account:resource.
type arn struct {
	partition, service, region, account, resource string
}

func parseARN(s string) (arn, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] == "" {
		return arn{}, false
	}
	return arn{parts[1], parts[2], parts[3], parts[4], parts[5]}, true
}
