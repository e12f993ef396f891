// Command controlplanebench measures kplane's control planes: how long a
// cluster takes from CreateCluster to ACTIVE next to the floor (the same
// kube-apiserver alone on a fresh etcd), how many idle clusters fit on this
// machine, what each costs in memory, and how the EKS API answers with all of
// them running. Run it from the repository root:
//
//	go run ./bench/controlplanebench [flags]
//
// Progress goes to stderr, results (plain text, then markdown for
// docs/benchmarks.md) to stdout. Everything it starts listens on loopback and
// is stopped, and its temp dir removed, when it ends, fails or gets Ctrl-C.
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
)

type config struct {
	kplane       string
	floorRuns    int
	fullRuns     int
	cmArgs       []string
	serveArgs    []string
	settle       time.Duration
	creates      int
	probes       int
	density      bool
	max          int
	checkpoint   int
	activeWithin time.Duration
	minAvailMiB  int64
	idle         time.Duration
	clients      int
	warmup       time.Duration
	duration     time.Duration
	poll         time.Duration
	timeout      time.Duration
	keep         bool
	out          string
	verbose      bool
}

func parseFlags() config {
	var c config
	flag.StringVar(&c.kplane, "kplane", "", "use this kplane binary instead of building ./cmd/kplane")
	flag.IntVar(&c.floorRuns, "floor", 5, "floor runs: kube-apiserver alone, each on a fresh etcd")
	flag.IntVar(&c.fullRuns, "full", 3, "runs of the full control plane alone (all three components, fresh etcd, no kplane serve): process start to /readyz and to the bootstrap objects")
	serveArgs := flag.String("serve-args", "", "extra `kplane serve` flags, space separated (e.g. --control-plane-replicas 1)")
	cmArgs := flag.String("cm-args", "", "extra kube-controller-manager flags for the -full runs only, space separated (experiments)")
	flag.DurationVar(&c.settle, "settle", 20*time.Second, "between timed creates, wait (at most this long) for the machine to go quiet, as it is for every floor run; 0 = back to back")
	flag.IntVar(&c.creates, "creates", 5, "clusters created one after another and timed to ACTIVE")
	flag.IntVar(&c.probes, "probes", 3, "further clusters whose startup is probed step by step (/readyz, default ServiceAccount) for the breakdown; 0 = none")
	flag.BoolVar(&c.density, "density", true, "fill the machine with idle clusters and measure them")
	flag.IntVar(&c.max, "max", 60, "density: stop at this many clusters")
	flag.IntVar(&c.checkpoint, "checkpoint", 40, "density: also measure (idle, memory, DescribeCluster) on the way at this many clusters; 0 = only at the end")
	flag.DurationVar(&c.activeWithin, "active-within", 3*time.Minute, "a cluster not ACTIVE within this time ends the density run (and fails a timed create)")
	flag.Int64Var(&c.minAvailMiB, "min-mem-avail", 1536, "density: stop when MemAvailable drops under this many MiB")
	flag.DurationVar(&c.idle, "idle", 30*time.Second, "density: idle time after the last cluster before measuring")
	flag.IntVar(&c.clients, "clients", 16, "density: concurrent DescribeCluster clients")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "density: DescribeCluster warm-up (not counted)")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "density: DescribeCluster measured window")
	flag.DurationVar(&c.poll, "poll", 100*time.Millisecond, "DescribeCluster polling interval while waiting for ACTIVE")
	flag.DurationVar(&c.timeout, "timeout", 30*time.Minute, "bound on the whole run (density stops early to leave time to measure and clean up)")
	flag.BoolVar(&c.keep, "keep", false, "keep the temp dir (logs, data dir) after the run")
	flag.StringVar(&c.out, "out", "", "also write the markdown report to this file")
	flag.BoolVar(&c.verbose, "v", false, "log the control-plane supervisor's events (floor) to stderr")
	flag.Parse()
	c.cmArgs = strings.Fields(*cmArgs)
	c.serveArgs = strings.Fields(*serveArgs)
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %v\n", flag.Args())
		os.Exit(2)
	}
	return c
}

func main() {
	cfg := parseFlags()
	started := time.Now()
	ctx, cancel := load.RunContext(cfg.timeout, logf)

	r := &report{cfg: cfg, started: started}
	err := run(ctx, cfg, r)
	cancel()
	r.finished = time.Now()
	if err != nil {
		r.err = err.Error()
	}
	load.Finish("controlplanebench", cfg.out, r.text(), r.markdown(), err)
}

// logf is progress on stderr, with the time and the load average.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s [load %s] %s\n", time.Now().Format("15:04:05.000"), loadAvg(), fmt.Sprintf(format, args...))
}

