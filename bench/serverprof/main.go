// Command serverprof profiles kplane's DescribeCluster path, which kplane's
// own binary cannot do (it serves no pprof).
//
// It re-executes itself as a child (-serve) that starts internal/server
// in-process (no reconciler, fresh data dir) and serves net/http/pprof and
// expvar on a second loopback port. The parent then drives the same closed
// loop as apibench (16 clients, SigV4-signed GET /clusters/NAME) and, over
// the measured window only, takes:
//
//   - a CPU profile of the server process (the child), free of the load generator,
//   - the server's allocations and GC cycles per request (runtime.MemStats via expvar),
//   - a CPU profile of the load generator itself (the parent),
//
// then prints the top functions of both profiles with `go tool pprof -top`.
//
// With -fill N it first creates N clusters (16 parallel clients), printing
// the create rate per thousand, and profiles the server for -fill-profile
// from half-way through: that is where kplane's CreateCluster time goes as
// the account fills up.
//
//	go run ./bench/serverprof [-duration 10s] [-clients 16] [-dir DIR]
//	go run ./bench/serverprof -fill 4000 -duration 0
package main

import (
	"bufio"
	"context"
	"encoding/json"
	_ "expvar"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kplane/kplane/bench/internal/load"
	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/server"
)

// hello is what the child tells the parent once it serves.
type hello struct {
	URL     string   `json:"url"`
	Debug   string   `json:"debug"`
	AKID    string   `json:"akid"`
	Secret  string   `json:"secret"`
	Region  string   `json:"region"`
	Subnets []string `json:"subnets"`
	// Floor and FloorVerify serve the same DescribeCluster answer as kplane
	// with nothing else around it (see floorHandler).
	Floor       string `json:"floor"`
	FloorVerify string `json:"floorVerify"`
}

// floorHandler answers GET /clusters/NAME the way a minimal server would: the
// record from kplane's own cluster cache, marshaled once per revision and then
// written from memory, and, if verify, after kplane's SigV4 check (auth.Verifier).
// No request id, metrics, logging or routing table. Comparing it with kplane
// under the same load separates what kplane's handler costs from what net/http,
// the loopback and the load generator cost on this machine.
func floorHandler(s *server.Server, verify bool) http.Handler {
	v := &auth.Verifier{Region: s.Region, Credentials: auth.StaticCredentials{s.Root.AccessKeyID: s.Root}}
	type cached struct {
		rev  int64
		body []byte
	}
	var cache sync.Map // name → cached
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if verify {
			if _, rej := v.Verify(r, nil, "eks"); rej != nil {
				http.Error(w, rej.Message, rej.Status)
				return
			}
		}
		name, ok := strings.CutPrefix(r.URL.Path, "/clusters/")
		if !ok || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		rec, err := s.Store.GetCluster(r.Context(), name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		c, _ := cache.Load(name)
		if c == nil || c.(cached).rev != rec.Revision {
			b, _ := json.Marshal(map[string]any{"cluster": rec.Cluster})
			c = cached{rec.Revision, b}
			cache.Store(name, c)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(c.(cached).body)
	})
}

func main() {
	serve := flag.Bool("serve", false, "internal: run the server child")
	dataDir := flag.String("data-dir", "", "internal: the child's data dir")
	clients := flag.Int("clients", 16, "concurrent DescribeCluster clients")
	warmup := flag.Duration("warmup", 2*time.Second, "warm-up, not measured or profiled")
	duration := flag.Duration("duration", 10*time.Second, "measured and profiled time (0 skips the DescribeCluster run)")
	dir := flag.String("dir", "", "where to write the profiles (default: a new temp dir, kept)")
	top := flag.Int("top", 30, "functions to show from each profile (0: do not run go tool pprof)")
	target := flag.String("target", "kplane", "what the DescribeCluster loop hits: kplane (the real handler), floor (the same answer from a bare net/http handler), floor-verify (floor plus kplane's SigV4 check)")
	quiet := flag.Float64("quiet", 0.25, "before the DescribeCluster run, wait until other processes use fewer than this many cores")
	quietWait := flag.Duration("quiet-wait", 2*time.Minute, "longest wait for -quiet (0: do not wait)")
	fillN := flag.Int("fill", 0, "first create this many clusters (timed per thousand) and profile the server during the fill")
	fillWorkers := flag.Int("fill-workers", 16, "parallel CreateCluster clients for -fill")
	fillProfile := flag.Duration("fill-profile", 15*time.Second, "how long to profile the fill, from half-way")
	var env envList
	flag.Var(&env, "server-env", "KEY=VALUE added to the server child's environment, e.g. GOGC=400 (repeatable)")
	flag.Parse()
	if *serve {
		if err := child(*dataDir); err != nil {
			fmt.Fprintln(os.Stderr, "serverprof child:", err)
			os.Exit(1)
		}
		return
	}
	o := options{clients: *clients, warmup: *warmup, duration: *duration, dir: *dir, top: *top, env: env,
		fill: *fillN, fillWorkers: *fillWorkers, fillProfile: *fillProfile, target: *target, quiet: *quiet, quietWait: *quietWait}
	if err := parent(o); err != nil {
		fmt.Fprintln(os.Stderr, "serverprof:", err)
		os.Exit(1)
	}
}

