package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Goals from the issue.
const (
	goalRatio       = 1.3
	goalActive      = 40
	goalPerCluster  = 350e6 // bytes
	goalDescribeP99 = 50 * time.Millisecond
)

type report struct {
	cfg               config
	started, finished time.Time
	tmp               string
	facts             facts
	err               string

	floor    []floorSample
	floorCPU phaseCPU
	full     []floorSample
	fullCPU  phaseCPU

	serve     *server
	creates   []*createSample
	createCPU phaseCPU
	probes    []*createSample
	probeCPU  phaseCPU
	dens      *densityResult
	densCPU   phaseCPU
	cleanup   cleanupResult
}

// dstat is median/min/max of a sample.
type dstat struct {
	n             int
	med, min, max time.Duration
}

func stat(ds []time.Duration) dstat {
	var v []time.Duration
	for _, d := range ds {
		if d != 0 {
			v = append(v, d)
		}
	}
	if len(v) == 0 {
		return dstat{}
	}
	slices.Sort(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return dstat{n: len(v), med: m, min: v[0], max: v[len(v)-1]}
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func (s dstat) String() string {
	if s.n == 0 {
		return "—"
	}
	return fmt.Sprintf("%s (min %s, max %s)", secs(s.med), secs(s.min), secs(s.max))
}

func (r *report) floorStat() dstat {
	var d []time.Duration
	for _, f := range r.floor {
		d = append(d, f.ready)
	}
	return stat(d)
}

func fullStats(ss []floorSample) (ready, boot dstat) {
	var a, b []time.Duration
	for _, f := range ss {
		a, b = append(a, f.ready), append(b, f.bootstrapped)
	}
	return stat(a), stat(b)
}

func (r *report) prepareStat() dstat {
	var d []time.Duration
	for _, f := range append(slices.Clone(r.floor), r.full...) {
		d = append(d, f.prepare)
	}
	return stat(d)
}

func totals(ss []*createSample) dstat {
	var d []time.Duration
	for _, s := range ss {
		d = append(d, s.total())
	}
	return stat(d)
}

func (r *report) ratio() float64 {
	f, c := r.floorStat(), totals(r.creates)
	if f.n == 0 || c.n == 0 {
		return 0
	}
	return c.med.Seconds() / f.med.Seconds()
}

func pass(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func loads(ss []*createSample) string {
	var l []string
	for _, s := range ss {
		l = append(l, strings.Fields(s.load)[0])
	}
	return strings.Join(l, ", ")
}

func (r *report) command() string {
	args := []string{"go run ./bench/controlplanebench"}
	for _, a := range os.Args[1:] {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		args = append(args, a)
	}
	return strings.Join(args, " ")
}

// between is b-a, or 0 if either is unknown.
func between(a, b time.Time) time.Duration {
	if a.IsZero() || b.IsZero() {
		return 0
	}
	if d := b.Sub(a); d != 0 {
		return d
	}
	return time.Nanosecond
}

func latest(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.IsZero() {
			return time.Time{}
		}
		if t.After(m) {
			m = t
		}
	}
	return m
}

// step is one leg of create→ACTIVE, measured per sample.
type step struct {
	name string
	f    func(*createSample) time.Duration
}

var steps = []step{
	{"CreateCluster call (sent → answered)", func(s *createSample) time.Duration { return between(s.sent, s.returned) }},
	{"→ etcd role/user granted, client cert written (pki/etcd-client.crt mtime)", func(s *createSample) time.Duration { return between(s.returned, s.etcdCert) }},
	{"→ PKI, kubeconfigs, spec.json written (controlplane.Prepare; spec.json mtime)", func(s *createSample) time.Duration { return between(s.etcdCert, s.spec) }},
	{"→ child process started (serve log \"control plane ID: started pid\")", func(s *createSample) time.Duration { return between(s.spec, s.pidLog) }},
	{"→ ACTIVE recorded (serve log \"cluster status … ACTIVE\")", func(s *createSample) time.Duration { return between(s.pidLog, s.activeLog) }},
	{"    of which: process start → /readyz 200 (probed)", func(s *createSample) time.Duration { return between(s.pidLog, s.readyz) }},
	{"    of which: /readyz 200 → default ServiceAccount exists (probed)", func(s *createSample) time.Duration { return between(s.readyz, s.sa) }},
	{"    of which: bootstrap objects exist → ACTIVE recorded (probed)", func(s *createSample) time.Duration {
		return between(latest(s.nsDefault, s.nsSystem, s.sa), s.activeLog)
	}},
	{"→ DescribeCluster sees ACTIVE (100 ms polls)", func(s *createSample) time.Duration { return between(s.activeLog, s.seen) }},
	{"total: CreateCluster sent → ACTIVE seen", func(s *createSample) time.Duration { return s.total() }},
}

func stepStat(ss []*createSample, st step) dstat {
	var d []time.Duration
	for _, s := range ss {
		d = append(d, st.f(s))
	}
	return stat(d)
}

func msStat(s dstat) string {
	if s.n == 0 {
		return "—"
	}
	return fmt.Sprintf("%d ms (%d–%d)", s.med.Milliseconds(), s.min.Milliseconds(), s.max.Milliseconds())
}

func (r *report) breakdownRows() ([]string, [][]string) {
	h := []string{"step", fmt.Sprintf("timed creates (%d), median (min–max)", len(r.creates)), fmt.Sprintf("probed creates (%d)", len(r.probes))}
	var rows [][]string
	for _, st := range steps {
		rows = append(rows, []string{st.name, msStat(stepStat(r.creates, st)), msStat(stepStat(r.probes, st))})
	}
	return h, rows
}

func (r *report) densityRows() ([]string, [][]string) {
	h := []string{"cluster #", "create → ACTIVE", "load avg (1 min) at create", "MemAvailable at create", "kplane serve VmRSS after"}
	var rows [][]string
	if r.dens == nil {
		return h, nil
	}
	n := len(r.dens.samples)
	for i, s := range r.dens.samples {
		if i == 0 || (i+1)%10 == 0 || i == n-1 {
			rows = append(rows, []string{fmt.Sprint(i + 1), secs(s.total()), strings.Fields(s.load)[0], mib(s.memAvailKB), mib(s.serveRSSKB)})
		}
	}
	return h, rows
}

func table(h []string, rows [][]string) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(h, "\t"))
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	w.Flush()
	return b.String()
}

