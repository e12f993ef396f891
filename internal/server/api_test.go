package server_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
	"github.com/kplane/kplane/internal/versions"
)

func TestCreateDescribeThroughSDK(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	in := s.createInput("demo")
	in.Tags = map[string]string{"team": "platform"}
	in.Logging = &ekstypes.Logging{ClusterLogging: []ekstypes.LogSetup{{Enabled: aws.Bool(true), Types: []ekstypes.LogType{"audit", "api"}}}}
	out, err := s.eks.CreateCluster(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	c := out.Cluster
	if got, want := aws.ToString(c.Arn), "arn:aws:eks:us-west-2:000000000000:cluster/demo"; got != want {
		t.Errorf("arn %q, want %q", got, want)
	}
	if c.Status != ekstypes.ClusterStatusCreating {
		t.Errorf("status %s, want CREATING (no control plane runs in this test)", c.Status)
	}
	if c.CreatedAt == nil || time.Since(*c.CreatedAt) > time.Minute || time.Since(*c.CreatedAt) < 0 {
		t.Errorf("createdAt %v is not now", c.CreatedAt)
	}
	if aws.ToString(c.Version) != "1.37" || aws.ToString(c.PlatformVersion) == "" || aws.ToString(c.Id) == "" {
		t.Errorf("version %v platform %v id %v", aws.ToString(c.Version), aws.ToString(c.PlatformVersion), aws.ToString(c.Id))
	}
	vpc := c.ResourcesVpcConfig
	if vpc == nil || !strings.HasPrefix(aws.ToString(vpc.VpcId), "vpc-") || !strings.HasPrefix(aws.ToString(vpc.ClusterSecurityGroupId), "sg-") ||
		!vpc.EndpointPublicAccess || vpc.EndpointPrivateAccess || len(vpc.PublicAccessCidrs) != 1 {
		t.Errorf("resourcesVpcConfig %+v", vpc)
	}
	if k := c.KubernetesNetworkConfig; k == nil || aws.ToString(k.ServiceIpv4Cidr) != "10.100.0.0/16" || k.IpFamily != ekstypes.IpFamilyIpv4 {
		t.Errorf("kubernetesNetworkConfig %+v", k)
	}
	if got := enabledLogTypes(c.Logging); strings.Join(got, ",") != "api,audit" {
		t.Errorf("enabled log types %v, want api,audit", got)
	}
	if c.Identity == nil || !strings.Contains(aws.ToString(c.Identity.Oidc.Issuer), "/id/") {
		t.Errorf("identity %+v", c.Identity)
	}
	if c.AccessConfig == nil || c.AccessConfig.AuthenticationMode != ekstypes.AuthenticationModeConfigMap ||
		!aws.ToBool(c.AccessConfig.BootstrapClusterCreatorAdminPermissions) {
		t.Errorf("accessConfig %+v", c.AccessConfig)
	}
	if c.UpgradePolicy == nil || c.UpgradePolicy.SupportType != ekstypes.SupportTypeExtended {
		t.Errorf("upgradePolicy %+v", c.UpgradePolicy)
	}
	if c.Tags["team"] != "platform" || c.Health == nil {
		t.Errorf("tags %v health %v", c.Tags, c.Health)
	}
	d, err := s.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("demo")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.Cluster.Id) != aws.ToString(c.Id) || !d.Cluster.CreatedAt.Equal(*c.CreatedAt) {
		t.Errorf("describe differs from create: %v vs %v", aws.ToString(d.Cluster.Id), aws.ToString(c.Id))
	}
	rec, err := s.Store.GetCluster(ctx, "demo")
	if err != nil || rec.CreatorArn != s.Root.Arn {
		t.Errorf("creator %q, want %q (%v)", rec.CreatorArn, s.Root.Arn, err)
	}
	var nf *ekstypes.ResourceNotFoundException
	_, err = s.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("nope")})
	if !errors.As(err, &nf) || aws.ToString(nf.Message) != "No cluster found for name: nope." || aws.ToString(nf.ClusterName) != "nope" {
		t.Errorf("describe missing: %v", err)
	}
}

