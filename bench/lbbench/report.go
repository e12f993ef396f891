package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/kplane/kplane/bench/internal/load"
)

type report struct {
	cfg                config
	date               time.Time
	loadStart, loadEnd string
	commit             string
	runs               []result
}

// summary pools one target's runs: requests/s over all windows, and the
// median over rounds of each round's p50 and p99.
type summary struct {
	rps, p50, p99, selfUS float64 // selfUS: this process's CPU per request, µs
}

func (r *report) summarize(target string) summary {
	var ok int
	var window, selfCPU float64
	var p50, p99 []float64
	for _, x := range r.runs {
		if x.target != target {
			continue
		}
		ok += x.run.OK
		window += x.run.Window.Seconds()
		selfCPU += x.cpuSelf * x.run.Window.Seconds()
		p50 = append(p50, msf(x.run.Latency.P50))
		p99 = append(p99, msf(x.run.Latency.P99))
	}
	if ok == 0 {
		return summary{}
	}
	return summary{rps: float64(ok) / window, p50: median(p50), p99: median(p99), selfUS: selfCPU / float64(ok) * 1e6}
}

// roundRatios is, per round, through-lb requests/s over direct requests/s:
// the two runs of a round are adjacent in time, so load from elsewhere
// hits both alike.
func (r *report) roundRatios() []float64 {
	byRound := map[int]map[string]float64{}
	for _, x := range r.runs {
		if byRound[x.round] == nil {
			byRound[x.round] = map[string]float64{}
		}
		byRound[x.round][x.target] = x.run.Throughput()
	}
	var out []float64
	for i := 1; i <= len(byRound); i++ {
		if d := byRound[i]["direct"]; d > 0 {
			out = append(out, byRound[i]["through lb"]/d)
		}
	}
	return out
}

func (r *report) rows() [][]string {
	var rows [][]string
	for _, x := range r.runs {
		l := x.run.Latency
		rows = append(rows, []string{
			fmt.Sprint(x.round), x.target, fmt.Sprintf("%.0f", x.run.Throughput()),
			ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max), fmt.Sprint(x.run.Errors),
			fmt.Sprintf("%.2f", x.cpuAPIServer), fmt.Sprintf("%.2f", x.cpuSelf), fmt.Sprintf("%.2f", x.cpuOther),
		})
	}
	return rows
}

var header = []string{"round", "path", "req/s", "p50", "p90", "p99", "max", "errors", "cores: apiserver", "lbbench (load gen + lb)", "others"}

func (r *report) verdict() []string {
	d, l := r.summarize("direct"), r.summarize("through lb")
	ratios := r.roundRatios()
	cost := 1 - l.rps/d.rps
	goal := "met"
	if cost >= 0.10 {
		goal = "NOT met"
	}
	var rs []string
	for _, x := range ratios {
		rs = append(rs, fmt.Sprintf("%.3f", x))
	}
	return []string{
		fmt.Sprintf("direct: %.0f req/s, p50 %.2f ms, p99 %.2f ms; through lb: %.0f req/s, p50 %.2f ms, p99 %.2f ms (p50/p99: median over rounds).",
			d.rps, d.p50, d.p99, l.rps, l.p50, l.p99),
		fmt.Sprintf("Through lb / direct: requests/s %.3f (per round: %s), p50 %.2f×, p99 %.2f×.",
			l.rps/d.rps, strings.Join(rs, ", "), l.p50/d.p50, l.p99/d.p99),
		fmt.Sprintf("Balancer cost in throughput: %.1f%% (goal < 10%% at %d clients: %s).", 100*cost, r.cfg.clients, goal),
		fmt.Sprintf("lbbench process CPU per request: %.1f µs direct, %.1f µs through lb (the difference, %.1f µs, is the balancer's share).",
			d.selfUS, l.selfUS, l.selfUS-d.selfUS),
	}
}

func (r *report) command() string {
	return "go run ./bench/lbbench " + strings.Join(os.Args[1:], " ")
}

func (r *report) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nkube-apiserver GET /api/v1/namespaces/default, %d clients, direct vs through internal/lb\n\n", r.cfg.clients)
	w := make([]int, len(header))
	for i, h := range header {
		w[i] = len(h)
	}
	for _, row := range r.rows() {
		for i, c := range row {
			w[i] = max(w[i], len([]rune(c)))
		}
	}
	line := func(cells []string) {
		for i, c := range cells {
			fmt.Fprintf(&b, "%-*s  ", w[i], c)
		}
		b.WriteString("\n")
	}
	line(header)
	for _, row := range r.rows() {
		line(row)
	}
	b.WriteString("\n" + strings.Join(r.verdict(), "\n") + "\n")
	return b.String()
}

func (r *report) markdown() string {
	var b strings.Builder
	proto := "HTTP/2"
	if r.cfg.http1 {
		proto = "HTTP/1.1"
	}
	fmt.Fprintf(&b, "| | |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| date | %s |\n", r.date.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "| machine | %d CPUs (`nproc`), %s, Linux %s, %s |\n", runtime.NumCPU(), cpuModel(), kernelRelease(), memTotal())
	fmt.Fprintf(&b, "| Go | %s |\n", runtime.Version())
	fmt.Fprintf(&b, "| kplane | commit %s |\n", r.commit)
	fmt.Fprintf(&b, "| load average (1/5/15 min) | %s at start, %s at end |\n", r.loadStart, r.loadEnd)
	fmt.Fprintf(&b, "| command | `%s` |\n", r.command())
	fmt.Fprintf(&b, "| load | %d clients, each its own keep-alive %s connection, %s warm-up + %s measured per run, %d rounds (direct first in odd rounds) |\n\n",
		r.cfg.clients, proto, r.cfg.warmup, r.cfg.duration, r.cfg.rounds)
	b.WriteString("| " + strings.Join(header, " | ") + " |\n")
	b.WriteString(strings.Repeat("| --- ", len(header)) + "|\n")
	for _, row := range r.rows() {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	b.WriteString("\n")
	for _, v := range r.verdict() {
		b.WriteString(v + "\n")
	}
	return b.String()
}

func ms(d time.Duration) string   { return fmt.Sprintf("%.2f ms", msf(d)) }
func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	var kb int64
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "MemTotal:") {
			fmt.Sscan(strings.TrimPrefix(l, "MemTotal:"), &kb)
		}
	}
	return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
}

// Machine facts, shared by the benchmarks (bench/internal/load).
var (
	loadAvg       = load.LoadAvg
	cpuModel      = load.CPUModel
	kernelRelease = load.KernelRelease
)
