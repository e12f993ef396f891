// Command nodebench measures kplane's worker nodes (issue 12) against the
// floor of the same node started by hand, in one invocation: the same
// containerd and kubelet (`kplane node-run`, node.Start of a hand-written
// spec with client-certificate credentials, in a namespace of the
// cluster's VPC made by internal/nodenet) to Node Ready; each idle node's
// memory (RSS of every process in its cgroups); and pod start (a Deployment
// of -replicas pods on those nodes, each pod's time to Running). Run it as
// root from the repository root:
//
//	go run ./bench/nodebench [flags]
//
// Progress goes to stderr, results (plain text, then markdown for
// docs/benchmarks.md) to stdout. Everything it starts is stopped, and its
// namespaces and temp dir removed, when it ends, fails or gets Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kplane/kplane/bench/internal/load"
	"github.com/kplane/kplane/internal/node"
	"github.com/kplane/kplane/internal/nodenet"
)

type config struct {
	kplane   string
	nodes    int
	replicas int
	runs     int
	settle   time.Duration
	timeout  time.Duration
	keep     bool
	out      string

	nodegroups bool
	density    int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.kplane, "kplane", "", "use this kplane binary instead of building ./cmd/kplane")
	flag.IntVar(&cfg.nodes, "nodes", 2, "nodes started by hand (the floor) and the Deployment's nodes")
	flag.IntVar(&cfg.replicas, "replicas", 20, "the Deployment's replicas (pod start)")
	flag.IntVar(&cfg.runs, "runs", 2, "rounds: each starts -nodes fresh nodes, measures them and stops them")
	flag.DurationVar(&cfg.settle, "settle", 20*time.Second, "idle time after the nodes are Ready before reading their memory")
	flag.DurationVar(&cfg.timeout, "timeout", 30*time.Minute, "bound on the whole run")
	flag.BoolVar(&cfg.nodegroups, "nodegroup", true, "after each floor round, the same with CreateNodegroup of -nodes through the EKS SDK (kplane's node executor)")
	flag.IntVar(&cfg.density, "density", 0, "then make up to this many one-node clusters (cluster + nodegroup of 1 + one pod, all kept), read their memory, delete them; see bench/README.md, Density (0 = skip)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temp dir (logs, data dir) after the run")
	flag.StringVar(&cfg.out, "out", "", "also write the markdown report to this file")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "nodebench: needs root (network namespaces, cgroups)")
		os.Exit(2)
	}
	ctx, cancel := load.RunContext(cfg.timeout, logf)
	r := &report{cfg: cfg, started: time.Now(), loadStart: load.LoadAvg(), command: strings.Join(append([]string{"go run ./bench/nodebench"}, os.Args[1:]...), " ")}
	err := run(ctx, cfg, r)
	cancel()
	r.finished, r.loadEnd = time.Now(), load.LoadAvg()
	if err != nil {
		r.err = err.Error()
	}
	load.Finish("nodebench", cfg.out, r.text(), r.markdown(), err)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s [load %s] %s\n", time.Now().Format("15:04:05.000"), load.LoadAvg(), fmt.Sprintf(format, args...))
}

// run does the whole benchmark; everything it started is gone when it
// returns (checked: leftovers).
func run(ctx context.Context, cfg config, r *report) (err error) {
	tmp, err := os.MkdirTemp("", "nodebench-")
	if err != nil {
		return err
	}
	defer func() {
		if cfg.keep {
			logf("kept %s", tmp)
		} else if rerr := os.RemoveAll(tmp); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if left := leftovers(tmp); left != "" {
			err = errors.Join(err, errors.New("left behind: "+left))
		}
	}()
	bin := cfg.kplane
	if bin == "" {
		bin = filepath.Join(tmp, "kplane")
		logf("building ./cmd/kplane")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kplane").CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v: %s", err, out)
		}
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	r.commit = load.GitCommit()

	srv, err := startServe(ctx, bin, tmp)
	if err != nil {
		return err
	}
	r.serveDir = srv.DataDir
	defer srv.Stop()
	bc, err := srv.createCluster(ctx, "nodebench")
	if err != nil {
		return err
	}
	logf("cluster %s ACTIVE; VPC %s %s, subnet %s", bc.id, bc.vpcID, bc.vpcCIDR, bc.subnet)
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		err = errors.Join(err, srv.deleteCluster(dctx, bc.name))
	}()

	m := nodenet.New(nodenet.DirFor(srv.DataDir))
	caDir := filepath.Join(srv.DataDir, "clusters", bc.id, "pki")
	// Node directories under a short path: containerd's socket must fit.
	nodesDir, err := os.MkdirTemp("", "nb")
	if err != nil {
		return err
	}
	defer func() {
		os.RemoveAll(nodesDir)
		if left := leftovers(nodesDir); left != "" {
			err = errors.Join(err, errors.New("left behind: "+left))
		}
	}()
	role := ""
	if cfg.nodegroups || cfg.density > 0 {
		if role, err = srv.ensureNodeRole(ctx); err != nil {
			return err
		}
	}
	for round := range cfg.runs {
		if err := runRound(ctx, cfg, r, bin, bc, m, caDir, nodesDir, round); err != nil {
			return fmt.Errorf("round %d: %w", round+1, err)
		}
		if cfg.nodegroups {
			if err := nodegroupRound(ctx, cfg, r, srv, bc, role, round); err != nil {
				return fmt.Errorf("nodegroup round %d: %w", round+1, err)
			}
		}
	}
	if cfg.density > 0 {
		return runDensity(ctx, cfg, r, srv, role)
	}
	return nil
}

