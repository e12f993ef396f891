package server_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/nodegroup"
	"github.com/kplane/kplane/internal/runinfo"
	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
)

// bothReconcilers runs the test's cluster remover and the real nodegroup
// reconciler, with the executor `kplane serve` has while no node executor is
// wired: nodes are not available.
type bothReconcilers struct{ ng *nodegroup.Reconciler }

func (b bothReconcilers) Run(ctx context.Context, st *store.Store, info runinfo.Info) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); removeDeleted{}.Run(ctx, st, info) }()
	err := b.ng.Run(ctx, st, info)
	wg.Wait()
	return err
}

// The aws CLI against kplane's nodegroups, with the reconciler of `kplane
// serve` and no node executor: create-nodegroup ends CREATE_FAILED with
// NodeCreationFailure (never ACTIVE), its instances are listed terminated,
// DeleteCluster is refused until the nodegroup is deleted, and the waiters
// see both. Skips without the CLI.
func TestNodegroupsWithAWSCLI(t *testing.T) {
	awsPath, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed")
	}
	s := startServer(t, func(c *server.Config) {
		c.Deps.Reconciler = bothReconcilers{ng: &nodegroup.Reconciler{Executor: nodegroup.Unavailable{}, Log: quietLog()}}
	})
	home := t.TempDir()
	creds := filepath.Join(home, "credentials")
	os.WriteFile(creds, []byte("[default]\naws_access_key_id = "+s.Root.AccessKeyID+"\naws_secret_access_key = "+s.Root.SecretAccessKey+"\n"), 0o600)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(awsPath, append(args, "--output", "text")...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "HOME="+home, "AWS_SHARED_CREDENTIALS_FILE="+creds, "AWS_CONFIG_FILE="+filepath.Join(home, "config"),
			"AWS_ENDPOINT_URL="+s.URL, "AWS_DEFAULT_REGION="+s.Region, "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("aws %s: %v", strings.Join(args[:2], " "), time.Since(start).Round(time.Millisecond))
		return strings.TrimSpace(string(out)), err
	}
	ok := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	fails := func(want string, args ...string) {
		t.Helper()
		out, err := run(args...)
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("aws %s: %v, want %q in\n%s", strings.Join(args, " "), err, want, out)
		}
	}

	s.activeCluster("demo", "")
	sub := s.subnets()
	ok("eks", "create-nodegroup", "--cluster-name", "demo", "--nodegroup-name", "ng", "--node-role", nodeRole,
		"--subnets", sub[0], sub[1], "--scaling-config", "minSize=1,maxSize=2,desiredSize=2", "--labels", "team=a")
	fails("CREATE_FAILED", "eks", "wait", "nodegroup-active", "--cluster-name", "demo", "--nodegroup-name", "ng")
	issue := ok("eks", "describe-nodegroup", "--cluster-name", "demo", "--nodegroup-name", "ng",
		"--query", "nodegroup.health.issues[0].[code,message]")
	if !strings.Contains(issue, "NodeCreationFailure") || !strings.Contains(issue, nodegroup.NodesUnavailable) {
		t.Errorf("issue %q", issue)
	}
	states := ok("ec2", "describe-instances", "--filters", "Name=tag:eks:nodegroup-name,Values=ng",
		"--query", "Reservations[].Instances[].[InstanceId,State.Name,Placement.AvailabilityZone]")
	if lines := strings.Split(states, "\n"); len(lines) != 2 || strings.Count(states, "terminated") != 2 {
		t.Errorf("instances:\n%s", states)
	}
	fails("Cluster has nodegroups attached", "eks", "delete-cluster", "--name", "demo")
	if got := ok("eks", "list-nodegroups", "--cluster-name", "demo", "--query", "nodegroups"); got != "ng" {
		t.Errorf("list-nodegroups %q", got)
	}
	ok("eks", "delete-nodegroup", "--cluster-name", "demo", "--nodegroup-name", "ng")
	ok("eks", "wait", "nodegroup-deleted", "--cluster-name", "demo", "--nodegroup-name", "ng")
	if got := ok("ec2", "describe-instances", "--query", "length(Reservations)"); got != "0" {
		t.Errorf("instances after delete: %s", got)
	}
	fails("No node group found for name: ng.", "eks", "describe-nodegroup", "--cluster-name", "demo", "--nodegroup-name", "ng")
	s.setClusterStatus("demo", shapes.StatusActive)
	ok("eks", "delete-cluster", "--name", "demo")
}
