package eks

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/insights"
	"github.com/kplane/kplane/internal/store"
)

// Upgrade insights are computed by insights.Refresher in its own reconciler
// pass and kept in the store; these calls only read them.

var (
	insightCategories = []string{shapes.CategoryUpgradeReadiness, shapes.CategoryMisconfiguration}
	insightStatuses   = []string{shapes.InsightPassing, shapes.InsightWarning, shapes.InsightError, shapes.InsightUnknown}
)

// clusterInsights are the stored insights of rec's cluster (none before the
// first refresh, or when they belong to an earlier cluster of the name).
func (a *API) clusterInsights(c *call, rec *store.ClusterRecord) ([]shapes.Insight, *Error) {
	ir, err := a.cfg.Store.GetInsights(c.r.Context(), rec.Cluster.Name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, internal(err)
	}
	if ir.ClusterID != rec.Cluster.ID {
		return nil, nil
	}
	return ir.Insights, nil
}

func (a *API) listInsights(c *call) (any, *Error) {
	rec, err := a.cluster(c)
	if err != nil {
		return nil, err
	}
	name := rec.Cluster.Name
	var req shapes.ListInsightsRequest
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	limit := maxMaxResults
	if req.MaxResults != nil {
		if limit, err = validateMaxResults(fmt.Sprint(*req.MaxResults), maxMaxResults); err != nil {
			return nil, err
		}
	}
	var categories, versions, statuses []string
	if f := req.Filter; f != nil {
		categories, versions, statuses = f.Categories, f.KubernetesVersions, f.Statuses
	}
	if err := enumList("filter.categories", categories, insightCategories); err != nil {
		return nil, err.With("clusterName", name)
	}
	if err := enumList("filter.statuses", statuses, insightStatuses); err != nil {
		return nil, err.With("clusterName", name)
	}
	all, err := a.clusterInsights(c, rec)
	if err != nil {
		return nil, err
	}
	var kept []shapes.Insight
	for _, in := range all {
		if matches(categories, in.Category) && matches(versions, in.KubernetesVersion) && matches(statuses, in.InsightStatus.Status) {
			kept = append(kept, in)
		}
	}
	key := func(in shapes.Insight) string { return in.KubernetesVersion + "/" + in.Name + "/" + in.ID }
	sort.Slice(kept, func(i, j int) bool { return key(kept[i]) < key(kept[j]) })
	got, next, err := page(kept, key, req.NextToken, limit)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"insights": summaries(got)}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

func summaries(list []shapes.Insight) []shapes.InsightSummary {
	out := make([]shapes.InsightSummary, len(list))
	for i := range list {
		out[i] = list[i].InsightSummary
	}
	return out
}

func (a *API) describeInsight(c *call) (any, *Error) {
	rec, err := a.cluster(c)
	if err != nil {
		return nil, err
	}
	all, err := a.clusterInsights(c, rec)
	if err != nil {
		return nil, err
	}
	id := c.params["id"]
	for _, in := range all {
		if in.ID == id {
			return map[string]any{"insight": in}, nil
		}
	}
	return nil, Errorf(ResourceNotFound, "No insight found for id: %s", id).With("clusterName", rec.Cluster.Name)
}

// upgradeReady refuses an upgrade to target while an upgrade insight for it
// is ERROR, unless force (EKS's InvalidStateException and wording).
func (a *API) upgradeReady(c *call, rec *store.ClusterRecord, target string, force bool) *Error {
	if force {
		return nil
	}
	all, err := a.clusterInsights(c, rec)
	if err != nil {
		return err
	}
	if len(insights.Blocking(all, target)) == 0 {
		return nil
	}
	return Errorf(InvalidState, "Upgrade readiness issues detected. Call the EKS ListInsights API to view upgrade blocking issues detected by EKS. "+
		"Pass the force flag to override upgrade readiness errors and proceed with upgrade.").With("clusterName", rec.Cluster.Name)
}

// enumList checks each value of a list member against its enum, in AWS's
// validation wording.
func enumList(member string, values, enum []string) *Error {
	for _, v := range values {
		if !contains(enum, v) {
			return Errorf(InvalidParameter, "1 validation error detected: Value '[%s]' at '%s' failed to satisfy constraint: "+
				"Member must satisfy constraint: [Member must satisfy enum value set: [%s]]",
				strings.Join(values, ", "), member, strings.Join(enum, ", "))
		}
	}
	return nil
}

func matches(filter []string, v string) bool { return len(filter) == 0 || contains(filter, v) }

// Insights refresh statuses (InsightsRefreshStatus).
const (
	refreshInProgress = "IN_PROGRESS"
	refreshCompleted  = "COMPLETED"
	refreshFailed     = "FAILED"
)

// startInsightsRefresh records an on-demand refresh; the refresher runs it
// at once (it watches these records) and ends it. A refresh already in
// progress is answered as it is.
func (a *API) startInsightsRefresh(c *call) (any, *Error) {
	rec, err := a.cluster(c)
	if err != nil {
		return nil, err
	}
	name := rec.Cluster.Name
	cur, serr := a.cfg.Store.GetInsightsRefresh(c.r.Context(), name)
	if serr == nil && cur.ClusterID == rec.Cluster.ID && cur.Status == refreshInProgress {
		return map[string]any{"message": cur.Message, "status": cur.Status}, nil
	}
	if serr != nil && !errors.Is(serr, store.ErrNotFound) {
		return nil, internal(serr)
	}
	r := &store.InsightsRefresh{Cluster: name, ClusterID: rec.Cluster.ID, Status: refreshInProgress,
		Message: "Insights refresh is in progress.", StartedAt: a.cfg.Now()}
	if serr := a.cfg.Store.PutInsightsRefresh(c.r.Context(), r); serr != nil {
		return nil, storeError(serr, name)
	}
	return map[string]any{"message": r.Message, "status": r.Status}, nil
}

func (a *API) describeInsightsRefresh(c *call) (any, *Error) {
	rec, err := a.cluster(c)
	if err != nil {
		return nil, err
	}
	r, serr := a.cfg.Store.GetInsightsRefresh(c.r.Context(), rec.Cluster.Name)
	if errors.Is(serr, store.ErrNotFound) || (serr == nil && r.ClusterID != rec.Cluster.ID) {
		return nil, Errorf(ResourceNotFound, "No insights refresh found for cluster: %s", rec.Cluster.Name).With("clusterName", rec.Cluster.Name)
	}
	if serr != nil {
		return nil, internal(serr)
	}
	out := map[string]any{"message": r.Message, "status": r.Status, "startedAt": tsOf(r.StartedAt)}
	if !r.EndedAt.IsZero() {
		out["endedAt"] = tsOf(r.EndedAt)
	}
	return out, nil
}

func tsOf(t time.Time) shapes.Time { return shapes.Time(float64(t.UnixMilli()) / 1000) }
