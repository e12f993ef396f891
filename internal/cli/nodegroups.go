package cli

import (
	"context"
	"log/slog"
	"sync"

	"github.com/kplane/kplane/internal/controlplane"
	"github.com/kplane/kplane/internal/nodegroup"
	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
)

// newNodegroupReconciler is the reconciler of managed nodegroups `kplane
// serve` runs. No node executor is wired in this build yet, so nodes fail
// at once with nodegroup.NodesUnavailable and a nodegroup ends
// CREATE_FAILED: nothing reports nodes that do not run.
func newNodegroupReconciler(log *slog.Logger, prov *controlplane.LocalProvisioner) *nodegroup.Reconciler {
	return &nodegroup.Reconciler{Executor: nodegroup.Unavailable{}, Joiner: prov, Log: log}
}

// reconcilers runs several server.Reconcilers side by side.
type reconcilers []server.Reconciler

func (rs reconcilers) Run(ctx context.Context, st *store.Store, info server.Info) error {
	errc := make(chan error, len(rs))
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- r.Run(ctx, st, info)
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	return nil
}

// Wait waits for each reconciler that can be waited for, nodegroups first
// (their nodes need the control planes to drain).
func (rs reconcilers) Wait() {
	for i := len(rs) - 1; i >= 0; i-- {
		if w, ok := rs[i].(interface{ Wait() }); ok {
			w.Wait()
		}
	}
}
