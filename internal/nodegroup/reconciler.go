package nodegroup

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/reconcile"
	"github.com/kplane/kplane/internal/runinfo"
	"github.com/kplane/kplane/internal/store"
)

// Joiner writes the node role's aws-auth mapRoles entry into a running
// cluster (CONFIG_MAP mode), if it is missing, as a managed nodegroup does,
// and removes it when the last nodegroup with that role goes.
type Joiner interface {
	EnsureNodeRoleMapped(ctx context.Context, cluster *store.ClusterRecord, roleArn string) error
	RemoveNodeRoleMapping(ctx context.Context, cluster *store.ClusterRecord, roleArn string) error
}

// Reconciler drives every managed nodegroup in the store to its recorded
// intent: CREATING to ACTIVE (or CREATE_FAILED), updates to done, DELETING
// to gone, and reports DEGRADED with health issues while nodes are not well.
type Reconciler struct {
	Executor NodeExecutor
	// Joiner maps node roles in aws-auth (CONFIG_MAP clusters); nil skips it.
	Joiner Joiner
	Log    *slog.Logger
	// Workers is how many nodegroups are reconciled at once (reconcile.Loop's default when 0).
	Workers int
	// Resync is how often every nodegroup is looked at without a change.
	Resync time.Duration
	// NodePoll is how soon a nodegroup waiting on its nodes is looked at
	// again when the executor reports node changes (NodeWatcher) anyway:
	// a safety net, not what makes it notice (default 1s).
	NodePoll time.Duration
	// CreateTimeout is how long nodes may take to be Ready before a CREATING
	// nodegroup is CREATE_FAILED, or an update whose new nodes do not join
	// fails (EKS waits about 15 minutes).
	CreateTimeout time.Duration
	// DrainTimeout is how long a scale-down or delete waits on evictions a
	// PodDisruptionBudget refuses before the update fails (EKS: 15 minutes).
	DrainTimeout time.Duration
	// TerminatedTTL is how long terminated instances stay listed (EC2: about an hour).
	TerminatedTTL time.Duration
	Now           func() time.Time

	st   *store.Store
	info runinfo.Info
}

// Run reconciles until ctx ends, and returns once every worker it started
// has stopped.
func (r *Reconciler) Run(ctx context.Context, st *store.Store, info runinfo.Info) error {
	r.defaults()
	r.st, r.info = st, info
	changes := []<-chan string{st.WatchNodegroups(ctx)}
	// Nodes that changed (registered, Ready) wake their nodegroup at once.
	if w, ok := r.Executor.(NodeWatcher); ok {
		changes = append(changes, w.NodeChanges())
	}
	loop := &reconcile.Loop{
		Name: "nodegroups",
		Reconcile: func(ctx context.Context, key string) (time.Duration, error) {
			cluster, name, _ := strings.Cut(key, "/")
			return r.Reconcile(ctx, cluster, name)
		},
		Keys:    r.nodegroupKeys,
		Changes: changes,
		Workers: r.Workers,
		Resync:  r.Resync,
		Log:     r.Log,
	}
	loop.Run(ctx)
	return nil
}

func (r *Reconciler) nodegroupKeys(ctx context.Context) ([]string, error) {
	all, err := r.st.AllNodegroups(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(all))
	for _, ng := range all {
		keys = append(keys, ng.Key())
	}
	return keys, nil
}

func (r *Reconciler) defaults() {
	if r.Log == nil {
		r.Log = slog.Default()
	}
	if r.Executor == nil {
		r.Executor = Unavailable{}
	}
	if r.NodePoll == 0 {
		r.NodePoll = time.Second
	}
	if r.CreateTimeout == 0 {
		r.CreateTimeout = 15 * time.Minute
	}
	if r.DrainTimeout == 0 {
		r.DrainTimeout = 15 * time.Minute
	}
	if r.TerminatedTTL == 0 {
		r.TerminatedTTL = time.Hour
	}
	if r.Now == nil {
		r.Now = time.Now
	}
}

// Bind gives a reconciler used without Run (tests, one-shot tools) its store and server info.
func (r *Reconciler) Bind(st *store.Store, info runinfo.Info) {
	r.defaults()
	r.st, r.info = st, info
}

