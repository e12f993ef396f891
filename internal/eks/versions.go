package eks

import (
	"fmt"
	"strings"

	"github.com/kplane/kplane/internal/eks/shapes"
)

// offeredVersions names the Kubernetes versions clusters can run, for the
// errors that refuse another one (CreateCluster, UpdateClusterVersion).
func offeredVersions(versions []string) string {
	return "supported versions: " + strings.Join(versions, ", ")
}

// standardSupport is how long EKS gives a version standard support (14 months).
const standardSupportMonths = 14

func (a *API) describeClusterVersions(c *call) (any, *Error) {
	limit, err := validateMaxResults(c.query.Get("maxResults"), 100)
	if err != nil {
		return nil, err
	}
	if t := c.query.Get("clusterType"); t != "" && t != "eks" {
		return nil, Errorf(InvalidParameter, "Unsupported clusterType %s", t)
	}
	wanted := c.query["clusterVersions"]
	status := strings.ToLower(strings.ReplaceAll(c.query.Get("status")+c.query.Get("versionStatus"), "_", "-"))
	defaultOnly := c.query.Get("defaultOnly") == "true"
	var out []shapes.ClusterVersionInformation
	for i, v := range a.cfg.Versions {
		if len(wanted) > 0 && !contains(wanted, v.Minor) {
			continue
		}
		if defaultOnly && i != 0 {
			continue
		}
		if status != "" && status != "standard-support" {
			continue
		}
		release := shapes.Time(v.ReleaseDate.Unix())
		endStd := shapes.Time(v.ReleaseDate.AddDate(0, standardSupportMonths, 0).Unix())
		endExt := shapes.Time(v.ReleaseDate.AddDate(0, 26, 0).Unix())
		out = append(out, shapes.ClusterVersionInformation{
			ClusterVersion: v.Minor, ClusterType: "eks", DefaultPlatformVersion: v.PlatformVersion,
			DefaultVersion: i == 0, ReleaseDate: &release, EndOfStandardSupportDate: &endStd,
			EndOfExtendedSupportDate: &endExt, Status: "standard-support", VersionStatus: "STANDARD_SUPPORT",
			KubernetesPatchVersion: v.Patch,
		})
	}
	// Pages keep the order of a.cfg.Versions (newest first).
	rank := map[string]string{}
	for i, v := range a.cfg.Versions {
		rank[v.Minor] = fmt.Sprintf("%04d", i)
	}
	got, next, err := page(out, func(v shapes.ClusterVersionInformation) string { return rank[v.ClusterVersion] }, c.query.Get("nextToken"), limit)
	if err != nil {
		return nil, err
	}
	resp := map[string]any{"clusterVersions": nonNil(got)}
	if next != "" {
		resp["nextToken"] = next
	}
	return resp, nil
}
