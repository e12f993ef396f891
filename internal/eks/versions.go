package eks

import (
	"fmt"
	"strings"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/versions"
)

// offeredVersions names the Kubernetes versions clusters can run, for the
// errors that refuse another one (CreateCluster, UpdateClusterVersion).
func offeredVersions(versions []string) string {
	return "supported versions: " + strings.Join(versions, ", ")
}

// statusFilter reads versionStatus (VersionStatus: STANDARD_SUPPORT) or the
// deprecated status (ClusterVersionStatus: standard-support) as a
// VersionStatus; "" when neither is given.
func statusFilter(c *call) (string, *Error) {
	if v := c.query.Get("versionStatus"); v != "" {
		switch v {
		case versions.StandardSupport, versions.ExtendedSupport, versions.Unsupported:
			return v, nil
		}
		return "", Errorf(InvalidParameter, "Invalid versionStatus %s: must be one of STANDARD_SUPPORT, EXTENDED_SUPPORT, UNSUPPORTED", v)
	}
	if v := c.query.Get("status"); v != "" {
		switch v {
		case "standard-support", "extended-support", "unsupported":
			return strings.ToUpper(strings.ReplaceAll(v, "-", "_")), nil
		}
		return "", Errorf(InvalidParameter, "Invalid status %s: must be one of standard-support, extended-support, unsupported", v)
	}
	return "", nil
}

// describeClusterVersions lists the calendar's minors newest first, each with
// its support status today. As on EKS, UNSUPPORTED minors are listed only
// with includeAll (or when asked for by versionStatus).
func (a *API) describeClusterVersions(c *call) (any, *Error) {
	limit, err := validateMaxResults(c.query.Get("maxResults"), 100)
	if err != nil {
		return nil, err
	}
	if t := c.query.Get("clusterType"); t != "" && t != "eks" {
		return nil, Errorf(InvalidParameter, "Unsupported clusterType %s", t)
	}
	status, err := statusFilter(c)
	if err != nil {
		return nil, err
	}
	wanted := c.query["clusterVersions"]
	defaultOnly := c.query.Get("defaultOnly") == "true"
	includeAll := c.query.Get("includeAll") == "true"
	now := a.cfg.Now()
	def := a.defaultVersion()
	var out []shapes.ClusterVersionInformation
	rank := map[string]string{}
	for i, m := range a.cfg.Versions.Versions {
		rank[m.Version] = fmt.Sprintf("%04d", i)
		st := m.Status(now)
		switch {
		case len(wanted) > 0 && !contains(wanted, m.Version),
			defaultOnly && m.Version != def,
			status != "" && st != status,
			status == "" && st == versions.Unsupported && !includeAll:
			continue
		}
		release := shapes.Time(m.ReleaseDate.Unix())
		endStd := shapes.Time(m.EndOfStandardSupportDate.Unix())
		endExt := shapes.Time(m.EndOfExtendedSupportDate.Unix())
		out = append(out, shapes.ClusterVersionInformation{
			ClusterVersion: m.Version, ClusterType: "eks", DefaultPlatformVersion: m.DefaultPlatformVersion,
			DefaultVersion: m.Version == def, ReleaseDate: &release, EndOfStandardSupportDate: &endStd,
			EndOfExtendedSupportDate: &endExt, VersionStatus: st,
			Status:                 strings.ToLower(strings.ReplaceAll(st, "_", "-")),
			KubernetesPatchVersion: m.KubernetesPatchVersion,
		})
	}
	// Pages keep the calendar's order (newest first).
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
