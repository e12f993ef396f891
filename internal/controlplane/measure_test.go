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

func procStatus(pid int, key string) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, key) {
			return strings.Join(strings.Fields(strings.TrimPrefix(l, key)), "")
		}
	}
	return ""
}
