package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/kplane/kplane/bench/internal/load"
)

type report struct {
	cfg                config
	command            string
	started, finished  time.Time
	loadStart, loadEnd string
	rounds             []round
	err                string
}

func loadNow() string { return load.LoadAvg() }

func (r *report) lines() []string {
	out := []string{
		fmt.Sprintf("upgradebench: %s, %s", r.started.UTC().Format("2006-01-02 15:04 MST"), r.command),
		fmt.Sprintf("machine: %s, %d CPUs, kernel %s; commit %s; load %s at start, %s at end",
			load.CPUModel(), runtime.NumCPU(), load.KernelRelease(), load.GitCommit(), r.loadStart, r.loadEnd),
		fmt.Sprintf("a two-replica cluster created at %s (floor: CreateCluster to ACTIVE), then UpdateClusterVersion to %s (call to Successful) with %d clients on its endpoint",
			r.cfg.from, r.cfg.to, r.cfg.clients),
	}
	for i, rd := range r.rounds {
		out = append(out, fmt.Sprintf("- round %d: create %.2fs, upgrade %.2fs: %.2fx the create (goal <= 2x); %d calls during the upgrade, %d failed (goal 0); load %s at the call",
			i+1, rd.create.Seconds(), rd.upgrade.Seconds(), rd.ratio(), rd.calls, len(rd.failures), rd.loadAtUpgrade))
		for j, f := range rd.failures {
			if j == 5 {
				out = append(out, fmt.Sprintf("  ... and %d more", len(rd.failures)-5))
				break
			}
			out = append(out, "  failed: "+f)
		}
	}
	if r.err != "" {
		out = append(out, "error: "+r.err)
	}
	return out
}

// traces are the rounds' rolls step by step.
func (r *report) traces() string {
	var s strings.Builder
	for i, rd := range r.rounds {
		if len(rd.trace) > 0 {
			fmt.Fprintf(&s, "\nround %d, step by step:\n\n%s", i+1, traceTable(rd.trace))
		}
	}
	return s.String()
}

func (r *report) text() string { return strings.Join(r.lines(), "\n") + "\n" + r.traces() }

func (r *report) markdown() string {
	return "### Cluster upgrade (bench/upgradebench)\n\n" + strings.Join(r.lines(), "\n\n") + "\n" + r.traces()
}
