package iam

import (
	"strconv"
	"strings"

	"github.com/kplane/kplane/internal/policy"
)

type evaluationResult struct {
	EvalActionName    string `xml:"EvalActionName"`
	EvalResourceName  string `xml:"EvalResourceName"`
	EvalDecision      string `xml:"EvalDecision"`
	MatchedStatements struct {
		Members []struct{} `xml:"member"`
	} `xml:"MatchedStatements"`
	MissingContextValues struct {
		Members []string `xml:"member"`
	} `xml:"MissingContextValues"`
}

type simulateResult struct {
	EvaluationResults struct {
		Members []evaluationResult `xml:"member"`
	} `xml:"EvaluationResults"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

// readList reads NAME.member.N (N from 1).
func readList(v *validator, name, field string, minLen, maxLen int, ok func(string) bool, pattern string) []string {
	var out []string
	for i := 1; ; i++ {
		key := name + ".member." + strconv.Itoa(i)
		if !v.p.has(key) {
			return out
		}
		s, _ := v.str(key, field+"."+strconv.Itoa(i)+".member", true, minLen, maxLen, ok, pattern)
		out = append(out, s)
	}
}

// readSimulation reads what both simulation calls take: extra policies,
// actions, resources and context entries.
func readSimulation(v *validator) (docs, actions, resources []string, ctx map[string][]string) {
	docs = readList(v, "PolicyInputList", "policyInputList", 1, 131072, validPolicyText, patPolicy)
	actions = readList(v, "ActionNames", "actionNames", 3, 128, nil, "")
	resources = readList(v, "ResourceArns", "resourceArns", 1, 2048, validArnText, patArn)
	if len(actions) == 0 {
		v.fail("actionNames", "", true, "not be null")
	}
	ctx = map[string][]string{}
	for i := 1; ; i++ {
		base := "ContextEntries.member." + strconv.Itoa(i) + "."
		if !v.p.has(base + "ContextKeyName") {
			break
		}
		key := strings.ToLower(v.p.get(base + "ContextKeyName"))
		for j := 1; ; j++ {
			k := base + "ContextKeyValues.member." + strconv.Itoa(j)
			if !v.p.has(k) {
				break
			}
			ctx[key] = append(ctx[key], v.p.get(k))
		}
	}
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	return docs, actions, resources, ctx
}

// simulate decides each action on each resource as Authorize would: the
// identity policies, then the permissions boundary when there is one
// (bounded; nil boundaries: none).
func (s *Service) simulate(identity []*policy.Policy, bounded bool, boundary *policy.Policy, actions, resources []string, ctx map[string][]string) *simulateResult {
	res := &simulateResult{}
	for _, a := range actions {
		for _, r := range resources {
			req := &policy.Request{Action: a, Resource: r, Context: ctx}
			d, _ := policy.Evaluate(identity, nil, req)
			if bounded {
				d, _ = policy.Bound(d, policy.IdentityPolicies, boundary, req)
			}
			er := evaluationResult{EvalActionName: a, EvalResourceName: r, EvalDecision: d.String()}
			res.EvaluationResults.Members = append(res.EvaluationResults.Members, er)
		}
	}
	return res
}

func parseInputs(docs []string) ([]*policy.Policy, *apiError) {
	var out []*policy.Policy
	for _, d := range docs {
		p, err := policy.Parse(d)
		if err != nil {
			return nil, newError(400, "MalformedPolicyDocument", err.Error())
		}
		out = append(out, p)
	}
	return out, nil
}

func (s *Service) simulateCustomPolicy(c *call) (any, *apiError) {
	v := validator{p: c.p}
	docs, actions, resources, ctx := readSimulation(&v)
	if len(docs) == 0 {
		v.fail("policyInputList", "", true, "not be null")
	}
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, "*", nil); e != nil {
		return nil, e
	}
	identity, e := parseInputs(docs)
	if e != nil {
		return nil, e
	}
	bounded, boundary, e := boundaryInput(&v)
	if e != nil {
		return nil, e
	}
	return s.simulate(identity, bounded, boundary, actions, resources, ctx), nil
}

// boundaryInput reads PermissionsBoundaryPolicyInputList (IAM takes one
// document): the boundary to simulate with, which replaces the principal's.
func boundaryInput(v *validator) (bool, *policy.Policy, *apiError) {
	docs := readList(v, "PermissionsBoundaryPolicyInputList", "permissionsBoundaryPolicyInputList", 1, 131072, validPolicyText, patPolicy)
	if e := v.err(); e != nil {
		return false, nil, e
	}
	if len(docs) == 0 {
		return false, nil, nil
	}
	if len(docs) > 1 {
		return false, nil, newError(400, "InvalidInput", "Only one permissions boundary policy may be simulated.")
	}
	p, e := parseInputs(docs)
	if e != nil {
		return false, nil, e
	}
	return true, p[0], nil
}

func (s *Service) simulatePrincipalPolicy(c *call) (any, *apiError) {
	v := validator{p: c.p}
	source, _ := v.str("PolicySourceArn", "policySourceArn", true, 20, 2048, validArnText, patArn)
	docs, actions, resources, ctx := readSimulation(&v)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := s.authorize(c, source, nil); e != nil {
		return nil, e
	}
	identity, e := parseInputs(docs)
	if e != nil {
		return nil, e
	}
	a, ok := parseARN(source)
	if !ok || a.service != "iam" {
		return nil, newError(400, "InvalidInput", "Invalid ARN: "+quoteValue(source))
	}
	bounded, boundary, e := boundaryInput(&v)
	if e != nil {
		return nil, e
	}
	kind, rest, _ := strings.Cut(a.resource, "/")
	name := rest[strings.LastIndexByte(rest, '/')+1:]
	missing := newError(404, "NoSuchEntity", "Entity "+source+" does not exist.")
	if a.account != s.accountID {
		return nil, missing
	}
	switch kind {
	case "user":
		u := s.index.User(name)
		if u == nil || u.Arn != source {
			return nil, missing
		}
		identity = s.entityPolicies(u.AttachedPolicies, u.InlinePolicies, identity)
		if !bounded && u.PermissionsBoundary != "" {
			bounded, boundary = true, s.managedPolicy(u.PermissionsBoundary)
		}
		for _, g := range u.Groups {
			if grp := s.index.Group(g); grp != nil {
				identity = s.entityPolicies(grp.AttachedPolicies, grp.InlinePolicies, identity)
			}
		}
		ctx["aws:username"] = []string{u.UserName}
		ctx["aws:principalarn"] = []string{u.Arn}
	case "role":
		r := s.index.Role(name)
		if r == nil || r.Arn != source {
			return nil, missing
		}
		identity = s.entityPolicies(r.AttachedPolicies, r.InlinePolicies, identity)
		if !bounded && r.PermissionsBoundary != "" {
			bounded, boundary = true, s.managedPolicy(r.PermissionsBoundary)
		}
		ctx["aws:principalarn"] = []string{r.Arn}
	case "group":
		g := s.index.Group(name)
		if g == nil || g.Arn != source {
			return nil, missing
		}
		identity = s.entityPolicies(g.AttachedPolicies, g.InlinePolicies, identity)
	default:
		return nil, newError(400, "InvalidInput", "Invalid ARN: "+quoteValue(source))
	}
	return s.simulate(identity, bounded, boundary, actions, resources, ctx), nil
}
