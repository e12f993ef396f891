package main

import (
	"context"
	"fmt"
	"time"

	"github.com/kplane/kplane/bench/internal/load"
)

// densityResult is how many one-node clusters (a cluster and a nodegroup
// of one node, ACTIVE) this machine held.
type densityResult struct {
	Clusters         int
	Stopped          string
	MemAvailStartMiB int64
	MemAvailEndMiB   int64
}

// runDensity makes one-node clusters one after another, each kept, until
// cfg.density, a failure, or MemAvailable under 1.5 GiB, then deletes
// them all.
func runDensity(ctx context.Context, cfg config, r *report, srv *serve, role string) error {
	d := &densityResult{MemAvailStartMiB: load.KeyKB("/proc/meminfo", "MemAvailable") / 1024}
	r.density = d
	var made []string
	defer func() {
		d.MemAvailEndMiB = load.KeyKB("/proc/meminfo", "MemAvailable") / 1024
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		for _, name := range made {
			bc := &benchCluster{name: name}
			if err := srv.deleteNodegroup(cctx, bc, "one"); err != nil {
				logf("density: deleting %s's nodegroup: %v", name, err)
			}
			if err := srv.deleteCluster(cctx, name); err != nil {
				logf("density: deleting %s: %v", name, err)
			}
		}
	}()
	for i := range cfg.density {
		if avail := load.KeyKB("/proc/meminfo", "MemAvailable") / 1024; avail < 1536 {
			d.Stopped = fmt.Sprintf("MemAvailable %d MiB", avail)
			return nil
		}
		name := fmt.Sprintf("dense-%d", i+1)
		t := time.Now()
		bc, err := srv.createCluster(ctx, name)
		made = append(made, name)
		if err != nil {
			d.Stopped = err.Error()
			return nil
		}
		if _, err := srv.createNodegroup(ctx, bc, "one", role, 1); err != nil {
			d.Stopped = err.Error()
			return nil
		}
		d.Clusters++
		logf("density: %d one-node clusters (last in %v), MemAvailable %d MiB", d.Clusters, time.Since(t).Round(time.Second), load.KeyKB("/proc/meminfo", "MemAvailable")/1024)
	}
	d.Stopped = fmt.Sprintf("-density %d reached", cfg.density)
	return nil
}