// child runs kplane's server in this process until SIGTERM or stdin closes.
func child(dataDir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := server.Start(ctx, server.Config{DataDir: dataDir, Listen: "127.0.0.1:0", Log: log, ClusterQuota: 1 << 20})
	if err != nil {
		return err
	}
	defer s.Close()
	n, err := s.Store.Network(ctx)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(l, http.DefaultServeMux) // net/http/pprof and expvar
	floor, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(floor, floorHandler(s, false))
	floorVerify, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(floorVerify, floorHandler(s, true))
	h := hello{URL: s.URL, Debug: "http://" + l.Addr().String(), AKID: s.Root.AccessKeyID, Secret: s.Root.SecretAccessKey,
		Region: s.Region, Subnets: []string{n.Subnets[0].ID, n.Subnets[1].ID},
		Floor: "http://" + floor.Addr().String(), FloorVerify: "http://" + floorVerify.Addr().String()}
	if err := json.NewEncoder(os.Stdout).Encode(h); err != nil {
		return err
	}
	go func() { io.Copy(io.Discard, os.Stdin); stop() }() // the parent went away
	select {
	case <-ctx.Done():
	case err := <-s.Err():
		return err
	}
	return nil
}

// envList is a repeatable KEY=VALUE flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }
func (e *envList) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

type memStats struct {
	Mallocs, TotalAlloc, PauseTotalNs uint64
	NumGC                             uint32
}

func readMemStats(debugURL string) (memStats, error) {
	resp, err := http.Get(debugURL + "/debug/vars")
	if err != nil {
		return memStats{}, err
	}
	defer resp.Body.Close()
	var v struct{ Memstats memStats }
	err = json.NewDecoder(resp.Body).Decode(&v)
	return v.Memstats, err
}

type options struct {
	clients          int
	warmup, duration time.Duration
	dir              string
	top              int
	env              []string
	fill             int
	fillWorkers      int
	fillProfile      time.Duration
	target           string
	quiet            float64
	quietWait        time.Duration
}

func parent(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tmp, err := os.MkdirTemp("", "serverprof-data-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "serverprof-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}

	// Start the server child.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-serve", "-data-dir", tmp)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), o.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		stdin.Close()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()
	var h hello
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("server child did not start: %w", err)
	}
	if err := json.Unmarshal(line, &h); err != nil {
		return err
	}
	t := load.NewTarget("kplane", h.URL, h.Region, aws.Credentials{AccessKeyID: h.AKID, SecretAccessKey: h.Secret}, max(o.clients, o.fillWorkers))
	defer t.Close()
	const name = "profiled"
	if err := t.EnsureRole(ctx); err != nil {
		return err
	}
	if _, err := t.CreateCluster(ctx, name, h.Subnets); err != nil {
		return err
	}
	var profiles []string
	if o.fill > 0 {
		p, err := fill(ctx, o, t, h)
		if err != nil {
			return err
		}
		profiles = append(profiles, "CreateCluster fill (server)", p)
	}
	if o.duration > 0 {
		dt := t
		switch o.target {
		case "kplane":
		case "floor", "floor-verify":
			url := h.Floor
			if o.target == "floor-verify" {
				url = h.FloorVerify
			}
			dt = load.NewTarget(o.target, url, h.Region, t.Creds, o.clients)
			defer dt.Close()
		default:
			return fmt.Errorf("-target %q: want kplane, floor or floor-verify", o.target)
		}
		srv, lg, err := describe(ctx, o, dt, h, cmd.Process.Pid, name)
		if err != nil {
			return err
		}
		profiles = append(profiles, "DescribeCluster (server)", srv, "DescribeCluster (load generator)", lg)
	}
	if o.top > 0 {
		for i := 0; i < len(profiles); i += 2 {
			for _, mode := range []string{"-top", "-top -cum"} {
				fmt.Printf("\n===== %s CPU profile: go tool pprof %s -nodecount=%d %s =====\n", profiles[i], mode, o.top, profiles[i+1])
				args := append([]string{"tool", "pprof"}, strings.Fields(mode)...)
				args = append(args, fmt.Sprintf("-nodecount=%d", o.top), profiles[i+1])
				out, err := exec.Command("go", args...).CombinedOutput()
				if err != nil {
					fmt.Printf("(go tool pprof: %v)\n", err)
				}
				os.Stdout.Write(out)
			}
		}
	}
	return nil
}

