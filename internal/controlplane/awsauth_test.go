package controlplane

import (
	"context"
	"testing"

	"sigs.k8s.io/yaml"
)

// checkNodeRoleMapping runs against a live control plane: the node role's
// aws-auth entry is made with the ConfigMap, not added twice, and a second
// role's entry goes after the first, which stays as it was.
func checkNodeRoleMapping(t *testing.T, cfg ClusterConfig) {
	t.Helper()
	ctx := context.Background()
	const roleA = "arn:aws:iam::000000000000:role/NodesA"
	const roleB = "arn:aws:iam::000000000000:role/NodesB"
	roles := func() []map[string]any {
		t.Helper()
		aa, err := readAwsAuth(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		if err := yaml.Unmarshal([]byte(aa.MapRoles), &out); err != nil {
			t.Fatalf("mapRoles %q: %v", aa.MapRoles, err)
		}
		return out
	}
	for i := 0; i < 2; i++ {
		if err := ensureNodeRoleMapped(ctx, cfg, roleA); err != nil {
			t.Fatal(err)
		}
	}
	got := roles()
	if len(got) != 1 || got[0]["rolearn"] != roleA || got[0]["username"] != "system:node:{{EC2PrivateDNSName}}" {
		t.Fatalf("mapRoles after the first nodegroup: %v", got)
	}
	if g, _ := got[0]["groups"].([]any); len(g) != 2 || g[0] != "system:bootstrappers" || g[1] != "system:nodes" {
		t.Fatalf("groups %v", got[0]["groups"])
	}
	if err := ensureNodeRoleMapped(ctx, cfg, roleB); err != nil {
		t.Fatal(err)
	}
	got = roles()
	if len(got) != 2 || got[0]["rolearn"] != roleA || got[1]["rolearn"] != roleB {
		t.Fatalf("mapRoles after the second: %v", got)
	}
}