// Reconcile takes one step for a nodegroup and says when to look again.
func (r *Reconciler) Reconcile(ctx context.Context, cluster, name string) (time.Duration, error) {
	rec, err := r.st.GetNodegroup(ctx, cluster, name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	crec, err := r.st.GetCluster(ctx, cluster)
	if errors.Is(err, store.ErrNotFound) {
		// The cluster went (it cannot while it has nodegroups, but a data
		// directory might say so): nothing can run, remove what is left.
		return r.remove(ctx, nil, rec)
	}
	if err != nil {
		return 0, err
	}
	insts, err := r.st.NodegroupInstances(ctx, cluster, name)
	if err != nil {
		return 0, err
	}
	if err := r.forgetTerminated(ctx, insts); err != nil {
		return 0, err
	}
	switch rec.Nodegroup.Status {
	case shapes.NodegroupDeleting:
		return r.remove(ctx, crec, rec)
	case shapes.NodegroupCreateFailed, shapes.NodegroupDeleteFailed:
		return 0, nil
	}
	return r.converge(ctx, crec, rec, insts)
}

// forgetTerminated drops terminated instances older than TerminatedTTL.
func (r *Reconciler) forgetTerminated(ctx context.Context, insts []store.Instance) error {
	for _, inst := range insts {
		if !inst.Live() && r.Now().Sub(inst.TerminatedAt) > r.TerminatedTTL {
			if err := r.st.DeleteInstance(ctx, inst); err != nil {
				return err
			}
		}
	}
	return nil
}

// remove drains and stops every node, then removes the instances and the
// nodegroup. Nodes still draining are looked at again later: no worker
// waits on a drain.
func (r *Reconciler) remove(ctx context.Context, crec *store.ClusterRecord, rec *store.NodegroupRecord) (time.Duration, error) {
	ng := &rec.Nodegroup
	insts, err := r.st.NodegroupInstances(ctx, ng.ClusterName, ng.NodegroupName)
	if err != nil {
		return 0, err
	}
	var live, dead []store.Instance
	for _, inst := range insts {
		if inst.Live() && crec != nil {
			live = append(live, inst)
		} else {
			dead = append(dead, inst)
		}
	}
	res := r.removeNodes(ctx, crec, rec, live)
	if res.err != nil {
		return 0, res.err
	}
	for _, inst := range append(dead, res.removed...) {
		if err := r.st.DeleteInstance(ctx, inst); err != nil {
			return 0, err
		}
	}
	if len(res.blocked) > 0 {
		issue := shapes.NodegroupIssue{Code: "PodEvictionFailure", Message: "Reached max retries while trying to evict pods from nodes in node group: " + res.blockErr.Error(), ResourceIDs: res.blocked}
		return time.Second, r.setHealth(ctx, rec, ng.Status, []shapes.NodegroupIssue{issue})
	}
	if res.draining {
		return drainPoll, nil
	}
	r.unmapNodeRole(ctx, crec, rec)
	if err := r.st.RemoveNodegroup(ctx, ng.ClusterName, ng.NodegroupName); err != nil {
		return 0, err
	}
	r.Log.Info("nodegroup deleted", "cluster", ng.ClusterName, "nodegroup", ng.NodegroupName)
	return 0, nil
}

// drainPoll is how soon a nodegroup with nodes still draining is looked at again.
const drainPoll = time.Second

// removal is what one removeNodes pass did.
type removal struct {
	removed  []store.Instance // gone: nothing of their node is left
	blocked  []string         // instance ids whose evictions a PodDisruptionBudget refuses
	blockErr error
	draining bool // some evicted pods are still terminating
	err      error
}

// removeNodes asks the executor to remove the nodes of insts, all at once.
func (r *Reconciler) removeNodes(ctx context.Context, crec *store.ClusterRecord, rec *store.NodegroupRecord, insts []store.Instance) removal {
	errs := make([]error, len(insts))
	r.forEach(len(insts), func(i int) {
		errs[i] = r.Executor.RemoveNode(ctx, r.spec(crec, rec, insts[i]))
	})
	var res removal
	for i, err := range errs {
		switch {
		case err == nil:
			res.removed = append(res.removed, insts[i])
		case IsEvictionBlocked(err):
			res.blocked, res.blockErr = append(res.blocked, insts[i].ID), err
		case IsDraining(err):
			res.draining = true
		default:
			res.err = errors.Join(res.err, err)
		}
	}
	return res
}

// forEach runs fn(0..n-1) at once: each node's steps wait on its own
// processes and the cluster, not on the other nodes'.
func (r *Reconciler) forEach(n int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i)
		}()
	}
	wg.Wait()
}