// describe runs and profiles the DescribeCluster loop; it returns the server's
// and the load generator's profile files.
func describe(ctx context.Context, o options, t *load.Target, h hello, serverPID int, name string) (string, string, error) {
	serverProf := filepath.Join(o.dir, "server.cpu.pprof")
	loadgenProf := filepath.Join(o.dir, "loadgen.cpu.pprof")
	var before, after memStats
	type cpu struct {
		at                 time.Time
		server, self, busy float64
	}
	snap := func() cpu {
		busy, _ := load.MachineCPU()
		return cpu{time.Now(), load.CPUSeconds(serverPID), load.CPUSeconds(os.Getpid()), busy}
	}
	var cpu0, cpu1 cpu
	var profErr error
	profDone := make(chan struct{})
	var lgFile *os.File
	hooks := load.Hooks{
		MeasureStart: func() {
			before, _ = readMemStats(h.Debug)
			cpu0 = snap()
			go func() { // the server's CPU profile, over the measured window
				defer close(profDone)
				profErr = fetch(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", h.Debug, int(o.duration.Seconds())), serverProf)
			}()
			if f, err := os.Create(loadgenProf); err == nil && pprof.StartCPUProfile(f) == nil {
				lgFile = f
			}
		},
		MeasureEnd: func() {
			cpu1 = snap()
			after, _ = readMemStats(h.Debug)
			if lgFile != nil {
				pprof.StopCPUProfile()
				lgFile.Close()
			}
		},
	}
	if o.quietWait > 0 {
		other, waited, err := load.WaitQuiet(ctx, o.quiet, o.quietWait, func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }, serverPID)
		if err != nil {
			return "", "", err
		}
		fmt.Printf("(before the run: other processes used %.2f cores, after waiting %s)\n", other, waited.Round(time.Second))
	}
	fmt.Fprintf(os.Stderr, "DescribeCluster: %d clients, %s warm-up + %s measured/profiled\n", o.clients, o.warmup, o.duration)
	r := load.Closed(ctx, o.clients, o.warmup, o.duration, hooks, t.DescribeOp(name))
	<-profDone
	if profErr != nil {
		return "", "", fmt.Errorf("server CPU profile: %w", profErr)
	}
	n := float64(r.OK + r.Errors)
	fmt.Printf("DescribeCluster, %d clients, target %s (server in a separate process from the load generator)\n", o.clients, t.Name)
	fmt.Printf("  %.0f req/s  p50 %s  p90 %s  p99 %s  max %s  errors %d\n", r.Throughput(),
		r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max, r.Errors)
	fmt.Printf("  server: %.1f allocations and %.0f bytes allocated per request; %d GC cycles in %s (%.2f ms total stop-the-world)\n",
		float64(after.Mallocs-before.Mallocs)/n, float64(after.TotalAlloc-before.TotalAlloc)/n,
		after.NumGC-before.NumGC, r.Window.Round(time.Millisecond), float64(after.PauseTotalNs-before.PauseTotalNs)/1e6)
	w := cpu1.at.Sub(cpu0.at).Seconds()
	srv, lg := (cpu1.server-cpu0.server)/w, (cpu1.self-cpu0.self)/w
	fmt.Printf("  CPU cores in use: server %.2f, load generator %.2f, rest of machine %.2f; server CPU per request %.1f µs, load generator %.1f µs\n",
		srv, lg, max((cpu1.busy-cpu0.busy)/w-srv-lg, 0), srv*1e6/r.Throughput(), lg*1e6/r.Throughput())
	fmt.Printf("  profiles: %s (server), %s (load generator)\n", serverProf, loadgenProf)
	return serverProf, loadgenProf, nil
}

// fill creates o.fill clusters with o.fillWorkers parallel clients, reporting
// the rate per thousand, and profiles the server for o.fillProfile once half
// of them exist. It returns the profile's file.
func fill(ctx context.Context, o options, t *load.Target, h hello) (string, error) {
	prof := filepath.Join(o.dir, "server.fill.cpu.pprof")
	fmt.Fprintf(os.Stderr, "CreateCluster: filling %d clusters with %d workers\n", o.fill, o.fillWorkers)
	var next, done atomic.Int64
	var profOnce sync.Once
	profDone := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, o.fillWorkers)
	start, lap := time.Now(), time.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range o.fillWorkers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(o.fill) || ctx.Err() != nil {
					return
				}
				if _, err := t.CreateCluster(ctx, fmt.Sprintf("fill-%05d", i), h.Subnets); err != nil {
					errs <- err
					cancel()
					return
				}
				d := done.Add(1)
				if d == int64(o.fill/2) {
					profOnce.Do(func() {
						fmt.Fprintf(os.Stderr, "  profiling the server for %s from %d clusters on\n", o.fillProfile, d)
						go func() {
							profDone <- fetch(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", h.Debug, int(o.fillProfile.Seconds())), prof)
						}()
					})
				}
				if d%1000 == 0 {
					mu.Lock()
					fmt.Printf("  %5d clusters: last 1000 at %.0f creates/s\n", d, 1000/time.Since(lap).Seconds())
					lap = time.Now()
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	fmt.Printf("CreateCluster fill: %d clusters in %s (%.0f/s)\n", o.fill, time.Since(start).Round(time.Millisecond), float64(o.fill)/time.Since(start).Seconds())
	if o.fill/2 > 0 {
		if err := <-profDone; err != nil {
			return "", fmt.Errorf("fill CPU profile: %w", err)
		}
	}
	return prof, nil
}

func fetch(url, path string) error {
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
