//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
)

// TestEndpointAccess: the balancer enforces endpointPublicAccess,
// endpointPrivateAccess and publicAccessCidrs on the client's source
// address, and UpdateClusterConfig changes them live. On one machine,
// loopback addresses stand in: 127.0.0.2 is "inside the VPC"
// (--private-sources), 127.0.0.3 and 127.0.0.4 are public addresses.
// The endpoint is on --endpoint-address 127.0.0.9; the replica behind it
// listens on 127.0.0.1 alone, so nothing reaches it around the rules.
func TestEndpointAccess(t *testing.T) {
	const endpointIP = "127.0.0.9"
	k := startKplaneWith(t, "--control-plane-replicas", "1", "--private-sources", "127.0.0.2/32", "--endpoint-address", endpointIP)
	const name = "fenced"
	k.createActive(name)
	creds := k.readKubeconfig(k.kubeconfig(name))
	checkEndpointAddress(t, k, name, endpointIP, creds)
	const inside, allowed, other = "127.0.0.2", "127.0.0.3", "127.0.0.4"

	expect := func(step string, want map[string]bool) {
		t.Helper()
		for _, src := range []string{inside, allowed, other} {
			err := getFrom(src, creds, "/readyz")
			if got := err == nil; got != want[src] {
				t.Errorf("%s: from %s: allowed=%v (err %v), want allowed=%v", step, src, got, err, want[src])
			}
		}
	}
	expect("default (public, 0.0.0.0/0)", map[string]bool{inside: true, allowed: true, other: true})

	k.updateVpcConfig(name, &ekstypes.VpcConfigRequest{PublicAccessCidrs: []string{allowed + "/32"}})
	// Private access is off, so the VPC's own clients go the public way too.
	expect("public, publicAccessCidrs 127.0.0.3/32", map[string]bool{inside: false, allowed: true, other: false})

	k.updateVpcConfig(name, &ekstypes.VpcConfigRequest{EndpointPrivateAccess: aws.Bool(true), EndpointPublicAccess: aws.Bool(false)})
	expect("private only", map[string]bool{inside: true, allowed: false, other: false})

	k.updateVpcConfig(name, &ekstypes.VpcConfigRequest{EndpointPublicAccess: aws.Bool(true)})
	expect("private and public 127.0.0.3/32", map[string]bool{inside: true, allowed: true, other: false})

	d := k.mustDescribe(name)
	if d.Status != "ACTIVE" {
		t.Errorf("cluster %s after the updates, want ACTIVE", d.Status)
	}
}

// checkEndpointAddress: the cluster's endpoint (and the kubeconfig of
// `kplane kubeconfig`) names ip, the endpoint listens there and not on
// 127.0.0.1, and the replica listens on 127.0.0.1 and not on ip.
func checkEndpointAddress(t *testing.T, k *kplane, name, ip string, creds kubeCreds) {
	t.Helper()
	d := k.mustDescribe(name)
	u, err := url.Parse(d.Endpoint)
	if err != nil || u.Hostname() != ip || creds.Server != d.Endpoint {
		t.Fatalf("endpoint %q, kubeconfig server %q: want host %s in both", d.Endpoint, creds.Server, ip)
	}
	spec, err := os.ReadFile(filepath.Join(k.clusterDir(d.ID), "replicas", "us-west-2a", "spec.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		ReadyzURL string `json:"readyzURL"`
	}
	if err := json.Unmarshal(spec, &s); err != nil {
		t.Fatal(err)
	}
	r, err := url.Parse(s.ReadyzURL)
	if err != nil || r.Hostname() != "127.0.0.1" {
		t.Fatalf("replica at %q, want 127.0.0.1", s.ReadyzURL)
	}
	listens := func(host, port string) bool {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	for _, c := range []struct {
		host, port string
		want       bool
	}{{ip, u.Port(), true}, {"127.0.0.1", u.Port(), false}, {"127.0.0.1", r.Port(), true}, {ip, r.Port(), false}} {
		if got := listens(c.host, c.port); got != c.want {
			t.Errorf("something listens on %s:%s: %v, want %v", c.host, c.port, got, c.want)
		}
	}
}

// updateVpcConfig runs UpdateClusterConfig and waits until the update is Successful.
func (k *kplane) updateVpcConfig(name string, vc *ekstypes.VpcConfigRequest) {
	k.t.Helper()
	ctx := context.Background()
	sdk := k.sdk()
	out, err := sdk.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: aws.String(name), ResourcesVpcConfig: vc})
	if err != nil {
		k.t.Fatalf("update-cluster-config: %v", err)
	}
	id := aws.ToString(out.Update.Id)
	eventually(k.t, 60*time.Second, 100*time.Millisecond, "update "+id+" Successful", func() error {
		u, err := sdk.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String(name), UpdateId: aws.String(id)})
		if err != nil {
			return err
		}
		if s := u.Update.Status; s != ekstypes.UpdateStatusSuccessful {
			if s == ekstypes.UpdateStatusFailed {
				k.t.Fatalf("update %s failed: %+v", id, u.Update.Errors)
			}
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
}

// getFrom GETs path on the cluster's endpoint with a connection whose source
// address is src.
func getFrom(src string, creds kubeCreds, path string) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(creds.CAPEM)
	pair, err := tls.X509KeyPair(creds.CertPEM, creds.KeyPEM)
	if err != nil {
		return err
	}
	dialer := &net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext:       dialer.DialContext,
		TLSClientConfig:   &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}},
		DisableKeepAlives: true,
	}}
	resp, err := client.Get(strings.TrimSuffix(creds.Server, "/") + path)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}