// run does the whole benchmark; everything it starts is gone when it returns.
func run(ctx context.Context, cfg config, r *report) (err error) {
	tmp, err := os.MkdirTemp("", "controlplanebench-")
	if err != nil {
		return err
	}
	r.tmp = tmp
	defer func() {
		if cfg.keep {
			logf("kept %s", tmp)
			return
		}
		if rerr := os.RemoveAll(tmp); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove %s: %w", tmp, rerr))
		} else {
			logf("removed %s", tmp)
		}
	}()
	r.facts = machineFacts()

	bin := cfg.kplane
	if bin == "" {
		logf("building ./cmd/kplane into %s", tmp)
		t := time.Now()
		if bin, err = buildKplane(ctx, tmp); err != nil {
			return err
		}
		logf("built in %s", time.Since(t).Round(time.Millisecond))
	} else if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	r.facts.binary(bin)

	if cfg.creates == 0 && cfg.probes == 0 && !cfg.density {
		return runAlone(ctx, cfg, r, bin, tmp)
	}

	// 1. kplane serve on a fresh data dir (idle until the first create).
	quota := max(100, cfg.max+cfg.creates+cfg.probes+10)
	srv, err := startServe(ctx, bin, filepath.Join(tmp, "serve"), quota, cfg.serveArgs)
	if err != nil {
		return err
	}
	r.serve = srv
	defer func() {
		res := srv.shutdown()
		r.cleanup = res
		if res.err != nil {
			err = errors.Join(err, res.err)
		}
	}()

	// 2. The floor (kube-apiserver alone, each run on a fresh etcd) and the
	// timed creates, alternating: a floor run, then a create, and so on, so
	// both see the same machine (its speed drifts by ±10 % over minutes).
	floor, err := newFloorRunner(cfg, bin, filepath.Join(tmp, "floor"), cfg.floorRuns, false)
	if err != nil {
		return err
	}
	defer floor.close()
	ph := startPhase()
	r.creates, err = runCreates(ctx, cfg, srv, "cpb-create-", cfg.creates, false, func(i int) error {
		if i >= cfg.floorRuns {
			return nil
		}
		if err := floor.runOne(ctx); err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		settle(ctx, cfg.settle)
		return nil
	})
	for err == nil && len(floor.samples) < cfg.floorRuns {
		err = floor.runOne(ctx)
	}
	r.floor = floor.samples
	r.createCPU = ph()
	if err != nil {
		return fmt.Errorf("floor and create to ACTIVE: %w", err)
	}
	if err := runFull(ctx, cfg, r, bin, tmp); err != nil {
		return err
	}
	if cfg.probes > 0 {
		ph = startPhase()
		r.probes, err = runCreates(ctx, cfg, srv, "cpb-probe-", cfg.probes, true, nil)
		r.probeCPU = ph()
		if err != nil {
			return fmt.Errorf("probed creates: %w", err)
		}
	}
	srv.annotate(r.creates)
	srv.annotate(r.probes)

	// 3. Density.
	if cfg.density {
		ph = startPhase()
		r.dens, err = runDensity(ctx, cfg, srv)
		r.densCPU = ph()
		if r.dens != nil {
			srv.annotate(r.dens.samples)
		}
		if err != nil {
			return fmt.Errorf("density: %w", err)
		}
	}
	return nil
}

// runAlone is the run without kplane serve: the floor, then the full
// control plane alone.
func runAlone(ctx context.Context, cfg config, r *report, bin, tmp string) (err error) {
	ph := startPhase()
	r.floor, err = runFloor(ctx, cfg, bin, filepath.Join(tmp, "floor"), cfg.floorRuns, false)
	r.floorCPU = ph()
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	return runFull(ctx, cfg, r, bin, tmp)
}

// runFull times the full control plane alone (no kplane serve), for comparison.
func runFull(ctx context.Context, cfg config, r *report, bin, tmp string) (err error) {
	if cfg.fullRuns == 0 {
		return nil
	}
	ph := startPhase()
	r.full, err = runFloor(ctx, cfg, bin, filepath.Join(tmp, "full"), cfg.fullRuns, true)
	r.fullCPU = ph()
	if err != nil {
		return fmt.Errorf("full control plane alone: %w", err)
	}
	return nil
}

// buildKplane builds ./cmd/kplane of the module we run in into dir.
func buildKplane(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the kplane module: run from the repository (or pass -kplane)")
	}
	bin := filepath.Join(dir, "kplane")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kplane")
	cmd.Dir = filepath.Dir(mod)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/kplane: %w", err)
	}
	return bin, nil
}
