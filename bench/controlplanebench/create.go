package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/kplane/kplane/bench/internal/load"
	"github.com/kplane/kplane/internal/controlplane"
)

const roleArn = "arn:aws:iam::000000000000:role/eks-cluster-role"

// createSample is one cluster's way from CreateCluster to ACTIVE. All times
// are wall-clock times of this machine (kplane's log included).
type createSample struct {
	name, id, requestID string
	load                string // load average when it was created
	memAvailKB          int64  // MemAvailable then
	serveRSSKB          int64  // kplane serve's VmRSS when it went ACTIVE

	sent, returned time.Time // CreateCluster sent, answered
	seen           time.Time // DescribeCluster first answered ACTIVE
	polls          int

	// From kplane serve's log (annotate).
	reqLog    time.Time // CreateCluster answered
	pidLog    time.Time // "control plane ID: started pid N"
	activeLog time.Time // "cluster status ... to ACTIVE"

	// Modification times of files kplane writes in the cluster dir.
	etcdCert time.Time // pki/etcd-client.crt: end of the etcd user/role grant
	spec     time.Time // spec.json: end of controlplane.Prepare

	// Probed by the benchmark (probed creates only).
	readyz    time.Time // first /readyz 200
	nsDefault time.Time // namespace default exists
	nsSystem  time.Time // namespace kube-system exists
	sa        time.Time // ServiceAccount default/default exists
	probeErr  string
}

// total is CreateCluster sent to ACTIVE seen.
func (s *createSample) total() time.Duration {
	if s.seen.IsZero() {
		return 0
	}
	return s.seen.Sub(s.sent)
}

// runCreates creates n clusters one after another, each timed to ACTIVE and
// then deleted and waited until gone, so that every create finds the machine
// as the floor's runs do: nothing else running (clusters left running cost
// ~4 % of a core per replica, which the floor does not pay; the density run
// measures creates on a filling machine). before(i), if set, runs before
// create i (the floor runs, interleaved so that both see the same machine).
// probe adds the step-by-step probes (they put a little load on the starting
// apiserver, so the timed creates run without them).
func runCreates(ctx context.Context, cfg config, srv *server, prefix string, n int, probe bool, before func(i int) error) ([]*createSample, error) {
	var out []*createSample
	what := "create"
	if probe {
		what = "probed create"
	}
	for i := range n {
		if before != nil {
			if err := before(i); err != nil {
				return out, err
			}
		}
		name := fmt.Sprintf("%s%d", prefix, i)
		s, err := createOne(ctx, cfg, srv, name, probe, cfg.activeWithin)
		if err == nil {
			out = append(out, s)
			logf("%s %d/%d: %s ACTIVE %s after CreateCluster (%d polls)", what, i+1, n, name, s.total().Round(time.Millisecond), s.polls)
		}
		if s.id != "" && ctx.Err() == nil { // else kplane serve's shutdown takes it down
			_, derr := deleteAll(ctx, srv, []string{name})
			err = errors.Join(err, derr)
		}
		if err != nil {
			return out, err
		}
		if cfg.settle > 0 {
			settle(ctx, cfg.settle)
		}
	}
	return out, nil
}

// createOne creates a cluster and waits until DescribeCluster says ACTIVE.
func createOne(ctx context.Context, cfg config, srv *server, name string, probe bool, within time.Duration) (*createSample, error) {
	s := &createSample{name: name, load: loadAvg(), memAvailKB: memAvailableKB()}
	s.sent = time.Now()
	out, err := srv.eks.CreateCluster(ctx, &eks.CreateClusterInput{
		Name:               aws.String(name),
		RoleArn:            aws.String(roleArn),
		ResourcesVpcConfig: &types.VpcConfigRequest{SubnetIds: srv.subnets},
	})
	s.returned = time.Now()
	if err != nil {
		return s, fmt.Errorf("CreateCluster %s: %w", name, err)
	}
	s.requestID, _ = awsmw.GetRequestIDMetadata(out.ResultMetadata)
	if out.Cluster != nil {
		s.id = aws.ToString(out.Cluster.Id)
	}
	if s.id == "" {
		return s, fmt.Errorf("CreateCluster %s: the answer has no cluster id", name)
	}
	dir := srv.clusterDir(s.id)
	var pr *prober
	if probe {
		pr = startProber(ctx, dir, s)
	}
	s.seen, s.polls, err = waitActive(ctx, srv.eks, name, cfg.poll, within)
	if pr != nil {
		pr.stop()
	}
	s.serveRSSKB = procStatusKB(srv.pid(), "VmRSS")
	s.etcdCert = modTime(filepath.Join(dir, "pki", "etcd-client.crt"))
	s.spec = modTime(controlplane.SpecPath(firstReplicaDir(dir)))
	if err != nil {
		err = fmt.Errorf("%w\ncontrol plane's process log:\n%s", err, tail(controlplane.ProcessLogPath(firstReplicaDir(dir)), 1500))
	}
	return s, err
}

