//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// TestReplicaKilled: a cluster runs two replicas (one per zone) behind
// kplane's balancer. kill -9 of one while clients keep calling the endpoint
// costs no call; the cluster stays ACTIVE with a health issue until the
// replica is back by itself.
//
// The clients are client-go, as kubectl: reads, which client-go retries on
// a connection that breaks, as it does against EKS's load balancer. Four of
// them, each with its own connection, so connections sit on both replicas.
func TestReplicaKilled(t *testing.T) {
	k := startKplane(t) // default: two replicas
	const name = "ha"
	c := k.createActive(name)
	kc := k.kubeconfig(name)
	k.mustKubectl(kc, "create", "configmap", "probe", "--from-literal=k=v")

	// Both replicas up and answering on their own ports.
	var zones []string
	eventually(t, 90*time.Second, 200*time.Millisecond, "two replicas ready", func() error {
		zones = nil
		pids := k.replicaPIDs(c.ID)
		if len(pids) != 2 {
			return fmt.Errorf("replica pids %v", pids)
		}
		for _, z := range k.replicaZones(c.ID) {
			if err := k.replicaReady(c.ID, z); err != nil {
				return fmt.Errorf("%s: %w", z, err)
			}
			zones = append(zones, z)
		}
		return nil
	})
	victim := zones[0]
	oldPID := k.replicaPIDs(c.ID)[0]

	const calls, workers = 1000, 4
	var done, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	killAt := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		cs := clientset(t, kc)
		wg.Go(func() {
			ctx := context.Background()
			for n := done.Add(1); n <= calls; n = done.Add(1) {
				if n == calls/4 {
					select {
					case <-killAt:
					default:
						close(killAt)
					}
				}
				var err error
				if n%2 == 0 {
					_, err = cs.CoreV1().ConfigMaps("default").Get(ctx, "probe", metav1.GetOptions{})
				} else {
					_, err = cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{Limit: 5})
				}
				if err != nil {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, fmt.Sprintf("call %d: %v", n, err))
					mu.Unlock()
				}
				time.Sleep(5 * time.Millisecond) // spread the calls over the kill and the recovery
			}
		})
	}
	<-killAt
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 replica %s pid %d: %v", victim, oldPID, err)
	}
	killedAt := time.Now()
	t.Logf("kill -9 replica %s (pid %d) after %d calls", victim, oldPID, calls/4)

	// The gap shows in the cluster's health while the cluster stays ACTIVE.
	sawIssue := false
	for wait := time.Now().Add(20 * time.Second); time.Now().Before(wait) && !sawIssue; time.Sleep(100 * time.Millisecond) {
		d := k.mustDescribe(name)
		if d.Status != "ACTIVE" {
			t.Errorf("cluster %s while a replica is down, want ACTIVE", d.Status)
		}
		sawIssue = len(d.Health.Issues) > 0
		if sawIssue {
			t.Logf("health %.1fs after the kill: %+v", time.Since(killedAt).Seconds(), d.Health.Issues)
		}
	}
	wg.Wait()
	t.Logf("%d calls through the endpoint, %d failed", calls, failed.Load())
	if failed.Load() != 0 {
		t.Errorf("calls failed while a replica was killed:\n%v", failures)
	}
	if !sawIssue {
		t.Errorf("describe-cluster never showed the lost replica as a health issue")
	}

	// The replica comes back by itself, and the issue clears.
	eventually(t, 90*time.Second, 200*time.Millisecond, "replica back and health clean", func() error {
		pid := k.replicaPIDs(c.ID)[0]
		if pid == 0 || pid == oldPID {
			return fmt.Errorf("replica %s pid %d", victim, pid)
		}
		if err := k.replicaReady(c.ID, victim); err != nil {
			return err
		}
		if d := k.mustDescribe(name); d.Status != "ACTIVE" || len(d.Health.Issues) != 0 {
			return fmt.Errorf("%s %+v", d.Status, d.Health.Issues)
		}
		return nil
	})
	t.Logf("replica %s back and health clean %v after the kill", victim, time.Since(killedAt).Round(time.Millisecond))
}

// clientset is a client-go clientset from a kubeconfig file, with its own
// connection (client-go shares transports between equal configs).
func clientset(t *testing.T, kubeconfig string) *kubernetes.Clientset {
	t.Helper()
	b, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 10 * time.Second
	cfg.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
	// A dialer of its own: client-go then builds a transport (and so a
	// connection) for this clientset alone.
	cfg.Dial = (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// replicaZones are the zones of the cluster's replica directories, sorted.
func (k *kplane) replicaZones(id string) []string {
	dirs, _ := filepath.Glob(filepath.Join(k.clusterDir(id), "replicas", "*"))
	var zones []string
	for _, d := range dirs {
		zones = append(zones, filepath.Base(d))
	}
	return zones
}

// replicaReady GETs a replica's own /readyz (its address from its spec.json),
// bypassing the balancer.
func (k *kplane) replicaReady(id, zone string) error {
	b, err := os.ReadFile(filepath.Join(k.clusterDir(id), "replicas", zone, "spec.json"))
	if err != nil {
		return err
	}
	var spec struct {
		ReadyzURL      string `json:"readyzURL"`
		CAFile         string `json:"caFile"`
		ClientCertFile string `json:"clientCertFile"`
		ClientKeyFile  string `json:"clientKeyFile"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return err
	}
	ca, _ := os.ReadFile(spec.CAFile)
	crt, _ := os.ReadFile(spec.ClientCertFile)
	key, _ := os.ReadFile(spec.ClientKeyFile)
	resp, err := httpsClient(k.t, ca, crt, key, time.Second).Get(spec.ReadyzURL)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}
