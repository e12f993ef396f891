//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// scaleWithoutNodeRoleMapping: with the node role's mapping removed (unmap:
// the aws-auth entry or the EC2_LINUX access entry), kplane does not put it
// back; a scale to 3 launches an instance whose node never registers, and
// the nodegroup shows EKS's NodeCreationFailure "Instances failed to join
// the kubernetes cluster" naming it while the update waits. The mapping
// authenticates every request of every kubelet (on EKS too), so the
// existing nodes' kubelets lose the API meanwhile, but their containers keep
// running: with the mapping back (remap) the new node joins, the nodegroup
// is ACTIVE with 3 nodes and the web containers never restarted.
func scaleWithoutNodeRoleMapping(t *testing.T, k *kplane, cs *kubernetes.Clientset, cluster string, unmap, remap func()) {
	t.Helper()
	before := webContainerStarts(t, cs)
	unmap()
	k.mustAWS("eks", "update-nodegroup-config", "--cluster-name", cluster, "--nodegroup-name", "workers", "--scaling-config", "minSize=1,maxSize=3,desiredSize=3")
	var third, thirdID string
	eventually(t, time.Minute, time.Second, "a third instance running", func() error {
		var res struct {
			Reservations []struct {
				Instances []struct{ InstanceId, PrivateDnsName string }
			}
		}
		mustUnmarshal(t, k.mustAWS("ec2", "describe-instances", "--filters", "Name=tag:eks:cluster-name,Values="+cluster, "Name=instance-state-name,Values=running"), &res)
		ready, err := readyNodes(cs)
		if err != nil {
			return err
		}
		for _, r := range res.Reservations {
			if _, known := ready[r.Instances[0].PrivateDnsName]; !known {
				third, thirdID = r.Instances[0].PrivateDnsName, r.Instances[0].InstanceId
			}
		}
		if len(res.Reservations) != 3 || third == "" {
			return fmt.Errorf("%d running instances", len(res.Reservations))
		}
		return nil
	})
	// kplane serves with --node-join-timeout 30s.
	eventually(t, 2*time.Minute, 2*time.Second, "NodeCreationFailure naming the new instance", func() error {
		st, issues := nodegroupIssues(t, k, cluster)
		for _, is := range issues {
			if is.Code == "NodeCreationFailure" && is.Message == "Instances failed to join the kubernetes cluster" && slices.Contains(is.ResourceIds, thirdID) {
				if st != "UPDATING" {
					return fmt.Errorf("status %s, want UPDATING while the scale-up waits", st)
				}
				return nil
			}
		}
		return fmt.Errorf("status %s, issues %+v", st, issues)
	})
	if _, err := cs.CoreV1().Nodes().Get(context.Background(), third, metav1.GetOptions{}); err == nil {
		t.Fatalf("node %s joined without the node role's mapping", third)
	}
	remap()
	waitNodeReady(t, cs, third, 3*time.Minute)
	eventually(t, 2*time.Minute, time.Second, "nodegroup ACTIVE with 3 nodes", func() error {
		if st, issues := nodegroupIssues(t, k, cluster); st != "ACTIVE" || len(issues) > 0 {
			return fmt.Errorf("status %s %+v", st, issues)
		}
		return nil
	})
	if after := webContainerStarts(t, cs); !maps.Equal(before, after) {
		t.Errorf("web containers restarted or moved while the mapping was gone: before %v, after %v", before, after)
	}
}

// webContainerStarts is when each web pod's container started, by pod name.
func webContainerStarts(t *testing.T, cs *kubernetes.Clientset) map[string]string {
	t.Helper()
	list, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range list.Items {
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Running != nil {
				out[p.Name] = c.State.Running.StartedAt.String()
			}
		}
	}
	return out
}

type nodegroupIssue struct {
	Code, Message string
	ResourceIds   []string
}

// nodegroupIssues is describe-nodegroup's status and health issues.
func nodegroupIssues(t *testing.T, k *kplane, cluster string) (string, []nodegroupIssue) {
	t.Helper()
	var ng struct {
		Nodegroup struct {
			Status string
			Health struct{ Issues []nodegroupIssue }
		}
	}
	mustUnmarshal(t, k.mustAWS("eks", "describe-nodegroup", "--cluster-name", cluster, "--nodegroup-name", "workers"), &ng)
	return ng.Nodegroup.Status, ng.Nodegroup.Health.Issues
}

// unmapNodeRole removes roleArn's entries from aws-auth's mapRoles and
// returns mapRoles as it was.
func unmapNodeRole(t *testing.T, cs *kubernetes.Clientset, roleArn string) string {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(context.Background(), "aws-auth", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	saved := cm.Data["mapRoles"]
	var roles []map[string]any
	if err := yaml.Unmarshal([]byte(saved), &roles); err != nil {
		t.Fatal(err)
	}
	kept := slices.DeleteFunc(slices.Clone(roles), func(r map[string]any) bool { return r["rolearn"] == roleArn })
	if len(kept) == len(roles) {
		t.Fatalf("aws-auth does not map %s: %s", roleArn, saved)
	}
	b, _ := yaml.Marshal(kept)
	setMapRoles(t, cs, string(b))
	return saved
}

func setMapRoles(t *testing.T, cs *kubernetes.Clientset, mapRoles string) {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(context.Background(), "aws-auth", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["mapRoles"] = mapRoles
	if _, err := cs.CoreV1().ConfigMaps("kube-system").Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
