package policy

import "strings"

// Request is one call to authorize.
type Request struct {
	Action   string // "eks:DescribeCluster"
	Resource string // an ARN, or "*" for calls on no resource
	// Context holds the condition keys, lower-cased ("aws:principalarn",
	// "aws:requesttag/team"), each with its values.
	Context map[string][]string
	// Global, if not nil, answers the keys Context does not hold (the
	// caller's and the request's global keys), only when a statement reads
	// one: most calls read none, so none is built.
	Global Keys
}

// Keys gives a condition key's values (nil: the key is absent).
type Keys interface {
	Values(key string) []string
}

// values are key's values in the request: Context first, then Global.
func (r *Request) values(key string) []string {
	if v, ok := r.Context[key]; ok {
		return v
	}
	if r.Global != nil {
		return r.Global.Values(key)
	}
	return nil
}

// Decision is the outcome of evaluating a request.
type Decision int

const (
	ImplicitDeny Decision = iota // no statement allows it
	Allow
	ExplicitDeny
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "allowed"
	case ExplicitDeny:
		return "explicitDeny"
	}
	return "implicitDeny"
}

// Evaluate decides req against one policy.
func (p *Policy) Evaluate(req *Request) Decision {
	vars := p.Version == "2012-10-17"
	d := ImplicitDeny
	for _, i := range p.statementsFor(req.Action) {
		st := &p.Statements[i]
		if !st.Allow || d == ImplicitDeny { // an Allow needs no second look once allowed
			if st.appliesTo(req, vars) {
				if !st.Allow {
					return ExplicitDeny
				}
				d = Allow
			}
		}
	}
	return d
}

// Evaluate decides req against a principal's identity policies and, when
// sessionPolicies is not nil, the session policies it assumed a role with:
// an explicit Deny in any wins; else it is allowed when the identity
// policies allow it and (with session policies) a session policy does too.
// It also reports whether the refusal came from the session policies.
func Evaluate(identity, sessionPolicies []*Policy, req *Request) (d Decision, bySession bool) {
	d = ImplicitDeny
	for _, p := range identity {
		switch p.Evaluate(req) {
		case ExplicitDeny:
			return ExplicitDeny, false
		case Allow:
			d = Allow
		}
	}
	if sessionPolicies == nil {
		return d, false
	}
	s := ImplicitDeny
	for _, p := range sessionPolicies {
		switch p.Evaluate(req) {
		case ExplicitDeny:
			return ExplicitDeny, true
		case Allow:
			s = Allow
		}
	}
	if d == Allow && s != Allow {
		return ImplicitDeny, true
	}
	return d, false
}

// coversAction reports whether the statement's Action (or NotAction) admits
// action, lower-cased.
func (st *Statement) coversAction(action string) bool {
	if st.Actions != nil {
		return anyGlob(st.Actions, action)
	}
	return !anyGlob(st.NotActions, action)
}

// appliesTo reports whether the statement, whose action already matched,
// applies to the request's resource and conditions.
func (st *Statement) appliesTo(req *Request, vars bool) bool {
	if st.Resources != nil {
		if !st.anyResource(st.Resources, req, vars) {
			return false
		}
	} else if st.anyResource(st.NotResources, req, vars) {
		return false
	}
	for i := range st.Conditions {
		if !st.Conditions[i].matches(req, vars) {
			return false
		}
	}
	return true
}

func (st *Statement) anyResource(patterns []string, req *Request, vars bool) bool {
	for _, p := range patterns {
		if vars && strings.Contains(p, "${") {
			var ok bool
			if p, ok = substitute(p, req); !ok {
				continue
			}
		}
		if Glob(p, req.Resource) {
			return true
		}
	}
	return false
}

func anyGlob(patterns []string, s string) bool {
	for _, p := range patterns {
		if Glob(p, s) {
			return true
		}
	}
	return false
}

// Glob matches s against p, where '*' is any run and '?' any one character.
func Glob(p, s string) bool {
	if p == "*" {
		return true
	}
	star, mark := -1, 0
	i, j := 0, 0
	for j < len(s) {
		switch {
		case i < len(p) && (p[i] == '?' || p[i] == s[j]):
			i++
			j++
		case i < len(p) && p[i] == '*':
			star, mark = i, j
			i++
		case star >= 0:
			i = star + 1
			mark++
			j = mark
		default:
			return false
		}
	}
	for i < len(p) && p[i] == '*' {
		i++
	}
	return i == len(p)
}

// substitute replaces policy variables (${aws:username}, ${aws:PrincipalTag/team},
// ${*}, ${?}, ${$}) with the request's values. A variable with no value, or
// with several, makes the pattern match nothing (ok false), as in IAM; a
// variable may carry a default: ${aws:username, 'nobody'}.
func substitute(p string, req *Request) (string, bool) {
	var b strings.Builder
	for {
		i := strings.Index(p, "${")
		if i < 0 {
			b.WriteString(p)
			return b.String(), true
		}
		j := strings.IndexByte(p[i:], '}')
		if j < 0 {
			b.WriteString(p)
			return b.String(), true
		}
		b.WriteString(p[:i])
		name := strings.TrimSpace(p[i+2 : i+j])
		def, hasDef := "", false
		if k, d, ok := strings.Cut(name, ","); ok {
			name = strings.TrimSpace(k)
			d = strings.TrimSpace(d)
			if len(d) >= 2 && d[0] == '\'' && d[len(d)-1] == '\'' {
				def, hasDef = d[1:len(d)-1], true
			}
		}
		switch name {
		case "*", "?", "$":
			b.WriteString(name)
		default:
			v := req.values(strings.ToLower(name))
			switch {
			case len(v) == 1:
				b.WriteString(v[0])
			case hasDef:
				b.WriteString(def)
			default:
				return "", false
			}
		}
		p = p[i+j+1:]
	}
}

// Refuser is the kind of policy that refused a call, as AWS's message names it.
type Refuser int

const (
	IdentityPolicies Refuser = iota
	SessionPolicies
	PermissionsBoundary
)

// Bound applies a permissions boundary to the decision of the identity (and
// session) policies: the call needs the boundary's Allow too, and a Deny in
// the boundary wins. boundary nil, with hasBoundary, is one that allows
// nothing (its policy is gone).
func Bound(d Decision, by Refuser, boundary *Policy, req *Request) (Decision, Refuser) {
	bd := ImplicitDeny
	if boundary != nil {
		bd = boundary.Evaluate(req)
	}
	switch {
	case d == ExplicitDeny:
		return d, by
	case bd == ExplicitDeny, d == Allow && bd != Allow:
		return bd, PermissionsBoundary
	}
	return d, by
}

// DenialMessage is AWS's wording of a refusal: who, what, on which resource
// and why.
func DenialMessage(principalArn, action, resource string, d Decision, by Refuser) string {
	msg := "User: " + principalArn + " is not authorized to perform: " + action + " on resource: " + resource
	kind := "identity-based policy"
	switch by {
	case SessionPolicies:
		kind = "session policy"
	case PermissionsBoundary:
		kind = "permissions boundary"
	}
	if d == ExplicitDeny {
		article := "a "
		if by == IdentityPolicies {
			article = "an "
		}
		return msg + " with an explicit deny in " + article + kind
	}
	return msg + " because no " + kind + " allows the " + action + " action"
}
