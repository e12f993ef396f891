package server_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
	"github.com/kplane/kplane/internal/versions"
)

// calendarAroundToday is a support calendar whose minors are, today: 1.38
// new (standard support, too recent to be the default), 1.37 standard (the
// default), 1.36 in extended support, 1.35 unsupported.
func calendarAroundToday(t *testing.T) versions.Calendar {
	now := time.Now().UTC()
	d := func(days int) string { return now.AddDate(0, 0, days).Format(time.DateOnly) }
	entry := func(minor, patch string, release, endStd, endExt int, platform string) string {
		return fmt.Sprintf(`{"version":%q,"kubernetesPatchVersion":%q,"releaseDate":%q,"endOfStandardSupportDate":%q,"endOfExtendedSupportDate":%q,"defaultPlatformVersion":%q}`,
			minor, patch, d(release), d(endStd), d(endExt), platform)
	}
	cal, err := versions.Parse([]byte(`{"defaultAfterDays":60,"versions":[` + strings.Join([]string{
		entry("1.35", "1.35.4", -800, -380, -10, "eks.8"),
		entry("1.38", "1.38.0", -10, 400, 800, "eks.1"),
		entry("1.36", "1.36.3", -500, -80, 300, "eks.4"),
		entry("1.37", "1.37.2", -100, 300, 700, "eks.2"),
	}, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	return cal
}

type versionInfo struct {
	ClusterVersion, ClusterType, DefaultPlatformVersion, Status, VersionStatus, KubernetesPatchVersion string
	DefaultVersion                                                                                     bool
	ReleaseDate, EndOfStandardSupportDate, EndOfExtendedSupportDate                                    float64
}

// DescribeClusterVersions on the wire: every filter EKS has, its paging, and
// its errors, against a calendar with a minor in each support status.
func TestDescribeClusterVersionsFilters(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.Versions = calendarAroundToday(t) })
	list := func(query string) (minors []string, all []versionInfo, next string) {
		t.Helper()
		got := s.raw("GET", "/cluster-versions?"+query, "")
		if got.Status != 200 {
			t.Fatalf("?%s: %d %v", query, got.Status, got.Body)
		}
		for _, v := range got.Body["clusterVersions"].([]any) {
			m := v.(map[string]any)
			info := versionInfo{
				ClusterVersion: m["clusterVersion"].(string), ClusterType: m["clusterType"].(string),
				DefaultPlatformVersion: m["defaultPlatformVersion"].(string), Status: m["status"].(string),
				VersionStatus: m["versionStatus"].(string), KubernetesPatchVersion: m["kubernetesPatchVersion"].(string),
				DefaultVersion: m["defaultVersion"].(bool), ReleaseDate: m["releaseDate"].(float64),
				EndOfStandardSupportDate: m["endOfStandardSupportDate"].(float64), EndOfExtendedSupportDate: m["endOfExtendedSupportDate"].(float64),
			}
			minors, all = append(minors, info.ClusterVersion), append(all, info)
		}
		next, _ = got.Body["nextToken"].(string)
		return minors, all, next
	}
	expect := func(query, want string) {
		t.Helper()
		got, _, _ := list(query)
		if strings.Join(got, " ") != want {
			t.Errorf("?%s: %v, want %s", query, got, want)
		}
	}
	_, all, next := list("")
	if next != "" {
		t.Errorf("one page expected, got nextToken %q", next)
	}
	want := []versionInfo{
		{ClusterVersion: "1.38", VersionStatus: "STANDARD_SUPPORT", Status: "standard-support", DefaultPlatformVersion: "eks.1", KubernetesPatchVersion: "1.38.0"},
		{ClusterVersion: "1.37", VersionStatus: "STANDARD_SUPPORT", Status: "standard-support", DefaultPlatformVersion: "eks.2", KubernetesPatchVersion: "1.37.2", DefaultVersion: true},
		{ClusterVersion: "1.36", VersionStatus: "EXTENDED_SUPPORT", Status: "extended-support", DefaultPlatformVersion: "eks.4", KubernetesPatchVersion: "1.36.3"},
	}
	if len(all) != len(want) {
		t.Fatalf("default listing %+v", all)
	}
	cal := calendarAroundToday(t)
	for i, w := range want {
		g := all[i]
		m, _ := cal.Find(w.ClusterVersion)
		w.ClusterType = "eks"
		w.ReleaseDate, w.EndOfStandardSupportDate, w.EndOfExtendedSupportDate = float64(m.ReleaseDate.Unix()), float64(m.EndOfStandardSupportDate.Unix()), float64(m.EndOfExtendedSupportDate.Unix())
		if g != w {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	expect("includeAll=true", "1.38 1.37 1.36 1.35")
	expect("versionStatus=UNSUPPORTED", "1.35")
	expect("versionStatus=EXTENDED_SUPPORT", "1.36")
	expect("status=standard-support", "1.38 1.37")
	expect("defaultOnly=true", "1.37")
	expect("clusterVersions=1.36&clusterVersions=1.38&clusterVersions=1.20", "1.38 1.36")
	expect("clusterVersions=1.35", "")
	expect("clusterVersions=1.35&includeAll=true", "1.35")
	expect("clusterType=eks&defaultOnly=false", "1.38 1.37 1.36")

	// Pages of one, in order, to the end.
	var paged []string
	token := ""
	for range 10 {
		got, _, nxt := list("includeAll=true&maxResults=1&nextToken=" + url.QueryEscape(token))
		paged = append(paged, got...)
		if token = nxt; token == "" {
			break
		}
	}
	if strings.Join(paged, " ") != "1.38 1.37 1.36 1.35" {
		t.Errorf("paged %v", paged)
	}

	for _, q := range []string{"versionStatus=SUPPORTED", "status=STANDARD_SUPPORT", "clusterType=gke", "maxResults=0", "maxResults=101", "nextToken=bogus"} {
		expectError(t, s.raw("GET", "/cluster-versions?"+q, ""), "InvalidParameterException", 400)
	}
}

// CreateCluster takes any offered version with its platform version, picks
// the default as the calendar says, and refuses an unsupported or unknown
// version with EKS's InvalidParameterException naming the offered ones.
func TestCreateClusterVersions(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.Versions = calendarAroundToday(t) })
	body := func(name, version string) string {
		v := ""
		if version != "" {
			v = `"version":"` + version + `",`
		}
		return `{"name":"` + name + `",` + v + `"roleArn":"` + testRole + `","resourcesVpcConfig":{"subnetIds":["` + strings.Join(s.subnets(), `","`) + `"]}}`
	}
	for _, tc := range []struct{ name, version, wantVersion, wantPlatform string }{
		{"dflt", "", "1.37", "eks.2"},
		{"newest", "1.38", "1.38", "eks.1"},
		{"extended", "1.36", "1.36", "eks.4"},
	} {
		got := s.raw("POST", "/clusters", body(tc.name, tc.version))
		if got.Status != 200 {
			t.Fatalf("create %s: %d %v", tc.name, got.Status, got.Body)
		}
		c := got.Body["cluster"].(map[string]any)
		if c["version"] != tc.wantVersion || c["platformVersion"] != tc.wantPlatform {
			t.Errorf("create %s: version %v platform %v, want %s %s", tc.name, c["version"], c["platformVersion"], tc.wantVersion, tc.wantPlatform)
		}
	}
	for _, v := range []string{"1.35", "1.99", "1.37.2", "latest"} {
		got := s.raw("POST", "/clusters", body("bad", v))
		expectError(t, got, "InvalidParameterException", 400)
		if msg, _ := got.Body["message"].(string); msg != "unsupported Kubernetes version "+v+"; supported versions: 1.38, 1.37, 1.36" {
			t.Errorf("version %s: message %q", v, msg)
		}
	}
}

// The aws CLI reads DescribeClusterVersions with its own flag names.
func TestDescribeClusterVersionsWithAWSCLI(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.Versions = calendarAroundToday(t) })
	e := newCLIEnv(t, s)
	var out struct {
		ClusterVersions []struct {
			ClusterVersion, VersionStatus string
			DefaultVersion                bool
		}
	}
	e.ok(&out, "default", "eks", "describe-cluster-versions", "--include-all")
	if len(out.ClusterVersions) != 4 || out.ClusterVersions[3].VersionStatus != "UNSUPPORTED" || !out.ClusterVersions[1].DefaultVersion {
		t.Errorf("--include-all: %+v", out.ClusterVersions)
	}
	e.ok(&out, "default", "eks", "describe-cluster-versions", "--default-only")
	if len(out.ClusterVersions) != 1 || out.ClusterVersions[0].ClusterVersion != "1.37" {
		t.Errorf("--default-only: %+v", out.ClusterVersions)
	}
	e.ok(&out, "default", "eks", "describe-cluster-versions", "--version-status", "EXTENDED_SUPPORT", "--cluster-versions", "1.36", "1.37")
	if len(out.ClusterVersions) != 1 || out.ClusterVersions[0].ClusterVersion != "1.36" {
		t.Errorf("--version-status EXTENDED_SUPPORT --cluster-versions 1.36 1.37: %+v", out.ClusterVersions)
	}
	// The CLI pages through all with --max-items / --page-size.
	e.ok(&out, "default", "eks", "describe-cluster-versions", "--include-all", "--page-size", "1")
	if len(out.ClusterVersions) != 4 {
		t.Errorf("--page-size 1: %+v", out.ClusterVersions)
	}
	e.fails("InvalidParameterException", "default", "eks", "create-cluster", "--name", "old", "--kubernetes-version", "1.35",
		"--role-arn", testRole, "--resources-vpc-config", "subnetIds="+strings.Join(s.subnets(), ","))
}

