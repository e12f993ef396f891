package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const nodeTrustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// ensureNodeRole creates the nodegroups' node role with IAM's SDK.
func (s *serve) ensureNodeRole(ctx context.Context) (string, error) {
	c := iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), Credentials: s.EKS.Options().Credentials})
	out, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("nodebench-node"), AssumeRolePolicyDocument: aws.String(nodeTrustPolicy)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.Role.Arn), nil
}

// nodegroupRun is one CreateNodegroup timed to ACTIVE through
// DescribeNodegroup (polled every 100 ms, as a waiter would if it polled
// that often), and its nodes' Ready times, both from the create.
type nodegroupRun struct {
	Start  time.Time // the CreateNodegroup call
	Active time.Duration
	Ready  []time.Duration
	Nodes  []string
	// Breakdown is where each node's time went (nil if the logs could not be read).
	Breakdown *breakdown
}

// createNodegroup creates a nodegroup of n nodes over the cluster's
// subnets and waits until it is ACTIVE and its nodes are Ready.
func (s *serve) createNodegroup(ctx context.Context, bc *benchCluster, name, role string, n int32) (nodegroupRun, error) {
	var run nodegroupRun
	cl, err := s.EKS.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(bc.name)})
	if err != nil {
		return run, err
	}
	start := time.Now()
	run.Start = start
	if _, err := s.EKS.CreateNodegroup(ctx, &eks.CreateNodegroupInput{
		ClusterName: aws.String(bc.name), NodegroupName: aws.String(name), NodeRole: aws.String(role),
		Subnets:       cl.Cluster.ResourcesVpcConfig.SubnetIds,
		ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(n), MaxSize: aws.Int32(n), DesiredSize: aws.Int32(n)},
	}); err != nil {
		return run, err
	}
	ready := map[string]time.Duration{}
	for deadline := start.Add(5 * time.Minute); ; {
		// Each node's Ready, as it happens, beside the nodegroup's status.
		if list, err := bc.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "eks.amazonaws.com/nodegroup=" + name}); err == nil {
			now := time.Since(start)
			for _, nd := range list.Items {
				if _, ok := ready[nd.Name]; !ok && nodeReady(&nd) {
					ready[nd.Name] = now
				}
			}
		}
		out, err := s.EKS.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(bc.name), NodegroupName: aws.String(name)})
		if err != nil {
			return run, err
		}
		st := out.Nodegroup.Status
		if st == ekstypes.NodegroupStatusActive {
			run.Active = time.Since(start)
			break
		}
		if st != ekstypes.NodegroupStatusCreating || time.Now().After(deadline) {
			var issues []string
			if h := out.Nodegroup.Health; h != nil {
				for _, i := range h.Issues {
					issues = append(issues, string(i.Code)+": "+aws.ToString(i.Message))
				}
			}
			return run, fmt.Errorf("nodegroup %s is %s after %s: %s", name, st, time.Since(start).Round(time.Second), strings.Join(issues, "; "))
		}
		select {
		case <-ctx.Done():
			return run, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	for nd, d := range ready {
		run.Nodes = append(run.Nodes, nd)
		run.Ready = append(run.Ready, d)
	}
	if len(run.Nodes) != int(n) {
		return run, fmt.Errorf("nodegroup %s ACTIVE with %d Ready nodes seen, want %d", name, len(run.Nodes), n)
	}
	return run, nil
}

// deleteNodegroup deletes the nodegroup and waits until it is gone.
func (s *serve) deleteNodegroup(ctx context.Context, bc *benchCluster, name string) error {
	in := &eks.DescribeNodegroupInput{ClusterName: aws.String(bc.name), NodegroupName: aws.String(name)}
	if _, err := s.EKS.DeleteNodegroup(ctx, &eks.DeleteNodegroupInput{ClusterName: in.ClusterName, NodegroupName: in.NodegroupName}); err != nil {
		return err
	}
	return waitNotFound(ctx, "nodegroup "+name, 5*time.Minute, func() error {
		_, err := s.EKS.DescribeNodegroup(ctx, in)
		return err
	})
}
