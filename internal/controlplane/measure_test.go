package controlplane

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMeasure reports startup times and idle memory of a full control plane
// and of kube-apiserver alone (the floor). It is a measurement, not a check:
// it runs only with KPLANE_MEASURE=1. Knobs (env):
//
//	KPLANE_MEASURE_IDLE     idle time before reading RSS (default 60s)
//	KPLANE_MEASURE_GOGC     ClusterConfig.GOGC
//	KPLANE_MEASURE_MEMLIMIT ClusterConfig.MemoryLimitBytes (MiB)
//	KPLANE_MEASURE_APIARGS  extra kube-apiserver flags, space separated
//	KPLANE_MEASURE_ONLY     "full" or "apiserver"
func TestMeasure(t *testing.T) {
	if os.Getenv("KPLANE_MEASURE") == "" {
		t.Skip("set KPLANE_MEASURE=1 to measure")
	}
	idle := 60 * time.Second
	if v := os.Getenv("KPLANE_MEASURE_IDLE"); v != "" {
		idle, _ = time.ParseDuration(v)
	}
	etcdURL := startEtcd(t)
	e := newTestExecutor(t)
	for _, mode := range []string{"full", "apiserver"} {
		if only := os.Getenv("KPLANE_MEASURE_ONLY"); only != "" && only != mode {
			continue
		}
		cfg := newTestCluster(t, etcdURL, "m-"+mode)
		cfg.LogTypes = nil
		cfg.APIServerOnly = mode == "apiserver"
		if v := os.Getenv("KPLANE_MEASURE_GOGC"); v != "" {
			cfg.GOGC, _ = strconv.Atoi(v)
		}
		if v := os.Getenv("KPLANE_MEASURE_MEMLIMIT"); v != "" {
			mib, _ := strconv.Atoi(v)
			cfg.MemoryLimitBytes = int64(mib) << 20
		}
		if v := os.Getenv("KPLANE_MEASURE_APIARGS"); v != "" {
			cfg.ExtraAPIServerArgs = strings.Fields(v)
		}
		dumpLogs(t, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		start := time.Now()
		if err := e.Ensure(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if err := WaitReady(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		ready := time.Since(start)
		boot := time.Duration(0)
		if mode == "full" {
			if err := WaitBootstrapped(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			boot = time.Since(start)
		}
		pid := e.State(cfg.ID).PID
		rssStart, _ := vmRSS(pid)
		time.Sleep(idle)
		rssIdle, _ := vmRSS(pid)
		hwm := procStatus(pid, "VmHWM:")
		// RssFile is mostly the kplane binary's text, shared by all children.
		t.Logf("MEASURE mode=%s ready=%s bootstrapped=%s rss@ready=%dMiB rss@idle(%s)=%dMiB (anon=%s file=%s) hwm=%s threads=%s",
			mode, ready.Round(time.Millisecond), boot.Round(time.Millisecond), rssStart/1024, idle, rssIdle/1024,
			procStatus(pid, "RssAnon:"), procStatus(pid, "RssFile:"), hwm, procStatus(pid, "Threads:"))
		if err := e.Stop(ctx, cfg.ID); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
}

// TestMeasureMany reports the memory of N idle full control planes running
// at once (KPLANE_MEASURE_N, default 3): the binary's text is shared between
// the children, so the per-cluster cost is below one child's RSS. Runs only
// with KPLANE_MEASURE=1.
func TestMeasureMany(t *testing.T) {
	if os.Getenv("KPLANE_MEASURE") == "" {
		t.Skip("set KPLANE_MEASURE=1 to measure")
	}
	n := 3
	if v := os.Getenv("KPLANE_MEASURE_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	idle := 60 * time.Second
	if v := os.Getenv("KPLANE_MEASURE_IDLE"); v != "" {
		idle, _ = time.ParseDuration(v)
	}
	etcdURL := startEtcd(t)
	e := newTestExecutor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var cfgs []ClusterConfig
	start := time.Now()
	for i := range n {
		cfg := newTestCluster(t, etcdURL, "many-"+strconv.Itoa(i))
		cfg.LogTypes = nil
		dumpLogs(t, cfg)
		if err := e.Ensure(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, cfg)
	}
	for _, cfg := range cfgs {
		if err := WaitBootstrapped(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("MEASURE %d clusters started together: all bootstrapped after %s", n, time.Since(start).Round(time.Millisecond))
	time.Sleep(idle)
	var rss, pss, anon int
	for _, cfg := range cfgs {
		pid := e.State(cfg.ID).PID
		r, _ := vmRSS(pid)
		rss += r
		a, _ := strconv.Atoi(strings.TrimSuffix(procStatus(pid, "RssAnon:"), "kB"))
		anon += a
		pss += smapsRollup(pid, "Pss:")
	}
	t.Logf("MEASURE %d idle clusters (%s): sum RSS %d MiB, sum PSS %d MiB, sum anon %d MiB -> PSS per cluster %d MiB",
		n, idle, rss/1024, pss/1024, anon/1024, pss/1024/n)
}

func smapsRollup(pid int, key string) int {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key {
			v, _ := strconv.Atoi(f[1])
			return v
		}
	}
	return 0
}

func procStatus(pid int, key string) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, key) {
			return strings.Join(strings.Fields(strings.TrimPrefix(l, key)), "")
		}
	}
	return ""
}
