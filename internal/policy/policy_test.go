package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const clusterA = "arn:aws:eks:us-west-2:000000000000:cluster/a"

func mustParse(t testing.TB, doc string) *Policy {
	t.Helper()
	p, err := Parse(doc)
	if err != nil {
		t.Fatalf("Parse(%s): %v", doc, err)
	}
	return p
}

func stmt(effect, action, resource, cond string) string {
	s := fmt.Sprintf(`{"Effect":%q,"Action":%s,"Resource":%s`, effect, action, resource)
	if cond != "" {
		s += `,"Condition":` + cond
	}
	return s + "}"
}

func doc(stmts ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

func TestActionsAndResources(t *testing.T) {
	cases := []struct {
		name     string
		doc      string
		action   string
		resource string
		want     Decision
	}{
		{"exact", doc(stmt("Allow", `"eks:DescribeCluster"`, `"`+clusterA+`"`, "")), "eks:DescribeCluster", clusterA, Allow},
		{"action case", doc(stmt("Allow", `"EKS:describecluster"`, `"*"`, "")), "eks:DescribeCluster", clusterA, Allow},
		{"action wildcard", doc(stmt("Allow", `"eks:Describe*"`, `"*"`, "")), "eks:DescribeCluster", clusterA, Allow},
		{"action ?", doc(stmt("Allow", `"eks:?escribeCluster"`, `"*"`, "")), "eks:DescribeCluster", clusterA, Allow},
		{"other action", doc(stmt("Allow", `"eks:Describe*"`, `"*"`, "")), "eks:ListClusters", "*", ImplicitDeny},
		{"other service", doc(stmt("Allow", `"ec2:*"`, `"*"`, "")), "eks:ListClusters", "*", ImplicitDeny},
		{"resource wildcard", doc(stmt("Allow", `"eks:*"`, `"arn:aws:eks:*:*:cluster/a*"`, "")), "eks:DescribeCluster", clusterA, Allow},
		{"resource other", doc(stmt("Allow", `"eks:*"`, `"arn:aws:eks:*:*:cluster/b"`, "")), "eks:DescribeCluster", clusterA, ImplicitDeny},
		{"resource case-sensitive", doc(stmt("Allow", `"eks:*"`, `"arn:aws:eks:*:*:cluster/A"`, "")), "eks:DescribeCluster", clusterA, ImplicitDeny},
		{"list needs *", doc(stmt("Allow", `"eks:*"`, `"arn:aws:eks:*:*:cluster/*"`, "")), "eks:ListClusters", "*", ImplicitDeny},
		{"NotAction", doc(`{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}`), "eks:ListClusters", "*", Allow},
		{"NotAction excluded", doc(`{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}`), "iam:CreateUser", "*", ImplicitDeny},
		{"NotResource", doc(`{"Effect":"Allow","Action":"eks:*","NotResource":"arn:aws:eks:*:*:cluster/b"}`), "eks:DescribeCluster", clusterA, Allow},
		{"NotResource excluded", doc(`{"Effect":"Allow","Action":"eks:*","NotResource":"arn:aws:eks:*:*:cluster/a"}`), "eks:DescribeCluster", clusterA, ImplicitDeny},
		{"deny wins", doc(stmt("Allow", `"*"`, `"*"`, ""), stmt("Deny", `"eks:DescribeCluster"`, `"*"`, "")), "eks:DescribeCluster", clusterA, ExplicitDeny},
		{"deny elsewhere", doc(stmt("Allow", `"*"`, `"*"`, ""), stmt("Deny", `"eks:DeleteCluster"`, `"*"`, "")), "eks:DescribeCluster", clusterA, Allow},
		{"single statement object", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, "sts:GetCallerIdentity", "*", Allow},
		{"variable", doc(stmt("Allow", `"iam:*"`, `"arn:aws:iam::000000000000:user/${aws:username}"`, "")), "iam:GetUser", "arn:aws:iam::000000000000:user/alice", Allow},
		{"variable other user", doc(stmt("Allow", `"iam:*"`, `"arn:aws:iam::000000000000:user/${aws:username}"`, "")), "iam:GetUser", "arn:aws:iam::000000000000:user/bob", ImplicitDeny},
		{"no variables in 2008", `{"Statement":[` + stmt("Allow", `"iam:*"`, `"arn:aws:iam::000000000000:user/${aws:username}"`, "") + `]}`, "iam:GetUser", "arn:aws:iam::000000000000:user/alice", ImplicitDeny},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := &Request{Action: c.action, Resource: c.resource, Context: map[string][]string{"aws:username": {"alice"}}}
			if got := mustParse(t, c.doc).Evaluate(req); got != c.want {
				t.Fatalf("%s on %s: %v, want %v", c.action, c.resource, got, c.want)
			}
		})
	}
}

