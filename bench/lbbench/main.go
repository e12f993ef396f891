// Command lbbench measures what kplane's TCP load balancer (internal/lb)
// costs in front of a real kube-apiserver: 16 concurrent clients, each on
// its own keep-alive connection, GET /api/v1/namespaces/default with the
// admin client certificate, straight to the apiserver and through an
// in-process lb.Balancer, side by side in alternating rounds.
//
//	go run ./bench/lbbench                        # builds ./cmd/kplane first
//	go run ./bench/lbbench -kplane /tmp/kplane-lb # or uses a built binary
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kplane/kplane/bench/internal/load"
	"github.com/kplane/kplane/bench/internal/localetcd"
	"github.com/kplane/kplane/internal/controlplane"
	"github.com/kplane/kplane/internal/lb"
	"github.com/kplane/kplane/internal/supervise"
)

type config struct {
	kplane           string
	clients, rounds  int
	warmup, duration time.Duration
	quiet            float64
	quietWait        time.Duration
	http1, keep      bool
	out              string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.kplane, "kplane", "", "kplane binary (default: go build ./cmd/kplane into the temp dir)")
	flag.IntVar(&cfg.clients, "clients", 16, "concurrent clients, each on its own keep-alive connection")
	flag.IntVar(&cfg.rounds, "rounds", 4, "rounds; each measures direct and through the balancer, in alternating order")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "warm-up before each measured window (connections, TLS, caches)")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured window of each run")
	flag.Float64Var(&cfg.quiet, "quiet", 0.25, "before each run, wait until other processes use fewer cores than this")
	flag.DurationVar(&cfg.quietWait, "quiet-wait", 2*time.Minute, "longest wait for a quiet machine")
	flag.BoolVar(&cfg.http1, "http1", false, "HTTP/1.1 instead of HTTP/2 (client-go's default)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temp dir (apiserver log)")
	flag.StringVar(&cfg.out, "out", "", "also write the markdown section to this file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "lbbench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s [load %s] %s\n", time.Now().Format("15:04:05"), loadAvg(), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, cfg config) error {
	work, err := os.MkdirTemp("", "lbbench-")
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
		logf("building ./cmd/kplane (the first build of Kubernetes takes minutes)")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kplane").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	rep := &report{cfg: cfg, date: time.Now().UTC(), loadStart: loadAvg(), commit: load.GitCommit()}

	cc, pid, stopAPIServer, err := startAPIServer(ctx, bin, work)
	if err != nil {
		return err
	}
	defer stopAPIServer()
	client, err := controlplane.AdminHTTPClient(cc)
	if err != nil {
		return err
	}
	direct := fmt.Sprintf("127.0.0.1:%d", cc.SecurePort)

	// The balancer as kplane runs it: /readyz checks with the admin
	// certificate, endpoint access open to all.
	bal := lb.New(lb.Config{})
	defer bal.Close()
	err = bal.Ensure("lbbench", lb.Listener{
		Addr:     "127.0.0.1:0",
		Backends: []lb.Backend{{Name: "apiserver", Addr: direct}},
		Access:   lb.Access{Public: true, PublicCIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}},
		Check: func(ctx context.Context, b lb.Backend) error {
			return readyz(ctx, client, "https://"+b.Addr+"/readyz")
		},
	})
	if err != nil {
		return err
	}
	through := bal.Addr("lbbench")

	tc, err := clientTLS(cc)
	if err != nil {
		return err
	}
	targets := []target{{name: "direct", addr: direct}, {name: "through lb", addr: through}}
	for r := range cfg.rounds {
		order := targets
		if r%2 == 1 {
			order = []target{targets[1], targets[0]}
		}
		for _, t := range order {
			res, err := measure(ctx, cfg, t, tc, pid, r+1)
			if err != nil {
				return err
			}
			rep.runs = append(rep.runs, res)
			logf("round %d %-10s %7.0f req/s  p50 %s  p99 %s  errors %d  cores: apiserver %.2f, lbbench %.2f, others %.2f",
				r+1, t.name, res.run.Throughput(), ms(res.run.Latency.P50), ms(res.run.Latency.P99), res.run.Errors,
				res.cpuAPIServer, res.cpuSelf, res.cpuOther)
		}
	}
	if st := bal.Status("lbbench"); len(st) != 1 || !st[0].Healthy {
		return fmt.Errorf("balancer status at the end: %+v", st)
	}
	rep.loadEnd = loadAvg()
	fmt.Print(rep.text())
	md := rep.markdown()
	fmt.Print("\n" + md)
	if cfg.out != "" {
		return os.WriteFile(cfg.out, []byte(md), 0o644)
	}
	return nil
}

// startAPIServer runs `kplane controlplane-run` with an apiserver-only spec
// on a fresh etcd in this process, as controlplanebench's floor does, and
// waits for /readyz.
func startAPIServer(ctx context.Context, bin, work string) (controlplane.ClusterConfig, int, func(), error) {
	var cc controlplane.ClusterConfig
	etcdURL, closeEtcd, err := localetcd.Start(filepath.Join(work, "etcd"))
	if err != nil {
		return cc, 0, nil, err
	}
	ex, err := controlplane.NewLocalExecutor(supervise.Options{Executable: bin, StopGracePeriod: 10 * time.Second})
	if err != nil {
		closeEtcd()
		return cc, 0, nil, err
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ex.StopAll(sctx)
		closeEtcd()
	}
	port, err := controlplane.AllocatePort()
	if err != nil {
		stop()
		return cc, 0, nil, err
	}
	cc = controlplane.ClusterConfig{
		ID: "lbbench", Dir: filepath.Join(work, "cluster"), SecurePort: port,
		EtcdServers: []string{etcdURL}, APIServerOnly: true,
		ExtraAPIServerArgs: []string{"--etcd-compaction-interval=0"},
	}
	if _, _, err := controlplane.Prepare(cc); err != nil {
		stop()
		return cc, 0, nil, err
	}
	logf("starting kube-apiserver on 127.0.0.1:%d", port)
	if err := ex.Ensure(ctx, cc); err != nil {
		stop()
		return cc, 0, nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	err = controlplane.WaitReady(rctx, cc)
	cancel()
	if err != nil {
		stop()
		return cc, 0, nil, fmt.Errorf("%w (log: %s)", err, controlplane.ProcessLogPath(cc.Dir))
	}
	pid := ex.State(cc.ID).PID
	logf("kube-apiserver ready (pid %d)", pid)
	return cc, pid, stop, nil
}

// clientTLS trusts the cluster CA and presents the admin certificate
// (system:masters), as `kplane kubeconfig` does.
func clientTLS(cc controlplane.ClusterConfig) (*tls.Config, error) {
	caPEM, err := os.ReadFile(cc.CertFile(controlplane.CertCA))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	pair, err := tls.LoadX509KeyPair(cc.CertFile(controlplane.CertAdmin), cc.KeyFile(controlplane.CertAdmin))
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}, nil
}
