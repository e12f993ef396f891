// Command policybench measures what IAM policy evaluation adds to a call:
// DescribeCluster throughput and latency for an IAM user whose access comes
// from 10 attached managed policies of 20 statements each (the statement that
// allows the call is the last one, so every call looks at all 200), against
// the account root (which no policy decides) on the same kplane, in
// alternating runs of one invocation.
//
//	go run ./bench/policybench [--runs 3] [--duration 10s] [--clients 16]
//
// It builds ./cmd/kplane into a temp dir, starts `kplane serve --no-reconcile`
// on a free loopback port with a fresh data dir, and removes both when it
// ends, fails or gets Ctrl-C (the server runs with Pdeathsig).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kplane/kplane/bench/internal/load"
	"github.com/kplane/kplane/internal/auth"
)

const (
	policies   = 10
	statements = 20
	cluster    = "policy-bench"
)

func main() {
	runs := flag.Int("runs", 3, "measured runs per caller, alternating root and the policy user")
	duration := flag.Duration("duration", 10*time.Second, "measured time per run")
	warmup := flag.Duration("warmup", 2*time.Second, "warm-up per run, not measured")
	clients := flag.Int("clients", 16, "concurrent closed-loop clients")
	region := flag.String("region", "us-west-2", "region to sign for")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *runs, *warmup, *duration, *clients, *region); err != nil {
		fmt.Fprintln(os.Stderr, "policybench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, runs int, warmup, duration time.Duration, clients int, region string) error {
	tmp, err := os.MkdirTemp("", "policybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "kplane")
	logf("building kplane")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kplane")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/kplane (run from the repository root): %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	dataDir := filepath.Join(tmp, "data")
	logFile, err := os.Create(filepath.Join(tmp, "kplane.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	srv := exec.Command(bin, "serve", "--data-dir", dataDir, "--listen", addr, "--log-level", "warn", "--no-reconcile")
	srv.Stdout, srv.Stderr = logFile, logFile
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			srv.Process.Kill()
			<-done
		}
		logf("stopped kplane")
	}()
	base := "http://" + addr
	if err := waitReady(ctx, base); err != nil {
		return err
	}
	akid, secret, err := auth.ReadCredentialsFile(filepath.Join(dataDir, "credentials"))
	if err != nil {
		return err
	}
	root := load.NewTarget("root", base, region, aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, Source: "kplane"}, clients)
	defer root.Close()

	subnets, err := subnetsOf(ctx, bin, dataDir)
	if err != nil {
		return err
	}
	if err := root.EnsureRole(ctx); err != nil {
		return err
	}
	if _, err := root.CreateCluster(ctx, cluster, subnets); err != nil {
		return err
	}
	userCreds, err := policyUser(ctx, root)
	if err != nil {
		return err
	}
	user := load.NewTarget("10 policies × 20 statements", base, region, userCreds, clients)
	defer user.Close()
	// The user's key works, and DescribeCluster is allowed only by the last statement.
	if r, err := user.Do(ctx, "GET", "/clusters/"+cluster, nil, true); err != nil || r.Status != 200 {
		return fmt.Errorf("the policy user's DescribeCluster: %v HTTP %d %s", err, r.Status, r.Body)
	}
	if r, err := user.Do(ctx, "GET", "/clusters", nil, true); err != nil || r.Status != 403 {
		return fmt.Errorf("the policy user's ListClusters should be refused: %v HTTP %d %s", err, r.Status, r.Body)
	}

	var results = map[string][]load.Run{}
	for i := 1; i <= runs; i++ {
		for _, t := range []*load.Target{root, user} {
			logf("run %d/%d: %s, %d clients, %v", i, runs, t.Name, clients, duration)
			r := load.Closed(ctx, clients, warmup, duration, load.Hooks{}, t.DescribeOp(cluster))
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if r.Errors > 0 {
				return fmt.Errorf("%s: %d errors %v", t.Name, r.Errors, r.ErrorKind)
			}
			results[t.Name] = append(results[t.Name], r)
			logf("  %.0f req/s, p50 %v, p99 %v", r.Throughput(), r.Latency.P50, r.Latency.P99)
		}
	}
	fmt.Println(report(results, root.Name, user.Name, runs, clients, duration))
	return nil
}

func waitReady(ctx context.Context, base string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(base + "/_kplane/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("kplane not ready after 2 minutes")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func subnetsOf(ctx context.Context, bin, dataDir string) ([]string, error) {
	out, err := exec.CommandContext(ctx, bin, "network", "--data-dir", dataDir).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("kplane network: %w: %s", err, out)
	}
	var ids []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "subnet" {
			ids = append(ids, f[1])
		}
	}
	if len(ids) < 2 {
		return nil, fmt.Errorf("kplane network listed %d subnets:\n%s", len(ids), out)
	}
	return ids[:2], nil
}