func enabledLogTypes(l *ekstypes.Logging) []string {
	var out []string
	for _, s := range l.ClusterLogging {
		if aws.ToBool(s.Enabled) {
			for _, t := range s.Types {
				out = append(out, string(t))
			}
		}
	}
	return out
}

func TestListClustersPaginates(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	var want []string
	for i := range 7 {
		name := fmt.Sprintf("c%02d", i)
		s.create(name)
		want = append(want, name)
	}
	var got []string
	p := eks.NewListClustersPaginator(s.eks, &eks.ListClustersInput{MaxResults: aws.Int32(3)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.Clusters) > 3 {
			t.Fatalf("page of %d > maxResults 3", len(out.Clusters))
		}
		got = append(got, out.Clusters...)
		// A cluster created between pages after the cursor shows up; one before it does not shift the pages.
		if pages == 1 {
			s.create("a-first")
			s.create("z-last")
		}
	}
	want = append(want, "z-last")
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("listed %v, want %v", got, want)
	}
	for _, bad := range []string{"0", "101", "x"} {
		expectError(t, s.raw("GET", "/clusters?maxResults="+bad, ""), "InvalidParameterException", 400)
	}
	expectError(t, s.raw("GET", "/clusters?nextToken=garbage!", ""), "InvalidParameterException", 400)
}

func TestDeleteClusterMarksDeleting(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	s.create("gone")
	out, err := s.eks.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String("gone")})
	if err != nil {
		t.Fatal(err)
	}
	if out.Cluster.Status != ekstypes.ClusterStatusDeleting {
		t.Errorf("status %s, want DELETING", out.Cluster.Status)
	}
	expectError(t, s.raw("DELETE", "/clusters/never", ""), "ResourceNotFoundException", 404)

	in := s.createInput("guarded")
	in.DeletionProtection = aws.Bool(true)
	if _, err := s.eks.CreateCluster(ctx, in); err != nil {
		t.Fatal(err)
	}
	expectError(t, s.raw("DELETE", "/clusters/guarded", ""), "InvalidRequestException", 400)
}

func TestIdempotentCreate(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	in := s.createInput("same")
	in.ClientRequestToken = aws.String("token-1")
	a, err := s.eks.CreateCluster(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.eks.CreateCluster(ctx, in)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if aws.ToString(a.Cluster.Id) != aws.ToString(b.Cluster.Id) {
		t.Errorf("replay made a new cluster: %s vs %s", aws.ToString(a.Cluster.Id), aws.ToString(b.Cluster.Id))
	}
	in.Tags = map[string]string{"changed": "yes"}
	_, err = s.eks.CreateCluster(ctx, in)
	var ir *ekstypes.InvalidRequestException
	if !errors.As(err, &ir) {
		t.Errorf("same token, other parameters: %v, want InvalidRequestException", err)
	}
	// Another name with a fresh token but an existing name: ResourceInUse.
	in2 := s.createInput("same")
	var inUse *ekstypes.ResourceInUseException
	if _, err := s.eks.CreateCluster(ctx, in2); !errors.As(err, &inUse) || aws.ToString(inUse.ClusterName) != "same" {
		t.Errorf("duplicate name: %v", err)
	}
	list, _ := s.eks.ListClusters(ctx, &eks.ListClustersInput{})
	if len(list.Clusters) != 1 {
		t.Errorf("clusters %v, want one", list.Clusters)
	}
}

func TestQuota(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.ClusterQuota = 2 })
	s.create("q1")
	s.create("q2")
	_, err := s.eks.CreateCluster(context.Background(), s.createInput("q3"))
	var le *ekstypes.ResourceLimitExceededException
	if !errors.As(err, &le) {
		t.Fatalf("third cluster with quota 2: %v", err)
	}
}