func mdTable(h []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(h, " | ") + " |\n|")
	for range h {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

func mb(kb int64) string {
	return fmt.Sprintf("%.0f MB (%.0f MiB)", float64(kb)*1024/1e6, float64(kb)/1024)
}

func phaseNote(p phaseCPU) string {
	if p.wall == 0 {
		return "—"
	}
	return fmt.Sprintf("load %s → %s; this benchmark's processes %.2f cores, everything else %.2f cores (over %s)",
		p.loadStart, p.loadEnd, p.oursCores(), p.otherCores(), p.wall.Round(time.Second))
}

// summaryRows is the headline table.
func (r *report) summaryRows() ([]string, [][]string) {
	h := []string{"measure", "result", "goal", ""}
	var rows [][]string
	fs := r.floorStat()
	rows = append(rows, []string{
		fmt.Sprintf("Floor: kube-apiserver alone (`controlplane-run`, apiserver-only spec), process start → /readyz 200, fresh etcd each run, %d runs", fs.n),
		fs.String(), "", ""})
	cs := totals(r.creates)
	if cs.n > 0 {
		ratio := r.ratio()
		rows = append(rows,
			[]string{fmt.Sprintf("CreateCluster → DescribeCluster ACTIVE (100 ms polls), %d clusters one after another, each deleted before the next, alternating with the floor runs", cs.n), cs.String(), "", ""},
			[]string{"create → ACTIVE median / floor median", fmt.Sprintf("%.2f×", ratio), fmt.Sprintf("≤ %.1f×", goalRatio), pass(ratio <= goalRatio)})
	}
	if fr, fb := fullStats(r.full); fr.n > 0 {
		extra := ""
		if len(r.cfg.cmArgs) > 0 {
			extra = fmt.Sprintf(" (controller-manager with extra flags `%s`)", strings.Join(r.cfg.cmArgs, " "))
		}
		rows = append(rows,
			[]string{fmt.Sprintf("For comparison, the full control plane alone%s, same child and fresh etcd, no kplane serve, %d runs: process start → /readyz 200", extra, fr.n), fr.String(), "", ""},
			[]string{"… and → namespaces default, kube-system and ServiceAccount default/default exist (what kplane waits for before ACTIVE)", fb.String(), "", ""})
		if cs.n > 0 {
			rows = append(rows, []string{"create → ACTIVE median / full control plane alone, bootstrapped, median (kplane's own share)",
				fmt.Sprintf("%.2f×", cs.med.Seconds()/fb.med.Seconds()), "", ""})
		}
	}
	if d := r.dens; d != nil && d.final != nil {
		m := d.final
		rows = append(rows, []string{
			fmt.Sprintf("Idle clusters ACTIVE at once (created one after another; stopped: %s)", d.stop),
			fmt.Sprint(m.active), fmt.Sprintf("≥ %d", goalActive), pass(m.active >= goalActive)})
		if c := d.checkpoint; c != nil {
			rows = append(rows, r.measureRows(c)...)
		}
		rows = append(rows, r.measureRows(m)...)
	}
	return h, rows
}

// measureRows are the summary rows of one idle measurement.
func (r *report) measureRows(m *measurement) [][]string {
	at := fmt.Sprintf("at %d clusters: ", m.active)
	per := m.perClusterKB(false)
	rows := [][]string{{
		fmt.Sprintf("%sMemory per idle cluster, RSS: (Σ VmRSS of %d controlplane-run + kplane serve) / %d, after %s idle", at, m.procs, m.active, m.idle.Round(time.Second)),
		mb(per), "< 350 MB", pass(float64(per)*1024 < goalPerCluster)}}
	if m.pssOK {
		pss := m.perClusterKB(true)
		rows = append(rows, []string{at + "Memory per idle cluster, PSS (the binary's shared pages split between the processes)",
			mb(pss), "< 350 MB", pass(float64(pss)*1024 < goalPerCluster)})
	}
	rows = append(rows,
		[]string{at + "kplane serve alone (VmRSS; its embedded etcd serves every cluster)", mb(m.serveRSS), "", ""},
		[]string{at + "CPU the idle clusters use (kplane serve + children, over the idle time) / load average at its end",
			fmt.Sprintf("%.2f cores (kplane serve %.2f, control planes %.2f; %.0f millicores per cluster) / %s",
				m.idleCPU, m.idleServ, m.idleCPU-m.idleServ, 1000*m.idleCPU/float64(max(m.active, 1)), m.loadIdle), "", ""})
	if m.describe.OK > 0 {
		l := m.describe.Latency
		rows = append(rows, []string{
			fmt.Sprintf("%sDescribeCluster across them: %d clients, SigV4 per request, %s (load %s before)", at, r.cfg.clients, r.cfg.duration, m.describeLoad),
			fmt.Sprintf("p99 %s (p50 %s, max %s; %.0f req/s, %d errors; kplane serve %.2f cores, machine %.2f)",
				ms(l.P99), ms(l.P50), ms(l.Max), m.describe.Throughput(), m.describe.Errors, m.describeServe, m.describeMach),
			"p99 < 50 ms", pass(l.P99 < goalDescribeP99)})
	}
	return rows
}

func measureText(m *measurement, memStart int64) string {
	if m == nil {
		return ""
	}
	return fmt.Sprintf("  at %d clusters, after %s idle: %d ACTIVE, %d with health issues, not ACTIVE: %v\n"+
		"    %d controlplane-run processes: Σ VmRSS %s, Σ PSS %s, Σ RssAnon %s; kplane serve VmRSS %s, PSS %s\n"+
		"    MemAvailable %s (%s before the density run; machine-wide)\n",
		m.clusters, m.idle.Round(time.Second), m.active, m.withIssue, m.notActive,
		m.procs, mib(m.sumRSS), mib(m.sumPSS), mib(m.sumAnon), mib(m.serveRSS), mib(m.servePSS), mib(m.memAvail), mib(memStart))
}

func (r *report) text() string {
	var b strings.Builder
	f := r.facts
	fmt.Fprintf(&b, "\nkplane control-plane benchmark, %s\n", f.date)
	fmt.Fprintf(&b, "machine: %d × %s, MemTotal %s, Linux %s; bench %s; binary %s; Kubernetes %s; tree %s\n",
		f.nproc, f.cpu, mib(f.memTotalKB), f.kernel, f.goBench, f.goBinary, f.k8s, f.tree)
	fmt.Fprintf(&b, "command: %s (took %s)\n", r.command(), r.finished.Sub(r.started).Round(time.Second))
	if r.err != "" {
		fmt.Fprintf(&b, "ERROR: %s\n", r.err)
	}
	b.WriteString("\n")
	h, rows := r.summaryRows()
	b.WriteString(table(h, rows))
	b.WriteString("\nFloor runs:\n")
	for i, s := range r.floor {
		fmt.Fprintf(&b, "  %d: ready %s after process start; Prepare %s; RSS at ready %s; load %s\n",
			i+1, secs(s.ready), s.prepare.Round(time.Millisecond), mib(s.rssKB), s.load)
	}
	if len(r.full) > 0 {
		b.WriteString("Full control plane alone:\n")
	}
	for i, s := range r.full {
		fmt.Fprintf(&b, "  %d: ready %s, bootstrapped %s after process start; Prepare %s; RSS at bootstrapped %s; load %s\n",
			i+1, secs(s.ready), secs(s.bootstrapped), s.prepare.Round(time.Millisecond), mib(s.rssKB), s.load)
	}
	fmt.Fprintf(&b, "controlplane.Prepare (PKI incl. RSA-2048 service-account key, kubeconfigs, spec), not in the floor: %s\n", r.prepareStat())
	for _, set := range []struct {
		name string
		ss   []*createSample
	}{{"Timed creates", r.creates}, {"Probed creates", r.probes}} {
		if len(set.ss) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s:\n", set.name)
		for i, s := range set.ss {
			fmt.Fprintf(&b, "  %d: %s (%s) ACTIVE after %s; load %s\n", i+1, s.name, s.id, secs(s.total()), s.load)
		}
	}
	b.WriteString("\nWhere create → ACTIVE goes (medians; steps measured per cluster, so they need not add up):\n")
	h, rows = r.breakdownRows()
	b.WriteString(table(h, rows))
	if d := r.dens; d != nil {
		fmt.Fprintf(&b, "\nDensity: %d clusters created; stopped: %s\n", len(d.samples), d.stop)
		if d.removed != "" {
			fmt.Fprintf(&b, "  removed before measuring (did not come up): %s\n", d.removed)
		}
		b.WriteString(measureText(d.checkpoint, d.memAvailStart))
		b.WriteString(measureText(d.final, d.memAvailStart))
		h, rows = r.densityRows()
		b.WriteString(table(h, rows))
	}
	b.WriteString("\nCPU by phase (shared machine):\n")
	for _, p := range []struct {
		n string
		c phaseCPU
	}{{"floor", r.floorCPU}, {"full alone", r.fullCPU}, {"floor+creates", r.createCPU}, {"probed creates", r.probeCPU}, {"density", r.densCPU}} {
		fmt.Fprintf(&b, "  %-15s %s\n", p.n, phaseNote(p.c))
	}
	fmt.Fprintf(&b, "\nCleanup: kplane serve stopped by %s in %s; control-plane processes left afterwards: %d; pgrep -f DATA_DIR: %s\n",
		r.cleanup.how, r.cleanup.took.Round(time.Millisecond), len(r.cleanup.leftover), r.cleanup.pgrep)
	return b.String()
}

func (r *report) markdown() string {
	var b strings.Builder
	f := r.facts
	b.WriteString("## Control planes\n\n")
	fmt.Fprintf(&b, "Measured %s with\n\n```sh\n%s\n```\n\n", f.date, r.command())
	fmt.Fprintf(&b, "on %d × %s, %s RAM, Linux %s; Go %s; Kubernetes %s (the `k8s.io/kubernetes` module in the binary's build info); tree %s. The run took %s.",
		f.nproc, f.cpu, mib(f.memTotalKB), f.kernel, strings.TrimPrefix(f.goBinary, "go"), f.k8s, f.tree, r.finished.Sub(r.started).Round(time.Second))
	if r.err != "" {
		fmt.Fprintf(&b, " **The run ended with an error:** `%s`", firstLine(r.err))
	}
	b.WriteString("\n\n")
	h, rows := r.summaryRows()
	b.WriteString(mdTable(h, rows))
	b.WriteString("\nWhere create → ACTIVE goes, per cluster (median, min–max, ms). The timed creates are only polled with DescribeCluster; the probed creates are also watched from outside (`/readyz` and the bootstrap objects polled every 50 ms with the admin certificate). Steps come from kplane serve's log, file modification times in the cluster directory and the probes; their medians need not add up to the total.\n\n")
	h, rows = r.breakdownRows()
	b.WriteString(mdTable(h, rows))
	fmt.Fprintf(&b, "\ncontrolplane.Prepare alone (PKI with an RSA-2048 service-account key, kubeconfigs, spec.json; not part of the floor): %s.\n", r.prepareStat())
	if d := r.dens; d != nil && len(d.samples) > 0 {
		b.WriteString("\nCreate → ACTIVE as the machine fills up (density run):\n\n")
		h, rows = r.densityRows()
		b.WriteString(mdTable(h, rows))
		for _, m := range []*measurement{d.checkpoint, d.final} {
			if m != nil {
				fmt.Fprintf(&b, "\nAt %d clusters: %d controlplane-run processes, Σ VmRSS %s, Σ PSS %s, Σ RssAnon %s; kplane serve VmRSS %s, PSS %s; MemAvailable %s (%s before the density run; machine-wide).\n",
					m.clusters, m.procs, mib(m.sumRSS), mib(m.sumPSS), mib(m.sumAnon), mib(m.serveRSS), mib(m.servePSS), mib(m.memAvail), mib(d.memAvailStart))
			}
		}
	}
	b.WriteString("\nLoad while measuring (a shared machine: \"everything else\" is other people's processes, and kernel threads):\n\n")
	var phases [][]string
	if r.floorCPU.wall > 0 { // else the floor runs alternate with the creates
		phases = append(phases, []string{"floor", phaseNote(r.floorCPU)})
	}
	phases = append(phases,
		[]string{"full control plane alone", phaseNote(r.fullCPU)},
		[]string{"floor runs and timed creates, alternating (1-min load at each create: " + loads(r.creates) + ")", phaseNote(r.createCPU)},
		[]string{"probed creates", phaseNote(r.probeCPU)},
		[]string{"density", phaseNote(r.densCPU)})
	b.WriteString(mdTable([]string{"phase", "load average and CPU"}, phases))
	fmt.Fprintf(&b, "\nCleanup: kplane serve stopped by %s in %s; control-plane processes left: %d (`pgrep -f DATA_DIR`: %s).\n",
		r.cleanup.how, r.cleanup.took.Round(time.Millisecond), len(r.cleanup.leftover), r.cleanup.pgrep)
	return b.String()
}
