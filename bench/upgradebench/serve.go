package main

import (
	"context"

	"github.com/kplane/kplane/bench/internal/load"
)

// serve is the `kplane serve` the benchmark runs (default replicas: two per
// cluster, one per zone; no nodes), on a data dir of its own.
type serve struct{ *load.Serve }

func startServe(ctx context.Context, bin, dir string) (*serve, error) {
	s, err := load.StartServe(ctx, bin, dir, logf, "--no-nodes")
	if err != nil {
		return nil, err
	}
	return &serve{s}, nil
}

// stop stops kplane serve and names any process it left.
func (s *serve) stop() {
	s.Stop()
	if err := leftovers(s.DataDir); err != nil {
		logf("%v", err)
	}
}
