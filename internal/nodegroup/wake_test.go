package nodegroup

import (
	"context"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/runinfo"
	"github.com/kplane/kplane/internal/store"
)

// watchingExecutor is fakeExecutor with node changes reported (NodeWatcher),
// nodes that drain until told otherwise, and a barrier that holds every
// EnsureNode until `together` calls are in at once.
type watchingExecutor struct {
	*fakeExecutor
	changes  chan string
	draining map[string]bool // nodegroup → its nodes are still draining
	together int
	arrived  chan struct{}
}

func (w *watchingExecutor) NodeChanges() <-chan string { return w.changes }

func (w *watchingExecutor) EnsureNode(ctx context.Context, s NodeSpec) (NodeState, error) {
	if w.together > 1 {
		w.arrived <- struct{}{}
		// Wait for the others: with one call at a time they never come.
		for len(w.arrived) < w.together {
			select {
			case <-ctx.Done():
				return NodeState{}, ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
	}
	return w.fakeExecutor.EnsureNode(ctx, s)
}

func (w *watchingExecutor) RemoveNode(ctx context.Context, s NodeSpec) error {
	w.mu.Lock()
	draining := w.draining[s.Nodegroup]
	w.mu.Unlock()
	if draining {
		return &DrainingError{Node: s.NodeName, Pods: 1}
	}
	return w.fakeExecutor.RemoveNode(ctx, s)
}

// runReconciler runs f.r with exec in the background (no resync and no
// node poll within the test) until the test ends.
func runReconciler(t *testing.T, f *fixture, exec NodeExecutor, workers int) {
	t.Helper()
	f.r.Executor, f.r.Workers = exec, workers
	f.r.Resync, f.r.NodePoll = time.Hour, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.r.Run(ctx, f.st, runinfo.Info{Region: "us-west-2", AccountID: "000000000000"}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func (f *fixture) waitStatus(name, want string) {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec, err := f.st.GetNodegroup(context.Background(), "demo", name)
		got := ""
		switch {
		case err == nil:
			got = rec.Nodegroup.Status
		case err == store.ErrNotFound:
			got = "gone"
		default:
			f.t.Fatal(err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("nodegroup %s is %s, want %s", name, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A node's change reported by the executor makes its nodegroup ACTIVE at
// once: with the poll an hour away, nothing else would look again.
func TestNodeChangeWakesTheNodegroup(t *testing.T) {
	f := newFixture(t)
	w := &watchingExecutor{fakeExecutor: f.exec, changes: make(chan string, 1)}
	runReconciler(t, f, w, 2)
	f.createNodegroup("ng", 2, f.net.Subnets[0].ID, f.net.Subnets[1].ID)
	f.waitStatus("ng", shapes.NodegroupCreating)
	for len(f.live("ng")) < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	f.exec.set(func(e *fakeExecutor) { e.ready = true })
	w.changes <- NodegroupKey("demo", "ng")
	f.waitStatus("ng", shapes.NodegroupActive)
}

// The nodes of a nodegroup are ensured at once, not one after another.
func TestNodesAreEnsuredTogether(t *testing.T) {
	f := newFixture(t)
	f.exec.ready = true
	w := &watchingExecutor{fakeExecutor: f.exec, together: 2, arrived: make(chan struct{}, 64)}
	f.r.Executor = w
	f.createNodegroup("ng", 2, f.net.Subnets[0].ID, f.net.Subnets[1].ID)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.r.Reconcile(ctx, "demo", "ng"); err != nil {
		t.Fatalf("reconcile: %v (the second EnsureNode never came while the first waited)", err)
	}
	if rec := f.settle("ng"); rec.Nodegroup.Status != shapes.NodegroupActive {
		t.Fatalf("status %s, want ACTIVE", rec.Nodegroup.Status)
	}
}

// A nodegroup whose nodes are still draining holds no worker: with one
// worker, another nodegroup is created meanwhile, and the first goes once
// its nodes are drained.
func TestDrainingNodegroupBlocksNoOther(t *testing.T) {
	f := newFixture(t)
	f.exec.ready = true
	w := &watchingExecutor{fakeExecutor: f.exec, changes: make(chan string), draining: map[string]bool{"old": true}}
	f.r.Executor = w
	f.createNodegroup("old", 1, f.net.Subnets[0].ID)
	f.settle("old")
	if _, err := f.st.UpdateNodegroup(context.Background(), "demo", "old", func(r *store.NodegroupRecord) error {
		r.Nodegroup.Status = shapes.NodegroupDeleting
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	again, err := f.r.Reconcile(context.Background(), "demo", "old")
	if err != nil || again == 0 || len(f.live("old")) != 1 {
		t.Fatalf("draining delete: again %v, err %v, %d instances; want a later look and the instance kept", again, err, len(f.live("old")))
	}
	runReconciler(t, f, w, 1)
	f.createNodegroup("new", 1, f.net.Subnets[1].ID)
	f.waitStatus("new", shapes.NodegroupActive)
	f.waitStatus("old", shapes.NodegroupDeleting)
	w.mu.Lock()
	w.draining["old"] = false
	w.mu.Unlock()
	f.waitStatus("old", "gone")
}
