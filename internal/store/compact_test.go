package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Turns of the compactor, as kube-apiserver's: the first records the
// revision it sees, the next compacts to it, and one that finds another
// compactor took a turn meanwhile compacts nothing.
func TestCompactOnceCompactsToThePreviousTurn(t *testing.T) {
	s := openTestStore(t)
	s.compactor.stop() // turns by hand here
	ctx := context.Background()
	cli := s.Client

	put := func(v string) int64 {
		t.Helper()
		resp, err := cli.Put(ctx, "/test/k", v)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	readAt := func(rev int64) error {
		_, err := cli.Get(ctx, "/test/k", clientv3.WithRev(rev))
		return err
	}

	before := put("1")
	version, rev, compacted, err := compactOnce(ctx, cli, 0, 0)
	if err != nil || compacted != 0 || version != 1 || rev <= before {
		t.Fatalf("first turn: version %d rev %d compacted %d %v; want version 1, nothing compacted", version, rev, compacted, err)
	}
	seenAtFirst := rev
	after := put("2")

	version, rev, compacted, err = compactOnce(ctx, cli, version, rev)
	if err != nil || compacted != seenAtFirst || version != 2 {
		t.Fatalf("second turn: version %d compacted %d %v; want version 2, compacted to %d", version, compacted, err, seenAtFirst)
	}
	if err := readAt(before); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("read at %d, before the compacted revision: %v, want ErrCompacted", before, err)
	}
	if err := readAt(after); err != nil {
		t.Errorf("read at %d, after the compacted revision: %v", after, err)
	}
	if resp, err := cli.Get(ctx, compactRevKey); err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != strconv.FormatInt(seenAtFirst, 10) {
		t.Errorf("%s: %v %v, want %d (what kube-apiservers watch)", compactRevKey, resp, err, seenAtFirst)
	}

	// Another compactor (a cluster's kube-apiserver) with a stale version
	// learns the current one and compacts nothing this turn.
	otherVersion, _, compacted, err := compactOnce(ctx, cli, 0, after)
	if err != nil || compacted != 0 || otherVersion != version {
		t.Errorf("stale turn: version %d compacted %d %v; want version %d, nothing compacted", otherVersion, compacted, err, version)
	}
}

// The compactor Open starts keeps kplane's history to one or two intervals,
// and kplane's own watch-fed cluster cache goes on working across it.
func TestStoreCompactsItsHistory(t *testing.T) {
	s, err := Open(context.Background(), Config{DataDir: t.TempDir(), CompactInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	resp, err := s.Client.Put(ctx, "/test/k", "old")
	if err != nil {
		t.Fatal(err)
	}
	old := resp.Header.Revision
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.Client.Get(ctx, "/test/k", clientv3.WithRev(old))
		if errors.Is(err, rpctypes.ErrCompacted) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revision %d still readable after 30 s of 200 ms compactions: %v", old, err)
		}
		s.Client.Put(ctx, "/test/other", "x") // history moves on
		time.Sleep(50 * time.Millisecond)
	}
	// kplane reads no old revision: its cluster cache, fed by a watch that
	// relists when its revision is compacted away, sees a cluster created now.
	_, subnets := newVPC(t, s, "10.0.0.0/16", "10.0.0.0/28", "10.0.1.0/28")
	rec := testCluster("after-compaction", []string{subnets[0].ID, subnets[1].ID}, nil)
	if _, _, err := s.CreateCluster(ctx, rec, "", 100); err != nil {
		t.Fatal(err)
	}
	if got := s.ClusterByID(rec.Cluster.ID); got == nil || got.Cluster.Name != "after-compaction" {
		t.Fatalf("cluster created after compactions: %+v", got)
	}
}
