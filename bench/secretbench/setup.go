package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kplane/kplane/bench/internal/load"
)

const region = "us-west-2"

// kplaneProc is the `kplane serve` under test: one replica per cluster, no
// worker nodes (Secrets need none), on a data dir of its own.
type kplaneProc struct{ *load.Serve }

func startKplane(ctx context.Context, bin, work string) (*kplaneProc, error) {
	s, err := load.StartServe(ctx, bin, work, logf, "--control-plane-replicas", "1", "--no-nodes")
	if err != nil {
		return nil, err
	}
	return &kplaneProc{s}, nil
}

// createKey makes a KMS key with a signed KMS CreateKey call.
func (k *kplaneProc) createKey(ctx context.Context) (string, error) {
	body := []byte(`{"Description":"secretbench"}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.URL+"/", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.CreateKey")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, k.Creds, req, hex.EncodeToString(sum[:]), "kms", region, time.Now()); err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct{ KeyMetadata struct{ Arn string } }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || out.KeyMetadata.Arn == "" {
		return "", fmt.Errorf("kms CreateKey: %s %s", resp.Status, b)
	}
	return out.KeyMetadata.Arn, nil
}

// benchCluster is one measured cluster and an admin client of it.
type benchCluster struct {
	name, id string
	kube     *kubernetes.Clientset
}

// createCluster creates a cluster (encrypted with keyArn unless it is
// empty) and returns once it is ACTIVE.
func (k *kplaneProc) createCluster(ctx context.Context, name, keyArn string) (*benchCluster, error) {
	ids, err := k.Kplane(ctx, "network", "--subnet-ids")
	if err != nil {
		return nil, err
	}
	in := &eks.CreateClusterInput{Name: aws.String(name), RoleArn: aws.String("arn:aws:iam::000000000000:role/eks-cluster-role"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: strings.Split(strings.TrimSpace(ids), ",")}}
	if keyArn != "" {
		in.EncryptionConfig = []ekstypes.EncryptionConfig{{Resources: []string{"secrets"}, Provider: &ekstypes.Provider{KeyArn: aws.String(keyArn)}}}
	}
	if _, err := k.EKS.CreateCluster(ctx, in); err != nil {
		return nil, err
	}
	var c *ekstypes.Cluster
	for deadline := time.Now().Add(10 * time.Minute); c == nil || c.Status != ekstypes.ClusterStatusActive; {
		if c != nil && c.Status != ekstypes.ClusterStatusCreating || time.Now().After(deadline) {
			return nil, fmt.Errorf("cluster %s is %s", name, c.Status)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		out, err := k.EKS.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
		if err != nil {
			return nil, err
		}
		c = out.Cluster
	}
	kc, err := k.Kplane(ctx, "kubeconfig", name)
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig([]byte(kc))
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit: the server is measured
	cfg.Timeout = 30 * time.Second
	bc := &benchCluster{name: name, id: aws.ToString(c.Id)}
	bc.kube, err = kubernetes.NewForConfig(cfg)
	return bc, err
}

// storedPrefix reads a Secret's value as etcd holds it, to show which
// cluster encrypts: "k8s:enc:kms:v2:" or plain protobuf ("k8s\x00").
func (k *kplaneProc) storedPrefix(ctx context.Context, c *benchCluster, secret string) (string, error) {
	endpoint, err := os.ReadFile(filepath.Join(k.DataDir, "etcd-endpoint"))
	if err != nil {
		return "", err
	}
	dir := filepath.Join(k.DataDir, "pki", "etcd")
	cfg := clientv3.Config{Endpoints: []string{strings.TrimSpace(string(endpoint))}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if strings.HasPrefix(cfg.Endpoints[0], "https://") {
		ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
		if err != nil {
			return "", err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "root.crt"), filepath.Join(dir, "root.key"))
		if err != nil {
			return "", err
		}
		cfg.TLS = &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, "/kplane-clusters/"+c.id+"/secrets/default/"+secret)
	if err != nil || len(resp.Kvs) != 1 {
		return "", fmt.Errorf("etcd read of secret %s: %v", secret, err)
	}
	v := string(resp.Kvs[0].Value)
	if strings.HasPrefix(v, "k8s:enc:") {
		return v[:min(len(v), len("k8s:enc:kms:v2:"))], nil
	}
	return "plain", nil
}