// iamCall makes one IAM query-protocol call as root and returns its body.
func iamCall(ctx context.Context, root *load.Target, params url.Values) (string, error) {
	params.Set("Version", "2010-05-08")
	r, err := root.Call(ctx, "iam", "POST", "/", "application/x-www-form-urlencoded; charset=utf-8", []byte(params.Encode()), true)
	if err != nil {
		return "", err
	}
	if r.Status != 200 {
		return "", fmt.Errorf("iam %s: HTTP %d: %s", params.Get("Action"), r.Status, r.Body)
	}
	return string(r.Body), nil
}

var (
	akidRe   = regexp.MustCompile(`<AccessKeyId>([^<]+)</AccessKeyId>`)
	secretRe = regexp.MustCompile(`<SecretAccessKey>([^<]+)</SecretAccessKey>`)
	arnRe    = regexp.MustCompile(`<Arn>([^<]+)</Arn>`)
)

// policyUser makes the user "bench" with 10 attached policies of 20
// statements; only the last statement of the last policy allows
// eks:DescribeCluster on the benchmarked cluster, and every statement has
// a condition, as real policies often do.
func policyUser(ctx context.Context, root *load.Target) (aws.Credentials, error) {
	if _, err := iamCall(ctx, root, url.Values{"Action": {"CreateUser"}, "UserName": {"bench"}}); err != nil {
		return aws.Credentials{}, err
	}
	for p := range policies {
		var st []string
		for s := range statements {
			action, resource := fmt.Sprintf("ec2:Describe%d*", s), fmt.Sprintf("arn:aws:eks:*:*:cluster/p%d-s%d-*", p, s)
			if p == policies-1 && s == statements-1 {
				action, resource = "eks:DescribeCluster", "arn:aws:eks:*:*:cluster/"+cluster
			}
			st = append(st, fmt.Sprintf(`{"Sid":"S%d","Effect":"Allow","Action":["%s","eks:Describe%dX*"],"Resource":"%s","Condition":{"StringEqualsIfExists":{"aws:RequestTag/team":"t%d"}}}`,
				s, action, s, resource, s))
		}
		doc := `{"Version":"2012-10-17","Statement":[` + strings.Join(st, ",") + `]}`
		body, err := iamCall(ctx, root, url.Values{"Action": {"CreatePolicy"}, "PolicyName": {fmt.Sprintf("bench-%d", p)}, "PolicyDocument": {doc}})
		if err != nil {
			return aws.Credentials{}, err
		}
		m := arnRe.FindStringSubmatch(body)
		if m == nil {
			return aws.Credentials{}, fmt.Errorf("CreatePolicy: no Arn in %s", body)
		}
		if _, err := iamCall(ctx, root, url.Values{"Action": {"AttachUserPolicy"}, "UserName": {"bench"}, "PolicyArn": {m[1]}}); err != nil {
			return aws.Credentials{}, err
		}
	}
	body, err := iamCall(ctx, root, url.Values{"Action": {"CreateAccessKey"}, "UserName": {"bench"}})
	if err != nil {
		return aws.Credentials{}, err
	}
	a, s := akidRe.FindStringSubmatch(body), secretRe.FindStringSubmatch(body)
	if a == nil || s == nil {
		return aws.Credentials{}, fmt.Errorf("CreateAccessKey: %s", body)
	}
	return aws.Credentials{AccessKeyID: a[1], SecretAccessKey: s[1], Source: "bench"}, nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func report(results map[string][]load.Run, rootName, userName string, runs, clients int, d time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| caller | run | req/s | p50 | p99 |\n| --- | --- | --- | --- | --- |\n")
	tput := map[string][]float64{}
	p99 := map[string][]float64{}
	for _, name := range []string{rootName, userName} {
		for i, r := range results[name] {
			fmt.Fprintf(&b, "| %s | %d | %.0f | %v | %v |\n", name, i+1, r.Throughput(), r.Latency.P50.Round(time.Microsecond), r.Latency.P99.Round(time.Microsecond))
			tput[name] = append(tput[name], r.Throughput())
			p99[name] = append(p99[name], float64(r.Latency.P99))
		}
	}
	tr := median(tput[userName]) / median(tput[rootName])
	pr := median(p99[userName]) / median(p99[rootName])
	fmt.Fprintf(&b, "\nMedian of %d runs (%d clients, %v each): the policy user's throughput is %.3f× the root's, its p99 %.3f× (goal: within 10%%).\n",
		runs, clients, d, tr, pr)
	fmt.Fprintf(&b, "Machine: %s, load average at the end %s, kernel %s, commit %s.\n", load.CPUModel(), load.LoadAvg(), load.KernelRelease(), load.GitCommit())
	return b.String()
}
