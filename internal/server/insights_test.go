package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/insights"
	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
)

// clusterReadings stands for a cluster's control plane as the refresher
// reads it: one replica's /metrics text and the Nodes' kubelet versions.
type clusterReadings struct {
	metrics string
	nodes   []insights.Node
}

func (r clusterReadings) ScrapeReplicas(context.Context, *store.ClusterRecord) ([]insights.Scrape, []string, error) {
	return []insights.Scrape{{Replica: "a", StartedAt: time.Unix(1, 0), Metrics: strings.NewReader(r.metrics)}}, []string{"a"}, nil
}

func (r clusterReadings) Nodes(context.Context, *store.ClusterRecord) ([]insights.Node, error) {
	return r.nodes, nil
}

const deprecatedCallMetrics = `apiserver_requested_deprecated_apis{group="networking.k8s.io",removed_release="1.37",resource="servicecidrs",subresource="",version="v1beta1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="networking.k8s.io",resource="servicecidrs",scope="cluster",subresource="",verb="LIST",version="v1beta1"} 2
`

// ListInsights and DescribeInsight answer what the refresher stored: filters,
// paging and EKS's errors; an ERROR insight for the target version refuses
// UpdateClusterVersion unless force.
func TestInsightsAPIAndUpgradeBlock(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.Versions = calendarAroundToday(t) })
	in := s.createInput("ins")
	in.Version = aws.String("1.36")
	if _, err := s.eks.CreateCluster(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	s.setClusterStatus("ins", shapes.StatusActive)
	list := func(body string) rawResponse {
		t.Helper()
		return s.raw("POST", "/clusters/ins/insights", body)
	}
	if got := list(`{}`); got.Status != 200 || len(got.Body["insights"].([]any)) != 0 {
		t.Fatalf("before a refresh: %d %v", got.Status, got.Body)
	}
	refresh := func(r clusterReadings) {
		t.Helper()
		ref := &insights.Refresher{Source: r, Store: s.Store}
		if _, err := ref.Refresh(context.Background(), "ins"); err != nil {
			t.Fatal(err)
		}
	}
	refresh(clusterReadings{nodes: []insights.Node{{Name: "n1", KubeletVersion: "v1.36.3"}}})
	got := list(`{}`)
	if n := len(got.Body["insights"].([]any)); n != 2 {
		t.Fatalf("insights: %v", got.Body)
	}
	for _, i := range got.Body["insights"].([]any) {
		m := i.(map[string]any)
		if m["insightStatus"].(map[string]any)["status"] != "PASSING" || m["kubernetesVersion"] != "1.37" || m["category"] != "UPGRADE_READINESS" {
			t.Errorf("insight %v", m)
		}
	}
	up := s.raw("POST", "/clusters/ins/updates", `{"version":"1.37"}`)
	if up.Status != 200 {
		t.Fatalf("upgrade with every insight passing: %d %v", up.Status, up.Body)
	}
	// It fails (as if a replica never got ready): the cluster stays on 1.36.
	u, err := s.Store.GetUpdate(context.Background(), "ins", up.Body["update"].(map[string]any)["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	u.Update.Status = shapes.UpdateFailed
	if err := s.Store.FinishUpdate(context.Background(), u, func(r *store.ClusterRecord) error {
		r.Cluster.Status = shapes.StatusActive
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// A call to an API removed in 1.37, and a kubelet that 1.37 leaves out of skew.
	refresh(clusterReadings{metrics: deprecatedCallMetrics, nodes: []insights.Node{{Name: "n1", KubeletVersion: "v1.36.3"}, {Name: "n0", KubeletVersion: "v1.33.1"}}})
	ids := map[string]string{}
	for _, i := range list(`{"filter":{"statuses":["ERROR"],"categories":["UPGRADE_READINESS"],"kubernetesVersions":["1.37"]}}`).Body["insights"].([]any) {
		m := i.(map[string]any)
		ids[m["name"].(string)] = m["id"].(string)
	}
	depID, skewID := ids["Deprecated APIs removed in Kubernetes v1.37"], ids["Kubelet version skew"]
	if len(ids) != 2 || depID == "" || skewID == "" {
		t.Fatalf("ERROR insights: %v", ids)
	}
	for _, f := range []string{`{"filter":{"statuses":["PASSING","WARNING"]}}`, `{"filter":{"kubernetesVersions":["1.38"]}}`, `{"filter":{"categories":["MISCONFIGURATION"]}}`} {
		if n := len(list(f).Body["insights"].([]any)); n != 0 {
			t.Errorf("%s: %d insights", f, n)
		}
	}
	d := s.raw("GET", "/clusters/ins/insights/"+depID, "")
	if d.Status != 200 {
		t.Fatalf("describe: %d %v", d.Status, d.Body)
	}
	ins := d.Body["insight"].(map[string]any)
	res := ins["resources"].([]any)[0].(map[string]any)
	det := ins["categorySpecificSummary"].(map[string]any)["deprecationDetails"].([]any)[0].(map[string]any)
	stat := det["clientStats"].([]any)[0].(map[string]any)
	if res["kubernetesResourceUri"] != "/apis/networking.k8s.io/v1beta1/servicecidrs" || det["replacedWith"] != "/apis/networking.k8s.io/v1/servicecidrs" ||
		det["stopServingVersion"] != "1.37" || stat["numberOfRequestsLast30Days"] != 2.0 || ins["recommendation"] == "" {
		t.Errorf("deprecated insight %v", ins)
	}
	skew := s.raw("GET", "/clusters/ins/insights/"+skewID, "").Body["insight"].(map[string]any)
	if r := skew["resources"].([]any); len(r) != 1 || r[0].(map[string]any)["kubernetesResourceUri"] != "/api/v1/nodes/n0" {
		t.Errorf("skew resources %v", skew["resources"])
	}

	// Paging.
	p1 := list(`{"maxResults":1}`)
	tok, _ := p1.Body["nextToken"].(string)
	if len(p1.Body["insights"].([]any)) != 1 || tok == "" {
		t.Fatalf("page 1: %v", p1.Body)
	}
	p2 := list(fmt.Sprintf(`{"maxResults":1,"nextToken":%q}`, tok))
	if len(p2.Body["insights"].([]any)) != 1 || p2.Body["nextToken"] != nil ||
		p2.Body["insights"].([]any)[0].(map[string]any)["id"] == p1.Body["insights"].([]any)[0].(map[string]any)["id"] {
		t.Errorf("page 2: %v", p2.Body)
	}

	// Errors.
	for _, body := range []string{`{"filter":{"categories":["UPGRADE"]}}`, `{"filter":{"statuses":["FAILING"]}}`,
		`{"maxResults":0}`, `{"maxResults":101}`, `{"nextToken":"bogus"}`} {
		expectError(t, list(body), "InvalidParameterException", 400)
	}
	expectError(t, list(`{"filter":"x"}`), "BadRequestException", 400)
	expectError(t, s.raw("GET", "/clusters/ins/insights/00000000-0000-0000-0000-000000000000", ""), "ResourceNotFoundException", 404)
	expectError(t, s.raw("POST", "/clusters/nope/insights", `{}`), "ResourceNotFoundException", 404)
	expectError(t, s.raw("GET", "/clusters/nope/insights/"+depID, ""), "ResourceNotFoundException", 404)

	// The upgrade is refused while an insight for 1.37 is ERROR, unless force.
	blocked := s.raw("POST", "/clusters/ins/updates", `{"version":"1.37"}`)
	expectError(t, blocked, "InvalidStateException", 400)
	if msg := blocked.Body["message"]; msg != "Upgrade readiness issues detected. Call the EKS ListInsights API to view upgrade blocking issues detected by EKS. Pass the force flag to override upgrade readiness errors and proceed with upgrade." {
		t.Errorf("message %q", msg)
	}
	if got := s.raw("POST", "/clusters/ins/updates", `{"version":"1.37","force":true}`); got.Status != 200 {
		t.Fatalf("forced upgrade: %d %v", got.Status, got.Body)
	}

	// An on-demand refresh: recorded IN_PROGRESS, ended by the refresher's next pass.
	expectError(t, s.raw("GET", "/clusters/ins/insights-refresh", ""), "ResourceNotFoundException", 404)
	if got := s.raw("POST", "/clusters/ins/insights-refresh", ""); got.Status != 200 || got.Body["status"] != "IN_PROGRESS" {
		t.Fatalf("start-insights-refresh: %d %v", got.Status, got.Body)
	}
	if got := s.raw("GET", "/clusters/ins/insights-refresh", ""); got.Body["status"] != "IN_PROGRESS" || got.Body["startedAt"] == nil || got.Body["endedAt"] != nil {
		t.Errorf("describe-insights-refresh while in progress: %v", got.Body)
	}
	s.setClusterStatus("ins", shapes.StatusActive)
	refresh(clusterReadings{nodes: []insights.Node{{Name: "n1", KubeletVersion: "v1.37.2"}}})
	if got := s.raw("GET", "/clusters/ins/insights-refresh", ""); got.Body["status"] != "COMPLETED" || got.Body["endedAt"] == nil {
		t.Errorf("describe-insights-refresh after the pass: %v", got.Body)
	}
	expectError(t, s.raw("POST", "/clusters/nope/insights-refresh", ""), "ResourceNotFoundException", 404)

	// A deleted cluster takes its insights along; a new one of the name starts afresh.
	if _, err := s.Store.GetInsights(context.Background(), "ins"); err != nil {
		t.Fatal(err)
	}
	if err := s.Store.RemoveCluster(context.Background(), "ins"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.GetInsights(context.Background(), "ins"); err != store.ErrNotFound {
		t.Errorf("insights after the cluster's removal: %v", err)
	}
}
