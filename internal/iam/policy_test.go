package iam

import (
	"testing"

	"github.com/kplane/kplane/internal/policy"
)

func TestTrustPolicyParseErrors(t *testing.T) {
	for doc, want := range map[string]string{
		``:                         policy.MsgInvalidJSON,
		`[]`:                       policy.MsgInvalidJSON,
		`null`:                     policy.MsgInvalidJSON,
		`{}`:                       policy.MsgSyntax,
		`{"Statement":[]}`:         policy.MsgSyntax,
		`{"Statement":"x"}`:        policy.MsgSyntax,
		`{"Foo":1,"Statement":[]}`: policy.MsgSyntax,
		`{"Version":"2012-10-18","Statement":[]}`:                                                         policy.MsgVersion,
		`{"Statement":[{"Principal":"*","Action":"sts:AssumeRole"}]}`:                                     policy.MsgMissingEffect,
		`{"Statement":[{"Effect":"allow","Principal":"*","Action":"sts:AssumeRole"}]}`:                    policy.MsgSyntax,
		`{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}`:                                    policy.MsgMissingPrincipal,
		`{"Statement":[{"Effect":"Allow","Principal":"*"}]}`:                                              policy.MsgMissingTrustAction,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":[]}]}`:                                  policy.MsgSyntax,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ec2:RunInstances"}]}`:                  policy.MsgNotSTSAction,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}]}`:     policy.MsgProhibitedResource,
		`{"Statement":[{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"sts:AssumeRole"}]}`: policy.MsgSyntax,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"sts:AssumeRole"}]}`:          `Invalid principal in policy: "AWS":"bob"`,
		`{"Statement":[{"Effect":"Allow","Principal":{"Bogus":"x"},"Action":"sts:AssumeRole"}]}`:          `Invalid principal in policy: "Bogus"`,
		`{"Statement":[{"Effect":"Allow","Principal":"me","Action":"sts:AssumeRole"}]}`:                   `Invalid principal in policy: me`,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Extra":1}]}`:          policy.MsgSyntax,
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
