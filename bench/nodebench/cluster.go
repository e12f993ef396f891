package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kplane/kplane/internal/auth"
)

// serve is the `kplane serve` the benchmark runs, on a data dir of its own.
type serve struct {
	bin, dataDir, logPath, url string
	cmd                        *exec.Cmd
	done                       chan struct{}
	eks                        *eks.Client
}

// startServe starts `kplane serve` (one control-plane replica per cluster:
// the nodes, not the control plane, are measured) and waits for /readyz.
func startServe(ctx context.Context, bin, dir string) (*serve, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	s := &serve{bin: bin, dataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "serve.log"), url: "http://" + addr, done: make(chan struct{})}
	lf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	s.cmd = exec.Command(bin, "serve", "--data-dir", s.dataDir, "--listen", addr, "--control-plane-replicas", "1",
		// The executor's "node step" lines (readBreakdown).
		"--log-level", "debug")
	s.cmd.Stdout, s.cmd.Stderr = lf, lf
	// Its own process group, and SIGKILL if the benchmark dies (its
	// control planes follow it by their own Pdeathsig).
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	logf("kplane serve pid %d on %s", s.cmd.Process.Pid, s.url)
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(90 * time.Second); ; {
		if resp, err := client.Get(s.url + "/_kplane/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("kplane serve exited before it was ready; see %s", s.logPath)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("kplane serve not ready after 90s")
		}
	}
	akid, secret, err := auth.ReadCredentialsFile(filepath.Join(s.dataDir, "credentials"))
	if err != nil {
		s.stop()
		return nil, err
	}
	s.eks = eks.New(eks.Options{
		Region: "us-west-2", BaseEndpoint: aws.String(s.url),
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""),
	})
	return s, nil
}

// stop sends SIGTERM (kplane stops its control planes) and waits, then
// SIGKILLs the group if it is still there after a minute.
func (s *serve) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(time.Minute):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

func (s *serve) kplane(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, s.bin, append(args, "--data-dir", s.dataDir)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("kplane %s: %w: %s", strings.Join(args, " "), err, ee.Stderr)
		}
	}
	return string(out), err
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
	ids, err := s.kplane(ctx, "network", "--subnet-ids")
	if err != nil {
		return nil, err
	}
	_, err = s.eks.CreateCluster(ctx, &eks.CreateClusterInput{
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
		out, err := s.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
		if err != nil {
			return nil, err
		}
		c = out.Cluster
	}
	bc := &benchCluster{name: name, id: aws.ToString(c.Id), endpoint: aws.ToString(c.Endpoint), vpcID: aws.ToString(c.ResourcesVpcConfig.VpcId)}
	if err := s.readNetwork(ctx, bc, c.ResourcesVpcConfig.SubnetIds[0]); err != nil {
		return nil, err
	}
	kc, err := s.kplane(ctx, "kubeconfig", name)
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
	out, err := s.kplane(ctx, "network")
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
	if _, err := s.eks.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String(name)}); err != nil {
		return err
	}
	return waitNotFound(ctx, "cluster "+name, 5*time.Minute, func() error {
		_, err := s.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
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
