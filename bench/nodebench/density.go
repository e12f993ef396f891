package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplane/kplane/bench/internal/load"
	"github.com/kplane/kplane/internal/localnodes"
	"github.com/kplane/kplane/internal/node"
)

// densityResult is how many one-node clusters (a cluster, a nodegroup of
// one node ACTIVE, one pod Running on it) this machine held, and what
// they cost in memory.
type densityResult struct {
	Asked            int // -density
	Clusters         int
	Stopped          string // why it stopped: the goal reached, or the first failure, named
	MemAvailStartMiB int64
	MemAvailEndMiB   int64
	LoadStart        string
	LoadEnd          string // when all were made, before any was deleted
	// KplaneMiB is kplane's own RSS (API, embedded etcd, reconcilers, balancers).
	KplaneMiB int64
	// TreeMiB is the RSS of kplane and every process below it.
	TreeMiB int64
	// PerCluster is each cluster's control plane and node, RSS.
	PerCluster []clusterMemory
}

type clusterMemory struct {
	Name                       string
	ControlPlaneMiB, NodeMiB   int64
	Took                       time.Duration // CreateCluster to its pod Running
	controlPlaneDir, clusterID string
}

func (c clusterMemory) totalMiB() int64 { return c.ControlPlaneMiB + c.NodeMiB }

// runDensity makes one-node clusters one after another, each kept, until
// cfg.density, the first failure, or MemAvailable under 1.5 GiB; reads the
// memory of all of them; then deletes them all (also after Ctrl-C).
func runDensity(ctx context.Context, cfg config, r *report, srv *serve, role string) (err error) {
	d := &densityResult{Asked: cfg.density, MemAvailStartMiB: memAvailMiB(), LoadStart: load.LoadAvg()}
	r.density = d
	var made []string
	defer func() {
		err = errors.Join(err, deleteDense(srv, made))
		d.MemAvailEndMiB = memAvailMiB()
	}()
	for i := range cfg.density {
		if avail := memAvailMiB(); avail < 1536 {
			d.Stopped = fmt.Sprintf("MemAvailable %d MiB before cluster %d", avail, i+1)
			break
		}
		name := fmt.Sprintf("dense-%d", i+1)
		made = append(made, name)
		c, err := oneNodeCluster(ctx, srv, name, role)
		if err != nil && ctx.Err() != nil {
			d.Stopped = fmt.Sprintf("interrupted (signal or -timeout) while making %s", name)
			break
		}
		if err != nil {
			d.Stopped = fmt.Sprintf("%s failed: %v", name, err)
			break
		}
		d.Clusters++
		d.PerCluster = append(d.PerCluster, c)
		logf("density: %d one-node clusters, %s's pod Running %v after its CreateCluster; MemAvailable %d MiB", d.Clusters, name, c.Took.Round(time.Second), memAvailMiB())
	}
	if d.Stopped == "" {
		d.Stopped = fmt.Sprintf("-density %d reached", cfg.density)
	}
	d.LoadEnd = load.LoadAvg()
	kp := srv.Cmd.Process.Pid
	d.KplaneMiB = load.ProcStatusKB(kp, "VmRSS") / 1024
	d.TreeMiB = treeRSSKiB(kp) / 1024
	for i := range d.PerCluster {
		c := &d.PerCluster[i]
		c.ControlPlaneMiB = cmdlineRSSKiB(c.controlPlaneDir) / 1024
		for _, dir := range localnodes.ClusterNodeDirs(srv.DataDir, c.clusterID) {
			if m, err := node.MemoryOf(dir); err == nil {
				c.NodeMiB += m.RSSKiB / 1024
			}
		}
	}
	return nil
}

