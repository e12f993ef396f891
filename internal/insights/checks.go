// Package insights computes EKS's upgrade insights (category
// UPGRADE_READINESS) for a cluster: calls to deprecated APIs that the next
// minor removes, and kubelets that the next minor would leave out of
// Kubernetes' version skew. A Refresher runs the checks on a reconcile.Loop
// and keeps the results in the store; the EKS API only reads them.
package insights

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
	"github.com/kplane/kplane/internal/versions"
)

// Window is how far back usage of a deprecated API counts, as on EKS.
const Window = 30 * 24 * time.Hour

// MaxKubeletSkew is how many minors a kubelet may be older than the
// kube-apiserver (Kubernetes' version skew policy since 1.28).
const MaxKubeletSkew = 3

// Check names, as EKS names these insights.
const (
	checkDeprecatedAPIs = "deprecated-apis"
	checkKubeletSkew    = "kubelet-version-skew"
)

// idSpace makes insight ids: stable per cluster, check and target version,
// in the uuid form EKS uses.
var idSpace = uuid.MustParse("5b0c3c84-9f43-4b9e-9d0b-6a1f3e0f7a11")

// ID is the insight id of check for target on the cluster with clusterID.
func ID(clusterID, check, target string) string {
	return uuid.NewSHA1(idSpace, []byte(clusterID+"/"+check+"/"+target)).String()
}

// NextMinor is the minor an upgrade of current goes to ("" if current is not a minor).
func NextMinor(current string) string {
	maj, mnr, ok := versions.ParseMinor(current)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d.%d", maj, mnr+1)
}

func ts(t time.Time) shapes.Time { return shapes.Time(float64(t.UnixMilli()) / 1000) }

// DeprecatedAPIs is the insight "Deprecated APIs removed in Kubernetes
// vTARGET": ERROR while an API that target removes was called in the
// window, else PASSING. unknown (non-empty) is why nothing could be read yet.
func DeprecatedAPIs(clusterID, target string, usage []store.DeprecatedAPIUsage, now time.Time, unknown string) shapes.Insight {
	in := shapes.Insight{
		InsightSummary: shapes.InsightSummary{
			ID: ID(clusterID, checkDeprecatedAPIs, target), Name: "Deprecated APIs removed in Kubernetes v" + target,
			Category: shapes.CategoryUpgradeReadiness, KubernetesVersion: target,
			Description: fmt.Sprintf("Checks for usage of deprecated APIs that are scheduled for removal in Kubernetes v%s. "+
				"Upgrading your cluster before migrating to the updated APIs supported by v%s could cause application impact.", target, target),
		},
		Recommendation: fmt.Sprintf("Update manifests and API clients to use newer Kubernetes APIs if applicable before upgrading to Kubernetes v%s.", target),
		AdditionalInfo: map[string]string{
			"EKS update cluster documentation":             "https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html",
			"Kubernetes v" + target + " deprecation guide": "https://kubernetes.io/docs/reference/using-api/deprecation-guide/",
		},
		Resources:               []shapes.InsightResourceDetail{},
		CategorySpecificSummary: &shapes.InsightCategorySummary{DeprecationDetails: []shapes.DeprecationDetail{}},
	}
	for _, u := range usage {
		if u.RemovedRelease != target {
			continue
		}
		n := requestsSince(u, now.Add(-Window))
		if n == 0 {
			continue
		}
		uri := apiPath(u.Group, u.Version, u.Resource, u.Subresource)
		bad := shapes.InsightStatus{Status: shapes.InsightError, Reason: "Deprecated API usage detected within last 30 days."}
		in.Resources = append(in.Resources, shapes.InsightResourceDetail{InsightStatus: bad, KubernetesResourceURI: uri})
		d := shapes.DeprecationDetail{
			Usage: uri, StopServingVersion: target,
			ClientStats: []shapes.ClientStat{{NumberOfRequestsLast30Days: n, LastRequestTime: ts(u.LastRequest)}},
		}
		if rep, since := replacement(u); rep != "" {
			d.ReplacedWith, d.StartServingReplacementVersion = apiPath(u.Group, rep, u.Resource, u.Subresource), since
		}
		in.CategorySpecificSummary.DeprecationDetails = append(in.CategorySpecificSummary.DeprecationDetails, d)
	}
	switch {
	case len(in.Resources) > 0:
		in.InsightStatus = shapes.InsightStatus{Status: shapes.InsightError, Reason: "Deprecated API usage detected within last 30 days."}
	case unknown != "":
		in.InsightStatus = shapes.InsightStatus{Status: shapes.InsightUnknown, Reason: unknown}
	default:
		in.InsightStatus = shapes.InsightStatus{Status: shapes.InsightPassing, Reason: "No deprecated API usage detected within the last 30 days."}
	}
	return in
}

// requestsSince counts u's requests on the days from since on.
func requestsSince(u store.DeprecatedAPIUsage, since time.Time) int {
	first := since.UTC().Format(time.DateOnly)
	n := 0
	for day, c := range u.Daily {
		if day >= first {
			n += c
		}
	}
	return n
}

// apiPath is the REST path of a resource's collection, as EKS shows usage.
func apiPath(group, version, resource, sub string) string {
	p := "/apis/" + group + "/" + version + "/" + resource
	if group == "" {
		p = "/api/" + version + "/" + resource
	}
	if sub != "" {
		p += "/{name}/" + sub
	}
	return p
}

