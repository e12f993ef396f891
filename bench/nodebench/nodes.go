package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplane/kplane/internal/node"
	"github.com/kplane/kplane/internal/nodenet"
)

// handNode is one node started by hand, as the e2e tests start theirs:
// a namespace of the cluster's VPC made with internal/nodenet, a spec with
// client-certificate credentials signed by the cluster's CA, node.Start.
type handNode struct {
	net  nodenet.Node
	dir  string
	spec node.Spec
	proc *node.Process
}

// handNodes places n nodes in the cluster's subnet, at the subnet's
// offset-th address on, and makes their namespaces; nothing runs yet.
func handNodes(bc *benchCluster, m *nodenet.Manager, caDir, dir string, n, offset int) ([]*handNode, error) {
	podRange, err := nodenet.PodRange(bc.vpcCIDR, netip.MustParsePrefix("10.100.0.0/16"))
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(bc.endpoint)
	if err != nil {
		return nil, err
	}
	var out []*handNode
	for i := range n {
		addr := bc.subnet.Addr()
		for range offset + i {
			addr = addr.Next()
		}
		podCIDR, err := nodenet.PodCIDR(bc.vpcCIDR, podRange, addr)
		if err != nil {
			return out, err
		}
		id := fmt.Sprintf("i-0be0c%012x", offset+i)
		hn := &handNode{net: nodenet.Node{ID: id, VPC: bc.vpcID, Subnet: bc.subnet, Addr: addr, PodCIDR: podCIDR}, dir: filepath.Join(dir, strconv.Itoa(offset+i))}
		out = append(out, hn)
		if err := m.EnsureNode(hn.net); err != nil {
			return out, err
		}
		name := "ip-" + strings.ReplaceAll(addr.String(), ".", "-") + ".us-west-2.compute.internal"
		certs, err := node.IssueCertificates(filepath.Join(caDir, "ca.crt"), filepath.Join(caDir, "ca.key"), hn.dir, name, addr.String())
		if err != nil {
			return out, err
		}
		hn.spec = node.Spec{
			Name: name, InstanceID: id, ProviderID: "aws:///" + bc.zone + "/" + id,
			NodeIP: addr.String(), NetNSPath: m.NodePath(id),
			PodCIDR: podCIDR.String(), ClusterCIDR: podRange.String(),
			APIServerURL: "https://" + net.JoinHostPort(nodenet.Gateway(bc.subnet).String(), u.Port()),
			CAFile:       certs.CAFile, ClientCertFile: certs.ClientCertFile, ClientKeyFile: certs.ClientKeyFile,
			ServingCertFile: certs.ServingCertFile, ServingKeyFile: certs.ServingKeyFile,
			KubeProxyCertFile: certs.KubeProxyCertFile, KubeProxyKeyFile: certs.KubeProxyKeyFile,
			ProxyMode: "iptables",
			// The default root is named after the node alone: another kplane's
			// node of the same name (same default VPC) would share it.
			CgroupRoot: node.DefaultCgroupRoot(filepath.Base(dir) + "-" + id),
			Labels: map[string]string{
				"eks.amazonaws.com/nodegroup":   "hand",
				"topology.kubernetes.io/region": "us-west-2",
				"topology.kubernetes.io/zone":   bc.zone,
			},
		}
		if err := node.WriteSpec(hn.dir, hn.spec); err != nil {
			return out, err
		}
	}
	return out, nil
}

// waitEndpointFromVPC waits until the cluster's endpoint answers /readyz
// from inside the first node's namespace: the balancer opens its socket in
// the VPC at the provisioner's next look, and the replica restarts once for
// the certificate naming the gateway. That is the VPC's set-up, done once
// per VPC; the floor times the node alone.
func waitEndpointFromVPC(ctx context.Context, bc *benchCluster, caDir string, hn *handNode) error {
	ca, err := os.ReadFile(filepath.Join(caDir, "ca.crt"))
	if err != nil {
		return err
	}
	pair, err := tls.LoadX509KeyPair(hn.spec.ClientCertFile, hn.spec.ClientKeyFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return nodenet.DialIn(ctx, hn.spec.NetNSPath, nil, addr)
		},
		TLSClientConfig:   &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}},
		DisableKeepAlives: true,
	}}
	var last error
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); {
		resp, err := client.Get(hn.spec.APIServerURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("endpoint %s from the VPC: %w", hn.spec.APIServerURL, last)
}

// startAndWaitReady starts every node at once and returns each one's time
// from node.Start to its Node's Ready condition, as seen polling the API
// every 100 ms.
func startAndWaitReady(ctx context.Context, bc *benchCluster, bin string, nodes []*handNode) (time.Time, []time.Duration, error) {
	start := time.Now()
	for _, hn := range nodes {
		p, err := node.Start(bin, hn.dir)
		if err != nil {
			return start, nil, err
		}
		hn.proc = p
	}
	ready, err := waitReady(ctx, bc, start, names(nodes), 3*time.Minute)
	return start, ready, err
}

func names(nodes []*handNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.spec.Name)
	}
	return out
}

// waitReady polls until every named Node is Ready and returns when each
// became so, from start.
func waitReady(ctx context.Context, bc *benchCluster, start time.Time, want []string, timeout time.Duration) ([]time.Duration, error) {
	wanted := map[string]bool{}
	for _, n := range want {
		wanted[n] = true
	}
	ready := map[string]time.Duration{}
	deadline := time.Now().Add(timeout)
	for len(ready) < len(want) {
		list, err := bc.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		now := time.Since(start)
		if err == nil {
			for _, n := range list.Items {
				if _, ok := ready[n.Name]; !ok && wanted[n.Name] && nodeReady(&n) {
					ready[n.Name] = now
				}
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("nodes Ready after %s: %d of %d", timeout, len(ready), len(want))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	var out []time.Duration
	for _, n := range want {
		out = append(out, ready[n])
	}
	return out, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// stopNodes stops every node (SIGTERM: the agent tears itself down),
// deletes its directory, removes its namespace and deletes its Node (a
// kubelet leaves it registered).
func stopNodes(ctx context.Context, bc *benchCluster, m *nodenet.Manager, nodes []*handNode) error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, hn := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if hn.proc != nil {
				ctx, cancel := context.WithTimeout(context.Background(), node.StopTimeout)
				err = hn.proc.Stop(ctx)
				cancel()
			}
			err = errors.Join(err, node.Delete(hn.dir), m.RemoveNode(hn.net.ID))
			if derr := bc.kube.CoreV1().Nodes().Delete(ctx, hn.spec.Name, metav1.DeleteOptions{}); derr != nil && !apierrors.IsNotFound(derr) && hn.proc != nil {
				err = errors.Join(err, derr)
			}
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
