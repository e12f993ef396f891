package policy

import (
	"fmt"
	"slices"
	"testing"
)

// TestActionIndex: the statements looked at for an action are exactly those
// whose Action or NotAction admit it, in any case, and past the index's bound
// evaluation is still right.
func TestActionIndex(t *testing.T) {
	p := mustParse(t, doc(
		stmt("Allow", `"eks:Describe*"`, `"*"`, ""),
		`{"Effect":"Deny","NotAction":"iam:*","Resource":"arn:aws:eks:*:*:cluster/locked"}`,
		stmt("Allow", `"*"`, `"arn:aws:iam::*:user/x"`, ""),
		stmt("Allow", `["ec2:Describe*","eks:List*"]`, `"*"`, "")))
	cases := map[string][]int32{
		"eks:DescribeCluster": {0, 1, 2},
		"EKS:describecluster": {0, 1, 2},
		"iam:GetUser":         {2},
		"eks:ListClusters":    {1, 2, 3},
		"ec2:DescribeVpcs":    {1, 2, 3},
	}
	for range 2 { // the second time from the index
		for action, want := range cases {
			if got := p.statementsFor(action); !slices.Equal(got, want) {
				t.Fatalf("%s: statements %v, want %v", action, got, want)
			}
		}
	}
	for i := range maxIndexedActions + 10 {
		p.statementsFor(fmt.Sprintf("svc%d:Act", i))
	}
	if n := len(*p.byAction.m.Load()); n != maxIndexedActions {
		t.Fatalf("index holds %d actions, want at most %d", n, maxIndexedActions)
	}
	for action, want := range cases {
		if got := p.statementsFor(action); !slices.Equal(got, want) {
			t.Fatalf("full index, %s: statements %v, want %v", action, got, want)
		}
	}
	locked := &Request{Action: "eks:DeleteCluster", Resource: "arn:aws:eks:us-west-2:000000000000:cluster/locked"}
	if d := p.Evaluate(locked); d != ExplicitDeny {
		t.Fatalf("NotAction deny: %v", d)
	}
	if d := p.Evaluate(&Request{Action: "eks:describeCluster", Resource: clusterA}); d != Allow {
		t.Fatalf("mixed-case action: %v", d)
	}
}

// countingKeys records which global keys a evaluation asked for.
type countingKeys struct {
	asked []string
	tags  map[string]string
}

func (k *countingKeys) Values(key string) []string {
	k.asked = append(k.asked, key)
	if v, ok := k.tags[key]; ok {
		return []string{v}
	}
	return nil
}

// TestGlobalKeysOnlyWhenRead: the caller's global keys are asked for only
// when a statement that applies reads them, and Context wins over them.
func TestGlobalKeysOnlyWhenRead(t *testing.T) {
	plain := mustParse(t, doc(stmt("Allow", `"eks:*"`, `"*"`, "")))
	keys := &countingKeys{tags: map[string]string{"aws:principaltag/team": "blue"}}
	if d := plain.Evaluate(&Request{Action: "eks:DescribeCluster", Resource: clusterA, Global: keys}); d != Allow || len(keys.asked) != 0 {
		t.Fatalf("no condition: %v, asked %v", d, keys.asked)
	}
	tagged := mustParse(t, doc(
		stmt("Allow", `"eks:*"`, `"arn:aws:eks:*:*:cluster/${aws:PrincipalTag/team}"`, `{"StringEquals":{"aws:PrincipalTag/team":"blue"}}`),
		stmt("Allow", `"ec2:*"`, `"*"`, `{"Bool":{"aws:SecureTransport":"true"}}`)))
	keys.asked = nil
	blue := "arn:aws:eks:us-west-2:000000000000:cluster/blue"
	if d := tagged.Evaluate(&Request{Action: "eks:DescribeCluster", Resource: blue, Global: keys}); d != Allow {
		t.Fatalf("tag condition: %v", d)
	}
	for _, k := range keys.asked {
		if k != "aws:principaltag/team" {
			t.Fatalf("asked for %q, which no applying statement reads (asked %v)", k, keys.asked)
		}
	}
	if len(keys.asked) == 0 {
		t.Fatal("the tag was never asked for")
	}
	red := &Request{Action: "eks:DescribeCluster", Resource: blue, Global: keys,
		Context: map[string][]string{"aws:principaltag/team": {"red"}}}
	if d := tagged.Evaluate(red); d != ImplicitDeny {
		t.Fatalf("Context's value should win over Global's: %v", d)
	}
}
