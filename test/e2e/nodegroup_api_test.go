//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestNodegroupWithoutNodeExecutor runs `kplane serve --no-nodes`: a
// nodegroup on an ACTIVE CONFIG_MAP cluster gets its node role mapped in the
// cluster's aws-auth ConfigMap as EKS maps it, and, as this kplane runs no
// nodes, ends CREATE_FAILED with NodeCreationFailure naming its instances
// (never ACTIVE); the instances are listed terminated with EKS's tags; the
// cluster cannot be deleted until the nodegroup is.
func TestNodegroupWithoutNodeExecutor(t *testing.T) {
	k := startKplaneWith(t, "--no-nodes")
	k.createActive("ngdemo")
	role := "arn:aws:iam::000000000000:role/eks-cluster-role"
	subnets := strings.Split(k.subnetIDs(), ",")
	k.mustAWS(append([]string{"eks", "create-nodegroup", "--cluster-name", "ngdemo", "--nodegroup-name", "ng", "--node-role", role,
		"--scaling-config", "minSize=1,maxSize=2,desiredSize=2", "--subnets"}, subnets[:2]...)...)

	var ng struct {
		Nodegroup struct {
			Status string `json:"status"`
			Health struct {
				Issues []struct {
					Code        string   `json:"code"`
					Message     string   `json:"message"`
					ResourceIDs []string `json:"resourceIds"`
				} `json:"issues"`
			} `json:"health"`
		} `json:"nodegroup"`
	}
	eventually(t, time.Minute, 200*time.Millisecond, "nodegroup CREATE_FAILED", func() error {
		out, err := k.awsCLI("eks", "describe-nodegroup", "--cluster-name", "ngdemo", "--nodegroup-name", "ng")
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(out), &ng); err != nil {
			return err
		}
		if ng.Nodegroup.Status == "ACTIVE" {
			t.Fatalf("a nodegroup without nodes is ACTIVE")
		}
		if ng.Nodegroup.Status != "CREATE_FAILED" {
			return fmt.Errorf("status %s", ng.Nodegroup.Status)
		}
		return nil
	})
	is := ng.Nodegroup.Health.Issues
	if len(is) != 1 || is[0].Code != "NodeCreationFailure" || len(is[0].ResourceIDs) != 2 || !strings.Contains(is[0].Message, "--no-nodes") {
		t.Errorf("issues %+v", is)
	}

	var res struct {
		Reservations []struct {
			Instances []struct {
				InstanceID string `json:"InstanceId"`
				State      struct{ Name string }
				Tags       []struct{ Key, Value string }
			}
		}
	}
	out := k.mustAWS("ec2", "describe-instances", "--filters", "Name=tag:eks:cluster-name,Values=ngdemo")
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Reservations) != 2 {
		t.Fatalf("reservations: %s", out)
	}
	for _, r := range res.Reservations {
		inst := r.Instances[0]
		tags := map[string]string{}
		for _, tg := range inst.Tags {
			tags[tg.Key] = tg.Value
		}
		if inst.State.Name != "terminated" || tags["eks:nodegroup-name"] != "ng" || tags["kubernetes.io/cluster/ngdemo"] != "owned" {
			t.Errorf("instance %+v", inst)
		}
	}

	// The node role is mapped in aws-auth as EKS maps it.
	kc := k.kubeconfig("ngdemo")
	eventually(t, 30*time.Second, 200*time.Millisecond, "aws-auth maps the node role", func() error {
		roles, err := k.kubectl(kc, "-n", "kube-system", "get", "configmap", "aws-auth", "-o", "jsonpath={.data.mapRoles}")
		if err != nil {
			return err
		}
		if !strings.Contains(roles, "rolearn: "+role) || !strings.Contains(roles, "system:node:{{EC2PrivateDNSName}}") ||
			!strings.Contains(roles, "system:bootstrappers") {
			return fmt.Errorf("mapRoles %q", roles)
		}
		return nil
	})

	if _, err := k.awsCLI("eks", "delete-cluster", "--name", "ngdemo"); err == nil || !strings.Contains(err.Error(), "Cluster has nodegroups attached") {
		t.Fatalf("delete-cluster with a nodegroup: %v", err)
	}
	k.mustAWS("eks", "delete-nodegroup", "--cluster-name", "ngdemo", "--nodegroup-name", "ng")
	k.mustAWS("eks", "wait", "nodegroup-deleted", "--cluster-name", "ngdemo", "--nodegroup-name", "ng")
	k.mustAWS("eks", "delete-cluster", "--name", "ngdemo")
	k.waitGone("ngdemo")
}