// oneNodeCluster makes cluster name with a nodegroup of one node and runs
// one pod on it.
func oneNodeCluster(ctx context.Context, srv *serve, name, role string) (clusterMemory, error) {
	start := time.Now()
	bc, err := srv.createCluster(ctx, name)
	if err != nil {
		return clusterMemory{}, fmt.Errorf("cluster: %w", err)
	}
	ng, err := srv.createNodegroup(ctx, bc, "one", role, 1)
	if err != nil {
		return clusterMemory{}, fmt.Errorf("nodegroup: %w", err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "one"},
		Spec: corev1.PodSpec{NodeName: ng.Nodes[0], TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{Name: "c", Image: node.SandboxImage, ImagePullPolicy: corev1.PullNever}}},
	}
	if _, err := bc.kube.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return clusterMemory{}, fmt.Errorf("pod: %w", err)
	}
	for deadline := time.Now().Add(3 * time.Minute); ; {
		p, err := bc.kube.CoreV1().Pods("default").Get(ctx, "one", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			break
		}
		if time.Now().After(deadline) {
			return clusterMemory{}, fmt.Errorf("pod not Running after 3 minutes (%v)", err)
		}
		select {
		case <-ctx.Done():
			return clusterMemory{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return clusterMemory{Name: name, Took: time.Since(start),
		controlPlaneDir: filepath.Join(srv.DataDir, "clusters", bc.id), clusterID: bc.id}, nil
}

// deleteDense deletes the clusters (nodegroup first), four at a time, with
// a context of its own: it runs after Ctrl-C too.
func deleteDense(srv *serve, names []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			bc := &benchCluster{name: name}
			// A cluster whose nodegroup was never made answers not found.
			if err := srv.deleteNodegroup(ctx, bc, "one"); err != nil && !strings.Contains(err.Error(), "ResourceNotFound") {
				mu.Lock()
				errs = append(errs, fmt.Errorf("deleting %s's nodegroup: %w", name, err))
				mu.Unlock()
			}
			if err := srv.deleteCluster(ctx, name); err != nil && !strings.Contains(err.Error(), "ResourceNotFound") {
				mu.Lock()
				errs = append(errs, fmt.Errorf("deleting %s: %w", name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(names) > 0 {
		logf("density: deleted %d clusters", len(names))
	}
	return errors.Join(errs...)
}

func memAvailMiB() int64 { return load.KeyKB("/proc/meminfo", "MemAvailable") / 1024 }

// treeRSSKiB is the RSS of pid and every process below it.
func treeRSSKiB(pid int) int64 {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The fields after the command's closing parenthesis: state, ppid, ...
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			children[ppid] = append(children[ppid], p)
		}
	}
	var total int64
	for todo := []int{pid}; len(todo) > 0; {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		total += load.ProcStatusKB(p, "VmRSS")
		todo = append(todo, children[p]...)
	}
	return total
}

// cmdlineRSSKiB is the RSS of the processes whose command line names s (a
// cluster's directory: its control-plane replicas).
func cmdlineRSSKiB(s string) int64 {
	var total int64
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && strings.Contains(string(b), s) {
			total += load.ProcStatusKB(p, "VmRSS")
		}
	}
	return total
}

// lines are the density result for the report.
func (d *densityResult) lines() []string {
	verdict := "met"
	switch {
	case d.Clusters < 20 && d.Asked < 20 && d.Clusters == d.Asked:
		verdict = fmt.Sprintf("not judged (-density %d)", d.Asked)
	case d.Clusters < 20:
		verdict = "NOT met"
	}
	out := []string{fmt.Sprintf("density: %d one-node clusters (cluster + nodegroup of 1 ACTIVE + 1 pod Running); stopped: %s; goal >= 20: %s",
		d.Clusters, d.Stopped, verdict)}
	if d.Clusters == 0 {
		return out
	}
	var sum, largest int64
	largestName := ""
	for _, c := range d.PerCluster {
		sum += c.totalMiB()
		if c.totalMiB() > largest {
			largest, largestName = c.totalMiB(), c.Name
		}
	}
	out = append(out,
		fmt.Sprintf("density memory (RSS): kplane and all below it %d MiB; kplane itself %d MiB; per cluster (control plane + node) mean %d MiB, largest %d MiB (%s)",
			d.TreeMiB, d.KplaneMiB, sum/int64(len(d.PerCluster)), largest, largestName),
		fmt.Sprintf("density machine: MemAvailable %d MiB before, %d MiB after deleting; load %s at the start, %s with all clusters up",
			d.MemAvailStartMiB, d.MemAvailEndMiB, d.LoadStart, d.LoadEnd))
	for _, c := range d.PerCluster {
		out = append(out, fmt.Sprintf("  %s: control plane %d MiB, node %d MiB, pod Running %s after CreateCluster", c.Name, c.ControlPlaneMiB, c.NodeMiB, c.Took.Round(100*time.Millisecond)))
	}
	return out
}