// UpdateClusterVersion: one minor up only (the same, a lower or a skipped
// minor is refused as EKS refuses it), not while a managed nodegroup is on an
// older minor than the cluster, and an accepted one carries the Version and
// PlatformVersion params.
func TestUpdateClusterVersionRules(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.Versions = calendarAroundToday(t) })
	in := s.createInput("up")
	in.Version = aws.String("1.36")
	if _, err := s.eks.CreateCluster(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	s.setClusterStatus("up", shapes.StatusActive)
	for _, v := range []string{"1.36", "1.35", "1.38", "1.36.1"} {
		got := s.raw("POST", "/clusters/up/updates", `{"version":"`+v+`"}`)
		expectError(t, got, "InvalidParameterException", 400)
		if msg, _ := got.Body["message"].(string); msg != "Unsupported Kubernetes minor version update from 1.36 to "+v {
			t.Errorf("to %s: %q", v, msg)
		}
	}
	expectError(t, s.raw("POST", "/clusters/up/updates", `{}`), "InvalidParameterException", 400)

	// A nodegroup left on 1.35 (as after an earlier cluster upgrade) blocks it.
	sub := s.subnets()
	if got := s.raw("POST", "/clusters/up/node-groups", fmt.Sprintf(`{"nodegroupName":"ng","nodeRole":%q,"subnets":[%q]}`, nodeRole, sub[0])); got.Status != 200 {
		t.Fatalf("create-nodegroup: %d %v", got.Status, got.Body)
	}
	if _, err := s.Store.UpdateNodegroup(context.Background(), "up", "ng", func(r *store.NodegroupRecord) error {
		r.Nodegroup.Version = "1.35"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{`{"version":"1.37"}`, `{"version":"1.37","force":true}`} {
		got := s.raw("POST", "/clusters/up/updates", body)
		expectError(t, got, "InvalidRequestException", 400)
		if msg, _ := got.Body["message"].(string); msg != "Nodegroups ng must be updated to match cluster version 1.36 before updating cluster version" {
			t.Errorf("%s with a nodegroup behind: %q", body, msg)
		}
	}
	if _, err := s.Store.UpdateNodegroup(context.Background(), "up", "ng", func(r *store.NodegroupRecord) error {
		r.Nodegroup.Version = "1.36"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := s.raw("POST", "/clusters/up/updates", `{"version":"1.37"}`)
	if got.Status != 200 {
		t.Fatalf("update to 1.37: %d %v", got.Status, got.Body)
	}
	u := got.Body["update"].(map[string]any)
	params := map[string]string{}
	for _, p := range u["params"].([]any) {
		params[p.(map[string]any)["type"].(string)] = p.(map[string]any)["value"].(string)
	}
	if u["type"] != "VersionUpdate" || u["status"] != "InProgress" || params["Version"] != "1.37" || params["PlatformVersion"] != "eks.2" {
		t.Errorf("update %v", u)
	}
	if rec, err := s.Store.GetCluster(context.Background(), "up"); err != nil || rec.Cluster.Status != shapes.StatusUpdating {
		t.Errorf("cluster during the update: %v %v, want UPDATING", rec, err)
	}
}
