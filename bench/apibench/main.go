// Command apibench benchmarks kplane's EKS API against moto's mock EKS.
//
// In one run it builds kplane (or takes --kplane), starts it with
// --no-reconcile on a fresh data directory and moto_server, both on free
// loopback ports, and measures:
//
//  1. DescribeCluster: --clients concurrent closed-loop clients, each request
//     SigV4-signed afresh, for --warmup then --duration; req/s, latency
//     percentiles, errors, and who used the CPU meanwhile.
//  2. ListClusters: kplane filled with --clusters clusters (16 parallel
//     creators, timed), then --list-passes full passes of maxResults=100
//     pages, each pass checked to list every cluster exactly once; the same
//     against moto filled with --moto-clusters (moto is slow to fill).
//  3. kplane's resident memory afterwards.
//
// It prints a plain table, then the same results as markdown for
// docs/benchmarks.md. Everything it started is stopped and removed on exit,
// failure or Ctrl-C. Only loopback is used.
//
//	go run ./bench/apibench [flags]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kplane/kplane/bench/internal/load"
	"github.com/kplane/kplane/internal/auth"
)

type config struct {
	kplane       string
	motoServer   string
	region       string
	clients      int
	warmup       time.Duration
	duration     time.Duration
	clusters     int
	motoClusters int
	createWorker int
	pageSize     int
	listPasses   int
	skipMoto     bool
	keep         bool
	cpuProfile   string
	perfOut      string
	out          string
	kplaneEnv    envList
	describeRuns int
	quiet        float64
	quietWait    time.Duration
}

// envList is a repeatable KEY=VALUE flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }
func (e *envList) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

func main() {
	var c config
	flag.StringVar(&c.kplane, "kplane", "", "kplane binary to benchmark (default: go build ./cmd/kplane into the temp dir)")
	flag.StringVar(&c.motoServer, "moto-server", "moto_server", "moto_server executable")
	flag.StringVar(&c.region, "region", "us-west-2", "region to sign for")
	flag.IntVar(&c.clients, "clients", 16, "concurrent DescribeCluster clients")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "DescribeCluster warm-up, not measured")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "DescribeCluster measured time per server")
	flag.IntVar(&c.clusters, "clusters", 10000, "clusters to create in kplane for ListClusters (0 skips the ListClusters benchmark)")
	flag.IntVar(&c.motoClusters, "moto-clusters", 1000, "clusters to create in moto for ListClusters (moto fills slowly)")
	flag.IntVar(&c.createWorker, "create-workers", 16, "parallel CreateCluster clients")
	flag.IntVar(&c.pageSize, "page-size", 100, "ListClusters maxResults")
	flag.IntVar(&c.listPasses, "list-passes", 5, "full ListClusters pagination passes per measurement")
	flag.BoolVar(&c.skipMoto, "skip-moto", false, "benchmark kplane only")
	flag.BoolVar(&c.keep, "keep", false, "keep the temp dir (data dir, server logs) for inspection")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of this load generator during kplane's DescribeCluster window")
	flag.StringVar(&c.perfOut, "perf", "", "run `perf record -g` on the kplane process during its DescribeCluster window, writing this file")
	flag.StringVar(&c.out, "out", "", "also write the markdown report to this file")
	flag.IntVar(&c.describeRuns, "describe-runs", 1, "DescribeCluster runs per server (alternating kplane, moto); the verdict uses kplane's quietest run")
	flag.Float64Var(&c.quiet, "quiet", 0.25, "before each DescribeCluster run, wait until processes other than the benchmark's use fewer than this many cores (over 3 s)")
	flag.DurationVar(&c.quietWait, "quiet-wait", 2*time.Minute, "longest wait for --quiet before measuring anyway (0: do not wait)")
	flag.Var(&c.kplaneEnv, "kplane-env", "KEY=VALUE added to kplane's environment, e.g. GOGC=400 (repeatable)")
	flag.Parse()
	if c.clients < 1 || c.describeRuns < 1 || c.createWorker < 1 || c.pageSize < 1 || c.pageSize > 100 || c.listPasses < 1 {
		fmt.Fprintln(os.Stderr, "apibench: --clients, --create-workers, --list-passes must be ≥ 1 and --page-size 1..100")
		os.Exit(2)
	}
	os.Exit(run(c))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

