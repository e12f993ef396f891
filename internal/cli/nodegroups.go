package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/kplane/kplane/internal/controlplane"
	"github.com/kplane/kplane/internal/localnodes"
	"github.com/kplane/kplane/internal/node"
	"github.com/kplane/kplane/internal/nodegroup"
	"github.com/kplane/kplane/internal/runinfo"
	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
)

// newNodegroupReconciler is the reconciler of managed nodegroups `kplane
// serve` runs: each instance a real node on this machine (internal/localnodes).
// A kplane that cannot run nodes (not root: no namespaces, cgroups or
// mounts; or --no-nodes) wires nodegroup.Unavailable, so a nodegroup ends
// CREATE_FAILED saying why and nothing reports nodes that do not run.
func newNodegroupReconciler(log *slog.Logger, prov *controlplane.LocalProvisioner, dataDir string, noNodes bool, joinTimeout time.Duration, egress nodeEgressFlags) (server.Reconciler, error) {
	rec := &nodegroup.Reconciler{Joiner: prov, Log: log}
	switch {
	case noNodes:
		rec.Executor = nodegroup.Unavailable{Reason: "Nodes are disabled on this kplane (kplane serve --no-nodes)"}
	case os.Geteuid() != 0:
		rec.Executor = nodegroup.Unavailable{Reason: "Nodes need kplane serve to run as root (network namespaces, cgroups, mounts); this kplane runs as uid " + strconv.Itoa(os.Geteuid())}
	default:
		nodes, err := localnodes.New(localnodes.Config{DataDir: dataDir, Log: log.With("component", "nodes"), JoinTimeout: joinTimeout, NetworkMade: prov.Poke,
			NodeEgressOff: !egress.on, RegistryConfigDir: egress.registryConfig})
		if err != nil {
			return nil, err
		}
		rec.Executor = nodes
		return nodegroupRunner{rec, nodes}, nil
	}
	return rec, nil
}

// nodeEgressFlags are serve's flags for the nodes' way out to image
// registries (docs/nodes.md, "Images").
type nodeEgressFlags struct {
	on             bool
	registryConfig string
}

func (n *nodeEgressFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&n.on, "node-egress", true, "give each node's container runtime (not its pods) a proxy to image registries the host reaches; --node-egress=false keeps nodes offline")
	f.StringVar(&n.registryConfig, "registry-config", node.DefaultRegistryConfigDir, "containerd registry hosts directory the nodes use (DIR/HOST:PORT/hosts.toml: plain-http registries, mirrors, CAs)")
}

func (n nodeEgressFlags) validate() error {
	if n.registryConfig != "" && !filepath.IsAbs(n.registryConfig) {
		return fmt.Errorf("--registry-config %q: want an absolute path", n.registryConfig)
	}
	return nil
}

// nodegroupRunner runs the nodegroup reconciler and, once it stopped, stops
// the nodes (a clean stop of kplane; they come back at its next start).
type nodegroupRunner struct {
	*nodegroup.Reconciler
	nodes *localnodes.Executor
}

func (n nodegroupRunner) Run(ctx context.Context, st *store.Store, info runinfo.Info) error {
	n.nodes.Bind(info)
	err := n.Reconciler.Run(ctx, st, info)
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), node.TeardownTimeout+15*time.Second)
	defer cancel()
	return errors.Join(err, n.nodes.StopAll(stopCtx))
}

// reconcilers runs several server.Reconcilers side by side. They stop in
// reverse order: each one's Run ends only once the ones after it have
// stopped, so the nodegroups' nodes drain while the control planes run.
type reconcilers []server.Reconciler

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
		})
		after = stopped
	}
	wg.Wait()
	return errors.Join(errs...)
}
