package iam

import (
	"testing"

	"github.com/kplane/kplane/internal/policy"
)

func TestTrustPolicyEvaluation(t *testing.T) {
	const acct = "000000000000"
	alice := caller{arn: "arn:aws:iam::" + acct + ":user/team/alice", account: acct}
	bob := caller{arn: "arn:aws:iam::" + acct + ":user/bob", account: acct}
	session := caller{arn: "arn:aws:sts::" + acct + ":assumed-role/ops/s1", account: acct, roleArn: "arn:aws:iam::" + acct + ":role/x/ops"}
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
		{"conditional allow allows nothing", stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}`), false, false, false, true},
		{"conditional deny denies", stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`), false, false, false, true},
		{"service", stmt(`{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}`), false, false, false, true},
	} {
		p, msg := parseTrustPolicy(tc.doc)
		if msg != "" {
			t.Errorf("%s: %s", tc.name, msg)
			continue
		}
		for _, c := range []struct {
			who  caller
			want bool
		}{{alice, tc.alice}, {bob, tc.bob}, {session, tc.session}} {
			if got, _ := p.allows(c.who, "sts:AssumeRole"); got != c.want {
				t.Errorf("%s: %s allowed %v, want %v", tc.name, c.who.arn, got, c.want)
			}
		}
		if allowed, _ := p.allows(alice, "sts:TagSession"); !allowed != tc.deny {
			t.Errorf("%s: TagSession refused %v, want %v", tc.name, !allowed, tc.deny)
		}
	}
}

func TestTrustPolicyParseErrors(t *testing.T) {
	for doc, want := range map[string]string{
		``:                         msgInvalidJSON,
		`[]`:                       msgInvalidJSON,
		`null`:                     msgInvalidJSON,
		`{}`:                       msgSyntax,
		`{"Statement":[]}`:         msgSyntax,
		`{"Statement":"x"}`:        msgSyntax,
		`{"Foo":1,"Statement":[]}`: msgSyntax,
		`{"Version":"2012-10-18","Statement":[]}`:                                                         msgVersion,
		`{"Statement":[{"Principal":"*","Action":"sts:AssumeRole"}]}`:                                     msgMissingEffect,
		`{"Statement":[{"Effect":"allow","Principal":"*","Action":"sts:AssumeRole"}]}`:                    msgSyntax,
		`{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}`:                                    msgMissingPrincipal,
		`{"Statement":[{"Effect":"Allow","Principal":"*"}]}`:                                              msgMissingAction,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":[]}]}`:                                  msgSyntax,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ec2:RunInstances"}]}`:                  msgNotSTSAction,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}]}`:     msgProhibitedResource,
		`{"Statement":[{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"sts:AssumeRole"}]}`: msgSyntax,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"sts:AssumeRole"}]}`:          `Invalid principal in policy: "AWS":"bob"`,
		`{"Statement":[{"Effect":"Allow","Principal":{"Bogus":"x"},"Action":"sts:AssumeRole"}]}`:          `Invalid principal in policy: "Bogus"`,
		`{"Statement":[{"Effect":"Allow","Principal":"me","Action":"sts:AssumeRole"}]}`:                   `Invalid principal in policy: me`,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Extra":1}]}`:          msgSyntax,
	} {
		if _, got := parseTrustPolicy(doc); got != want {
			t.Errorf("%s: %q, want %q", doc, got, want)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*c", "abbbc", true}, {"a*c", "abcd", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*b*", "abc", true}, {"", "", true}, {"", "a", false},
		{"sts:*", "sts:assumerole", true}, {"**a", "bba", true},
	} {
		if got := policy.Glob(tc.p, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}
