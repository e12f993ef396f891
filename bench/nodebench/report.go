package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/kplane/kplane/bench/internal/load"
)

// report is what one invocation measured.
type report struct {
	cfg                config
	command, commit    string
	serveDir           string
	started, finished  time.Time
	loadStart, loadEnd string
	floorReady         [][]time.Duration // per round, each node's node.Start -> Ready
	idle               []nodeMemory      // each node of each round, idle
	podStarts          []podStart        // per round
	err                string
}

func (r *report) summary() []string {
	var lines []string
	var all, last []time.Duration
	for _, round := range r.floorReady {
		all = append(all, round...)
		slowest := time.Duration(0)
		for _, d := range round {
			slowest = max(slowest, d)
		}
		last = append(last, slowest)
	}
	if len(all) > 0 {
		lines = append(lines, fmt.Sprintf("floor: %d nodes started by hand at once, node.Start -> Node Ready: per node %s; all %d Ready (per round) %s",
			len(r.floorReady[0]), durations(all), len(r.floorReady[0]), durations(last)))
	}
	if len(r.idle) > 0 {
		var worst nodeMemory
		var sum, pss int64
		for _, m := range r.idle {
			sum += m.TotalKiB
			pss += m.PssKiB
			if m.TotalKiB > worst.TotalKiB {
				worst = m
			}
		}
		// The goal is 200 MB (10^6 bytes), 190.7 MiB.
		verdict := "met"
		if worst.TotalKiB*1024 > 200e6 {
			verdict = "NOT met"
		}
		lines = append(lines, fmt.Sprintf("idle node memory (every process in its cgroups), %d nodes: RSS mean %d MiB, PSS mean %d MiB; largest %s; goal RSS <= 200 MB (190.7 MiB): %s",
			len(r.idle), sum/int64(len(r.idle))/1024, pss/int64(len(r.idle))/1024, worst, verdict))
	}
	for i, ps := range r.podStarts {
		lines = append(lines, fmt.Sprintf("pod start, round %d: Deployment of %d on %d hand-started nodes, create -> each pod Running: p50 %s, p99 %s, max %s (pods per node %v)",
			i+1, len(ps.Times), len(ps.ByNode), ms(percentile(ps.Times, 50)), ms(percentile(ps.Times, 99)), ms(ps.Times[len(ps.Times)-1]), ps.ByNode))
	}
	if r.err != "" {
		lines = append(lines, "ERROR: "+r.err)
	}
	return lines
}

func durations(d []time.Duration) string {
	var s []string
	for _, x := range d {
		s = append(s, ms(x))
	}
	return strings.Join(s, " ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func (r *report) facts() []string {
	return []string{
		fmt.Sprintf("machine: %s, %d CPUs, kernel %s, MemTotal %d MiB", load.CPUModel(), numCPU(), load.KernelRelease(), load.KeyKB("/proc/meminfo", "MemTotal")/1024),
		fmt.Sprintf("run: %s - %s UTC (%s), load average %s at start, %s at end", r.started.UTC().Format("2006-01-02 15:04"), r.finished.UTC().Format("15:04"), r.finished.Sub(r.started).Round(time.Second), r.loadStart, r.loadEnd),
		"commit: " + r.commit,
		"command: " + r.command,
	}
}

func (r *report) text() string {
	return strings.Join(append(r.facts(), r.summary()...), "\n")
}

func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString("### Nodes (bench/nodebench)\n\n")
	for _, f := range r.facts() {
		fmt.Fprintf(&b, "- %s\n", strings.Replace(f, "command: ", "command: `", 1)+suffixIf(strings.HasPrefix(f, "command: "), "`"))
	}
	b.WriteString("\n")
	for _, l := range r.summary() {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	return b.String()
}

func suffixIf(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}

func numCPU() int { return runtime.NumCPU() }
