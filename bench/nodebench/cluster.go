package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kplane/kplane/bench/internal/load"
)

// serve is the `kplane serve` the benchmark runs.
type serve struct{ *load.Serve }

// startServe starts `kplane serve` with one control-plane replica per
// cluster (the nodes, not the control plane, are measured) and debug logs
// (the executor's "node step" lines, readBreakdown).
func startServe(ctx context.Context, bin, dir string) (*serve, error) {
	s, err := load.StartServe(ctx, bin, dir, logf, "--control-plane-replicas", "1", "--log-level", "debug")
	if err != nil {
		return nil, err
	}
	return &serve{s}, nil
}

// benchCluster is the cluster the nodes join, and its network.
type benchCluster struct {
	name, id, endpoint string
	vpcID              string
	vpcCIDR, subnet    netip.Prefix
	zone               string
	kube               *kubernetes.Clientset
}

// createCluster creates a cluster in the default VPC and waits for ACTIVE.
func (s *serve) createCluster(ctx context.Context, name string) (*benchCluster, error) {
	ids, err := s.Kplane(ctx, "network", "--subnet-ids")
	if err != nil {
		return nil, err
	}
	_, err = s.EKS.CreateCluster(ctx, &eks.CreateClusterInput{
		Name:               aws.String(name),
		RoleArn:            aws.String("arn:aws:iam::000000000000:role/eks-cluster-role"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: strings.Split(strings.TrimSpace(ids), ",")},
	})
	if err != nil {
		return nil, err
	}
	var c *ekstypes.Cluster
	for c == nil || c.Status != ekstypes.ClusterStatusActive {
		if c != nil && c.Status != ekstypes.ClusterStatusCreating {
			return nil, fmt.Errorf("cluster %s is %s", name, c.Status)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		out, err := s.EKS.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
		if err != nil {
			return nil, err
		}
		c = out.Cluster
	}
	bc := &benchCluster{name: name, id: aws.ToString(c.Id), endpoint: aws.ToString(c.Endpoint), vpcID: aws.ToString(c.ResourcesVpcConfig.VpcId)}
	if err := s.readNetwork(ctx, bc, c.ResourcesVpcConfig.SubnetIds[0]); err != nil {
		return nil, err
	}
	kc, err := s.Kplane(ctx, "kubeconfig", name)
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig([]byte(kc))
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 50, 100
	if bc.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	return bc, nil
}

// readNetwork fills in the VPC's CIDR and the subnet's CIDR and zone from
// `kplane network`.
func (s *serve) readNetwork(ctx context.Context, bc *benchCluster, subnetID string) error {
	out, err := s.Kplane(ctx, "network")
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 4 && f[0] == "vpc" && f[1] == bc.vpcID:
			bc.vpcCIDR, err = netip.ParsePrefix(f[3])
		case len(f) == 5 && f[0] == "subnet" && f[1] == subnetID:
			bc.zone = f[3]
			bc.subnet, err = netip.ParsePrefix(f[4])
		}
		if err != nil {
			return err
		}
	}
	if !bc.vpcCIDR.IsValid() || !bc.subnet.IsValid() {
		return fmt.Errorf("kplane network: VPC %s or subnet %s not found in:\n%s", bc.vpcID, subnetID, out)
	}
	return nil
}

// deleteCluster deletes the cluster and waits until it is gone.
func (s *serve) deleteCluster(ctx context.Context, name string) error {
	if _, err := s.EKS.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String(name)}); err != nil {
		return err
	}
	return waitNotFound(ctx, "cluster "+name, 5*time.Minute, func() error {
		_, err := s.EKS.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
		return err
	})
}

// waitNotFound calls describe until EKS answers ResourceNotFoundException.
func waitNotFound(ctx context.Context, what string, timeout time.Duration, describe func() error) error {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		var nf *ekstypes.ResourceNotFoundException
		if errors.As(describe(), &nf) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not gone after %s", what, timeout)
}
