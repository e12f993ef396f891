package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kplane/kplane/bench/internal/localetcd"
	"github.com/kplane/kplane/internal/controlplane"
	"github.com/kplane/kplane/internal/supervise"
)

// floorSample is one run of a control plane alone, without kplane serve.
type floorSample struct {
	prepare      time.Duration // controlplane.Prepare: PKI, kubeconfigs, spec.json (not in ready)
	ready        time.Duration // process start to the first /readyz 200
	bootstrapped time.Duration // process start to default namespaces and ServiceAccount (full only)
	rssKB        int64         // VmRSS of the child when it was ready (bootstrapped if full)
	load         string        // load average when it started
}

// runFloor starts `kplane controlplane-run`, each time on a fresh etcd, and
// times process start to /readyz 200: with an apiserver-only spec (the
// floor), or with all three components (full), then also to the objects
// kplane waits for before it calls a cluster ACTIVE.
func runFloor(ctx context.Context, cfg config, bin, dir string, n int, full bool) ([]floorSample, error) {
	fr, err := newFloorRunner(cfg, bin, dir, n, full)
	if err != nil {
		return nil, err
	}
	defer fr.close()
	for range n {
		if err := fr.runOne(ctx); err != nil {
			return fr.samples, err
		}
	}
	return fr.samples, nil
}

// floorRunner takes floor samples one at a time (so they can alternate with
// timed creates).
type floorRunner struct {
	ex      *controlplane.LocalExecutor
	cfg     config
	dir     string
	n       int
	full    bool
	samples []floorSample
}

func newFloorRunner(cfg config, bin, dir string, n int, full bool) (*floorRunner, error) {
	logFn := func(string, ...any) {}
	if cfg.verbose {
		logFn = func(format string, args ...any) { logf("floor: "+format, args...) }
	}
	ex, err := controlplane.NewLocalExecutor(supervise.Options{
		Executable:      bin,
		StopGracePeriod: 10 * time.Second,
		Logf:            logFn,
	})
	if err != nil {
		return nil, err
	}
	return &floorRunner{ex: ex, cfg: cfg, dir: dir, n: n, full: full}, nil
}

// runOne takes the next sample.
func (f *floorRunner) runOne(ctx context.Context) error {
	i := len(f.samples)
	s, err := floorOnce(ctx, f.ex, filepath.Join(f.dir, fmt.Sprint(i)), i, f.full, f.cfg.cmArgs)
	if err != nil {
		return err
	}
	what, boot := "floor (apiserver only)", ""
	if f.full {
		what, boot = "full control plane alone", fmt.Sprintf(", bootstrapped %s", s.bootstrapped.Round(time.Millisecond))
	}
	logf("%s %d/%d: ready %s after process start%s (Prepare %s, RSS %d MiB)",
		what, i+1, f.n, s.ready.Round(time.Millisecond), boot, s.prepare.Round(time.Millisecond), s.rssKB/1024)
	f.samples = append(f.samples, s)
	return nil
}

func (f *floorRunner) close() {
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f.ex.StopAll(sctx)
}

func floorOnce(ctx context.Context, ex *controlplane.LocalExecutor, dir string, i int, full bool, cmArgs []string) (floorSample, error) {
	var s floorSample
	etcdURL, closeEtcd, err := localetcd.Start(filepath.Join(dir, "etcd"))
	if err != nil {
		return s, err
	}
	defer closeEtcd()
	port, err := controlplane.AllocatePort()
	if err != nil {
		return s, err
	}
	id := fmt.Sprintf("floor%d", i)
	cc := controlplane.ClusterConfig{
		ID:            id,
		Dir:           filepath.Join(dir, "cluster"),
		SecurePort:    port,
		EtcdServers:   []string{etcdURL},
		APIServerOnly: !full,
		// As kplane's provisioner runs every cluster's apiserver.
		ExtraAPIServerArgs: []string{"--etcd-compaction-interval=0"},
	}
	if full {
		cc.ExtraControllerManagerArgs = cmArgs
	}
	t := time.Now()
	if _, _, err := controlplane.Prepare(cc); err != nil {
		return s, err
	}
	s.prepare = time.Since(t)
	s.load = loadAvg()
	// Ensure runs Prepare again (a no-op now: everything is in place) and
	// starts the child; StartedAt is taken right after the fork.
	if err := ex.Ensure(ctx, cc); err != nil {
		return s, err
	}
	st := ex.State(id)
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	err = controlplane.WaitReady(rctx, cc)
	cancel()
	if err != nil {
		return s, fmt.Errorf("%w\n%s", err, tail(controlplane.ProcessLogPath(cc.Dir), 1500))
	}
	s.ready = time.Since(st.StartedAt)
	if full {
		bctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		err = controlplane.WaitBootstrapped(bctx, cc)
		cancel()
		if err != nil {
			return s, fmt.Errorf("%w\n%s", err, tail(controlplane.ProcessLogPath(cc.Dir), 1500))
		}
		s.bootstrapped = time.Since(st.StartedAt)
	}
	s.rssKB = procStatusKB(st.PID, "VmRSS")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s, ex.Stop(sctx, id)
}

// tail is the end of a file, for error messages.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}
