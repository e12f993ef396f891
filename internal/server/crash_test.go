package server_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/server"
)

// TestMain doubles as a kplane server process for the crash test, so that
// the test can SIGKILL a real process without building the whole binary.
func TestMain(m *testing.M) {
	if dir := os.Getenv("KPLANE_CRASH_DATA_DIR"); dir != "" {
		s, err := server.Start(context.Background(), server.Config{DataDir: dir, Listen: "127.0.0.1:0", ClusterQuota: 10000, Log: quietLog()})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		crashAt(s)
		fmt.Println(s.URL)
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		<-ch
		s.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startChild runs a kplane server in a child process on dir.
func startChild(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "KPLANE_CRASH_DATA_DIR="+dir)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://") {
		cmd.Process.Kill()
		t.Fatalf("child server: %q %v", line, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, strings.TrimSpace(line)
}

func childClient(t *testing.T, dir, url string) *eks.Client {
	root, err := auth.LoadOrCreateRoot(dir, server.DefaultAccountID)
	if err != nil {
		t.Fatal(err)
	}
	return eks.New(eks.Options{Region: server.DefaultRegion, BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: staticCreds(root.AccessKeyID, root.SecretAccessKey)})
}

func TestSIGKILLLosesNoAcknowledgedCluster(t *testing.T) {
	dir := t.TempDir()
	cmd, url := startChild(t, dir)
	client := childClient(t, dir, url)
	subnets := childSubnets(t, client, dir)

	var mu sync.Mutex
	var acked []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				name := fmt.Sprintf("crash-%d-%d", w, i)
				_, err := client.CreateCluster(ctx, &eks.CreateClusterInput{Name: aws.String(name), RoleArn: aws.String(testRole),
					ResourcesVpcConfig: vpcConfig(subnets)})
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	cancel()
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no create was acknowledged before the kill")
	}

	_, url = startChild(t, dir)
	client = childClient(t, dir, url)
	listed := map[string]bool{}
	p := eks.NewListClustersPaginator(client, &eks.ListClustersInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range out.Clusters {
			listed[n] = true
		}
	}
	for _, n := range acked {
		if !listed[n] {
			t.Errorf("acknowledged cluster %s is gone after SIGKILL", n)
		}
		if _, err := client.DescribeCluster(context.Background(), &eks.DescribeClusterInput{Name: aws.String(n)}); err != nil {
			t.Errorf("describe %s: %v", n, err)
		}
	}
	t.Logf("%d creates acknowledged before SIGKILL, %d clusters after restart", len(acked), len(listed))
}
