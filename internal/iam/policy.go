package iam

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/policy"
)

// A trust policy (a role's AssumeRolePolicyDocument), as far as kplane reads it.
type trustPolicy struct {
	statements []statement
}

type statement struct {
	allow        bool
	principal    *principal // Principal, or nil
	notPrincipal *principal // NotPrincipal, or nil
	actions      []string   // Action
	notActions   []string   // NotAction
	conditional  bool       // has a Condition block, which kplane does not evaluate
}

// principal is a Principal element: "*" or {"AWS": ..., "Service": ..., ...}.
type principal struct {
	any       bool
	aws       []string
	service   []string
	federated []string
	canonical []string
}

// Messages IAM gives for malformed policies.
const (
	msgInvalidJSON        = "This policy contains invalid Json"
	msgSyntax             = "Syntax errors in policy."
	msgVersion            = "The policy must contain a valid version string"
	msgMissingPrincipal   = "Missing required field Principal"
	msgMissingAction      = "Missing required field Action"
	msgMissingEffect      = "Missing required field Effect"
	msgProhibitedResource = "Has prohibited field Resource"
	msgNotSTSAction       = "AssumeRole policy may only specify STS AssumeRole actions."
)

// parseTrustPolicy checks a trust policy the way IAM does at CreateRole and
// returns what kplane evaluates. The error is IAM's MalformedPolicyDocument text.
func parseTrustPolicy(doc string) (*trustPolicy, string) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &top); err != nil || top == nil {
		return nil, msgInvalidJSON
	}
	for k := range top {
		if k != "Version" && k != "Id" && k != "Statement" {
			return nil, msgSyntax
		}
	}
	if raw, ok := top["Version"]; ok {
		var v string
		if json.Unmarshal(raw, &v) != nil || (v != "2012-10-17" && v != "2008-10-17") {
			return nil, msgVersion
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, msgSyntax
	}
	var raws []json.RawMessage
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '{' {
		raws = []json.RawMessage{raw}
	} else if json.Unmarshal(raw, &raws) != nil || len(raws) == 0 {
		return nil, msgSyntax
	}
	p := &trustPolicy{}
	for _, r := range raws {
		st, msg := parseStatement(r)
		if msg != "" {
			return nil, msg
		}
		p.statements = append(p.statements, st)
	}
	return p, ""
}

func parseStatement(raw json.RawMessage) (statement, string) {
	var st statement
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return st, msgSyntax
	}
	for k := range m {
		switch k {
		case "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Condition":
		case "Resource", "NotResource":
			return st, msgProhibitedResource
		default:
			return st, msgSyntax
		}
	}
	if raw, ok := m["Sid"]; ok {
		var sid string
		if json.Unmarshal(raw, &sid) != nil {
			return st, msgSyntax
		}
	}
	effect, ok := m["Effect"]
	if !ok {
		return st, msgMissingEffect
	}
	var e string
	if json.Unmarshal(effect, &e) != nil || (e != "Allow" && e != "Deny") {
		return st, msgSyntax
	}
	st.allow = e == "Allow"

	_, hasP := m["Principal"]
	_, hasNP := m["NotPrincipal"]
	switch {
	case hasP && hasNP:
		return st, msgSyntax
	case !hasP && !hasNP:
		return st, msgMissingPrincipal
	case hasP:
		pr, msg := parsePrincipal(m["Principal"])
		if msg != "" {
			return st, msg
		}
		st.principal = pr
	default:
		pr, msg := parsePrincipal(m["NotPrincipal"])
		if msg != "" {
			return st, msg
		}
		st.notPrincipal = pr
	}

	_, hasA := m["Action"]
	_, hasNA := m["NotAction"]
	switch {
	case hasA && hasNA:
		return st, msgSyntax
	case !hasA && !hasNA:
		return st, msgMissingAction
	}
	var msg string
	if hasA {
		if st.actions, msg = stringOrList(m["Action"]); msg != "" {
			return st, msg
		}
	} else if st.notActions, msg = stringOrList(m["NotAction"]); msg != "" {
		return st, msg
	}
	for _, a := range append(st.actions, st.notActions...) {
		if a != "*" && !strings.HasPrefix(strings.ToLower(a), "sts:") {
			return st, msgNotSTSAction
		}
	}
	if raw, ok := m["Condition"]; ok {
		var c map[string]json.RawMessage
		if json.Unmarshal(raw, &c) != nil {
			return st, msgSyntax
		}
		st.conditional = len(c) > 0
	}
	return st, ""
}

