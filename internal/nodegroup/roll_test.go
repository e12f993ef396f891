package nodegroup

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// rollExecutor is the fake executor that also logs, in order, the first
// EnsureNode of each node (with its minor) and every RemoveNode, and lets a
// forced drain through a blocking budget as the real one does.
type rollExecutor struct {
	*fakeExecutor
	seen   map[string]bool
	events []string
	// notReady nodes are reported not Ready (by minor).
	notReady string
}

func (e *rollExecutor) EnsureNode(ctx context.Context, s NodeSpec) (NodeState, error) {
	st, err := e.fakeExecutor.EnsureNode(ctx, s)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.seen[s.InstanceID] {
		e.seen[s.InstanceID] = true
		e.events = append(e.events, "start "+s.KubernetesVersion)
	}
	if s.KubernetesVersion == e.notReady {
		st.Ready = false
	}
	return st, err
}

func (e *rollExecutor) RemoveNode(ctx context.Context, s NodeSpec) error {
	e.mu.Lock()
	forced := s.ForceDrain && e.blocked
	if forced {
		e.blocked = false
	}
	e.mu.Unlock()
	err := e.fakeExecutor.RemoveNode(ctx, s)
	e.mu.Lock()
	defer e.mu.Unlock()
	if forced {
		e.blocked = true
	}
	if err == nil {
		e.events = append(e.events, "remove "+s.KubernetesVersion)
	}
	return err
}