// replacement is the GA version that replaces u's beta and the minor that
// first served it, for the deprecated APIs of the minors kplane carries (from
// k8s.io/api's prerelease-lifecycle: each names its group's v1).
func replacement(u store.DeprecatedAPIUsage) (version, since string) {
	if !strings.Contains(u.Version, "alpha") && !strings.Contains(u.Version, "beta") {
		return "", ""
	}
	gaSince := map[string]string{
		"networking.k8s.io/servicecidrs": "1.33", "networking.k8s.io/ipaddresses": "1.33",
		"storage.k8s.io/volumeattributesclasses": "1.34",
		"resource.k8s.io/deviceclasses":          "1.34", "resource.k8s.io/resourceclaims": "1.34",
		"resource.k8s.io/resourceclaimtemplates": "1.34", "resource.k8s.io/resourceslices": "1.34",
	}
	return "v1", gaSince[u.Group+"/"+u.Resource]
}

// Node is what the kubelet skew check reads of a Node.
type Node struct {
	Name           string
	KubeletVersion string // status.nodeInfo.kubeletVersion, "v1.36.3"
}

// KubeletSkew is the insight "Kubelet version skew": for an upgrade to
// target, a kubelet more than MaxKubeletSkew minors older (or newer than
// target) is ERROR; one exactly MaxKubeletSkew older is WARNING (allowed,
// but no further upgrade is until it moves). unknown (non-empty) is why the
// nodes could not be read.
func KubeletSkew(clusterID, target string, nodes []Node, unknown string) shapes.Insight {
	in := shapes.Insight{
		InsightSummary: shapes.InsightSummary{
			ID: ID(clusterID, checkKubeletSkew, target), Name: "Kubelet version skew",
			Category: shapes.CategoryUpgradeReadiness, KubernetesVersion: target,
			Description: "Checks for kubelet versions of worker nodes in the cluster to see if upgrade would cause non compliance with supported Kubernetes kubelet version skew policy.",
		},
		Recommendation: fmt.Sprintf("Upgrade your worker nodes to match the Kubernetes version of your cluster control plane before upgrading to Kubernetes v%s.", target),
		AdditionalInfo: map[string]string{
			"Kubernetes version skew policy":   "https://kubernetes.io/releases/version-skew-policy/#kubelet",
			"EKS update cluster documentation": "https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html",
		},
		Resources: []shapes.InsightResourceDetail{},
	}
	_, tMinor, _ := versions.ParseMinor(target)
	worst := shapes.InsightPassing
	nodes = append([]Node(nil), nodes...)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	for _, n := range nodes {
		st := shapes.InsightStatus{Status: shapes.InsightPassing, Reason: "Kubelet version is within the supported skew."}
		_, kMinor, ok := versions.ParseMinor(kubeletMinor(n.KubeletVersion))
		switch {
		case !ok:
			st = shapes.InsightStatus{Status: shapes.InsightUnknown, Reason: "Kubelet version " + n.KubeletVersion + " could not be read."}
		case kMinor > tMinor || tMinor-kMinor > MaxKubeletSkew:
			st = shapes.InsightStatus{Status: shapes.InsightError, Reason: fmt.Sprintf(
				"Kubelet version %s would be out of the supported skew (up to %d minor versions older) of Kubernetes v%s.", n.KubeletVersion, MaxKubeletSkew, target)}
		case tMinor-kMinor == MaxKubeletSkew:
			st = shapes.InsightStatus{Status: shapes.InsightWarning, Reason: fmt.Sprintf(
				"Kubelet version %s would be at the oldest supported skew of Kubernetes v%s.", n.KubeletVersion, target)}
		}
		if st.Status == shapes.InsightPassing {
			continue
		}
		in.Resources = append(in.Resources, shapes.InsightResourceDetail{InsightStatus: st, KubernetesResourceURI: "/api/v1/nodes/" + n.Name})
		if rank[st.Status] > rank[worst] {
			worst = st.Status
		}
	}
	switch {
	case worst == shapes.InsightError:
		in.InsightStatus = shapes.InsightStatus{Status: worst, Reason: fmt.Sprintf("Node kubelet versions would be out of skew with Kubernetes v%s.", target)}
	case worst == shapes.InsightWarning:
		in.InsightStatus = shapes.InsightStatus{Status: worst, Reason: fmt.Sprintf("Node kubelet versions would be at the oldest supported skew of Kubernetes v%s.", target)}
	case unknown != "":
		in.InsightStatus = shapes.InsightStatus{Status: shapes.InsightUnknown, Reason: unknown}
	case worst == shapes.InsightUnknown:
		in.InsightStatus = shapes.InsightStatus{Status: worst, Reason: "Some kubelet versions could not be read."}
	default:
		in.InsightStatus = shapes.InsightStatus{Status: shapes.InsightPassing, Reason: "Node kubelet versions are compatible with the cluster version."}
	}
	return in
}

var rank = map[string]int{shapes.InsightPassing: 0, shapes.InsightUnknown: 1, shapes.InsightWarning: 2, shapes.InsightError: 3}

// kubeletMinor is "1.36" of "v1.36.3".
func kubeletMinor(v string) string {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return ""
	}
	return parts[0] + "." + parts[1]
}

// Blocking are the UPGRADE_READINESS insights for target that are ERROR:
// they refuse UpdateClusterVersion to target unless force.
func Blocking(list []shapes.Insight, target string) []shapes.Insight {
	var out []shapes.Insight
	for _, in := range list {
		if in.Category == shapes.CategoryUpgradeReadiness && in.KubernetesVersion == target && in.InsightStatus.Status == shapes.InsightError {
			out = append(out, in)
		}
	}
	return out
}
