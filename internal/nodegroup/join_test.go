package nodegroup

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// countingJoiner records the node roles it was asked to map and unmap.
type countingJoiner struct {
	mu       sync.Mutex
	roles    []string
	unmapped []string
}

func (j *countingJoiner) RemoveNodeRoleMapping(_ context.Context, _ *store.ClusterRecord, roleArn string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.unmapped = append(j.unmapped, roleArn)
	return nil
}

func (j *countingJoiner) unmaps() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.unmapped)
}

func (j *countingJoiner) EnsureNodeRoleMapped(_ context.Context, _ *store.ClusterRecord, roleArn string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.roles = append(j.roles, roleArn)
	return nil
}

func (j *countingJoiner) calls() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.roles)
}

// The node role is mapped in aws-auth once per nodegroup, as EKS does at
// create: later passes (a resync, a scale-up) do not map it again, so an
// operator who removed the entry keeps new nodes out.
func TestNodeRoleMappedOnce(t *testing.T) {
	f := newFixture(t)
	j := &countingJoiner{}
	f.r.Joiner = j
	f.exec.set(func(e *fakeExecutor) { e.ready = true })
	f.createNodegroup("workers", 1, f.net.Subnets[0].ID)
	rec := f.settle("workers")
	if rec.Nodegroup.Status != "ACTIVE" || !rec.AwsAuthMapped {
		t.Fatalf("status %s, awsAuthMapped %v", rec.Nodegroup.Status, rec.AwsAuthMapped)
	}
	if j.calls() != 1 {
		t.Fatalf("mapped %d times while creating, want 1", j.calls())
	}
	_, err := f.st.UpdateNodegroup(context.Background(), "demo", "workers", func(r *store.NodegroupRecord) error {
		*r.Nodegroup.ScalingConfig.DesiredSize = 2
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.settle("workers")
	f.settle("workers")
	if j.calls() != 1 {
		t.Errorf("mapped %d times after a scale-up and a resync, want 1 (%v)", j.calls(), j.roles)
	}
	if len(f.exec.specs) != 2 {
		t.Errorf("%d nodes, want 2", len(f.exec.specs))
	}
}

// The entry goes when the last nodegroup with the role is deleted.
func TestNodeRoleUnmappedWithLastNodegroup(t *testing.T) {
	f := newFixture(t)
	j := &countingJoiner{}
	f.r.Joiner = j
	f.exec.set(func(e *fakeExecutor) { e.ready = true })
	f.createNodegroup("a", 1, f.net.Subnets[0].ID)
	f.settle("a")
	f.createNodegroup("b", 1, f.net.Subnets[0].ID)
	f.settle("b")
	del := func(name string) {
		_, err := f.st.UpdateNodegroup(context.Background(), "demo", name, func(r *store.NodegroupRecord) error {
			r.Nodegroup.Status = "DELETING"
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if rec := f.settle(name); rec != nil {
			t.Fatalf("nodegroup %s still there: %s", name, rec.Nodegroup.Status)
		}
	}
	del("a")
	if j.unmaps() != 0 {
		t.Fatalf("unmapped while nodegroup b still has the role")
	}
	del("b")
	if j.unmaps() != 1 {
		t.Fatalf("unmapped %d times after the last nodegroup went, want 1", j.unmaps())
	}
}

// notJoining is a fake executor whose nodes run and never join.
type notJoining struct{ *fakeExecutor }

func (n notJoining) EnsureNode(ctx context.Context, s NodeSpec) (NodeState, error) {
	st, err := n.fakeExecutor.EnsureNode(ctx, s)
	st.Ready, st.Problem, st.IssueCode = false, JoinFailureMessage, "NodeCreationFailure"
	return st, err
}

// A scale-up whose new node never joins shows NodeCreationFailure while it
// waits, and fails with it after CreateTimeout; the nodegroup is DEGRADED.
func TestUpdateFailsWhenNodesDoNotJoin(t *testing.T) {
	f := newFixture(t)
	f.exec.set(func(e *fakeExecutor) { e.ready = true })
	f.createNodegroup("ng", 1, f.net.Subnets[0].ID)
	f.settle("ng")
	f.r.Executor = notJoining{f.exec}
	id := f.startUpdate("ng", func(ng *shapes.Nodegroup) { ng.ScalingConfig.DesiredSize = shapes.Int(2) })
	rec := f.settle("ng")
	if rec.Nodegroup.Status != shapes.NodegroupUpdating || f.update("ng", id).Update.Status != shapes.UpdateInProgress {
		t.Fatalf("while the node does not join: %s, update %s", rec.Nodegroup.Status, f.update("ng", id).Update.Status)
	}
	if ids := notJoined(rec.Nodegroup.Health.Issues); len(ids) != 2 {
		t.Fatalf("issues %+v", rec.Nodegroup.Health.Issues)
	}
	f.r.CreateTimeout = time.Nanosecond
	rec = f.settle("ng")
	u := f.update("ng", id).Update
	if u.Status != shapes.UpdateFailed || len(u.Errors) != 1 || u.Errors[0].ErrorCode != "NodeCreationFailure" || u.Errors[0].ErrorMessage != JoinFailureMessage {
		t.Fatalf("update %s %+v", u.Status, u.Errors)
	}
	if rec.Nodegroup.Status != shapes.NodegroupDegraded {
		t.Errorf("nodegroup %s after the failed update, want DEGRADED", rec.Nodegroup.Status)
	}
}
