package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
)

// CloudWatch Logs with the aws CLI against a real kplane: a cluster's
// enabled log types are shipped into /aws/eks/NAME/cluster (here from files
// the test writes where the components would), and `aws logs tail`,
// `filter-log-events`, streams, retention and tags work on them.
func TestLogsWithAWSCLI(t *testing.T) {
	dir := t.TempDir()
	api, audit := filepath.Join(dir, "api.log"), filepath.Join(dir, "audit.log")
	s := startServer(t, func(c *server.Config) {
		c.ClusterLogFiles = func(rec *store.ClusterRecord) map[string][]string {
			return map[string][]string{"api": {api}, "audit": {audit}}
		}
	})
	c := newCLI(t, s)
	os.WriteFile(api, []byte("I1207 14:00:00.000000 1 server.go:1] Serving securely\n"), 0o600)
	var lines []string
	for i := 0; i < 30; i++ {
		lines = append(lines, fmt.Sprintf(`{"kind":"Event","verb":"get","requestURI":"/api/v1/namespaces/team-%d"}`, i))
	}
	os.WriteFile(audit, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	c.json(nil, "eks", "create-cluster", "--name", "demo", "--role-arn", testRole, "--resources-vpc-config", "subnetIds="+strings.Join(s.subnets(), ","))

	// aws-cli v1 has no `aws logs tail`; v2's tail is FilterLogEvents from
	// a start time, interleaved, following nextToken: the same calls here.
	since := fmt.Sprint(time.Now().Add(-time.Hour).UnixMilli())
	var out string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		out, _ = c.run("aws", "logs", "filter-log-events", "--log-group-name", "/aws/eks/demo/cluster", "--start-time", since,
			"--interleaved", "--output", "text", "--query", "events[].[logStreamName,message]")
		if strings.Contains(out, "Serving securely") && strings.Contains(out, "team-29") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the api and audit lines never showed:\n%s", out)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) < 2 || !strings.HasPrefix(f[0], "kube-apiserver-") {
			t.Fatalf("event without an EKS stream name: %q", l)
		}
	}
	var found struct {
		Events []struct{ LogStreamName, Message string }
	}
	c.json(&found, "logs", "filter-log-events", "--log-group-name", "/aws/eks/demo/cluster", "--filter-pattern", `"team-17"`)
	if len(found.Events) != 1 || !strings.HasPrefix(found.Events[0].LogStreamName, "kube-apiserver-audit-") {
		t.Fatalf("filter-log-events team-17: %+v", found)
	}
	// The CLI pages with --max-items/--page-size through nextToken.
	found.Events = nil
	c.json(&found, "logs", "filter-log-events", "--log-group-name", "/aws/eks/demo/cluster", "--filter-pattern", "verb", "--page-size", "7")
	if len(found.Events) != 30 {
		t.Fatalf("paged filter-log-events: %d events", len(found.Events))
	}
	if got := c.text("logs", "describe-log-streams", "--log-group-name", "/aws/eks/demo/cluster", "--query", "length(logStreams)"); got != "2" {
		t.Fatalf("streams: %s", got)
	}
	c.json(nil, "logs", "put-retention-policy", "--log-group-name", "/aws/eks/demo/cluster", "--retention-in-days", "7")
	if got := c.text("logs", "describe-log-groups", "--log-group-name-prefix", "/aws/eks/", "--query", "logGroups[0].retentionInDays"); got != "7" {
		t.Fatalf("retention: %s", got)
	}
	c.fails("(InvalidParameterException) when calling the PutRetentionPolicy operation", "logs", "put-retention-policy", "--log-group-name", "/aws/eks/demo/cluster", "--retention-in-days", "2")
	c.fails("(ResourceAlreadyExistsException) when calling the CreateLogGroup operation", "logs", "create-log-group", "--log-group-name", "/aws/eks/demo/cluster")
	c.fails("(ResourceNotFoundException) when calling the FilterLogEvents operation", "logs", "filter-log-events", "--log-group-name", "/none")
	arn := c.text("logs", "describe-log-groups", "--log-group-name-prefix", "/aws/eks/", "--query", "logGroups[0].logGroupArn")
	c.json(nil, "logs", "tag-resource", "--resource-arn", arn, "--tags", "team=platform")
	if got := c.text("logs", "list-tags-for-resource", "--resource-arn", arn, "--query", "tags.team"); got != "platform" {
		t.Fatalf("tags: %s", got)
	}
	c.json(nil, "logs", "create-log-group", "--log-group-name", "/app/mine")
	c.json(nil, "logs", "delete-log-group", "--log-group-name", "/app/mine")
	c.fails("(ResourceNotFoundException) when calling the DeleteLogGroup operation", "logs", "delete-log-group", "--log-group-name", "/app/mine")
}
