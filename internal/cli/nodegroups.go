package cli

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/kplane/kplane/internal/controlplane"
	"github.com/kplane/kplane/internal/nodegroup"
	"github.com/kplane/kplane/internal/runinfo"
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

// reconcilers runs several server.Reconcilers side by side. They stop in
// reverse order: each one's Run ends only once the ones after it have
// stopped, so the nodegroups' nodes drain while the control planes run.
type reconcilers []server.Reconciler

// waiter is a reconciler whose Run returns before all it started has
// stopped; Wait waits for that.
type waiter interface{ Wait() }

func (rs reconcilers) Run(ctx context.Context, st *store.Store, info runinfo.Info) error {
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	after := ctx.Done() // closed when the reconciler after this one has stopped
	for i := len(rs) - 1; i >= 0; i-- {
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stopped := make(chan struct{})
		go func(after <-chan struct{}) {
			select {
			case <-after:
			case <-rctx.Done():
			}
			cancel()
		}(after)
		wg.Go(func() {
			defer close(stopped)
			defer cancel()
			errs[i] = rs[i].Run(rctx, st, info)
			if w, ok := rs[i].(waiter); ok {
				w.Wait()
			}
		})
		after = stopped
	}
	wg.Wait()
	return errors.Join(errs...)
}
