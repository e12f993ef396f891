// Command upgradebench measures UpdateClusterVersion of a two-replica
// cluster: from the call to the update's Successful, next to the time the
// same cluster took from CreateCluster to ACTIVE at the older minor in the
// same round (the floor: the goal is an upgrade within 2x a create),
// with the calls a client hammering the cluster's endpoint made meanwhile
// and how many failed (goal 0). Run it from the repository root after
// `make build` (it needs bin/kplane-k8s-FROM beside the kplane it runs):
//
//	make build && go run ./bench/upgradebench -kplane bin/kplane
//
// Progress goes to stderr, the report (plain text, then markdown for
// docs/benchmarks.md) to stdout. kplane serve runs on a temp data dir and
// loopback; it and its control planes are stopped and the dir removed at
// the end, on failure or on Ctrl-C.
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
	kplane   string
	from, to string
	runs     int
	clients  int
	timeout  time.Duration
	keep     bool
	out      string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.kplane, "kplane", "bin/kplane", "the kplane binary; kplane-k8s-FROM must be beside it (make build)")
	flag.StringVar(&cfg.from, "from", "1.36", "the minor clusters are created at")
	flag.StringVar(&cfg.to, "to", "1.37", "the minor they are upgraded to")
	flag.IntVar(&cfg.runs, "runs", 2, "rounds: each creates a cluster at -from, upgrades it to -to while hammering it, deletes it")
	flag.IntVar(&cfg.clients, "clients", 4, "clients calling the cluster's endpoint during the upgrade (each a GET every 10 ms)")
	flag.DurationVar(&cfg.timeout, "timeout", 40*time.Minute, "bound on the whole run")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temp dir (logs, data dir) after the run")
	flag.StringVar(&cfg.out, "out", "", "also write the markdown report to this file")
	flag.Parse()
	ctx, cancel := load.RunContext(cfg.timeout, logf)
	r := &report{cfg: cfg, started: time.Now(), loadStart: load.LoadAvg(),
		command: strings.Join(append([]string{"go run ./bench/upgradebench"}, os.Args[1:]...), " ")}
	err := run(ctx, cfg, r)
	cancel()
	r.finished, r.loadEnd = time.Now(), load.LoadAvg()
	if err != nil {
		r.err = err.Error()
	}
	load.Finish("upgradebench", cfg.out, r.text(), r.markdown(), err)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s [load %s] %s\n", time.Now().Format("15:04:05.000"), load.LoadAvg(), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, cfg config, r *report) error {
	bin, err := filepath.Abs(cfg.kplane)
	if err != nil {
		return err
	}
	prog := filepath.Join(filepath.Dir(bin), "kplane-k8s-"+cfg.from)
	if _, err := os.Stat(prog); err != nil {
		return fmt.Errorf("%s is missing: run make build (it builds bin/kplane-k8s-%s from k8s/v%s)", prog, cfg.from, cfg.from)
	}
	tmp, err := os.MkdirTemp("", "upgradebench-")
	if err != nil {
		return err
	}
	if cfg.keep {
		logf("keeping %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	srv, err := startServe(ctx, bin, tmp)
	if err != nil {
		return err
	}
	defer srv.stop()
	for i := range cfg.runs {
		rd, err := srv.round(ctx, cfg, fmt.Sprintf("up%d", i))
		r.rounds = append(r.rounds, rd)
		if err != nil {
			return fmt.Errorf("round %d: %w (kplane log: %s)", i+1, err, srv.LogPath)
		}
		logf("round %d: create %v, upgrade %v (%.2fx), %d calls, %d failed",
			i+1, rd.create.Round(time.Millisecond), rd.upgrade.Round(time.Millisecond), rd.ratio(), rd.calls, len(rd.failures))
	}
	return nil
}

// leftovers names processes still running from dir (none expected).
func leftovers(dir string) error {
	out, _ := exec.Command("pgrep", "-f", dir).Output()
	if s := strings.TrimSpace(string(out)); s != "" {
		return errors.New("processes left: " + strings.ReplaceAll(s, "\n", " "))
	}
	return nil
}
