//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// awsV2 is aws-cli v2, which has `aws logs tail` (v1, the `aws` on PATH,
// has not). `make e2e` installs Debian's awscli package, whose /usr/bin/aws
// comes after the pip aws on PATH, so every other test keeps using v1; this
// test calls v2 by its full path. KPLANE_E2E_AWS_V2 names another one.
func awsV2(t *testing.T) string {
	t.Helper()
	path := os.Getenv("KPLANE_E2E_AWS_V2")
	if path == "" {
		path = "/usr/bin/aws"
	}
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "aws-cli/2.") {
		t.Fatalf("aws-cli v2 is needed at %s for `aws logs tail` (make e2e installs Debian's awscli): %v %s", path, err, out)
	}
	return path
}

// syncBuffer is a bytes.Buffer a running command writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAwsLogsTail: `aws logs tail /aws/eks/NAME/cluster` (aws-cli v2) shows
// a cluster's kube-apiserver and audit lines, --log-stream-name-prefix and
// --filter-pattern narrow them,
// and --follow prints the audit line of a request made while it runs.
func TestAwsLogsTail(t *testing.T) {
	aws2 := awsV2(t)
	k := startKplane(t)
	k.mustAWS("eks", "create-cluster", "--name", "tail", "--role-arn", roleArn, "--resources-vpc-config", "subnetIds="+k.subnetIDs(),
		"--logging", `{"clusterLogging":[{"types":["api","audit"],"enabled":true}]}`)
	k.waitActive("tail", 8*time.Minute)
	group := "/aws/eks/tail/cluster"
	// aws-cli 2.9 does not read AWS_ENDPOINT_URL: the endpoint goes as a flag.
	tail := func(args ...string) (string, error) {
		return k.exec(60*time.Second, aws2, append([]string{"--endpoint-url", k.url, "logs", "tail", group}, args...)...)
	}
	var all string
	eventually(t, 2*time.Minute, time.Second, "kube-apiserver and audit lines in aws logs tail", func() error {
		out, err := tail("--since", "1h")
		if err != nil {
			return err
		}
		all = out
		for _, stream := range []string{" kube-apiserver-", " kube-apiserver-audit-"} {
			if !strings.Contains(out, stream) {
				return fmt.Errorf("no line of a%s stream in %d bytes", strings.TrimSuffix(stream, "-"), len(out))
			}
		}
		return nil
	})
	t.Logf("aws logs tail: %d lines", strings.Count(all, "\n"))
	filtered, err := tail("--since", "1h", "--filter-pattern", "ResponseComplete", "--log-stream-name-prefix", "kube-apiserver-audit")
	if err != nil || filtered == "" {
		t.Fatalf("logs tail with a stream prefix and a filter pattern: %v %q", err, filtered)
	}
	for _, line := range strings.Split(strings.TrimSpace(filtered), "\n") {
		if f := strings.Fields(line); len(f) < 3 || !strings.HasPrefix(f[1], "kube-apiserver-audit-") || !strings.Contains(line, "ResponseComplete") {
			t.Fatalf("--log-stream-name-prefix kube-apiserver-audit --filter-pattern ResponseComplete printed %q", line)
		}
	}

	// --follow: a ConfigMap made while it runs shows in its audit lines.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	follow := exec.CommandContext(ctx, aws2, "--endpoint-url", k.url, "logs", "tail", group, "--follow", "--since", "1m", "--format", "short")
	follow.Env = k.env()
	var out syncBuffer
	follow.Stdout, follow.Stderr = &out, &out
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); follow.Wait() }()
	marker := fmt.Sprintf("tail-marker-%d", time.Now().UnixNano())
	kc := k.kubeconfig("tail")
	k.kubectlEventually(time.Minute, kc, "create", "configmap", marker)
	took := eventually(t, 90*time.Second, time.Second, "the ConfigMap's audit line in aws logs tail --follow", func() error {
		if !strings.Contains(out.String(), marker) {
			return fmt.Errorf("%q not printed yet", marker)
		}
		return nil
	})
	t.Logf("--follow printed the ConfigMap's audit line %v after kubectl create", took.Round(time.Millisecond))
}
