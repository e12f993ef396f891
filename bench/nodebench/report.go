package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/kplane/kplane/bench/internal/load"
	"github.com/kplane/kplane/internal/node"
)

// report is what one invocation measured.
type report struct {
	cfg                config
	command, commit    string
	serveDir           string
	started, finished  time.Time
	loadStart, loadEnd string
	floorReady         [][]time.Duration // per round, each node's node.Start -> Ready
	floorSteps         []*breakdown      // per round, the floor's nodes step by step
	idle               []node.Memory     // each node of each round, idle
	podStarts          []podStart        // per round
	nodegroups         []nodegroupRun    // per round
	ngPodStarts        []podStart        // per round, on the nodegroup's nodes
	density            *densityResult
	err                string
}

func (r *report) summary() []string {
	var lines []string
	var all, last []time.Duration
	for _, round := range r.floorReady {
		all = append(all, round...)
		last = append(last, slowest(round))
	}
	if len(all) > 0 {
		lines = append(lines, fmt.Sprintf("floor: %d nodes started by hand at once, node.Start -> Node Ready: per node %s; all %d Ready (per round) %s",
			len(r.floorReady[0]), durations(all), len(r.floorReady[0]), durations(last)))
	}
	if len(r.idle) > 0 {
		var worst node.Memory
		var sum, pss int64
		for _, m := range r.idle {
			sum += m.RSSKiB
			pss += m.PSSKiB
			if m.RSSKiB > worst.RSSKiB {
				worst = m
			}
		}
		// The goal is 200 MB (10^6 bytes), 190.7 MiB.
		verdict := "met"
		if worst.RSSKiB*1024 > 200e6 {
			verdict = "NOT met"
		}
		lines = append(lines, fmt.Sprintf("idle node memory (every process in its cgroups), %d nodes: RSS mean %d MiB, PSS mean %d MiB; largest %s; goal RSS <= 200 MB (190.7 MiB): %s",
			len(r.idle), sum/int64(len(r.idle))/1024, pss/int64(len(r.idle))/1024, worst, verdict))
	}
	for i, ps := range r.podStarts {
		lines = append(lines, fmt.Sprintf("pod start, round %d: Deployment of %d on %d hand-started nodes, create -> each pod Running: p50 %s, p99 %s (bound to a node -> Running: p50 %s, p99 %s; pods per node %v)",
			i+1, len(ps.Times), len(ps.ByNode), ms(percentile(ps.Times, 50)), ms(percentile(ps.Times, 99)), ms(percentile(ps.OnNode, 50)), ms(percentile(ps.OnNode, 99)), ps.ByNode))
	}
	for i, ng := range r.nodegroups {
		floor := slowest(r.floorReady[i])
		verdict := "met"
		if ng.Active.Seconds() > 1.3*floor.Seconds() {
			verdict = "NOT met"
		}
		lines = append(lines, fmt.Sprintf("round %d: CreateNodegroup of %d -> ACTIVE %s (nodes Ready at %s) vs floor (%d by hand, all Ready) %s: %.2fx; goal <= 1.3x: %s",
			i+1, len(ng.Nodes), ms(ng.Active), durations(ng.Ready), len(r.floorReady[i]), ms(floor), ng.Active.Seconds()/floor.Seconds(), verdict))
	}
	for i, ps := range r.ngPodStarts {
		hand := r.podStarts[i]
		lines = append(lines, fmt.Sprintf("pod start, round %d, on the nodegroup's nodes: p50 %s, p99 %s, bound -> Running p50 %s, p99 %s (hand-started nodes: p50 %s, p99 %s)",
			i+1, ms(percentile(ps.Times, 50)), ms(percentile(ps.Times, 99)), ms(percentile(ps.OnNode, 50)), ms(percentile(ps.OnNode, 99)), ms(percentile(hand.Times, 50)), ms(percentile(hand.Times, 99))))
	}
	if d := r.density; d != nil {
		lines = append(lines, d.lines()...)
	}
	if r.err != "" {
		lines = append(lines, "ERROR: "+r.err)
	}
	return lines
}

func slowest(d []time.Duration) time.Duration {
	var m time.Duration
	for _, x := range d {
		m = max(m, x)
	}
	return m
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
	return strings.Join(append(r.facts(), r.summary()...), "\n") + "\n" + r.breakdowns()
}

// breakdowns are the nodegroup rounds' step tables.
func (r *report) breakdowns() string {
	var b strings.Builder
	for i, ng := range r.nodegroups {
		if i < len(r.floorSteps) && r.floorSteps[i] != nil {
			fmt.Fprintf(&b, "\nround %d: the floor's nodes, step by step\n\n%s", i+1, r.floorSteps[i].table(nil))
		}
		if ng.Breakdown != nil {
			fmt.Fprintf(&b, "\nround %d: where CreateNodegroup's time went\n\n%s", i+1, ng.Breakdown.table(&ng))
		}
	}
	return b.String()
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
	b.WriteString(r.breakdowns())
	return b.String()
}

func suffixIf(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}

func numCPU() int { return runtime.NumCPU() }
