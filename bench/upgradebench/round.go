package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// round is one cluster's create at -from and upgrade to -to.
type round struct {
	name            string
	create, upgrade time.Duration
	calls           int64
	failures        []string
	loadAtUpgrade   string
	trace           []event // the roll step by step (trace.go)
}

func (r round) ratio() float64 {
	if r.create == 0 {
		return 0
	}
	return r.upgrade.Seconds() / r.create.Seconds()
}

// round creates a cluster at cfg.from and times it to ACTIVE, then
// upgrades it to cfg.to while cfg.clients call its endpoint, timing the
// update from the call to Successful; then deletes it.
func (s *serve) round(ctx context.Context, cfg config, name string) (round, error) {
	rd := round{name: name}
	ids, err := s.Kplane(ctx, "network", "--subnet-ids")
	if err != nil {
		return rd, err
	}
	start := time.Now()
	if _, err := s.EKS.CreateCluster(ctx, &eks.CreateClusterInput{
		Name: aws.String(name), Version: aws.String(cfg.from),
		RoleArn:            aws.String("arn:aws:iam::000000000000:role/eks-cluster-role"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: strings.Split(strings.TrimSpace(ids), ",")},
	}); err != nil {
		return rd, err
	}
	if err := s.waitStatus(ctx, name, ekstypes.ClusterStatusCreating, ekstypes.ClusterStatusActive); err != nil {
		return rd, err
	}
	rd.create = time.Since(start)
	defer s.deleteCluster(context.WithoutCancel(ctx), name)
	if err := replicasReady(ctx, s.LogPath, start, 2); err != nil {
		return rd, err
	}

	kc, err := s.Kplane(ctx, "kubeconfig", name)
	if err != nil {
		return rd, err
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig([]byte(kc))
	if err != nil {
		return rd, err
	}
	rc.QPS, rc.Burst, rc.Timeout = 1000, 1000, 10*time.Second
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return rd, err
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "probe"}}, metav1.CreateOptions{}); err != nil {
		return rd, err
	}
	stop := hammer(cs, cfg.clients)
	time.Sleep(time.Second)
	rd.loadAtUpgrade = loadNow()
	start = time.Now()
	out, err := s.EKS.UpdateClusterVersion(ctx, &eks.UpdateClusterVersionInput{Name: aws.String(name), Version: aws.String(cfg.to)})
	if err != nil {
		stop()
		return rd, err
	}
	status, err := s.waitUpdate(ctx, name, aws.ToString(out.Update.Id))
	rd.upgrade = time.Since(start)
	time.Sleep(time.Second)
	rd.calls, rd.failures = stop()
	if err != nil {
		return rd, err
	}
	if rd.trace, err = readTrace(s.LogPath, s.DataDir, start); err != nil {
		return rd, fmt.Errorf("reading the roll's steps: %w", err)
	}
	if status != ekstypes.UpdateStatusSuccessful {
		return rd, fmt.Errorf("update ended %s", status)
	}
	return rd, nil
}

// waitStatus polls DescribeCluster every 100 ms while it is from, until to.
func (s *serve) waitStatus(ctx context.Context, name string, from, to ekstypes.ClusterStatus) error {
	for {
		out, err := s.EKS.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
		if err != nil {
			return err
		}
		switch out.Cluster.Status {
		case to:
			return nil
		case from:
		default:
			return fmt.Errorf("cluster %s is %s", name, out.Cluster.Status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitUpdate polls DescribeUpdate every 100 ms until the update ends.
func (s *serve) waitUpdate(ctx context.Context, name, id string) (ekstypes.UpdateStatus, error) {
	for {
		out, err := s.EKS.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String(name), UpdateId: aws.String(id)})
		if err != nil {
			return "", err
		}
		if st := out.Update.Status; st != ekstypes.UpdateStatusInProgress {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *serve) deleteCluster(ctx context.Context, name string) {
	if _, err := s.EKS.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String(name)}); err != nil {
		logf("delete %s: %v", name, err)
		return
	}
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		_, err := s.EKS.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
		var nf *ekstypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return
		}
	}
	logf("cluster %s not gone after 5 min", name)
}

// hammer has n clients call the endpoint (a GET of a ConfigMap, a List of
// namespaces, alternately, 10 ms apart) until stop, which returns the calls
// made and the failures.
func hammer(cs *kubernetes.Clientset, n int) (stop func() (int64, []string)) {
	var calls atomic.Int64
	var mu sync.Mutex
	var failures []string
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ctx := context.Background()
			for {
				select {
				case <-quit:
					return
				case <-time.After(10 * time.Millisecond):
				}
				i := calls.Add(1)
				var err error
				if i%2 == 0 {
					_, err = cs.CoreV1().ConfigMaps("default").Get(ctx, "probe", metav1.GetOptions{})
				} else {
					_, err = cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{Limit: 5})
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, time.Now().Format("15:04:05.000")+" "+err.Error())
					mu.Unlock()
				}
			}
		})
	}
	return func() (int64, []string) {
		close(quit)
		wg.Wait()
		return calls.Load(), failures
	}
}
