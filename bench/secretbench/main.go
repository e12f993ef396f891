// Command secretbench measures what Secrets encryption with KMS costs: Secret
// writes (create) and reads (get) through a cluster whose Secrets are
// encrypted by the KMS v2 provider with a kplane KMS key, against a cluster
// without encryption, in the same kplane and the same run, alternating which
// goes first each round. Each cluster's storage is checked first: the
// encrypted one's Secrets are k8s:enc:kms:v2: in etcd, the other's are not.
//
//	go run ./bench/secretbench                        # builds ./cmd/kplane first
//	go run ./bench/secretbench -kplane /tmp/kplane -rounds 3 -out /tmp/secretbench.md
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplane/kplane/bench/internal/load"
)

type config struct {
	kplane           string
	clients, rounds  int
	size, readSet    int
	warmup, duration time.Duration
	keep             bool
	out              string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.kplane, "kplane", "", "kplane binary (default: go build ./cmd/kplane into the temp dir)")
	flag.IntVar(&cfg.clients, "clients", 8, "concurrent clients per cluster")
	flag.IntVar(&cfg.rounds, "rounds", 2, "rounds; each measures both clusters, in alternating order")
	flag.IntVar(&cfg.size, "size", 1024, "bytes of data in each Secret")
	flag.IntVar(&cfg.readSet, "read-set", 200, "Secrets made before the rounds, which the reads pick from at random")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "warm-up before each measured window")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured window of each run")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temp dir (kplane's data and log)")
	flag.StringVar(&cfg.out, "out", "", "also write the markdown report to this file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "secretbench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s [load %s] %s\n", time.Now().Format("15:04:05"), load.LoadAvg(), fmt.Sprintf(format, args...))
}

// result is one measured run: an operation on one cluster in one round.
type result struct {
	cluster, op string
	round       int
	run         load.Run
}

