package store

import (
	"context"
	"testing"
	"time"
)

// ClusterByID follows creates and deletes, including a name used again by a
// new cluster (a new id).
func TestClusterByID(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	_, subnets := newVPC(t, s, "10.0.0.0/16", "10.0.0.0/28", "10.0.1.0/28")
	ids := []string{subnets[0].ID, subnets[1].ID}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}

	first := testCluster("one", ids, nil)
	if _, _, err := s.CreateCluster(ctx, first, "", 100); err != nil {
		t.Fatal(err)
	}
	if rec := s.ClusterByID(first.Cluster.ID); rec == nil || rec.Cluster.Name != "one" {
		t.Fatalf("ClusterByID after create: %+v", rec)
	}
	if rec := s.ClusterByID("no-such-id"); rec != nil {
		t.Fatalf("unknown id: %+v", rec)
	}
	if err := s.RemoveCluster(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	eventually("removed cluster still found by id", func() bool { return s.ClusterByID(first.Cluster.ID) == nil })

	again := testCluster("one", ids, nil)
	again.Cluster.ID = "fedcba9876543210-one"
	if _, _, err := s.CreateCluster(ctx, again, "", 100); err != nil {
		t.Fatal(err)
	}
	if rec := s.ClusterByID(again.Cluster.ID); rec == nil || rec.Cluster.Name != "one" {
		t.Fatalf("new cluster of the same name: %+v", rec)
	}
	if rec := s.ClusterByID(first.Cluster.ID); rec != nil {
		t.Fatalf("the old id finds the new cluster: %+v", rec)
	}
}
