package insights

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/reconcile"
	"github.com/kplane/kplane/internal/runinfo"
	"github.com/kplane/kplane/internal/store"
)

// Source reads a cluster's control plane for the checks.
type Source interface {
	// ScrapeReplicas reads /metrics of each replica of rec's cluster that
	// runs now, with admin rights; live names every replica the cluster
	// has (scraped or not).
	ScrapeReplicas(ctx context.Context, rec *store.ClusterRecord) (scrapes []Scrape, live []string, err error)
	// Nodes lists the cluster's Node objects.
	Nodes(ctx context.Context, rec *store.ClusterRecord) ([]Node, error)
}

// DefaultInterval is how often each ACTIVE cluster's insights are refreshed.
// EKS refreshes about daily; kplane's clusters are short-lived test beds, so
// a finding shows within seconds of the call that causes it.
const DefaultInterval = 15 * time.Second

// Refresher keeps every ACTIVE cluster's insights in the store, refreshed
// in a pass of its own reconcile.Loop: the EKS API never reaches into a
// cluster, and a restarted kplane answers from what was stored.
type Refresher struct {
	Source   Source
	Interval time.Duration
	Log      *slog.Logger
	Now      func() time.Time
	// Store is kplane's datastore (Run's, unless set).
	Store *store.Store
}

// Run implements server.Reconciler.
func (r *Refresher) Run(ctx context.Context, st *store.Store, _ runinfo.Info) error {
	if r.Store == nil {
		r.Store = st
	}
	if r.Log == nil {
		r.Log = slog.Default()
	}
	if r.Interval <= 0 {
		r.Interval = DefaultInterval
	}
	loop := &reconcile.Loop{
		Name: "insights", Reconcile: r.Refresh, Workers: 1, Resync: r.Interval, Log: r.Log,
		// StartInsightsRefresh: a refresh asked for runs at once.
		Changes: []<-chan string{r.Store.WatchInsightsRefreshes(ctx)},
		Keys: func(context.Context) ([]string, error) {
			var names []string
			for _, c := range st.Clusters() {
				names = append(names, c.Cluster.Name)
			}
			return names, nil
		},
	}
	loop.Run(ctx)
	return nil
}

// Refresh runs the checks of cluster name and stores the result. A cluster
// that is not ACTIVE (creating, updating, deleting) keeps its insights as
// they were: its replicas are changing.
func (r *Refresher) Refresh(ctx context.Context, name string) (time.Duration, error) {
	st := r.Store
	rec, err := st.GetCluster(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, st.DeleteInsights(ctx, name)
	}
	if err != nil {
		return 0, err
	}
	asked, _ := st.GetInsightsRefresh(ctx, name)
	if asked != nil && (asked.ClusterID != rec.Cluster.ID || asked.Status != "IN_PROGRESS") {
		asked = nil
	}
	if rec.Cluster.Status != shapes.StatusActive {
		return 0, r.endRefresh(ctx, asked, "FAILED", "Cluster "+name+" is "+rec.Cluster.Status+"; insights refresh only while it is ACTIVE.")
	}
	prev, err := st.GetInsights(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && prev.ClusterID != rec.Cluster.ID) {
		prev, err = &store.InsightsRecord{Cluster: name, ClusterID: rec.Cluster.ID}, nil
	}
	if err != nil {
		return 0, err
	}
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	scrapes, live, serr := r.Source.ScrapeReplicas(ctx, rec)
	nodes, nerr := r.Source.Nodes(ctx, rec)
	next := Evaluate(prev, rec, scrapes, live, serr, nodes, nerr, now)
	if err := st.PutInsights(ctx, next); err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	if err := errors.Join(serr, nerr); err != nil {
		return 0, r.endRefresh(ctx, asked, "FAILED", "Insights refresh failed: "+err.Error())
	}
	return 0, r.endRefresh(ctx, asked, "COMPLETED", "Insights refresh completed.")
}

// endRefresh ends an on-demand refresh (nil: none was asked for).
func (r *Refresher) endRefresh(ctx context.Context, asked *store.InsightsRefresh, status, msg string) error {
	if asked == nil {
		return nil
	}
	// A refresh asked for since this pass began is left for the next pass
	// (the watch brings it).
	if cur, err := r.Store.GetInsightsRefresh(ctx, asked.Cluster); err != nil || !cur.StartedAt.Equal(asked.StartedAt) {
		return nil
	}
	asked.Status, asked.Message, asked.EndedAt = status, msg, time.Now()
	if err := r.Store.PutInsightsRefresh(ctx, asked); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// Evaluate is the next insights record of rec's cluster from prev and what
// was read now. A source that failed leaves its check as it was (or
// UNKNOWN if it never ran); the other checks still refresh.
func Evaluate(prev *store.InsightsRecord, rec *store.ClusterRecord, scrapes []Scrape, live []string, scrapeErr error,
	nodes []Node, nodesErr error, now time.Time) *store.InsightsRecord {
	next := *prev
	next.Replicas = map[string]store.ReplicaCounters{}
	for k, v := range prev.Replicas {
		next.Replicas[k] = v
	}
	next.Usage = append([]store.DeprecatedAPIUsage(nil), prev.Usage...)
	for i := range next.Usage {
		days := map[string]int{}
		for d, n := range next.Usage[i].Daily {
			days[d] = n
		}
		next.Usage[i].Daily = days
	}
	target := NextMinor(rec.Cluster.Version)
	id := rec.Cluster.ID

	deprecated := DeprecatedAPIs(id, target, next.Usage, now, "")
	if scrapeErr == nil {
		scrapeErr = Merge(&next, scrapes, now)
		ForgetReplicas(&next, live)
	}
	if scrapeErr == nil {
		deprecated = DeprecatedAPIs(id, target, next.Usage, now, "")
	} else if old := find(prev.Insights, deprecated.ID); old != nil {
		deprecated = *old
	} else {
		deprecated = DeprecatedAPIs(id, target, next.Usage, now, "Unable to read the apiserver's record of deprecated API requests: "+scrapeErr.Error())
	}
	var skew shapes.Insight
	if nodesErr == nil {
		skew = KubeletSkew(id, target, nodes, "")
	} else if old := find(prev.Insights, ID(id, checkKubeletSkew, target)); old != nil {
		skew = *old
	} else {
		skew = KubeletSkew(id, target, nil, "Unable to list the cluster's nodes: "+nodesErr.Error())
	}
	next.Insights = nil
	for _, in := range []shapes.Insight{deprecated, skew} {
		refreshed := (in.ID == deprecated.ID && scrapeErr == nil) || (in.ID == skew.ID && nodesErr == nil)
		old := find(prev.Insights, in.ID)
		switch {
		case old != nil && !refreshed:
			// kept as it was
		case old != nil && old.InsightStatus.Status == in.InsightStatus.Status:
			in.LastRefreshTime, in.LastTransitionTime = ts(now), old.LastTransitionTime
		default:
			in.LastRefreshTime, in.LastTransitionTime = ts(now), ts(now)
		}
		next.Insights = append(next.Insights, in)
	}
	next.RefreshedAt = now
	return &next
}

func find(list []shapes.Insight, id string) *shapes.Insight {
	for i := range list {
		if list[i].ID == id {
			return &list[i]
		}
	}
	return nil
}
