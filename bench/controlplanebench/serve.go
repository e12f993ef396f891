package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/supervise"
)

const region = "us-west-2"

// server is the `kplane serve` process the benchmark runs, with what a
// client needs to talk to it.
type server struct {
	bin, dir, dataDir, logPath, url string
	cmd                             *exec.Cmd
	done                            chan struct{}
	waitErr                         error

	akid, secret string
	subnets      []string
	eks          *eks.Client
	http         *http.Client
}

// startServe starts `kplane serve` on a fresh data dir and a free loopback
// port, waits for /_kplane/readyz and reads its credentials and subnets.
func startServe(ctx context.Context, bin, dir string, quota int, extra []string) (*server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	s := &server{bin: bin, dir: dir, dataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "serve.log"),
		url: "http://" + addr, done: make(chan struct{})}
	lf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close() // the child has its own descriptor
	s.cmd = exec.Command(bin, append([]string{"serve", "--data-dir", s.dataDir, "--listen", addr,
		"--log-level", "info", "--cluster-quota", strconv.Itoa(quota)}, extra...)...)
	s.cmd.Stdout, s.cmd.Stderr = lf, lf
	// Its own process group (a terminal ^C reaches only us; we stop it in
	// order), and SIGKILL if we die: its children follow it (their Pdeathsig).
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := spawn(s.cmd); err != nil {
		return nil, fmt.Errorf("start kplane serve: %w", err)
	}
	go func() { s.waitErr = s.cmd.Wait(); close(s.done) }()
	logf("kplane serve pid %d on %s, data dir %s", s.cmd.Process.Pid, s.url, s.dataDir)

	fail := func(err error) (*server, error) {
		s.shutdown()
		return nil, err
	}
	s.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
	}}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := s.http.Get(s.url + "/_kplane/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-s.done:
			return fail(fmt.Errorf("kplane serve exited (%v) before it was ready:\n%s", s.waitErr, tail(s.logPath, 2000)))
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("kplane serve not ready after 90s:\n%s", tail(s.logPath, 2000)))
		}
	}
	if s.akid, s.secret, err = auth.ReadCredentialsFile(filepath.Join(s.dataDir, "credentials")); err != nil {
		return fail(err)
	}
	out, err := exec.CommandContext(ctx, bin, "network", "--data-dir", s.dataDir, "--subnet-ids").CombinedOutput()
	if err != nil {
		return fail(fmt.Errorf("kplane network --subnet-ids: %w: %s", err, out))
	}
	for _, id := range strings.Split(strings.TrimSpace(string(out)), ",") {
		if id = strings.TrimSpace(id); id != "" {
			s.subnets = append(s.subnets, id)
		}
	}
	if len(s.subnets) < 2 {
		return fail(fmt.Errorf("kplane network --subnet-ids: %q: need two subnets", out))
	}
	s.eks = eks.New(eks.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.url),
		Credentials:  credentials.NewStaticCredentialsProvider(s.akid, s.secret, ""),
		HTTPClient:   s.http,
	})
	return s, nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) creds() aws.Credentials {
	return aws.Credentials{AccessKeyID: s.akid, SecretAccessKey: s.secret, Source: "controlplanebench"}
}

// clusterDir is where kplane keeps cluster id's files.
func (s *server) clusterDir(id string) string { return filepath.Join(s.dataDir, "clusters", id) }

// cleanupResult is how the end went: every process gone?
type cleanupResult struct {
	took     time.Duration
	how      string // "SIGTERM" or "SIGKILL after ..."
	leftover []string
	pgrep    string // what `pgrep -f DATA_DIR` said at the end
	err      error
}

