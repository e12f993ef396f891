package store

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kplane/kplane/internal/paging"
)

// clusterCache mirrors /kplane/clusters/ through a watch. Records in it are
// shared and must not be modified by callers.
type clusterCache struct {
	cli    *clientv3.Client
	log    *slog.Logger
	cancel context.CancelFunc

	mirror // mu guards what follows
	byName map[string]*ClusterRecord
	byID   map[string]string // cluster id → name
	names  []string          // sorted
	subs   []chan string
}

func newClusterCache(cli *clientv3.Client, log *slog.Logger) *clusterCache {
	return &clusterCache{cli: cli, log: log, mirror: newMirror(),
		byName: map[string]*ClusterRecord{}, byID: map[string]string{}}
}

func (c *clusterCache) start(ctx context.Context) error {
	rev, err := c.relist(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.follow(wctx, c.cli, clustersPrefix, rev, c.apply, c.relist, c.log, "cluster cache")
	return nil
}

func (c *clusterCache) stop() {
	if c.cancel != nil {
		c.cancel()
		<-c.done
	}
}

// relist replaces the cache's content with a fresh read and returns its revision.
func (c *clusterCache) relist(ctx context.Context) (int64, error) {
	resp, err := c.cli.Get(ctx, clustersPrefix, clientv3.WithPrefix())
	if err != nil {
		return 0, err
	}
	byName := make(map[string]*ClusterRecord, len(resp.Kvs))
	byID := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if rec := decodeCluster(kv.Value, kv.ModRevision); rec != nil {
			byName[rec.Cluster.Name] = rec
			byID[rec.Cluster.ID] = rec.Cluster.Name
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	c.mu.Lock()
	c.byName, c.byID, c.names = byName, byID, names
	c.advanceLocked(resp.Header.Revision)
	subs := c.subs
	c.mu.Unlock()
	for _, n := range names {
		notify(subs, n)
	}
	return resp.Header.Revision, nil
}

func (c *clusterCache) apply(resp clientv3.WatchResponse) {
	var touched []string
	c.mu.Lock()
	for _, ev := range resp.Events {
		name := strings.TrimPrefix(string(ev.Kv.Key), clustersPrefix)
		touched = append(touched, name)
		if ev.Type == clientv3.EventTypeDelete {
			if old, ok := c.byName[name]; ok {
				delete(c.byName, name)
				delete(c.byID, old.Cluster.ID)
				i := sort.SearchStrings(c.names, name)
				c.names = append(c.names[:i], c.names[i+1:]...)
			}
			continue
		}
		rec := decodeCluster(ev.Kv.Value, ev.Kv.ModRevision)
		if rec == nil {
			continue
		}
		if _, ok := c.byName[name]; !ok {
			i := sort.SearchStrings(c.names, name)
			c.names = append(c.names, "")
			copy(c.names[i+1:], c.names[i:])
			c.names[i] = name
		}
		c.byName[name] = rec
		c.byID[rec.Cluster.ID] = name
	}
	c.advanceLocked(resp.Header.Revision)
	subs := c.subs
	c.mu.Unlock()
	for _, n := range touched {
		notify(subs, n)
	}
}

func notify(subs []chan string, name string) {
	for _, ch := range subs {
		select {
		case ch <- name:
		default: // a slow subscriber resyncs periodically anyway
		}
	}
}

func (c *clusterCache) get(name string) *ClusterRecord {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.byName[name]
}

func (c *clusterCache) getByID(id string) *ClusterRecord {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.byName[c.byID[id]]
}

// list returns up to limit names after the given one, and whether more follow.
func (c *clusterCache) list(after string, limit int) ([]string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out, resume := paging.Page(c.names, func(name string) string { return name }, after, limit)
	return slices.Clone(out), resume != ""
}

func (c *clusterCache) all() []*ClusterRecord {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*ClusterRecord, 0, len(c.names))
	for _, n := range c.names {
		out = append(out, c.byName[n])
	}
	return out
}

func (c *clusterCache) subscribe() <-chan string {
	ch := make(chan string, 1024)
	c.mu.Lock()
	c.subs = append(c.subs, ch)
	c.mu.Unlock()
	return ch
}

func decodeCluster(b []byte, rev int64) *ClusterRecord {
	var rec ClusterRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil
	}
	rec.Revision = rev
	rec.DescribeJSON, _ = json.Marshal(map[string]any{"cluster": rec.Cluster})
	return &rec
}
