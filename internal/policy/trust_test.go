package policy

import (
	"strings"
	"testing"
)

func TestTrustPolicyEvaluation(t *testing.T) {
	const acct = "000000000000"
	alice := &Caller{Arn: "arn:aws:iam::" + acct + ":user/team/alice", Account: acct}
	bob := &Caller{Arn: "arn:aws:iam::" + acct + ":user/bob", Account: acct}
	session := &Caller{Arn: "arn:aws:sts::" + acct + ":assumed-role/ops/s1", Account: acct, RoleArn: "arn:aws:iam::" + acct + ":role/x/ops"}
	stmt := func(body string) string { return `{"Version":"2012-10-17","Statement":[` + body + `]}` }

	for _, tc := range []struct {
		name, doc                 string
		alice, bob, session, deny bool // deny: alice refused sts:TagSession
	}{
		{"user arn", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:user/team/alice"},"Action":"sts:AssumeRole"}`), true, false, false, true},
		{"arn ignores case", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:user/team/ALICE"},"Action":"sts:AssumeRole"}`), true, false, false, true},
		{"role arn covers its sessions", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:role/x/ops"},"Action":"sts:AssumeRole"}`), false, false, true, true},
		{"session arn", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::` + acct + `:assumed-role/ops/s1"},"Action":"sts:AssumeRole"}`), false, false, true, true},
		{"account", stmt(`{"Effect":"Allow","Principal":{"AWS":["` + acct + `"]},"Action":"sts:*"}`), true, true, true, false},
		{"statement object, wildcard action", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:Assume*"}}`, true, true, true, true},
		{"star action", stmt(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"*"}`), true, true, true, false},
		{"action case", stmt(`{"Effect":"Allow","Principal":"*","Action":"STS:assumerole"}`), true, true, true, true},
		{"other action only", stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRoleWithWebIdentity"}`), false, false, false, true},
		{"not action", stmt(`{"Effect":"Allow","Principal":"*","NotAction":"sts:TagSession"}`), true, true, true, true},
		{"not principal", stmt(`{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::` + acct + `:user/bob"},"Action":"sts:AssumeRole"}`), true, false, true, true},
		{"deny wins", stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::` + acct + `:user/bob"},"Action":"*"}`), true, false, true, true},
		{"unmet condition allows nothing", stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}`), false, false, false, true},
		{"condition on the principal's ARN", stmt(`{"Effect":"Allow","Principal":{"AWS":"` + acct + `"},"Action":"sts:AssumeRole","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/team/*"}}}`), true, false, false, true},
		{"service", stmt(`{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}`), false, false, false, true},
	} {
		p, err := ParseTrust(tc.doc)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		for _, c := range []struct {
			who  *Caller
			want bool
		}{{alice, tc.alice}, {bob, tc.bob}, {session, tc.session}} {
			req := &Request{Action: "sts:AssumeRole", Resource: "arn:aws:iam::" + acct + ":role/r",
				Context: map[string][]string{"aws:principalarn": {c.who.Arn}}}
			if got, _ := p.EvaluateTrust(c.who, req); (got == Allow) != c.want {
				t.Errorf("%s: %s: %v, want allowed %v", tc.name, c.who.Arn, got, c.want)
			}
		}
		if d, _ := p.EvaluateTrust(alice, &Request{Action: "sts:TagSession"}); (d != Allow) != tc.deny {
			t.Errorf("%s: TagSession %v, want refused %v", tc.name, d, tc.deny)
		}
	}
}

// TestTrustConditions: a trust policy's conditions decide, as IAM's do:
// sts:ExternalId, aws:PrincipalTag, aws:SourceIdentity, and for a web
// identity ISSUER:sub and ISSUER:aud; a Deny whose condition holds wins.
func TestTrustConditions(t *testing.T) {
	const acct = "000000000000"
	alice := &Caller{Arn: "arn:aws:iam::" + acct + ":user/alice", Account: acct}
	const issuer = "127.0.0.1:4599/oidc/id/ABC"
	provider := "arn:aws:iam::" + acct + ":oidc-provider/" + issuer
	web := &Caller{Federated: provider}
	lowIssuer := strings.ToLower(issuer) // context keys are lower-cased, as the evaluator reads them
	p, err := ParseTrust(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:user/alice"},"Action":"sts:AssumeRole",
		 "Condition":{"StringEquals":{"sts:ExternalId":"x-123","aws:PrincipalTag/team":"blue"}}},
		{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringLike":{"aws:SourceIdentity":"contractor-*"}}},
		{"Effect":"Allow","Principal":{"Federated":"` + provider + `"},"Action":"sts:AssumeRoleWithWebIdentity",
		 "Condition":{"StringEquals":{"` + issuer + `:sub":"system:serviceaccount:default:app","` + issuer + `:aud":"sts.amazonaws.com"}}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		who    *Caller
		action string
		keys   map[string][]string
		want   Decision
	}{
		{"external id and tag", alice, "sts:AssumeRole", map[string][]string{"sts:externalid": {"x-123"}, "aws:principaltag/team": {"blue"}}, Allow},
		{"no external id", alice, "sts:AssumeRole", map[string][]string{"aws:principaltag/team": {"blue"}}, ImplicitDeny},
		{"wrong external id", alice, "sts:AssumeRole", map[string][]string{"sts:externalid": {"x-124"}, "aws:principaltag/team": {"blue"}}, ImplicitDeny},
		{"other tag", alice, "sts:AssumeRole", map[string][]string{"sts:externalid": {"x-123"}, "aws:principaltag/team": {"red"}}, ImplicitDeny},
		{"denied source identity", alice, "sts:AssumeRole", map[string][]string{"sts:externalid": {"x-123"}, "aws:principaltag/team": {"blue"}, "aws:sourceidentity": {"contractor-9"}}, ExplicitDeny},
		{"web identity", web, "sts:AssumeRoleWithWebIdentity", map[string][]string{lowIssuer + ":sub": {"system:serviceaccount:default:app"}, lowIssuer + ":aud": {"sts.amazonaws.com"}}, Allow},
		{"other service account", web, "sts:AssumeRoleWithWebIdentity", map[string][]string{lowIssuer + ":sub": {"system:serviceaccount:default:other"}, lowIssuer + ":aud": {"sts.amazonaws.com"}}, ImplicitDeny},
		{"other audience", web, "sts:AssumeRoleWithWebIdentity", map[string][]string{lowIssuer + ":sub": {"system:serviceaccount:default:app"}, lowIssuer + ":aud": {"vault"}}, ImplicitDeny},
		{"other provider", &Caller{Federated: provider + "X"}, "sts:AssumeRoleWithWebIdentity", map[string][]string{lowIssuer + ":sub": {"system:serviceaccount:default:app"}, lowIssuer + ":aud": {"sts.amazonaws.com"}}, ImplicitDeny},
		{"a user is no web identity", alice, "sts:AssumeRoleWithWebIdentity", map[string][]string{lowIssuer + ":sub": {"system:serviceaccount:default:app"}, lowIssuer + ":aud": {"sts.amazonaws.com"}}, ImplicitDeny},
	} {
		if d, _ := p.EvaluateTrust(tc.who, &Request{Action: tc.action, Context: tc.keys}); d != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, d, tc.want)
		}
	}
}