// shutdown stops kplane serve (SIGTERM: it stops its control planes; SIGKILL
// after 45 s) and checks that no control-plane process of its data dir is
// left; any that is gets SIGKILL by pid and is reported.
func (s *server) shutdown() cleanupResult {
	var res cleanupResult
	start := time.Now()
	before := len(controlPlanePIDs(s.dataDir))
	logf("stopping kplane serve (pid %d) with %d control-plane processes", s.pid(), before)
	res.how = "SIGTERM"
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(45 * time.Second):
		res.how = "SIGTERM, SIGKILL after 45s"
		s.cmd.Process.Kill()
		<-s.done
	}
	// Children die with kplane (Pdeathsig); give them a moment to go.
	deadline := time.Now().Add(30 * time.Second)
	for len(controlPlanePIDs(s.dataDir)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for _, pid := range controlPlanePIDs(s.dataDir) {
		res.leftover = append(res.leftover, fmt.Sprintf("%d %s", pid, cmdline(pid)))
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(res.leftover) > 0 {
		res.err = fmt.Errorf("control-plane processes outlived kplane serve (killed now): %v", res.leftover)
	}
	out, err := exec.Command("pgrep", "-a", "-f", s.dataDir).CombinedOutput()
	if err != nil && len(out) == 0 {
		res.pgrep = "none" // pgrep exits 1 when nothing matches
	} else {
		res.pgrep = strings.TrimSpace(string(out))
	}
	res.took = time.Since(start)
	logf("kplane serve stopped (%s, %v) in %s; processes left: %d; pgrep -f %s: %s",
		res.how, s.waitErr, res.took.Round(time.Millisecond), len(res.leftover), s.dataDir, res.pgrep)
	return res
}

// serveEvents are the timestamps kplane serve logs for a cluster.
type serveEvents struct {
	requests map[string]time.Time // requestId -> when the request was answered
	started  map[string]time.Time // cluster id -> first "control plane ID: started pid"
	active   map[string]time.Time // cluster name -> "cluster status ... to ACTIVE"
}

// A replica logs "control plane ID/ZONE: started pid N" (supervise.Supervisor);
// the first replica to start counts.
var startedRE = regexp.MustCompile(`^control plane ([^/\s]+)(?:/\S+)?: started pid \d+$`)

// events parses kplane serve's JSON log.
func (s *server) events() serveEvents {
	ev := serveEvents{requests: map[string]time.Time{}, started: map[string]time.Time{}, active: map[string]time.Time{}}
	f, err := os.Open(s.logPath)
	if err != nil {
		return ev
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		ts, _ := m["time"].(string)
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			continue
		}
		msg, _ := m["msg"].(string)
		switch {
		case msg == "request":
			if id, _ := m["requestId"].(string); id != "" {
				ev.requests[id] = t
			}
		case msg == "cluster status" && m["to"] == "ACTIVE":
			if name, _ := m["cluster"].(string); name != "" {
				if _, ok := ev.active[name]; !ok {
					ev.active[name] = t
				}
			}
		default:
			if sm := startedRE.FindStringSubmatch(msg); sm != nil {
				if _, ok := ev.started[sm[1]]; !ok {
					ev.started[sm[1]] = t
				}
			}
		}
	}
	return ev
}

// annotate fills in each sample's server-side timestamps from the log.
func (s *server) annotate(samples []*createSample) {
	ev := s.events()
	for _, c := range samples {
		c.reqLog = ev.requests[c.requestID]
		c.pidLog = ev.started[c.id]
		c.activeLog = ev.active[c.name]
	}
}

// controlPlanePIDs are the `kplane controlplane-run --dir DATA_DIR/clusters/...`
// processes of this data dir.
func controlPlanePIDs(dataDir string) []int {
	prefix := filepath.Join(dataDir, "clusters") + string(filepath.Separator)
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		args := supervise.CommandLine(pid)
		isCP := false
		for i, a := range args {
			if a == "controlplane-run" {
				isCP = true
			}
			if isCP && ((a == "--dir" && i+1 < len(args) && strings.HasPrefix(args[i+1], prefix)) ||
				strings.HasPrefix(a, "--dir="+prefix)) {
				if supervise.Alive(pid) {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

func cmdline(pid int) string { return strings.Join(supervise.CommandLine(pid), " ") }

// Children are forked from one goroutine locked to its OS thread for the life
// of the process: Pdeathsig fires when the forking *thread* exits
// (go.dev/issue/27505), and this one never does.
var (
	spawnOnce sync.Once
	spawnCh   chan spawnReq
)

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnReq)
		go func() {
			runtime.LockOSThread()
			for r := range spawnCh {
				r.err <- r.cmd.Start()
			}
		}()
	})
	r := spawnReq{cmd: cmd, err: make(chan error, 1)}
	spawnCh <- r
	return <-r.err
}

var errTimeout = errors.New("timed out")