func parsePrincipal(raw json.RawMessage) (*principal, string) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s != "*" {
			return nil, `Invalid principal in policy: ` + s
		}
		return &principal{any: true}, ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || len(m) == 0 {
		return nil, msgSyntax
	}
	p := &principal{}
	for k, v := range m {
		values, msg := stringOrList(v)
		if msg != "" {
			return nil, msg
		}
		switch k {
		case "AWS":
			for _, a := range values {
				if !validAWSPrincipal(a) {
					return nil, `Invalid principal in policy: "AWS":"` + a + `"`
				}
			}
			p.aws = values
		case "Service":
			p.service = values
		case "Federated":
			p.federated = values
		case "CanonicalUser":
			p.canonical = values
		default:
			return nil, `Invalid principal in policy: "` + k + `"`
		}
	}
	return p, ""
}

// validAWSPrincipal accepts what IAM accepts in "AWS": "*", an account id, or
// an IAM or STS ARN.
func validAWSPrincipal(s string) bool {
	if s == "*" || auth.ValidAccountID(s) {
		return true
	}
	a, ok := parseARN(s)
	return ok && (a.service == "iam" || a.service == "sts") && auth.ValidAccountID(a.account) && a.resource != ""
}

func stringOrList(raw json.RawMessage) ([]string, string) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, ""
	}
	var l []string
	if json.Unmarshal(raw, &l) != nil || len(l) == 0 {
		return nil, msgSyntax
	}
	return l, ""
}

// caller is who asks to assume a role.
type caller struct {
	arn     string // user ARN, or assumed-role ARN for a session
	account string
	roleArn string // for a session: the ARN of its role (a role principal covers its sessions)
}

// allows reports whether the policy lets c perform action: some statement
// allows it and none denies it. A statement with a Condition is taken as not
// allowing and as denying, since kplane does not evaluate conditions; so a
// policy that relies on conditions is safe, if stricter than on AWS.
//
// byArn says an allowing statement named the caller itself (its ARN, or its
// role's for a session) rather than the account or everyone: then, as in
// AWS, the caller needs no identity policy of its own to assume the role.
func (p *trustPolicy) allows(c caller, action string) (allowed, byArn bool) {
	for _, st := range p.statements {
		if !st.covers(c, action) {
			continue
		}
		if !st.allow {
			return false, false
		}
		if !st.conditional {
			allowed = true
			if st.principal != nil && st.principal.namesArn(c) {
				byArn = true
			}
		}
	}
	return allowed, byArn
}

// namesArn reports whether p names c's own ARN (or its role's).
func (p *principal) namesArn(c caller) bool {
	for _, a := range p.aws {
		if strings.EqualFold(a, c.arn) || c.roleArn != "" && strings.EqualFold(a, c.roleArn) {
			return true
		}
	}
	return false
}

func (st *statement) covers(c caller, action string) bool {
	switch {
	case st.principal != nil && !st.principal.matches(c):
		return false
	case st.notPrincipal != nil && st.notPrincipal.matches(c):
		return false
	}
	if st.actions != nil {
		return anyGlob(st.actions, action)
	}
	return !anyGlob(st.notActions, action)
}

// matches reports whether an AWS principal c is named: "*", its account (by id
// or root ARN, which name every principal of the account), its own ARN, or for
// a session its role's ARN.
func (p *principal) matches(c caller) bool {
	if p.any {
		return true
	}
	for _, a := range p.aws {
		switch {
		case a == "*":
			return true
		case a == c.account, a == "arn:aws:iam::"+c.account+":root":
			return true
		case strings.EqualFold(a, c.arn), c.roleArn != "" && strings.EqualFold(a, c.roleArn):
			return true
		}
	}
	return false // kplane's callers are never services, federated or canonical users
}

func anyGlob(patterns []string, s string) bool {
	for _, p := range patterns {
		if policy.Glob(strings.ToLower(p), strings.ToLower(s)) {
			return true
		}
	}
	return false
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
