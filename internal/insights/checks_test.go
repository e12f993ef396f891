package insights

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// metricsText is a replica's /metrics as kube-apiserver writes it: the
// deprecated-API gauge, and request counters split by verb and code (with a
// series of another resource that must not count).
func metricsText(servicecidrGets, servicecidrLists int) string {
	return `# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested, broken out by API group, version, resource, subresource, and removed_release.
# TYPE apiserver_requested_deprecated_apis gauge
apiserver_requested_deprecated_apis{group="networking.k8s.io",removed_release="1.37",resource="servicecidrs",subresource="",version="v1beta1"} 1
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="networking.k8s.io",resource="servicecidrs",scope="cluster",subresource="",verb="GET",version="v1beta1"} ` + strconv.Itoa(servicecidrGets) + `
apiserver_request_total{code="200",component="apiserver",dry_run="",group="networking.k8s.io",resource="servicecidrs",scope="cluster",subresource="",verb="LIST",version="v1beta1"} ` + strconv.Itoa(servicecidrLists) + `
apiserver_request_total{code="200",component="apiserver",dry_run="",group="networking.k8s.io",resource="servicecidrs",scope="cluster",subresource="",verb="LIST",version="v1"} 40
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 7
some_other_metric{label="a \"quoted\" value, with a comma"} 3
`
}