func run(ctx context.Context, cfg config) error {
	work, err := os.MkdirTemp("", "secretbench-")
	if err != nil {
		return err
	}
	if cfg.keep {
		logf("keeping %s", work)
	} else {
		defer os.RemoveAll(work)
	}
	bin := cfg.kplane
	if bin == "" {
		bin = filepath.Join(work, "kplane")
		logf("building ./cmd/kplane")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kplane").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	loadStart := load.LoadAvg()
	k, err := startKplane(ctx, bin, work)
	if err != nil {
		return err
	}
	defer k.Stop()
	key, err := k.createKey(ctx)
	if err != nil {
		return err
	}
	plain, err := k.createCluster(ctx, "plain", "")
	if err != nil {
		return err
	}
	sealed, err := k.createCluster(ctx, "sealed", key)
	if err != nil {
		return err
	}
	logf("clusters plain and sealed (KMS key %s) ACTIVE", key)
	payload := []byte(strings.Repeat("s", cfg.size))
	var checks []string
	for _, c := range []*benchCluster{plain, sealed} {
		if err := fill(ctx, c, cfg.readSet, payload); err != nil {
			return err
		}
		prefix, err := k.storedPrefix(ctx, c, "read-0")
		if err != nil {
			return err
		}
		if want := c == sealed; want != strings.HasPrefix(prefix, "k8s:enc:kms:v2:") {
			return fmt.Errorf("cluster %s stores Secrets as %q", c.name, prefix)
		}
		checks = append(checks, fmt.Sprintf("%s: %q", c.name, prefix))
	}
	logf("Secrets in etcd: %s", strings.Join(checks, ", "))

	var results []result
	var seq atomic.Int64
	for r := range cfg.rounds {
		order := []*benchCluster{plain, sealed}
		if r%2 == 1 {
			order = []*benchCluster{sealed, plain}
		}
		for _, c := range order {
			write := load.Closed(ctx, cfg.clients, cfg.warmup, cfg.duration, load.Hooks{}, func(ctx context.Context) (time.Duration, int, error) {
				name := fmt.Sprintf("write-%d", seq.Add(1))
				start := time.Now()
				_, err := c.kube.CoreV1().Secrets("default").Create(ctx, secret(name, payload), metav1.CreateOptions{})
				return time.Since(start), status(err), err
			})
			logf("round %d %s create: %.0f/s p50 %v p99 %v errors %d", r+1, c.name, write.Throughput(), write.Latency.P50, write.Latency.P99, write.Errors)
			read := load.Closed(ctx, cfg.clients, cfg.warmup, cfg.duration, load.Hooks{}, func(ctx context.Context) (time.Duration, int, error) {
				name := fmt.Sprintf("read-%d", rand.IntN(cfg.readSet))
				start := time.Now()
				_, err := c.kube.CoreV1().Secrets("default").Get(ctx, name, metav1.GetOptions{})
				return time.Since(start), status(err), err
			})
			logf("round %d %s get: %.0f/s p50 %v p99 %v errors %d", r+1, c.name, read.Throughput(), read.Latency.P50, read.Latency.P99, read.Errors)
			results = append(results, result{c.name, "create", r + 1, write}, result{c.name, "get", r + 1, read})
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	rep := report(cfg, results, checks, loadStart)
	fmt.Print(rep)
	if cfg.out != "" {
		return os.WriteFile(cfg.out, []byte(rep), 0o644)
	}
	return nil
}

func secret(name string, payload []byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string][]byte{"value": payload}}
}

func status(err error) int {
	if err != nil {
		return 0
	}
	return 200
}

// fill makes the Secrets the reads pick from.
func fill(ctx context.Context, c *benchCluster, n int, payload []byte) error {
	for i := range n {
		if _, err := c.kube.CoreV1().Secrets("default").Create(ctx, secret(fmt.Sprintf("read-%d", i), payload), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("cluster %s: %w", c.name, err)
		}
	}
	return nil
}

// report is the markdown of the run: each measured run, then per operation
// the encrypted cluster's median throughput and p50/p99 over the rounds
// relative to the plain cluster's.
func report(cfg config, results []result, checks []string, loadStart string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Secrets through an encrypted cluster (KMS v2) vs a plain one\n\n")
	fmt.Fprintf(&b, "%s, %s, commit %s; load %s at start, %s at end. %d clients per cluster, %d-byte Secrets, %v windows after %v warm-up, %d rounds (order alternating). In etcd: %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), load.CPUModel(), load.GitCommit(), loadStart, load.LoadAvg(),
		cfg.clients, cfg.size, cfg.duration, cfg.warmup, cfg.rounds, strings.Join(checks, ", "))
	fmt.Fprintf(&b, "| round | cluster | op | req/s | p50 | p99 | errors |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %d | %s | %s | %.0f | %v | %v | %d |\n", r.round, r.cluster, r.op, r.run.Throughput(),
			r.run.Latency.P50.Round(10*time.Microsecond), r.run.Latency.P99.Round(10*time.Microsecond), r.run.Errors)
	}
	fmt.Fprintf(&b, "\n| op | sealed/plain req/s | sealed/plain p50 | sealed/plain p99 |\n| --- | --- | --- | --- |\n")
	for _, op := range []string{"create", "get"} {
		med := func(cluster string, f func(load.Run) float64) float64 {
			var xs []float64
			for _, r := range results {
				if r.cluster == cluster && r.op == op {
					xs = append(xs, f(r.run))
				}
			}
			return median(xs)
		}
		tput := func(r load.Run) float64 { return r.Throughput() }
		p50 := func(r load.Run) float64 { return float64(r.Latency.P50) }
		p99 := func(r load.Run) float64 { return float64(r.Latency.P99) }
		fmt.Fprintf(&b, "| %s | %.3f | %.3f | %.3f |\n", op, med("sealed", tput)/med("plain", tput), med("sealed", p50)/med("plain", p50), med("sealed", p99)/med("plain", p99))
	}
	return b.String()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