// nodegroupRound creates a nodegroup of cfg.nodes, times it to ACTIVE,
// times a Deployment's pods on its nodes, and deletes it.
func nodegroupRound(ctx context.Context, cfg config, r *report, srv *serve, bc *benchCluster, role string, round int) (err error) {
	name := fmt.Sprintf("ng-%d", round+1)
	logf("round %d: CreateNodegroup %s of %d", round+1, name, cfg.nodes)
	ng, err := srv.createNodegroup(ctx, bc, name, role, int32(cfg.nodes))
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		err = errors.Join(err, srv.deleteNodegroup(dctx, bc, name))
	}()
	if err != nil {
		return err
	}
	logf("round %d: nodegroup ACTIVE after %v, nodes Ready after %v", round+1, ng.Active, ng.Ready)
	if bd, berr := readBreakdown(srv.LogPath, srv.DataDir, name, "us-west-2", ng.Start, ng); berr != nil {
		logf("round %d: no breakdown: %v", round+1, berr)
	} else {
		ng.Breakdown = bd
	}
	r.nodegroups = append(r.nodegroups, ng)
	ps, err := deploymentPodStart(ctx, bc, fmt.Sprintf("ngpods-%d", round+1), cfg.replicas, ng.Nodes)
	if err != nil {
		return err
	}
	r.ngPodStarts = append(r.ngPodStarts, ps)
	logf("round %d: %d pods Running on the nodegroup: p50 %v, p99 %v", round+1, len(ps.Times), percentile(ps.Times, 50), percentile(ps.Times, 99))
	return nil
}

// runRound starts cfg.nodes fresh nodes by hand, times them to Ready,
// reads their idle memory, times a Deployment's pods on them, and stops
// them.
func runRound(ctx context.Context, cfg config, r *report, bin string, bc *benchCluster, m *nodenet.Manager, caDir, nodesDir string, round int) (err error) {
	// High in the subnet: kplane gives instances its lowest free addresses,
	// and these are not in its inventory.
	top := 1<<(32-bc.subnet.Bits()) - 2
	nodes, err := handNodes(bc, m, caDir, nodesDir, cfg.nodes, top-(round+1)*cfg.nodes)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err = errors.Join(err, stopNodes(sctx, bc, m, nodes))
	}()
	if err != nil {
		return err
	}
	if err := waitEndpointFromVPC(ctx, bc, caDir, nodes[0]); err != nil {
		return err
	}
	logf("round %d: starting %d nodes by hand", round+1, len(nodes))
	start, ready, err := startAndWaitReady(ctx, bc, bin, nodes)
	if err != nil {
		return err
	}
	r.floorReady = append(r.floorReady, ready)
	steps, err := floorBreakdown(nodes, start, ready)
	if err != nil {
		logf("round %d: no breakdown of the floor: %v", round+1, err)
	}
	r.floorSteps = append(r.floorSteps, steps)
	logf("round %d: Ready after %v", round+1, ready)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(cfg.settle):
	}
	for _, hn := range nodes {
		mem, err := node.MemoryOf(hn.dir)
		if err != nil {
			return err
		}
		r.idle = append(r.idle, mem)
		logf("round %d: %s idle: %s", round+1, hn.spec.Name, mem)
	}
	ps, err := deploymentPodStart(ctx, bc, fmt.Sprintf("podstart-%d", round+1), cfg.replicas, names(nodes))
	if err != nil {
		return err
	}
	r.podStarts = append(r.podStarts, ps)
	logf("round %d: %d pods Running: p50 %v, p99 %v, by node %v", round+1, len(ps.Times), percentile(ps.Times, 50), percentile(ps.Times, 99), ps.ByNode)
	return nil
}

// leftovers names what the run left: processes naming dir, and the
// directory under /run/kplane (namespaces, sockets) of a kplane whose data
// dir is under it.
func leftovers(tmp string) string {
	var left []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), tmp) {
			left = append(left, "process "+e.Name())
		}
	}
	if _, err := os.Stat(filepath.Dir(nodenet.DirFor(filepath.Join(tmp, "data")))); err == nil {
		left = append(left, filepath.Dir(nodenet.DirFor(filepath.Join(tmp, "data"))))
	}
	return strings.Join(left, ", ")
}
