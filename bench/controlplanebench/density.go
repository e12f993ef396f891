package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/kplane/kplane/bench/internal/load"
)

// densityResult is how many idle clusters fit and what they cost.
type densityResult struct {
	samples       []*createSample
	stop          string // why no further cluster was created
	removed       string // a cluster that did not come up, deleted before measuring
	memAvailStart int64  // kB, before the first density cluster

	checkpoint *measurement // at -checkpoint clusters, if the run got there and went on
	final      *measurement // after the last cluster
}

// measurement is the idle clusters' cost and the API's latency at one point.
type measurement struct {
	clusters  int // created so far
	idle      time.Duration
	active    int // clusters DescribeCluster reports ACTIVE after the idle time
	notActive []string
	withIssue int
	procs     int // controlplane-run processes of the data dir

	// kB; children summed over every controlplane-run process.
	sumRSS, sumPSS, sumAnon int64
	serveRSS, servePSS      int64
	pssOK                   bool
	memAvail                int64

	idleCPU  float64 // cores used by the benchmark's process tree during the idle time
	idleServ float64 // of which kplane serve itself (its embedded etcd included)
	loadIdle string  // load average at the end of the idle time

	describeLoad  string // load average before DescribeCluster
	describe      load.Run
	describeServe float64 // cores kplane serve used in the window
	describeMach  float64 // cores the whole machine used in the window
}

// perClusterKB is (sum over children + kplane serve) / ACTIVE clusters.
func (m *measurement) perClusterKB(pss bool) int64 {
	if m.active == 0 {
		return 0
	}
	if pss {
		return (m.sumPSS + m.servePSS) / int64(m.active)
	}
	return (m.sumRSS + m.serveRSS) / int64(m.active)
}

// runDensity creates clusters one after another, each waited to ACTIVE,
// until -max, a cluster not ACTIVE within -active-within, MemAvailable under
// -min-mem-avail, or the time budget; then lets them idle and measures (also
// on the way, at -checkpoint clusters).
func runDensity(ctx context.Context, cfg config, srv *server) (*densityResult, error) {
	d := &densityResult{memAvailStart: memAvailableKB()}
	// Time kept for the idle wait, the DescribeCluster run and the cleanup.
	reserve := cfg.idle + cfg.warmup + cfg.duration + 100*time.Second
	deadline, _ := ctx.Deadline()
	last := 30 * time.Second
	for i := 0; ; i++ {
		if i >= cfg.max {
			d.stop = fmt.Sprintf("reached -max %d", cfg.max)
			break
		}
		if i > 0 && i == cfg.checkpoint && time.Until(deadline)-2*reserve > 5*time.Minute {
			logf("density: checkpoint at %d clusters; idling %s", i, cfg.idle)
			m, err := measure(ctx, cfg, srv, d.samples)
			d.checkpoint = m
			if err != nil {
				return d, err
			}
		}
		if avail := memAvailableKB(); avail < cfg.minAvailMiB<<10 {
			d.stop = fmt.Sprintf("MemAvailable %s < %d MiB", mib(avail), cfg.minAvailMiB)
			break
		}
		left := time.Until(deadline) - reserve
		if left < max(2*last, 30*time.Second) {
			d.stop = fmt.Sprintf("time budget (-timeout %s) nearly spent", cfg.timeout)
			break
		}
		within := min(cfg.activeWithin, left)
		name := fmt.Sprintf("cpb-density-%03d", i)
		s, err := createOne(ctx, cfg, srv, name, false, within)
		if err != nil {
			if ctx.Err() != nil {
				return d, ctx.Err()
			}
			d.stop = fmt.Sprintf("cluster %d (%s): %v", i+1, name, firstLine(err.Error()))
			if within < cfg.activeWithin && errors.Is(err, errTimeout) {
				d.stop = fmt.Sprintf("time budget (-timeout %s) spent while %s was starting", cfg.timeout, name)
			}
			logf("density: stopping: %s", err)
			if s.id != "" {
				// It would count in the memory of the others: remove it first.
				if _, derr := deleteAll(ctx, srv, []string{name}); derr != nil {
					return d, fmt.Errorf("%s: %w; deleting it: %w", d.stop, err, derr)
				}
				d.removed = name
			}
			break
		}
		d.samples = append(d.samples, s)
		last = s.total()
		logf("density %d: %s ACTIVE after %s, MemAvailable %s", i+1, name, last.Round(time.Millisecond), mib(memAvailableKB()))
	}
	logf("density: %d clusters (%s); idling %s", len(d.samples), d.stop, cfg.idle)
	if len(d.samples) == 0 {
		return d, nil
	}
	m, err := measure(ctx, cfg, srv, d.samples)
	d.final = m
	return d, err
}