// firstReplicaDir is the process directory of the cluster's first replica
// (the one a create waits for), or dir itself before any replica exists.
func firstReplicaDir(dir string) string {
	dirs, _ := filepath.Glob(filepath.Join(dir, "replicas", "*"))
	if len(dirs) == 0 {
		return dir
	}
	slices.Sort(dirs)
	return dirs[0]
}

// settle waits, at most max, until the whole machine uses less than a
// quarter of a core over a second: the cluster just made has started its
// further replicas, and the next create starts on a machine as quiet as the
// floor's, instead of sharing it with the previous cluster's start-up.
func settle(ctx context.Context, max time.Duration) {
	start := time.Now()
	for time.Since(start) < max && ctx.Err() == nil {
		b0, _ := load.MachineCPU()
		time.Sleep(time.Second)
		b1, _ := load.MachineCPU()
		if b1-b0 < 0.25 {
			return
		}
	}
}

// waitActive polls DescribeCluster every poll until the cluster is ACTIVE and
// returns when that answer arrived.
func waitActive(ctx context.Context, c *eks.Client, name string, poll, within time.Duration) (time.Time, int, error) {
	tick := time.NewTicker(poll)
	defer tick.Stop()
	limit := time.NewTimer(within)
	defer limit.Stop()
	polls := 0
	last := "no answer yet"
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, polls, ctx.Err()
		case <-limit.C:
			return time.Time{}, polls, fmt.Errorf("%s not ACTIVE within %s (last DescribeCluster: %s): %w", name, within, last, errTimeout)
		case <-tick.C:
		}
		polls++
		out, err := c.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
		now := time.Now()
		if err != nil {
			last = err.Error()
			continue
		}
		last = string(out.Cluster.Status) + issuesOf(out.Cluster)
		switch out.Cluster.Status {
		case types.ClusterStatusActive:
			return now, polls, nil
		case types.ClusterStatusFailed, types.ClusterStatusDeleting:
			return time.Time{}, polls, fmt.Errorf("%s went %s", name, last)
		}
	}
}

func issuesOf(c *types.Cluster) string {
	if c == nil || c.Health == nil || len(c.Health.Issues) == 0 {
		return ""
	}
	var b []string
	for _, i := range c.Health.Issues {
		b = append(b, string(i.Code)+": "+aws.ToString(i.Message))
	}
	return " (" + strings.Join(b, "; ") + ")"
}

// deleteAll deletes the clusters and waits until DescribeCluster no longer
// finds any of them.
func deleteAll(ctx context.Context, srv *server, names []string) (time.Duration, error) {
	start := time.Now()
	var nf *types.ResourceNotFoundException
	for _, n := range names {
		if _, err := srv.eks.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String(n)}); err != nil && !errors.As(err, &nf) {
			return 0, fmt.Errorf("DeleteCluster %s: %w", n, err)
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	for _, n := range names {
		for {
			_, err := srv.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(n)})
			if errors.As(err, &nf) {
				break
			}
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("cluster %s still there 3m after DeleteCluster (%v)", n, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return time.Since(start), nil
}

func modTime(path string) time.Time {
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// prober watches a starting control plane from outside: first /readyz 200,
// then the bootstrap objects kplane waits for, each polled every 50 ms with
// the cluster's admin certificate.
type prober struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startProber(ctx context.Context, dir string, s *createSample) *prober {
	ctx, cancel := context.WithCancel(ctx)
	p := &prober{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		var client *http.Client
		var base string
		get := func(path string) bool {
			req, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
			resp, err := client.Do(req)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		}
		for ctx.Err() == nil {
			switch {
			case client == nil:
				spec, err := controlplane.ReadProcessSpec(firstReplicaDir(dir))
				if err == nil {
					base = strings.TrimSuffix(spec.ReadyzURL, "/readyz")
					client, err = controlplane.AdminHTTPClient(controlplane.ClusterConfig{ID: s.id, Dir: dir})
					if err != nil {
						s.probeErr = err.Error()
						return
					}
					defer client.CloseIdleConnections()
					continue
				}
			case s.readyz.IsZero():
				if get("/readyz") {
					s.readyz = time.Now()
				}
			default:
				for _, o := range []struct {
					t    *time.Time
					path string
				}{
					{&s.nsDefault, "/api/v1/namespaces/default"},
					{&s.nsSystem, "/api/v1/namespaces/kube-system"},
					{&s.sa, "/api/v1/namespaces/default/serviceaccounts/default"},
				} {
					if o.t.IsZero() && get(o.path) {
						*o.t = time.Now()
					}
				}
				if !s.nsDefault.IsZero() && !s.nsSystem.IsZero() && !s.sa.IsZero() {
					return
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return p
}

func (p *prober) stop() {
	// Let it see the last objects (ACTIVE implies they exist), then stop it.
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
	}
	p.cancel()
	<-p.done
}
