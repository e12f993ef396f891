package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// mirror is what kplane's in-memory copies of etcd prefixes (the cluster
// cache, the IAM index) share: the lock over their content, the revision
// they have seen, and a way for a writer to wait until its own write is in.
type mirror struct {
	mu    sync.RWMutex  // the owner's content, rev and moved
	moved chan struct{} // closed and replaced whenever rev moves
	rev   int64
	done  chan struct{} // closed when following stops
}

func newMirror() mirror {
	return mirror{moved: make(chan struct{}), done: make(chan struct{})}
}

// advanceLocked records that the content is at least at rev and wakes the
// waiters; mu is held for writing.
func (m *mirror) advanceLocked(rev int64) {
	if rev > m.rev {
		m.rev = rev
	}
	close(m.moved)
	m.moved = make(chan struct{})
}

// waitFor blocks until the mirror has seen revision rev, for at most 10 s.
func (m *mirror) waitFor(ctx context.Context, rev int64) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		m.mu.RLock()
		seen, moved := m.rev, m.moved
		m.mu.RUnlock()
		if seen >= rev {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return ctx.Err()
		case <-m.done:
			return errors.New("store: mirror of etcd stopped")
		}
	}
}

// follow watches prefix from rev+1 and gives every response to apply; when
// the watch breaks (compaction, leader loss) it reads everything again with
// relist and watches on from there. It returns, closing m.done, when ctx is
// done.
func (m *mirror) follow(ctx context.Context, cli *clientv3.Client, prefix string, rev int64,
	apply func(clientv3.WatchResponse), relist func(context.Context) (int64, error), log *slog.Logger, what string) {
	defer close(m.done)
	for ctx.Err() == nil {
		wch := cli.Watch(clientv3.WithRequireLeader(ctx), prefix,
			clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithProgressNotify())
		for resp := range wch {
			if resp.Err() != nil {
				break
			}
			apply(resp)
			rev = max(rev, resp.Header.Revision)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		if r, err := relist(ctx); err == nil {
			rev = r
		} else if ctx.Err() == nil {
			log.Warn(what+" relist failed", "err", err)
		}
	}
}
