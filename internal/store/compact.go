package store

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultCompactInterval is kube-apiserver's --etcd-compaction-interval.
const DefaultCompactInterval = 5 * time.Minute

// compactRevKey is the key through which kube-apiservers sharing an etcd
// take turns compacting it (k8s.io/apiserver's storage/etcd3 compactor).
// kplane uses the same key and turns, so it and its clusters' apiservers
// compact together at most once per interval, and the apiservers, which
// watch the key, learn the compacted revision (their watch caches then
// drop older snapshots, and a continue token that old expires as on any
// Kubernetes cluster). Clusters' etcd roles may read and write this one key.
const compactRevKey = "compact_rev_key"

// compactor compacts etcd's history as kube-apiserver does: each interval,
// to the revision seen one interval before, so between one and two
// intervals of history are kept. Nothing of kplane reads an old revision
// (its watches relist when their revision is compacted away).
type compactor struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startCompactor(cli *clientv3.Client, interval time.Duration, log *slog.Logger) *compactor {
	ctx, cancel := context.WithCancel(context.Background())
	c := &compactor{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		var version, rev int64
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var compacted int64
			var err error
			version, rev, compacted, err = compactOnce(ctx, cli, version, rev)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn("etcd compaction failed", "err", err)
			case compacted > 0:
				log.Debug("etcd compacted", "revision", compacted)
			}
		}
	}()
	return c
}

func (c *compactor) stop() {
	c.cancel()
	<-c.done
}

// compactOnce is one turn. If compactRevKey's version is still the one this
// compactor saw (nobody compacted since its last turn), it records rev, the
// revision it saw then, and compacts to it; otherwise it learns the version.
// Either way etcd's current revision is the rev of the next turn. The first
// turn (rev 0) compacts nothing.
func compactOnce(ctx context.Context, cli *clientv3.Client, version, rev int64) (nextVersion, nextRev, compacted int64, err error) {
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Version(compactRevKey), "=", version)).
		Then(clientv3.OpPut(compactRevKey, strconv.FormatInt(rev, 10))).
		Else(clientv3.OpGet(compactRevKey)).
		Commit()
	if err != nil {
		return version, rev, 0, err
	}
	nextRev = resp.Header.Revision
	if !resp.Succeeded {
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			return kvs[0].Version, nextRev, 0, nil
		}
		return 0, nextRev, 0, nil
	}
	if rev == 0 {
		return version + 1, nextRev, 0, nil
	}
	// Already compacted further (an external etcd's own auto-compaction) is fine.
	if _, err := cli.Compact(ctx, rev); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return version + 1, nextRev, 0, err
	}
	return version + 1, nextRev, rev, nil
}