func TestParseMetricsReadsDeprecatedAPIsAndTheirRequests(t *testing.T) {
	p, err := parseMetrics(strings.NewReader(metricsText(3, 2)))
	if err != nil {
		t.Fatal(err)
	}
	key := "networking.k8s.io/v1beta1/servicecidrs/"
	if d, ok := p.deprecated[key]; !ok || d.removedRelease != "1.37" || len(p.deprecated) != 1 {
		t.Fatalf("deprecated = %+v", p.deprecated)
	}
	if p.requests[key] != 5 || len(p.requests) != 1 {
		t.Errorf("requests = %v, want 5 for %s only", p.requests, key)
	}
	l, v, ok := series(`m{a="x\"y,z",b="\\"} 2.5`)
	if !ok || v != 2.5 || l["a"] != `x"y,z` || l["b"] != `\` {
		t.Errorf("series = %v %v %v", l, v, ok)
	}
}

// Usage counts only what is new since the last read of each replica, all of
// it after the replica restarted (its counters started again), and survives
// the restart: the finding stays for 30 days.
func TestMergeCountsAcrossReplicaRestarts(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	start1 := t0.Add(-time.Hour)
	rec := &store.InsightsRecord{}
	scrape := func(replica string, started time.Time, gets int) Scrape {
		return Scrape{Replica: replica, StartedAt: started, Metrics: strings.NewReader(metricsText(gets, 0))}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(Merge(rec, []Scrape{scrape("a", start1, 3)}, t0))
	must(Merge(rec, []Scrape{scrape("a", start1, 5)}, t0.Add(time.Minute)))                  // +2
	must(Merge(rec, []Scrape{scrape("a", t0.Add(2*time.Minute), 1)}, t0.Add(3*time.Minute))) // restarted: +1
	if len(rec.Usage) != 1 {
		t.Fatalf("usage = %+v", rec.Usage)
	}
	u := rec.Usage[0]
	if n := requestsSince(u, t0.Add(-Window)); n != 6 {
		t.Errorf("requests = %d, want 3+2+1", n)
	}
	if !u.LastRequest.Equal(t0.Add(3 * time.Minute)) {
		t.Errorf("last request %v", u.LastRequest)
	}
	// No new request: the record keeps its count; 31 days later it is gone.
	must(Merge(rec, []Scrape{scrape("a", t0.Add(2*time.Minute), 1)}, t0.Add(time.Hour)))
	if n := requestsSince(rec.Usage[0], t0.Add(-Window)); n != 6 {
		t.Errorf("after a quiet refresh: %d", n)
	}
	must(Merge(rec, nil, t0.Add(31*24*time.Hour)))
	if len(rec.Usage) != 0 {
		t.Errorf("usage after 31 days: %+v", rec.Usage)
	}
}

func TestDeprecatedAPIsInsight(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	usage := []store.DeprecatedAPIUsage{
		{Group: "networking.k8s.io", Version: "v1beta1", Resource: "servicecidrs", RemovedRelease: "1.37",
			Daily: map[string]int{"2026-12-01": 4, "2026-11-30": 1}, LastRequest: now},
		{Group: "resource.k8s.io", Version: "v1beta1", Resource: "resourceclaims", RemovedRelease: "1.38",
			Daily: map[string]int{"2026-12-01": 9}, LastRequest: now},
	}
	in := DeprecatedAPIs("cid", "1.37", usage, now, "")
	if in.InsightStatus.Status != shapes.InsightError || in.KubernetesVersion != "1.37" || in.Category != shapes.CategoryUpgradeReadiness {
		t.Fatalf("insight %+v", in)
	}
	if in.Recommendation != "Update manifests and API clients to use newer Kubernetes APIs if applicable before upgrading to Kubernetes v1.37." {
		t.Errorf("recommendation %q", in.Recommendation)
	}
	if len(in.Resources) != 1 || in.Resources[0].KubernetesResourceURI != "/apis/networking.k8s.io/v1beta1/servicecidrs" {
		t.Errorf("resources %+v (1.38's removal is not 1.37's finding)", in.Resources)
	}
	d := in.CategorySpecificSummary.DeprecationDetails
	if len(d) != 1 || d[0].ReplacedWith != "/apis/networking.k8s.io/v1/servicecidrs" || d[0].StopServingVersion != "1.37" ||
		d[0].StartServingReplacementVersion != "1.33" || d[0].ClientStats[0].NumberOfRequestsLast30Days != 5 {
		t.Errorf("details %+v", d)
	}
	if pass := DeprecatedAPIs("cid", "1.37", nil, now, ""); pass.InsightStatus.Status != shapes.InsightPassing || pass.ID != in.ID {
		t.Errorf("no usage: %+v", pass.InsightStatus)
	}
	if u := DeprecatedAPIs("cid", "1.37", nil, now, "no replica answers"); u.InsightStatus.Status != shapes.InsightUnknown {
		t.Errorf("unreadable: %+v", u.InsightStatus)
	}
	if ID("cid", checkDeprecatedAPIs, "1.37") == ID("other", checkDeprecatedAPIs, "1.37") || ID("cid", checkDeprecatedAPIs, "1.37") == ID("cid", checkKubeletSkew, "1.37") {
		t.Error("ids are not per cluster and check")
	}
}

func TestKubeletSkewInsight(t *testing.T) {
	nodes := []Node{{"new", "v1.36.3"}, {"old", "v1.33.9"}, {"edge", "v1.34.0-eks-1"}}
	in := KubeletSkew("cid", "1.37", nodes, "")
	if in.InsightStatus.Status != shapes.InsightError {
		t.Fatalf("status %+v", in.InsightStatus)
	}
	got := map[string]string{}
	for _, r := range in.Resources {
		got[r.KubernetesResourceURI] = r.InsightStatus.Status
	}
	want := map[string]string{"/api/v1/nodes/old": shapes.InsightError, "/api/v1/nodes/edge": shapes.InsightWarning}
	if len(got) != len(want) || got["/api/v1/nodes/old"] != want["/api/v1/nodes/old"] || got["/api/v1/nodes/edge"] != want["/api/v1/nodes/edge"] {
		t.Errorf("resources %v, want %v", got, want)
	}
	if w := KubeletSkew("cid", "1.37", nodes[:1:1], ""); w.InsightStatus.Status != shapes.InsightPassing || len(w.Resources) != 0 {
		t.Errorf("in skew: %+v", w)
	}
	if w := KubeletSkew("cid", "1.37", []Node{{"edge", "v1.34.0"}}, ""); w.InsightStatus.Status != shapes.InsightWarning {
		t.Errorf("at the limit: %+v", w.InsightStatus)
	}
	if w := KubeletSkew("cid", "1.37", []Node{{"ahead", "v1.38.0"}}, ""); w.InsightStatus.Status != shapes.InsightError {
		t.Errorf("newer than the target: %+v", w.InsightStatus)
	}
}

// Evaluate keeps lastTransitionTime while the status holds, moves it when
// the status changes, and keeps a check as it was when its source failed.
func TestEvaluateTransitionsAndFailedSources(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rec := &store.ClusterRecord{Cluster: shapes.Cluster{Name: "c", ID: "cid", Version: "1.36"}}
	prev := &store.InsightsRecord{Cluster: "c", ClusterID: "cid"}
	nodes := []Node{{"n", "v1.36.3"}}
	r1 := Evaluate(prev, rec, nil, nil, nil, nodes, nil, t0)
	if len(r1.Insights) != 2 || r1.Insights[0].InsightStatus.Status != shapes.InsightPassing {
		t.Fatalf("first: %+v", r1.Insights)
	}
	scr := []Scrape{{Replica: "a", StartedAt: t0, Metrics: strings.NewReader(metricsText(1, 0))}}
	r2 := Evaluate(r1, rec, scr, []string{"a"}, nil, nodes, nil, t0.Add(time.Minute))
	dep, skew := r2.Insights[0], r2.Insights[1]
	if dep.InsightStatus.Status != shapes.InsightError || dep.LastTransitionTime != ts(t0.Add(time.Minute)) {
		t.Errorf("deprecated after a call: %+v", dep)
	}
	if skew.LastTransitionTime != ts(t0) || skew.LastRefreshTime != ts(t0.Add(time.Minute)) {
		t.Errorf("skew: transition %v refresh %v", skew.LastTransitionTime, skew.LastRefreshTime)
	}
	if len(Blocking(r2.Insights, "1.37")) != 1 || len(Blocking(r2.Insights, "1.38")) != 0 {
		t.Errorf("blocking: %+v", Blocking(r2.Insights, "1.37"))
	}
	// The scrape fails: the finding stays as it was (not PASSING, not lost).
	r3 := Evaluate(r2, rec, nil, nil, errTest, nodes, nil, t0.Add(2*time.Minute))
	if r3.Insights[0].InsightStatus.Status != shapes.InsightError || r3.Insights[0].LastRefreshTime != ts(t0.Add(time.Minute)) {
		t.Errorf("after a failed scrape: %+v", r3.Insights[0])
	}
	if len(r1.Usage) != 0 {
		t.Errorf("Evaluate changed the record it was given: %+v", r1.Usage)
	}
}

type testErr string

func (e testErr) Error() string { return string(e) }

var errTest = testErr("no replica answers")