// run does the whole benchmark and returns the exit code. Every resource it
// takes is released by its deferred cleanups, in reverse order, whatever happens.
func run(c config) int {
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			stopSignals() // a second Ctrl-C kills us outright; Pdeathsig then takes the servers down
			logf("interrupted: cleaning up")
		case <-finished:
		}
	}()

	if err := bench(ctx, c); err != nil {
		if ctx.Err() != nil {
			logf("interrupted; everything it started is stopped and removed")
			return 130
		}
		logf("FAILED: %v", err)
		return 1
	}
	return 0
}

func bench(ctx context.Context, c config) (err error) {
	rep := &report{cfg: c, facts: gatherFacts()}
	logf("machine: %d CPUs (%s), load average %s", rep.facts.nproc, rep.facts.cpu, rep.facts.loadStart)

	tmp, err := os.MkdirTemp("", "apibench-")
	if err != nil {
		return err
	}
	defer func() {
		if c.keep {
			logf("kept %s", tmp)
			return
		}
		os.RemoveAll(tmp)
	}()

	bin := c.kplane
	if bin == "" {
		logf("building kplane (go build ./cmd/kplane)")
		if bin, err = buildKplane(ctx, tmp); err != nil {
			return err
		}
	}

	// --- start the servers ---
	kport, err := freePort()
	if err != nil {
		return err
	}
	dataDir := filepath.Join(tmp, "kplane-data")
	quota := max(2*c.clusters, 100)
	kp, err := startProc("kplane", filepath.Join(tmp, "kplane.log"), c.kplaneEnv, bin, "serve",
		"--data-dir", dataDir, "--listen", fmt.Sprintf("127.0.0.1:%d", kport),
		"--log-level", "warn", "--no-reconcile", "--cluster-quota", strconv.Itoa(quota))
	if err != nil {
		return err
	}
	defer func() {
		kp.stop(15 * time.Second)
		logf("stopped kplane")
	}()
	var moto *proc
	var mport int
	if !c.skipMoto {
		if mport, err = freePort(); err != nil {
			return err
		}
		moto, err = startProc("moto", filepath.Join(tmp, "moto.log"), nil, c.motoServer, "-H", "127.0.0.1", "-p", strconv.Itoa(mport))
		if err != nil {
			return err
		}
		defer func() {
			moto.stop(5 * time.Second)
			logf("stopped moto_server")
		}()
	}

	kurl := fmt.Sprintf("http://127.0.0.1:%d", kport)
	if err := waitUntil(ctx, kp, 120*time.Second, httpOK(kurl+"/_kplane/readyz")); err != nil {
		return err
	}
	akid, secret, err := auth.ReadCredentialsFile(filepath.Join(dataDir, "credentials"))
	if err != nil {
		return err
	}
	subnets, err := kplaneSubnets(ctx, bin, dataDir)
	if err != nil {
		return err
	}
	kt := load.NewTarget("kplane", kurl, c.region, aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, Source: "kplane"}, c.clients)
	defer kt.Close()
	logf("kplane ready at %s (pid %d), subnets %v", kurl, kp.pid(), subnets)

	var mt *load.Target
	motoSubnets := []string{"subnet-0bench0000000001", "subnet-0bench0000000002"}
	if moto != nil {
		mt = load.NewTarget("moto", fmt.Sprintf("http://127.0.0.1:%d", mport), c.region,
			aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing", Source: "moto"}, c.clients)
		defer mt.Close()
		// moto routes on the signed service name, so probe with a signed ListClusters.
		err := waitUntil(ctx, moto, 60*time.Second, func() error {
			_, err := mt.ListClusters(ctx, 1, "")
			return err
		})
		if err != nil {
			return err
		}
		logf("moto ready at %s (pid %d)", mt.BaseURL, moto.pid())
	}

	// --- DescribeCluster ---
	// The described cluster is the first of the names ListClusters fills in
	// later, so kplane ends up with exactly --clusters clusters.
	first := clusterName(0)
	if err := kt.EnsureRole(ctx); err != nil {
		return err
	}
	if _, err := kt.CreateCluster(ctx, first, subnets); err != nil {
		return err
	}
	if mt != nil {
		if _, err := mt.CreateCluster(ctx, first, motoSubnets); err != nil {
			return err
		}
	}
	for run := 1; run <= c.describeRuns; run++ {
		d, err := describe(ctx, c, kt, kp, moto, run == 1, run)
		if err != nil {
			return err
		}
		rep.describe = append(rep.describe, d)
		if mt != nil {
			d, err := describe(ctx, c, mt, moto, kp, false, run)
			if err != nil {
				return err
			}
			rep.describe = append(rep.describe, d)
		}
	}

	// --- ListClusters ---
	if c.clusters > 0 {
		have := 1
		stages := []int{c.clusters}
		if c.clusters > 1000 {
			stages = []int{1000, c.clusters} // a point comparable with moto's fill
		}
		for _, n := range stages {
			cr, err := createClusters(ctx, kt, have, n, subnets, c.createWorker)
			if err != nil {
				return err
			}
			have = n
			rep.creates = append(rep.creates, cr)
			lr, err := listPasses(ctx, kt, n, c.pageSize, c.listPasses)
			if err != nil {
				return err
			}
			rep.lists = append(rep.lists, lr)
		}
		if mt != nil && c.motoClusters > 0 {
			cr, err := createClusters(ctx, mt, 1, c.motoClusters, motoSubnets, c.createWorker)
			if err != nil {
				return err
			}
			rep.creates = append(rep.creates, cr)
			lr, err := listPasses(ctx, mt, c.motoClusters, c.pageSize, c.listPasses)
			if err != nil {
				return err
			}
			rep.lists = append(rep.lists, lr)
		}
	}

	// --- memory ---
	rep.kplaneRSS, rep.kplaneHWM = procStatusKB(kp.pid(), "VmRSS"), procStatusKB(kp.pid(), "VmHWM")
	if moto != nil {
		rep.motoRSS = procStatusKB(moto.pid(), "VmRSS")
	}
	rep.facts.loadEnd = loadAvg()
	if kp.exited() {
		return fmt.Errorf("kplane exited during the benchmark: %v\n%s", kp.err, kp.logTail())
	}

	md := rep.markdown()
	fmt.Println(rep.text())
	fmt.Println("----- markdown (paste into docs/benchmarks.md) -----")
	fmt.Println(md)
	if c.out != "" {
		if err := os.WriteFile(c.out, []byte(md), 0o644); err != nil {
			return err
		}
		logf("wrote %s", c.out)
	}
	return nil
}