// activate marks a cluster ACTIVE in the store, as the reconciler would once
// its control plane is up (no control plane runs in these API tests).
func (s *testServer) activate(name string) {
	s.t.Helper()
	_, err := s.Store.UpdateCluster(context.Background(), name, func(r *store.ClusterRecord) error {
		r.Cluster.Status = shapes.StatusActive
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
}

func TestUpdatesRecordIntent(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	s.create("up")
	// Not ACTIVE yet: refused.
	expectError(t, s.raw("POST", "/clusters/up/update-config", `{"logging":{"clusterLogging":[{"types":["api"],"enabled":true}]}}`), "ResourceInUseException", 409)
	s.activate("up")
	out, err := s.eks.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: aws.String("up"),
		Logging: &ekstypes.Logging{ClusterLogging: []ekstypes.LogSetup{{Enabled: aws.Bool(true), Types: []ekstypes.LogType{"api"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	u := out.Update
	if u.Type != ekstypes.UpdateTypeLoggingUpdate || u.Status != ekstypes.UpdateStatusInProgress || len(u.Params) != 1 || u.Params[0].Type != ekstypes.UpdateParamTypeClusterLogging {
		t.Errorf("update %+v", u)
	}
	// A second update while one is in progress.
	var inUse *ekstypes.ResourceInUseException
	_, err = s.eks.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: aws.String("up"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{EndpointPrivateAccess: aws.Bool(true)}})
	if !errors.As(err, &inUse) {
		t.Errorf("second update: %v, want ResourceInUseException", err)
	}
	d, err := s.eks.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String("up"), UpdateId: u.Id})
	if err != nil || aws.ToString(d.Update.Id) != aws.ToString(u.Id) {
		t.Fatalf("describe update: %v", err)
	}
	l, err := s.eks.ListUpdates(ctx, &eks.ListUpdatesInput{Name: aws.String("up")})
	if err != nil || len(l.UpdateIds) != 1 || l.UpdateIds[0] != aws.ToString(u.Id) {
		t.Fatalf("list updates %v: %v", l, err)
	}
	dc, _ := s.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("up")})
	if dc.Cluster.Status != ekstypes.ClusterStatusUpdating {
		t.Errorf("status during update %s, want UPDATING", dc.Cluster.Status)
	}
	expectError(t, s.raw("GET", "/clusters/up/updates/no-such-update", ""), "ResourceNotFoundException", 404)
	expectError(t, s.raw("GET", "/clusters/nope/updates", ""), "ResourceNotFoundException", 404)
}

func TestUpdateValidation(t *testing.T) {
	s := startServer(t, nil)
	s.create("v")
	s.activate("v")
	cases := []struct{ path, body, typ string }{
		{"/clusters/v/updates", `{"version":"1.37"}`, "InvalidParameterException"},
		{"/clusters/v/updates", `{"version":"1.39"}`, "InvalidParameterException"},
		{"/clusters/v/updates", `{"version":"1.38"}`, "InvalidParameterException"}, // next minor, not available yet
		{"/clusters/v/updates", `{}`, "InvalidParameterException"},
		{"/clusters/v/update-config", `{}`, "InvalidParameterException"},
		{"/clusters/v/update-config", `{"logging":{"clusterLogging":[{"types":["api"],"enabled":false}]}}`, "InvalidParameterException"}, // no change
		{"/clusters/v/update-config", `{"accessConfig":{"authenticationMode":"CONFIG_MAP"}}`, "InvalidParameterException"},
		{"/clusters/v/update-config", `{"resourcesVpcConfig":{"endpointPublicAccess":false,"endpointPrivateAccess":false}}`, "InvalidParameterException"},
		{"/clusters/v/update-config", `{"logging":{"clusterLogging":[{"types":["bogus"],"enabled":true}]}}`, "InvalidParameterException"},
		{"/clusters/v/update-config", `{"logging":`, "BadRequestException"},
	}
	for _, c := range cases {
		t.Run(c.body, func(t *testing.T) {
			expectError(t, s.raw("POST", c.path, c.body), c.typ, 400)
		})
	}
	// A version kplane does not offer is refused naming the ones it does, by
	// UpdateClusterVersion as by CreateCluster.
	offered := "supported versions: " + versions.BuiltInMinor()
	if got, _ := s.raw("POST", "/clusters/v/updates", `{"version":"1.38"}`).Body["message"].(string); !strings.Contains(got, offered) {
		t.Errorf("UpdateClusterVersion to 1.38: %q does not say %q", got, offered)
	}
	if got, _ := s.raw("POST", "/clusters", `{"name":"old","version":"1.20","roleArn":"arn:aws:iam::000000000000:role/r","resourcesVpcConfig":{}}`).Body["message"].(string); !strings.Contains(got, "unsupported Kubernetes version 1.20; "+offered) {
		t.Errorf("CreateCluster at 1.20: %q does not say %q", got, offered)
	}
	// Moving authentication mode backwards is refused once it moved forward.
	s.Store.UpdateCluster(context.Background(), "v", func(r *store.ClusterRecord) error {
		r.Cluster.AccessConfig.AuthenticationMode = "API"
		return nil
	})
	expectError(t, s.raw("POST", "/clusters/v/update-config", `{"accessConfig":{"authenticationMode":"API_AND_CONFIG_MAP"}}`), "InvalidParameterException", 400)
}

func TestTags(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	c := s.create("tagged")
	arn := c.Arn
	if _, err := s.eks.TagResource(ctx, &eks.TagResourceInput{ResourceArn: arn, Tags: map[string]string{"a": "1", "b": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.eks.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	l, err := s.eks.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil || len(l.Tags) != 1 || l.Tags["b"] != "2" {
		t.Fatalf("tags %v %v", l, err)
	}
	d, _ := s.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("tagged")})
	if d.Cluster.Tags["b"] != "2" || len(d.Cluster.Tags) != 1 {
		t.Errorf("cluster tags %v", d.Cluster.Tags)
	}
	missing := "/tags/" + escape("arn:aws:eks:us-west-2:000000000000:cluster/none")
	expectError(t, s.raw("GET", missing, ""), "NotFoundException", 404)
	expectError(t, s.raw("GET", "/tags/not-an-arn", ""), "BadRequestException", 400)
	path := "/tags/" + escape(aws.ToString(arn))
	expectError(t, s.raw("POST", path, `{"tags":{"aws:reserved":"x"}}`), "BadRequestException", 400)
	many := make([]string, 0, 51)
	for i := range 51 {
		many = append(many, fmt.Sprintf(`"k%d":"v"`, i))
	}
	expectError(t, s.raw("POST", path, `{"tags":{`+strings.Join(many, ",")+`}}`), "BadRequestException", 400)
	expectError(t, s.raw("DELETE", path, ""), "BadRequestException", 400)
}

// Paging while other clusters come and go: every cluster that exists for the
// whole listing shows up exactly once, and no page repeats a name.
func TestListClustersUnderChurn(t *testing.T) {
	s := startServer(t, func(c *server.Config) { c.ClusterQuota = 1000 })
	ctx := context.Background()
	stable := map[string]bool{}
	for i := range 60 {
		name := fmt.Sprintf("stable-%03d", i)
		s.create(name)
		stable[name] = true
	}
	stop := make(chan struct{})
	churned := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				churned <- n
				return
			default:
			}
			name := fmt.Sprintf("churn-%03d", n%40)
			if _, err := s.eks.CreateCluster(ctx, s.createInput(name)); err == nil {
				s.Store.RemoveCluster(ctx, name)
			}
			n++
		}
	}()
	for pass := range 5 {
		seen := map[string]int{}
		p := eks.NewListClustersPaginator(s.eks, &eks.ListClustersInput{MaxResults: aws.Int32(7)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range out.Clusters {
				seen[n]++
			}
		}
		for name := range stable {
			if seen[name] != 1 {
				t.Fatalf("pass %d: %s listed %d times", pass, name, seen[name])
			}
		}
		for name, k := range seen {
			if k != 1 {
				t.Fatalf("pass %d: %s listed %d times", pass, name, k)
			}
		}
	}
	close(stop)
	if n := <-churned; n == 0 {
		t.Fatal("no churn happened during the listing")
	}
}