func TestConditions(t *testing.T) {
	ctx := map[string][]string{
		"aws:principalarn":       {"arn:aws:iam::000000000000:user/alice"},
		"aws:principaltag/team":  {"Blue"},
		"aws:requesttag/env":     {"dev"},
		"aws:tagkeys":            {"env", "owner"},
		"aws:sourceip":           {"127.0.0.1"},
		"aws:currenttime":        {"2026-12-07T14:00:00Z"},
		"aws:epochtime":          {"1796652000"},
		"aws:securetransport":    {"false"},
		"aws:multifactorauthage": {"30"},
		"s3:data":                {"hi"},
	}
	cases := []struct {
		cond string
		want bool
	}{
		{`{"StringEquals":{"aws:PrincipalTag/team":"Blue"}}`, true},
		{`{"StringEquals":{"aws:PrincipalTag/team":"blue"}}`, false},
		{`{"StringEquals":{"aws:PrincipalTag/team":["Red","Blue"]}}`, true},
		{`{"StringEquals":{"aws:PrincipalTag/missing":"x"}}`, false},
		{`{"StringEqualsIfExists":{"aws:PrincipalTag/missing":"x"}}`, true},
		{`{"StringEqualsIfExists":{"aws:PrincipalTag/team":"Red"}}`, false},
		{`{"StringNotEquals":{"aws:PrincipalTag/team":"Red"}}`, true},
		{`{"StringNotEquals":{"aws:PrincipalTag/team":["Red","Blue"]}}`, false},
		{`{"StringNotEquals":{"aws:PrincipalTag/missing":"x"}}`, true},
		{`{"StringNotEqualsIfExists":{"aws:PrincipalTag/missing":"x"}}`, true},
		{`{"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"BLUE"}}`, true},
		{`{"StringNotEqualsIgnoreCase":{"aws:PrincipalTag/team":"BLUE"}}`, false},
		{`{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/al*"}}`, true},
		{`{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/b*"}}`, false},
		{`{"StringNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/b*"}}`, true},
		{`{"StringLikeIfExists":{"aws:RequestTag/nope":"x*"}}`, true},
		{`{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::000000000000:user/alice"}}`, true},
		{`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/*"}}`, true},
		{`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"}}`, false},
		{`{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::000000000000:user/bob"}}`, true},
		{`{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/*"}}`, false},
		{`{"ArnLike":{"aws:PrincipalArn":"not-an-arn"}}`, false},
		{`{"Bool":{"aws:SecureTransport":"false"}}`, true},
		{`{"Bool":{"aws:SecureTransport":true}}`, false},
		{`{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}`, true},
		{`{"Null":{"aws:RequestTag/env":"false"}}`, true},
		{`{"Null":{"aws:RequestTag/env":"true"}}`, false},
		{`{"Null":{"aws:RequestTag/owner":"true"}}`, true},
		{`{"NumericEquals":{"aws:MultiFactorAuthAge":"30"}}`, true},
		{`{"NumericNotEquals":{"aws:MultiFactorAuthAge":30}}`, false},
		{`{"NumericLessThan":{"aws:MultiFactorAuthAge":"31"}}`, true},
		{`{"NumericLessThan":{"aws:MultiFactorAuthAge":"30"}}`, false},
		{`{"NumericLessThanEquals":{"aws:MultiFactorAuthAge":"30"}}`, true},
		{`{"NumericGreaterThan":{"aws:MultiFactorAuthAge":"29.5"}}`, true},
		{`{"NumericGreaterThanEquals":{"aws:MultiFactorAuthAge":"31"}}`, false},
		{`{"NumericEquals":{"aws:MultiFactorAuthAge":"x"}}`, false},
		{`{"DateEquals":{"aws:CurrentTime":"2026-12-07T14:00:00Z"}}`, true},
		{`{"DateNotEquals":{"aws:CurrentTime":"2026-12-07T14:00:00Z"}}`, false},
		{`{"DateLessThan":{"aws:CurrentTime":"2027-01-01T00:00:00Z"}}`, true},
		{`{"DateLessThanEquals":{"aws:CurrentTime":"2026-12-07"}}`, false},
		{`{"DateGreaterThan":{"aws:CurrentTime":"2026-12-07"}}`, true},
		{`{"DateGreaterThanEquals":{"aws:EpochTime":"1796652000"}}`, true},
		{`{"DateGreaterThan":{"aws:CurrentTime":"1796652001"}}`, false},
		{`{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}`, true},
		{`{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.1"]}}`, false},
		{`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, true},
		{`{"NotIpAddress":{"aws:SourceIp":"127.0.0.1/32"}}`, false},
		{`{"BinaryEquals":{"s3:data":"aGk="}}`, true},
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["owner","cost"]}}`, true},
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["cost"]}}`, false},
		{`{"ForAnyValue:StringEquals":{"aws:Missing":["cost"]}}`, false},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["env","owner","cost"]}}`, true},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["env"]}}`, false},
		{`{"ForAllValues:StringEquals":{"aws:Missing":["env"]}}`, true},
		{`{"ForAllValues:StringNotEquals":{"aws:TagKeys":["cost"]}}`, true},
		{`{"ForAnyValue:StringLike":{"aws:TagKeys":["own*"]}}`, true},
		{`{"StringEquals":{"aws:PrincipalTag/team":"Blue","aws:RequestTag/env":"prod"}}`, false}, // keys AND
		{`{"StringEquals":{"aws:PrincipalTag/team":"Blue"},"StringLike":{"aws:RequestTag/env":"d*"}}`, true},
		{`{"StringEquals":{"aws:RequestTag/env":"${aws:PrincipalTag/team}"}}`, false},
		{`{"StringEquals":{"aws:principaltag/TEAM":"Blue"}}`, true}, // key names ignore case
	}
	for _, c := range cases {
		t.Run(c.cond, func(t *testing.T) {
			p := mustParse(t, doc(stmt("Allow", `"eks:*"`, `"*"`, c.cond)))
			got := p.Evaluate(&Request{Action: "eks:CreateCluster", Resource: clusterA, Context: ctx}) == Allow
			if got != c.want {
				t.Fatalf("condition %s: %v, want %v", c.cond, got, c.want)
			}
		})
	}
}

func TestSessionPolicies(t *testing.T) {
	identity := []*Policy{mustParse(t, doc(stmt("Allow", `"eks:*"`, `"*"`, "")))}
	session := []*Policy{mustParse(t, doc(stmt("Allow", `["eks:Describe*","ec2:*"]`, `"*"`, "")))}
	cases := []struct {
		action    string
		session   []*Policy
		want      Decision
		bySession bool
	}{
		{"eks:DescribeCluster", nil, Allow, false},
		{"eks:DeleteCluster", nil, Allow, false},
		{"eks:DescribeCluster", session, Allow, false},
		{"eks:DeleteCluster", session, ImplicitDeny, true},
		{"ec2:DescribeVpcs", session, ImplicitDeny, false}, // the session cannot widen the role's policies
		{"eks:DescribeCluster", []*Policy{mustParse(t, doc(stmt("Deny", `"*"`, `"*"`, "")))}, ExplicitDeny, true},
		{"eks:DescribeCluster", []*Policy{}, ImplicitDeny, true}, // a session policy list that allows nothing
	}
	for _, c := range cases {
		d, bySession := Evaluate(identity, c.session, &Request{Action: c.action, Resource: clusterA})
		if d != c.want || bySession != c.bySession {
			t.Errorf("%s with session %v: %v (session %v), want %v (session %v)", c.action, c.session != nil, d, bySession, c.want, c.bySession)
		}
	}
	// Deny in one identity policy beats Allow in another (a user's and its group's).
	deny := mustParse(t, doc(stmt("Deny", `"eks:DeleteCluster"`, `"*"`, "")))
	if d, _ := Evaluate(append(identity, deny), nil, &Request{Action: "eks:DeleteCluster", Resource: clusterA}); d != ExplicitDeny {
		t.Errorf("deny across policies: %v", d)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ doc, msg string }{
		{`{`, MsgInvalidJSON},
		{`[]`, MsgInvalidJSON},
		{`{"Version":"2012-10-17"}`, MsgSyntax},
		{`{"Version":"2011-01-01","Statement":[]}`, MsgVersion},
		{`{"Version":"2012-10-17","Statement":[]}`, MsgSyntax},
		{`{"Version":"2012-10-17","Extra":1,"Statement":[]}`, MsgSyntax},
		{doc(`{"Action":"*","Resource":"*"}`), MsgMissingEffect},
		{doc(`{"Effect":"Permit","Action":"*","Resource":"*"}`), MsgSyntax},
		{doc(`{"Effect":"Allow","Resource":"*"}`), MsgMissingAction},
		{doc(`{"Effect":"Allow","Action":"*"}`), MsgMissingResource},
		{doc(`{"Effect":"Allow","Action":"*","NotAction":"x:y","Resource":"*"}`), MsgSyntax},
		{doc(`{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*"}`), MsgPrincipal},
		{doc(`{"Effect":"Allow","Action":"DescribeCluster","Resource":"*"}`), MsgVendor},
		{doc(`{"Effect":"Allow","Action":"*","Resource":"cluster/a"}`), `Resource cluster/a must be in ARN format or "*".`},
		{doc(`{"Sid":"a","Effect":"Allow","Action":"*","Resource":"*"}`, `{"Sid":"a","Effect":"Allow","Action":"*","Resource":"*"}`), MsgDuplicateSid},
		{doc(`{"Sid":"a b","Effect":"Allow","Action":"*","Resource":"*"}`), MsgSyntax},
		{doc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEqualz":{"aws:x":"y"}}}`), "Invalid Condition type : StringEqualz"},
		{doc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForOne:StringEquals":{"aws:x":"y"}}}`), "Invalid Condition type : ForOne:StringEquals"},
		{doc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"x":"y"}}}`), MsgVendor},
		{doc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:x":{"a":1}}}}`), MsgSyntax},
		{doc(`{"Effect":"Allow","Action":[],"Resource":"*"}`), MsgSyntax},
	}
	for _, c := range cases {
		_, err := Parse(c.doc)
		var m *MalformedError
		if !errors.As(err, &m) || m.Msg != c.msg {
			t.Errorf("Parse(%s): %v, want %q", c.doc, err, c.msg)
		}
	}
}

