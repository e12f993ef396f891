package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
)

// UpdateNodegroupVersion as EKS checks it: not past the cluster's version,
// never back, the release kplane has, the nodegroup's own launch template,
// not to what it already runs, one update at a time; an accepted one is a
// VersionUpdate with Version and ReleaseVersion params, and the nodegroup
// keeps its version until its nodes run the new one.
func TestUpdateNodegroupVersionRules(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.Versions = calendarAroundToday(t) })
	in := s.createInput("up")
	in.Version = aws.String("1.37")
	if _, err := s.eks.CreateCluster(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	s.setClusterStatus("up", shapes.StatusActive)
	sub := s.subnets()
	if got := s.raw("POST", "/clusters/up/node-groups", fmt.Sprintf(`{"nodegroupName":"ng","nodeRole":%q,"subnets":[%q]}`, nodeRole, sub[0])); got.Status != 200 {
		t.Fatalf("create-nodegroup: %d %v", got.Status, got.Body)
	}
	// As if made before the cluster's upgrade from 1.36.
	if _, err := s.Store.UpdateNodegroup(context.Background(), "up", "ng", func(r *store.NodegroupRecord) error {
		r.Nodegroup.Version, r.Nodegroup.ReleaseVersion, r.Nodegroup.Status = "1.36", "1.36.3-20250101", shapes.NodegroupActive
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	const path = "/clusters/up/node-groups/ng/update-version"
	for body, want := range map[string]string{
		`{"version":"1.38"}`:               "must not be newer than the cluster version 1.37",
		`{"version":"1.35"}`:               "Downgrading a Nodegroup from version 1.36 is not supported",
		`{"version":"latest"}`:             "Requested Nodegroup version latest is invalid",
		`{"releaseVersion":"x"}`:           "Requested release version x is not valid for kubernetes version 1.37",
		`{"launchTemplate":{"name":"lt"}}`: "was not created with a launch template",
	} {
		got := s.raw("POST", path, body)
		expectError(t, got, "InvalidParameterException", 400)
		if msg, _ := got.Body["message"].(string); !strings.Contains(msg, want) {
			t.Errorf("%s: %q does not say %q", body, msg, want)
		}
	}
	got := s.raw("POST", path, `{"force":true}`)
	if got.Status != 200 {
		t.Fatalf("update-nodegroup-version: %d %v", got.Status, got.Body)
	}
	u := got.Body["update"].(map[string]any)
	params := map[string]string{}
	for _, p := range u["params"].([]any) {
		params[p.(map[string]any)["type"].(string)] = p.(map[string]any)["value"].(string)
	}
	if u["type"] != "VersionUpdate" || u["status"] != "InProgress" || params["Version"] != "1.37" || !strings.HasPrefix(params["ReleaseVersion"], "1.37.2-") {
		t.Errorf("update %v", u)
	}
	rec, err := s.Store.GetNodegroup(context.Background(), "up", "ng")
	if err != nil || rec.Nodegroup.Status != shapes.NodegroupUpdating || rec.Nodegroup.Version != "1.36" {
		t.Errorf("nodegroup during the update: %+v %v, want UPDATING on 1.36", rec, err)
	}
	expectError(t, s.raw("POST", path, `{}`), "ResourceInUseException", 409)
	// On the cluster's version and release already: nothing to do.
	if _, err := s.Store.UpdateNodegroup(context.Background(), "up", "ng", func(r *store.NodegroupRecord) error {
		r.Nodegroup.Version, r.Nodegroup.ReleaseVersion, r.Nodegroup.Status, r.ActiveUpdate = "1.37", params["ReleaseVersion"], shapes.NodegroupActive, ""
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	expectError(t, s.raw("POST", path, `{}`), "InvalidParameterException", 400)
}