func clusterName(i int) string { return fmt.Sprintf("bench-%05d", i) }

// cpuShare is who used the CPU during a measured window, in cores (1.0 = one
// core busy for the whole window).
type cpuShare struct {
	server, loadgen, otherServer, rest, steal float64
}

type cpuSnap struct {
	at                        time.Time
	server, self, other, busy float64
	steal                     float64
}

func snapCPU(server, other *proc) cpuSnap {
	s := cpuSnap{at: time.Now(), server: load.CPUSeconds(server.pid()), self: load.CPUSeconds(os.Getpid())}
	if other != nil {
		s.other = load.CPUSeconds(other.pid())
	}
	s.busy, s.steal = load.MachineCPU()
	return s
}

func (a cpuSnap) to(b cpuSnap) cpuShare {
	w := b.at.Sub(a.at).Seconds()
	sh := cpuShare{
		server:      (b.server - a.server) / w,
		loadgen:     (b.self - a.self) / w,
		otherServer: (b.other - a.other) / w,
		steal:       (b.steal - a.steal) / w,
	}
	sh.rest = max((b.busy-a.busy)/w-sh.server-sh.loadgen-sh.otherServer, 0)
	return sh
}

type describeResult struct {
	target      string
	runNo       int
	quietBefore float64       // other processes' CPU (cores) when the run started
	quietWaited time.Duration // how long it waited for that
	run         load.Run
	cpu         cpuShare
	load        string // load average just before
}