func TestDenialMessage(t *testing.T) {
	const who = "arn:aws:iam::000000000000:user/alice"
	cases := []struct {
		d    Decision
		by   Refuser
		want string
	}{
		{ImplicitDeny, IdentityPolicies, "User: " + who + " is not authorized to perform: eks:DescribeCluster on resource: " + clusterA + " because no identity-based policy allows the eks:DescribeCluster action"},
		{ExplicitDeny, IdentityPolicies, "User: " + who + " is not authorized to perform: eks:DescribeCluster on resource: " + clusterA + " with an explicit deny in an identity-based policy"},
		{ImplicitDeny, SessionPolicies, "User: " + who + " is not authorized to perform: eks:DescribeCluster on resource: " + clusterA + " because no session policy allows the eks:DescribeCluster action"},
		{ExplicitDeny, SessionPolicies, "User: " + who + " is not authorized to perform: eks:DescribeCluster on resource: " + clusterA + " with an explicit deny in a session policy"},
		{ImplicitDeny, PermissionsBoundary, "User: " + who + " is not authorized to perform: eks:DescribeCluster on resource: " + clusterA + " because no permissions boundary allows the eks:DescribeCluster action"},
		{ExplicitDeny, PermissionsBoundary, "User: " + who + " is not authorized to perform: eks:DescribeCluster on resource: " + clusterA + " with an explicit deny in a permissions boundary"},
	}
	for _, c := range cases {
		if got := DenialMessage(who, "eks:DescribeCluster", clusterA, c.d, c.by); got != c.want {
			t.Errorf("got %q\nwant %q", got, c.want)
		}
	}
}

