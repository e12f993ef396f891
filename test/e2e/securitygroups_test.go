//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// checkSecurityGroupsReachPods shows that a node's security groups are what
// its network lets through: with the cluster security group's all-traffic
// rule from itself replaced by the kubelet's port alone, a pod no longer
// reaches a pod on another node; a rule for the pod's port lets it through
// again. The cluster's rules are as they were afterwards.
func checkSecurityGroupsReachPods(t *testing.T, k *kplane, kc, cluster string, pods []corev1.Pod) {
	var sg string
	mustUnmarshal(t, k.mustAWS("eks", "describe-cluster", "--name", cluster,
		"--query", "cluster.resourcesVpcConfig.clusterSecurityGroupId"), &sg)
	perm := func(proto string, port int) string {
		if port < 0 {
			return fmt.Sprintf(`[{"IpProtocol":%q,"UserIdGroupPairs":[{"GroupId":%q}]}]`, proto, sg)
		}
		return fmt.Sprintf(`[{"IpProtocol":%q,"FromPort":%d,"ToPort":%d,"UserIdGroupPairs":[{"GroupId":%q}]}]`, proto, port, port, sg)
	}
	sgCall := func(op, p string) { k.mustAWS("ec2", op, "--group-id", sg, "--ip-permissions", p) }
	target := "http://" + pods[1].Status.PodIP + ":8080/"
	get := func() string {
		out, _ := k.kubectl(kc, "exec", pods[0].Name, "--", "/prog", "-get", target)
		return out
	}

	sgCall("authorize-security-group-ingress", perm("tcp", 10250)) // kubectl exec keeps working
	sgCall("revoke-security-group-ingress", perm("-1", -1))
	took := eventually(t, time.Minute, time.Second, "pod → pod on another node refused by the security group", func() error {
		if out := get(); !strings.Contains(out, "error:") {
			return fmt.Errorf("got %q", out)
		}
		return nil
	})
	t.Logf("security group rule revoked: pod traffic refused after %v", took.Round(time.Second))

	sgCall("authorize-security-group-ingress", perm("tcp", 8080))
	eventually(t, time.Minute, time.Second, "pod → pod allowed again by a rule for its port", func() error {
		if out := get(); !strings.Contains(out, "hello from "+pods[1].Name) {
			return fmt.Errorf("got %q", out)
		}
		return nil
	})

	sgCall("authorize-security-group-ingress", perm("-1", -1))
	sgCall("revoke-security-group-ingress", perm("tcp", 8080))
	sgCall("revoke-security-group-ingress", perm("tcp", 10250))
}