// rollFixture is a nodegroup of desired nodes on 1.36, ACTIVE, in a 1.37 cluster.
func rollFixture(t *testing.T, desired int, updateConfig *shapes.NodegroupUpdateConfig) (*fixture, *rollExecutor) {
	f := newFixture(t)
	exec := &rollExecutor{fakeExecutor: f.exec, seen: map[string]bool{}}
	f.r.Executor = exec
	f.exec.ready = true
	f.createNodegroup("ng", desired, f.net.Subnets[0].ID, f.net.Subnets[1].ID)
	if _, err := f.st.UpdateNodegroup(context.Background(), "demo", "ng", func(r *store.NodegroupRecord) error {
		r.Nodegroup.Version, r.Nodegroup.ReleaseVersion, r.Nodegroup.UpdateConfig = "1.36", "1.36.3-20260610", updateConfig
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if rec := f.settle("ng"); rec.Nodegroup.Status != shapes.NodegroupActive {
		t.Fatalf("nodegroup %s before the update", rec.Nodegroup.Status)
	}
	return f, exec
}

// startVersionUpdate records an UpdateNodegroupVersion as the API does.
func (f *fixture) startVersionUpdate(force bool) string {
	f.t.Helper()
	change, _ := json.Marshal(store.NodegroupVersionChange{Version: "1.37", ReleaseVersion: "1.37.2-20260826", ImageID: "ami-0000000000new137", Force: force})
	u := &store.UpdateRecord{Cluster: "demo", Nodegroup: "ng", Change: change, Update: shapes.Update{
		ID: fmt.Sprintf("u-%d", time.Now().UnixNano()), Status: shapes.UpdateInProgress, Type: versionUpdate, CreatedAt: now(time.Now()),
	}}
	if _, err := f.st.StartNodegroupUpdate(context.Background(), u, "", func(r *store.NodegroupRecord) error {
		r.Nodegroup.Status = shapes.NodegroupUpdating
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
	return u.Update.ID
}

func (f *fixture) minors(name string) map[string]int {
	out := map[string]int{}
	for _, inst := range f.live(name) {
		out[inst.KubernetesVersion+" "+inst.ImageID]++
	}
	return out
}

func TestVersionUpdateStartsNewNodeBeforeRemovingOld(t *testing.T) {
	f, exec := rollFixture(t, 2, nil)
	id := f.startVersionUpdate(false)
	rec := f.settle("ng")
	want := []string{"start 1.36", "start 1.36", "start 1.37", "remove 1.36", "start 1.37", "remove 1.36"}
	if fmt.Sprint(exec.events) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v (one new node Ready before each old one goes)", exec.events, want)
	}
	u := f.update("ng", id)
	if u.Update.Status != shapes.UpdateSuccessful || rec.Nodegroup.Status != shapes.NodegroupActive {
		t.Fatalf("update %s, nodegroup %s", u.Update.Status, rec.Nodegroup.Status)
	}
	ng := rec.Nodegroup
	if ng.Version != "1.37" || ng.ReleaseVersion != "1.37.2-20260826" || rec.ImageID != "ami-0000000000new137" {
		t.Errorf("nodegroup after the update: %s %s %s", ng.Version, ng.ReleaseVersion, rec.ImageID)
	}
	if m := f.minors("ng"); m["1.37 ami-0000000000new137"] != 2 || len(m) != 1 {
		t.Errorf("live instances %v", m)
	}
	zones := map[string]bool{}
	for _, inst := range f.live("ng") {
		zones[inst.AvailabilityZone] = true
	}
	if len(zones) != 2 {
		t.Errorf("new nodes in zones %v, want spread over both subnets' zones", zones)
	}
	for id, s := range exec.specs {
		if s.KubernetesVersion != "1.37" {
			t.Errorf("node %s runs %s", id, s.KubernetesVersion)
		}
	}
}

func TestVersionUpdateBatchFollowsMaxUnavailable(t *testing.T) {
	f, exec := rollFixture(t, 2, &shapes.NodegroupUpdateConfig{MaxUnavailable: shapes.Int(2)})
	f.startVersionUpdate(false)
	f.settle("ng")
	want := []string{"start 1.36", "start 1.36", "start 1.37", "start 1.37", "remove 1.36", "remove 1.36"}
	if fmt.Sprint(exec.events) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v", exec.events, want)
	}
	for _, c := range []struct {
		uc      *shapes.NodegroupUpdateConfig
		desired int
		want    int
	}{
		{nil, 4, 1},
		{&shapes.NodegroupUpdateConfig{MaxUnavailable: shapes.Int(3)}, 4, 3},
		{&shapes.NodegroupUpdateConfig{MaxUnavailablePercentage: shapes.Int(50)}, 4, 2},
		{&shapes.NodegroupUpdateConfig{MaxUnavailablePercentage: shapes.Int(10)}, 4, 1},
	} {
		if got := batchSize(&shapes.Nodegroup{UpdateConfig: c.uc}, c.desired); got != c.want {
			t.Errorf("batchSize(%+v, %d) = %d, want %d", c.uc, c.desired, got, c.want)
		}
	}
}

func TestVersionUpdateKeepsOldNodesUntilNewOnesAreReady(t *testing.T) {
	f, exec := rollFixture(t, 1, nil)
	exec.notReady = "1.37"
	id := f.startVersionUpdate(false)
	f.settle("ng")
	if m := f.minors("ng"); m["1.36 ami-0123456789abcdef0"] != 1 || m["1.37 ami-0000000000new137"] != 1 {
		t.Fatalf("instances while the new node is not Ready: %v", m)
	}
	if u := f.update("ng", id); u.Update.Status != shapes.UpdateInProgress {
		t.Fatalf("update %s while the new node is not Ready", u.Update.Status)
	}
	exec.set(func(*fakeExecutor) { exec.notReady = "" })
	f.settle("ng")
	if u := f.update("ng", id); u.Update.Status != shapes.UpdateSuccessful {
		t.Fatalf("update %s once Ready", u.Update.Status)
	}
}

func TestVersionUpdateHonoursDisruptionBudgetsUnlessForced(t *testing.T) {
	f, exec := rollFixture(t, 1, nil)
	exec.set(func(e *fakeExecutor) { e.blocked = true })
	id := f.startVersionUpdate(false)
	rec := f.settle("ng")
	if is := rec.Nodegroup.Health.Issues; len(is) != 1 || is[0].Code != "PodEvictionFailure" {
		t.Fatalf("issues while a budget blocks the drain: %+v", is)
	}
	f.r.DrainTimeout = time.Nanosecond
	rec = f.settle("ng")
	u := f.update("ng", id)
	if u.Update.Status != shapes.UpdateFailed || u.Update.Errors[0].ErrorCode != "PodEvictionFailure" || rec.Nodegroup.Version != "1.36" {
		t.Fatalf("update %+v, nodegroup on %s", u.Update, rec.Nodegroup.Version)
	}
	// force: the budget's pods are deleted and the old node goes.
	f.r.DrainTimeout = time.Hour
	id = f.startVersionUpdate(true)
	rec = f.settle("ng")
	if u := f.update("ng", id); u.Update.Status != shapes.UpdateSuccessful || rec.Nodegroup.Version != "1.37" {
		t.Fatalf("forced update %s, nodegroup on %s", u.Update.Status, rec.Nodegroup.Version)
	}
	if m := f.minors("ng"); len(m) != 1 || m["1.37 ami-0000000000new137"] != 1 {
		t.Errorf("instances after the forced update: %v", m)
	}
}