func BenchmarkEvaluate200Statements(b *testing.B) {
	var policies []*Policy
	for i := range 10 {
		var stmts []string
		for j := range 20 {
			stmts = append(stmts, stmt("Allow", fmt.Sprintf(`["eks:Describe*","ec2:Describe%d*"]`, j),
				fmt.Sprintf(`"arn:aws:eks:us-west-2:000000000000:cluster/p%d-s%d-*"`, i, j),
				`{"StringEqualsIfExists":{"aws:RequestTag/team":"blue"}}`))
		}
		policies = append(policies, mustParse(b, doc(stmts...)))
	}
	req := &Request{Action: "eks:DescribeCluster", Resource: "arn:aws:eks:us-west-2:000000000000:cluster/p9-s19-x"}
	for b.Loop() {
		if d, _ := Evaluate(policies, nil, req); d != Allow {
			b.Fatal(d)
		}
	}
}

// TestPermissionsBoundary: a boundary limits what identity policies allow
// and never grants on its own; its Deny wins.
func TestPermissionsBoundary(t *testing.T) {
	identity := []*Policy{mustParse(t, doc(stmt("Allow", `["eks:*","iam:GetUser"]`, `"*"`, "")))}
	boundary := mustParse(t, doc(stmt("Allow", `["eks:Describe*","eks:List*","ec2:*"]`, `"*"`, ""), stmt("Deny", `"eks:ListClusters"`, `"*"`, "")))
	for _, c := range []struct {
		action string
		want   Decision
		by     Refuser
	}{
		{"eks:DescribeCluster", Allow, IdentityPolicies},
		{"eks:DeleteCluster", ImplicitDeny, PermissionsBoundary}, // allowed by identity, outside the boundary
		{"ec2:DescribeVpcs", ImplicitDeny, IdentityPolicies},     // inside the boundary, allowed by nothing
		{"eks:ListClusters", ExplicitDeny, PermissionsBoundary},  // the boundary's Deny
		{"iam:GetUser", ImplicitDeny, PermissionsBoundary},
	} {
		req := &Request{Action: c.action, Resource: clusterA}
		d, _ := Evaluate(identity, nil, req)
		d, by := Bound(d, IdentityPolicies, boundary, req)
		if d != c.want || by != c.by {
			t.Errorf("%s: %v by %v, want %v by %v", c.action, d, by, c.want, c.by)
		}
	}
	if d, by := Bound(Allow, IdentityPolicies, nil, &Request{Action: "eks:DescribeCluster"}); d != ImplicitDeny || by != PermissionsBoundary {
		t.Errorf("a boundary whose policy is gone allows nothing: %v %v", d, by)
	}
}
