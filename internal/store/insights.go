package store

import (
	"context"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kplane/kplane/internal/eks/shapes"
)

const insightsPrefix = prefix + "insights/"

func insightsKey(cluster string) string { return insightsPrefix + cluster }

// InsightsRecord is what the insights refresher keeps of one cluster: the
// insights ListInsights/DescribeInsight answer, and what it has seen of the
// cluster so far. Usage lives here, not in the apiservers, because their
// counters restart with a replica while a finding lasts 30 days.
type InsightsRecord struct {
	Cluster   string           `json:"cluster"`
	ClusterID string           `json:"clusterId"` // a new cluster of the same name starts afresh
	Insights  []shapes.Insight `json:"insights"`
	// Usage is every deprecated API the cluster's apiservers saw called.
	Usage []DeprecatedAPIUsage `json:"usage,omitempty"`
	// Replicas are the request counters last read from each replica, by
	// replica name, so the next read counts only what is new.
	Replicas map[string]ReplicaCounters `json:"replicas,omitempty"`
	// RefreshedAt is the end of the last refresh.
	RefreshedAt time.Time `json:"refreshedAt"`
}

// DeprecatedAPIUsage is the calls made to one deprecated API
// (group/version/resource[/subresource]), as apiserver_requested_deprecated_apis names it.
type DeprecatedAPIUsage struct {
	Group          string `json:"group"`
	Version        string `json:"version"`
	Resource       string `json:"resource"`
	Subresource    string `json:"subresource,omitempty"`
	RemovedRelease string `json:"removedRelease,omitempty"`
	// Daily is the number of requests seen per UTC day ("2006-01-02"); days
	// older than the insight window are dropped.
	Daily map[string]int `json:"daily"`
	// LastRequest is the refresh that last saw a new request (the apiserver's
	// counters carry no time of their own).
	LastRequest time.Time `json:"lastRequest"`
}

// ReplicaCounters are one replica's request counters at a refresh.
type ReplicaCounters struct {
	// StartedAt is the replica process's start: another start means its
	// counters began again from zero.
	StartedAt time.Time          `json:"startedAt"`
	Requests  map[string]float64 `json:"requests"`
}

// GetInsights reads cluster's insights record (ErrNotFound before the first refresh).
func (s *Store) GetInsights(ctx context.Context, cluster string) (*InsightsRecord, error) {
	return getJSON[InsightsRecord](ctx, s, insightsKey(cluster))
}

// PutInsights writes rec while its cluster exists (ErrNotFound once it is
// deleted, so a refresh racing a delete leaves nothing behind).
func (s *Store) PutInsights(ctx context.Context, rec *InsightsRecord) error {
	resp, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(clusterKey(rec.Cluster)), ">", 0)).
		Then(putJSON(insightsKey(rec.Cluster), rec)).Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return ErrNotFound
	}
	return nil
}

// DeleteInsights removes cluster's insights record (gone with the cluster).
func (s *Store) DeleteInsights(ctx context.Context, cluster string) error {
	_, err := s.client.Delete(ctx, insightsKey(cluster))
	return err
}

// deleteInsightsOps remove cluster's insights and refresh (with the cluster).
func deleteInsightsOps(cluster string) []clientv3.Op {
	return []clientv3.Op{clientv3.OpDelete(insightsKey(cluster)), clientv3.OpDelete(insightsRefreshPrefix + cluster)}
}

const insightsRefreshPrefix = prefix + "insights-refresh/"

// InsightsRefresh is a cluster's latest on-demand refresh
// (StartInsightsRefresh); the refresher ends it.
type InsightsRefresh struct {
	Cluster   string    `json:"cluster"`
	ClusterID string    `json:"clusterId"`
	Status    string    `json:"status"` // IN_PROGRESS, COMPLETED, FAILED
	Message   string    `json:"message"`
	StartedAt time.Time `json:"startedAt"`
	EndedAt   time.Time `json:"endedAt,omitempty"`
}

// GetInsightsRefresh reads cluster's latest refresh (ErrNotFound if none).
func (s *Store) GetInsightsRefresh(ctx context.Context, cluster string) (*InsightsRefresh, error) {
	return getJSON[InsightsRefresh](ctx, s, insightsRefreshPrefix+cluster)
}

// PutInsightsRefresh writes r while its cluster exists (else ErrNotFound).
func (s *Store) PutInsightsRefresh(ctx context.Context, r *InsightsRefresh) error {
	resp, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(clusterKey(r.Cluster)), ">", 0)).
		Then(putJSON(insightsRefreshPrefix+r.Cluster, r)).Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return ErrNotFound
	}
	return nil
}

// WatchInsightsRefreshes sends the cluster name of every refresh written,
// until ctx ends (a full channel drops names: receivers also resync).
func (s *Store) WatchInsightsRefreshes(ctx context.Context) <-chan string {
	out := make(chan string, 64)
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			for resp := range s.client.Watch(clientv3.WithRequireLeader(ctx), insightsRefreshPrefix, clientv3.WithPrefix()) {
				for _, ev := range resp.Events {
					if ev.Type != clientv3.EventTypePut {
						continue
					}
					select {
					case out <- strings.TrimPrefix(string(ev.Kv.Key), insightsRefreshPrefix):
					default:
					}
				}
			}
			select { // the watch broke (etcd unreachable): try again shortly
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return out
}