// describe runs the DescribeCluster closed loop against t, whose server is
// server (other is the other, idle, server).
func describe(ctx context.Context, c config, t *load.Target, server, other *proc, profile bool, run int) (describeResult, error) {
	res := describeResult{target: t.Name, runNo: run}
	if c.quietWait > 0 {
		var err error
		pids := []int{server.pid()}
		if other != nil {
			pids = append(pids, other.pid())
		}
		if res.quietBefore, res.quietWaited, err = load.WaitQuiet(ctx, c.quiet, c.quietWait, logf, pids...); err != nil {
			return res, err
		}
	}
	res.load = loadAvg()
	logf("DescribeCluster on %s (run %d): %d clients, %s warm-up + %s (load average %s)", t.Name, run, c.clients, c.warmup, c.duration, res.load)
	var before cpuSnap
	var perf *exec.Cmd
	var profFile *os.File
	hooks := load.Hooks{
		MeasureStart: func() {
			if profile && c.cpuProfile != "" {
				if f, err := os.Create(c.cpuProfile); err == nil && pprof.StartCPUProfile(f) == nil {
					profFile = f
				}
			}
			if profile && c.perfOut != "" {
				perf = exec.Command("perf", "record", "-g", "-F", "499", "-p", strconv.Itoa(server.pid()), "-o", c.perfOut)
				perf.Stdout, perf.Stderr = os.Stderr, os.Stderr
				if err := perf.Start(); err != nil {
					logf("perf: %v", err)
					perf = nil
				}
			}
			before = snapCPU(server, other)
		},
		MeasureEnd: func() {
			res.cpu = before.to(snapCPU(server, other))
			if profFile != nil {
				pprof.StopCPUProfile()
				profFile.Close()
				logf("wrote load-generator CPU profile %s", c.cpuProfile)
			}
			if perf != nil {
				perf.Process.Signal(os.Interrupt)
				perf.Wait()
				logf("wrote perf data %s (perf report -i %s)", c.perfOut, c.perfOut)
			}
		},
	}
	res.run = load.Closed(ctx, c.clients, c.warmup, c.duration, hooks, t.DescribeOp(clusterName(0)))
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	r := res.run
	logf("  %s: %.0f req/s, p50 %s p90 %s p99 %s max %s, %d errors %v; CPU cores: server %.2f, load generator %.2f, other procs %.2f",
		t.Name, r.Throughput(), ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max), r.Errors, r.ErrorKind,
		res.cpu.server, res.cpu.loadgen, res.cpu.rest+res.cpu.otherServer)
	return res, nil
}

type createResult struct {
	target   string
	from, to int // clusters before and after
	elapsed  time.Duration
	latency  load.Summary
	retries  int
	reasons  map[string]int
	workers  int
}

