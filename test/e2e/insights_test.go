//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// deprecatedInNext are, per minor kplane carries, an API its kube-apiserver
// can serve that the next minor removes: a beta, off by default in every
// minor since 1.24 (as on EKS), so kplane serves it only when the operator
// turns it on (kplane serve --apiserver-runtime-config).
var deprecatedInNext = map[string]struct{ groupVersion, resource string }{
	"1.36": {"networking.k8s.io/v1beta1", "servicecidrs"}, // ServiceCIDR v1beta1: deprecated 1.34, removed 1.37
}

// insightSummary is the part of list-insights the test looks at.
type insightSummary struct {
	ID, Name, Category, KubernetesVersion string
	InsightStatus                         struct{ Status, Reason string }
}

func (k *kplane) listInsights(name string, filter ...string) []insightSummary {
	k.t.Helper()
	args := []string{"eks", "list-insights", "--cluster-name", name}
	if len(filter) > 0 {
		args = append(args, "--filter", filter[0])
	}
	var resp struct{ Insights []insightSummary }
	if err := json.Unmarshal([]byte(k.mustAWS(args...)), &resp); err != nil {
		k.t.Fatal(err)
	}
	return resp.Insights
}

// TestUpgradeInsightBlocksUntilForce: a REAL call to an API the next minor
// removes shows in the apiserver's own record (apiserver_requested_deprecated_apis
// on its /metrics), kplane's refresher turns it into an ERROR insight for
// the next minor, and that insight refuses update-cluster-version until
// --force; after the forced upgrade the insights are the next minor's.
func TestUpgradeInsightBlocksUntilForce(t *testing.T) {
	from, to, api := "", "", deprecatedInNext["1.36"]
	k := startKplaneWith(t, "--apiserver-runtime-config", "1.36="+api.groupVersion+"=true")
	var versions struct {
		ClusterVersions []struct{ ClusterVersion string }
	}
	if err := json.Unmarshal([]byte(k.mustAWS("eks", "describe-cluster-versions")), &versions); err != nil {
		t.Fatal(err)
	}
	offered := map[string]bool{}
	for _, v := range versions.ClusterVersions {
		offered[v.ClusterVersion] = true
	}
	// The oldest offered minor with a deprecated API its next (also offered) removes.
	for _, v := range versions.ClusterVersions {
		if _, ok := deprecatedInNext[v.ClusterVersion]; ok && offered[nextMinor(v.ClusterVersion)] {
			from, to = v.ClusterVersion, nextMinor(v.ClusterVersion)
		}
	}
	if from == "" {
		t.Fatalf("no offered minor with a deprecated API removed in the next offered minor: %+v", versions.ClusterVersions)
	}
	const name = "insights"
	k.mustAWS("eks", "create-cluster", "--name", name, "--role-arn", roleArn, "--kubernetes-version", from,
		"--resources-vpc-config", "subnetIds="+k.subnetIDs())
	k.waitActive(name, 4*time.Minute)
	kc := k.kubeconfig(name)

	// Before any deprecated call: both checks refreshed and PASSING.
	byName := func(list []insightSummary) map[string]insightSummary {
		m := map[string]insightSummary{}
		for _, i := range list {
			m[i.Name] = i
		}
		return m
	}
	depName := "Deprecated APIs removed in Kubernetes v" + to
	eventually(t, 90*time.Second, time.Second, "insights for "+to, func() error {
		got := byName(k.listInsights(name))
		if got[depName].InsightStatus.Status != "PASSING" || got["Kubelet version skew"].InsightStatus.Status != "PASSING" {
			return fmt.Errorf("insights %+v", got)
		}
		return nil
	})

	// A real call to the deprecated API; the apiserver itself warns of it.
	gv := strings.SplitN(api.groupVersion, "/", 2)
	resource := api.resource + "." + gv[1] + "." + gv[0] // kubectl's resource.version.group: servicecidrs.v1beta1.networking.k8s.io
	cmd := exec.Command("kubectl", "--kubeconfig", kc, "get", resource, "-o", "name")
	cmd.Env = k.env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("kubectl get %s: %v: %s %s", resource, err, out, stderr.String())
	}
	if !strings.Contains(stderr.String(), "unavailable in v"+to) {
		t.Errorf("kubectl printed no deprecation warning for %s: %q", resource, stderr.String())
	}

	// An on-demand refresh (StartInsightsRefresh) sees it at once.
	var refresh struct{ Status, Message string }
	if err := json.Unmarshal([]byte(k.mustAWS("eks", "start-insights-refresh", "--cluster-name", name)), &refresh); err != nil || refresh.Status != "IN_PROGRESS" {
		t.Fatalf("start-insights-refresh: %+v %v", refresh, err)
	}
	took := eventually(t, 60*time.Second, 200*time.Millisecond, "the refresh COMPLETED", func() error {
		if err := json.Unmarshal([]byte(k.mustAWS("eks", "describe-insights-refresh", "--cluster-name", name)), &refresh); err != nil {
			return err
		}
		if refresh.Status != "COMPLETED" {
			return fmt.Errorf("refresh %+v", refresh)
		}
		return nil
	})
	t.Logf("refresh COMPLETED %v after start-insights-refresh", took.Round(time.Millisecond))
	dep := byName(k.listInsights(name, `{"statuses":["ERROR"],"categories":["UPGRADE_READINESS"],"kubernetesVersions":["`+to+`"]}`))[depName]
	if dep.ID == "" {
		t.Fatalf("no ERROR insight %q after the refresh: %+v", depName, k.listInsights(name))
	}
	var desc struct {
		Insight struct {
			Recommendation string
			Resources      []struct {
				KubernetesResourceURI string `json:"kubernetesResourceUri"`
				InsightStatus         struct{ Status string }
			}
			CategorySpecificSummary struct {
				DeprecationDetails []struct {
					Usage, ReplacedWith, StopServingVersion string
					ClientStats                             []struct{ NumberOfRequestsLast30Days int }
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(k.mustAWS("eks", "describe-insight", "--cluster-name", name, "--id", dep.ID)), &desc); err != nil {
		t.Fatal(err)
	}
	uri := "/apis/" + api.groupVersion + "/" + api.resource
	in := desc.Insight
	if len(in.Resources) != 1 || in.Resources[0].KubernetesResourceURI != uri || in.Resources[0].InsightStatus.Status != "ERROR" {
		t.Errorf("resources %+v, want %s ERROR", in.Resources, uri)
	}
	if want := "Update manifests and API clients to use newer Kubernetes APIs if applicable before upgrading to Kubernetes v" + to + "."; in.Recommendation != want {
		t.Errorf("recommendation %q", in.Recommendation)
	}
	if d := in.CategorySpecificSummary.DeprecationDetails; len(d) != 1 || d[0].Usage != uri || d[0].StopServingVersion != to ||
		d[0].ReplacedWith != "/apis/"+gv[0]+"/v1/"+api.resource || len(d[0].ClientStats) != 1 || d[0].ClientStats[0].NumberOfRequestsLast30Days < 1 {
		t.Errorf("deprecation details %+v", d)
	}

	// The upgrade is refused, then goes through with --force.
	out, err := k.awsCLI("eks", "update-cluster-version", "--name", name, "--kubernetes-version", to)
	if err == nil || !strings.Contains(err.Error(), "InvalidStateException") || !strings.Contains(err.Error(), "Upgrade readiness issues detected") {
		t.Fatalf("update-cluster-version with an ERROR insight: %v %s", err, out)
	}
	var resp struct{ Update update }
	if err := json.Unmarshal([]byte(k.mustAWS("eks", "update-cluster-version", "--name", name, "--kubernetes-version", to, "--force")), &resp); err != nil {
		t.Fatal(err)
	}
	if u, _ := k.waitUpdate(name, resp.Update.ID, 6*time.Minute); u.Status != "Successful" {
		t.Fatalf("forced update %+v", u)
	}
	if got := k.serverGitVersion(kc); !strings.HasPrefix(got, "v"+to+".") {
		t.Errorf("kubectl version: server %s after the forced update", got)
	}
	// Now the insights are the next minor's: the call to the API removed in
	// `to` is no finding for it.
	next := nextMinor(to)
	eventually(t, 90*time.Second, time.Second, "insights for "+next, func() error {
		got := byName(k.listInsights(name))
		if len(got) != 2 || got["Deprecated APIs removed in Kubernetes v"+next].InsightStatus.Status != "PASSING" {
			return fmt.Errorf("insights %+v", got)
		}
		return nil
	})
}

// nextMinor is "1.37" of "1.36".
func nextMinor(v string) string {
	var maj, mnr int
	if _, err := fmt.Sscanf(v, "%d.%d", &maj, &mnr); err != nil {
		return ""
	}
	return fmt.Sprintf("%d.%d", maj, mnr+1)
}
