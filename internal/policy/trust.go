package policy

import (
	"encoding/json"
	"strings"

	"github.com/kplane/kplane/internal/auth"
)

// Messages IAM gives for malformed trust policies (a role's
// AssumeRolePolicyDocument).
const (
	MsgMissingPrincipal   = "Missing required field Principal"
	MsgMissingTrustAction = "Missing required field Action"
	MsgProhibitedResource = "Has prohibited field Resource"
	MsgNotSTSAction       = "AssumeRole policy may only specify STS AssumeRole actions."
)

// Principals is a Principal (or NotPrincipal) element: "*" or
// {"AWS": ..., "Service": ..., "Federated": ..., "CanonicalUser": ...}.
type Principals struct {
	Any       bool
	AWS       []string
	Service   []string
	Federated []string
	Canonical []string
}

// Caller is who asks a trust policy: an AWS principal (a user or a role's
// session), a service, or a web identity of a federated provider.
type Caller struct {
	Arn       string // the user's ARN, or the session's assumed-role ARN
	RoleArn   string // for a session: its role's ARN (a role principal covers its sessions)
	Account   string
	Service   string // "eks.amazonaws.com"
	Federated string // the OIDC provider's ARN, for AssumeRoleWithWebIdentity
}

// ParseTrust checks a trust policy as IAM does at CreateRole and
// UpdateAssumeRolePolicy and returns it ready to evaluate with EvaluateTrust.
// The error is a *MalformedError with IAM's message.
func ParseTrust(doc string) (*Policy, error) {
	return parse(doc, true)
}

// EvaluateTrust decides whether the trust policy lets c perform req's
// action: a matching Deny wins, then a matching Allow, else implicit deny.
// Conditions are evaluated against req. namesCaller says an allowing
// statement named the caller itself (its ARN, or its role's for a session)
// rather than its account or everyone: then, as in AWS, the caller needs no
// identity policy of its own to assume the role.
func (p *Policy) EvaluateTrust(c *Caller, req *Request) (d Decision, namesCaller bool) {
	vars := p.Version == "2012-10-17"
	d = ImplicitDeny
	for _, i := range p.statementsFor(req.Action) {
		st := &p.Statements[i]
		switch {
		case st.Principal != nil && !st.Principal.matches(c):
			continue
		case st.NotPrincipal != nil && st.NotPrincipal.matches(c):
			continue
		case !st.appliesTo(req, vars):
			continue
		case !st.Allow:
			return ExplicitDeny, false
		}
		d = Allow
		if st.Principal != nil && st.Principal.namesArn(c) {
			namesCaller = true
		}
	}
	return d, namesCaller
}

// matches reports whether the element names c: "*"; for an AWS principal
// its account (by id or root ARN), its own ARN or its role's; a service by
// name; a web identity by its provider's ARN.
func (p *Principals) matches(c *Caller) bool {
	if p.Any {
		return true
	}
	if c.Arn != "" {
		for _, a := range p.AWS {
			switch {
			case a == "*", a == c.Account, a == "arn:aws:iam::"+c.Account+":root":
				return true
			case strings.EqualFold(a, c.Arn), c.RoleArn != "" && strings.EqualFold(a, c.RoleArn):
				return true
			}
		}
	}
	if c.Service != "" {
		for _, s := range p.Service {
			if s == c.Service {
				return true
			}
		}
	}
	if c.Federated != "" {
		for _, f := range p.Federated {
			if f == c.Federated {
				return true
			}
		}
	}
	return false
}

// namesArn reports whether p names c's own ARN (or its role's).
func (p *Principals) namesArn(c *Caller) bool {
	for _, a := range p.AWS {
		if c.Arn != "" && strings.EqualFold(a, c.Arn) || c.RoleArn != "" && strings.EqualFold(a, c.RoleArn) {
			return true
		}
	}
	return false
}

func parsePrincipals(raw json.RawMessage) (*Principals, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s != "*" {
			return nil, malformed("Invalid principal in policy: " + s)
		}
		return &Principals{Any: true}, nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || len(m) == 0 {
		return nil, malformed(MsgSyntax)
	}
	p := &Principals{}
	for k, v := range m {
		values, err := stringOrList(v)
		if err != nil {
			return nil, err
		}
		switch k {
		case "AWS":
			for _, a := range values {
				if !validAWSPrincipal(a) {
					return nil, malformed(`Invalid principal in policy: "AWS":"` + a + `"`)
				}
			}
			p.AWS = values
		case "Service":
			p.Service = values
		case "Federated":
			p.Federated = values
		case "CanonicalUser":
			p.Canonical = values
		default:
			return nil, malformed(`Invalid principal in policy: "` + k + `"`)
		}
	}
	return p, nil
}

// validAWSPrincipal accepts what IAM accepts in "AWS": "*", an account id, or
// an IAM or STS ARN.
func validAWSPrincipal(s string) bool {
	if s == "*" || auth.ValidAccountID(s) {
		return true
	}
	parts := strings.SplitN(s, ":", 6)
	return len(parts) == 6 && parts[0] == "arn" && parts[1] != "" && (parts[2] == "iam" || parts[2] == "sts") &&
		auth.ValidAccountID(parts[4]) && parts[5] != ""
}