// measure lets the clusters idle, then reads their memory and CPU, checks
// they are ACTIVE and runs DescribeCluster against them.
func measure(ctx context.Context, cfg config, srv *server, samples []*createSample) (*measurement, error) {
	d := &measurement{clusters: len(samples)}
	ours, serv := oursCPU(), load.CPUSeconds(srv.pid())
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(cfg.idle):
	}
	d.idle = time.Since(t0)
	d.idleCPU = (oursCPU() - ours) / d.idle.Seconds()
	d.idleServ = (load.CPUSeconds(srv.pid()) - serv) / d.idle.Seconds()
	d.loadIdle = loadAvg()

	// Memory first (the DescribeCluster load would disturb it).
	pids := controlPlanePIDs(srv.dataDir)
	d.procs = len(pids)
	d.pssOK = true
	for _, pid := range pids {
		d.sumRSS += procStatusKB(pid, "VmRSS")
		d.sumAnon += procStatusKB(pid, "RssAnon")
		pss, ok := smapsRollupKB(pid, "Pss")
		d.sumPSS += pss
		d.pssOK = d.pssOK && ok
	}
	d.serveRSS = procStatusKB(srv.pid(), "VmRSS")
	pss, ok := smapsRollupKB(srv.pid(), "Pss")
	d.servePSS, d.pssOK = pss, d.pssOK && ok
	d.memAvail = memAvailableKB()

	// Which clusters are ACTIVE now?
	var names []string
	for _, s := range samples {
		out, err := srv.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(s.name)})
		switch {
		case err != nil:
			d.notActive = append(d.notActive, s.name+": "+err.Error())
		case out.Cluster.Status != types.ClusterStatusActive:
			d.notActive = append(d.notActive, s.name+": "+string(out.Cluster.Status)+issuesOf(out.Cluster))
		default:
			d.active++
			names = append(names, s.name)
			if issuesOf(out.Cluster) != "" {
				d.withIssue++
			}
		}
	}
	logf("measure at %d: %d ACTIVE, %d control-plane processes; RSS children %s + serve %s; PSS children %s + serve %s; %.2f cores while idle (kplane serve %.2f)",
		d.clusters, d.active, d.procs, mib(d.sumRSS), mib(d.serveRSS), mib(d.sumPSS), mib(d.servePSS), d.idleCPU, d.idleServ)
	if len(names) == 0 {
		return d, nil
	}

	// DescribeCluster under load, SigV4-signed afresh per request, across all
	// ACTIVE clusters.
	d.describeLoad = loadAvg()
	t := load.NewTarget("kplane", srv.url, region, srv.creds(), cfg.clients)
	defer t.Close()
	var n atomic.Uint64
	op := func(ctx context.Context) (time.Duration, int, error) {
		name := names[int(n.Add(1)%uint64(len(names)))]
		r, err := t.Do(ctx, "GET", "/clusters/"+url.PathEscape(name), nil, false)
		return r.Latency, r.Status, err
	}
	var serve0, mach0 float64
	var w0 time.Time
	hooks := load.Hooks{
		MeasureStart: func() { serve0, w0 = load.CPUSeconds(srv.pid()), time.Now(); mach0, _ = load.MachineCPU() },
		MeasureEnd: func() {
			w := time.Since(w0).Seconds()
			d.describeServe = (load.CPUSeconds(srv.pid()) - serve0) / w
			m, _ := load.MachineCPU()
			d.describeMach = (m - mach0) / w
		},
	}
	d.describe = load.Closed(ctx, cfg.clients, cfg.warmup, cfg.duration, hooks, op)
	l := d.describe.Latency
	logf("measure at %d: DescribeCluster, %d clients over %d clusters: %.0f req/s, p50 %s p99 %s max %s, %d errors",
		d.clusters, cfg.clients, len(names), d.describe.Throughput(), ms(l.P50), ms(l.P99), ms(l.Max), d.describe.Errors)
	return d, ctx.Err()
}