// createClusters creates clusterName(from) .. clusterName(to-1) with workers
// parallel clients.
func createClusters(ctx context.Context, t *load.Target, from, to int, subnets []string, workers int) (createResult, error) {
	res := createResult{target: t.Name, from: from, to: to, workers: workers}
	logf("CreateCluster on %s: %d clusters (%d → %d), %d workers", t.Name, to-from, from, to, workers)
	var next atomic.Int64
	next.Store(int64(from))
	lats := make([][]time.Duration, workers)
	retries := make([]int, workers)
	reasons := make([]map[string]int, workers)
	errs := make(chan error, workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= to || ctx.Err() != nil {
					return
				}
				r, err := t.CreateCluster(ctx, clusterName(i), subnets)
				if err != nil {
					errs <- err
					cancel()
					return
				}
				lats[w] = append(lats[w], r.Latency)
				retries[w] += r.Retries
				for k, n := range r.Reasons {
					if reasons[w] == nil {
						reasons[w] = map[string]int{}
					}
					reasons[w][k] += n
				}
				if done := i - from + 1; done%2000 == 0 {
					logf("  %s: %d created", t.Name, i+1)
				}
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil { // interrupted
		return res, err
	}
	var all []time.Duration
	for w := range workers {
		all = append(all, lats[w]...)
		res.retries += retries[w]
		for k, n := range reasons[w] {
			if res.reasons == nil {
				res.reasons = map[string]int{}
			}
			res.reasons[k] += n
		}
	}
	res.latency = load.Summarize(all)
	logf("  %s: %d clusters in %s (%.0f/s), p50 %s p99 %s, %d retries %v", t.Name, to-from, res.elapsed.Round(time.Millisecond),
		float64(to-from)/res.elapsed.Seconds(), ms(res.latency.P50), ms(res.latency.P99), res.retries, res.reasons)
	return res, nil
}

type listResult struct {
	target    string
	clusters  int
	pageSize  int
	passes    int
	pages     int
	latency   load.Summary
	verified  string // "" when every pass listed every cluster exactly once
	passTimes []time.Duration
	loadAvg   string
}

// listPasses pages through ListClusters passes times, one request at a time,
// checking that each pass lists exactly clusterName(0..want-1), each once.
func listPasses(ctx context.Context, t *load.Target, want, pageSize, passes int) (listResult, error) {
	res := listResult{target: t.Name, clusters: want, pageSize: pageSize, passes: passes, loadAvg: loadAvg()}
	logf("ListClusters on %s: %d passes over %d clusters, maxResults=%d (load average %s)", t.Name, passes, want, pageSize, res.loadAvg)
	var lats []time.Duration
	var problems []string
	for pass := range passes {
		seen := make(map[string]bool, want)
		dups, extra, oversize := 0, 0, 0
		tok := ""
		start := time.Now()
		for {
			p, err := t.ListClusters(ctx, pageSize, tok)
			if err != nil {
				return res, err
			}
			lats = append(lats, p.Latency)
			res.pages++
			if len(p.Clusters) > pageSize {
				oversize++
			}
			for _, n := range p.Clusters {
				if seen[n] {
					dups++
				}
				seen[n] = true
				if i, err := strconv.Atoi(strings.TrimPrefix(n, "bench-")); err != nil || i >= want || clusterName(i) != n {
					extra++
				}
			}
			if p.NextToken == "" {
				break
			}
			if res.pages > 10*(want/pageSize+passes+10) {
				return res, fmt.Errorf("%s: ListClusters does not end (%d pages)", t.Name, res.pages)
			}
			tok = p.NextToken
		}
		res.passTimes = append(res.passTimes, time.Since(start))
		if len(seen) != want || dups > 0 || extra > 0 || oversize > 0 {
			problems = append(problems, fmt.Sprintf("pass %d: %d distinct of %d, %d duplicates, %d unexpected, %d oversized pages",
				pass+1, len(seen), want, dups, extra, oversize))
		}
	}
	res.latency = load.Summarize(lats)
	res.verified = strings.Join(problems, "; ")
	check := "each pass listed all " + strconv.Itoa(want) + " clusters exactly once"
	if res.verified != "" {
		check = "MISMATCH: " + res.verified
	}
	logf("  %s: %d pages, p50 %s p99 %s max %s; %s", t.Name, res.pages, ms(res.latency.P50), ms(res.latency.P99), ms(res.latency.Max), check)
	return res, nil
}

// ---- machine facts ----

type facts struct {
	nproc     int
	cpu       string
	kernel    string
	goVersion string
	date      string
	loadStart string
	loadEnd   string
	commit    string
}

func gatherFacts() facts {
	return facts{
		nproc: runtime.NumCPU(), cpu: cpuModel(), kernel: kernelRelease(), goVersion: runtime.Version(),
		date: time.Now().Format("2006-01-02 15:04 MST"), loadStart: loadAvg(), commit: load.GitCommit(),
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
