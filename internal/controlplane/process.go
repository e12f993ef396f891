package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	pkiutil "github.com/kplane/kplane/internal/pki"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Executor runs cluster control planes. LocalExecutor runs each as a child
// process of kplane; another implementation (e.g. Deployments in a management
// Kubernetes cluster) can replace it.
type Executor interface {
	// Ensure starts (or keeps running) the control plane for cfg; idempotent.
	// It prepares the cluster dir (PKI, kubeconfigs, spec) and returns once
	// the control plane was started; use WaitReady/WaitBootstrapped to wait.
	Ensure(ctx context.Context, cfg ClusterConfig) error
	// Stop stops it and waits until its process is gone.
	Stop(ctx context.Context, clusterID string) error
	// State reports what the executor sees of that cluster's control plane.
	State(clusterID string) ComponentState
}

// Phase of a supervised control plane.
type Phase string

const (
	PhaseStopped  Phase = "Stopped"  // not supervised
	PhaseStarting Phase = "Starting" // process running, /readyz not yet 200
	PhaseRunning  Phase = "Running"  // process running, /readyz was 200 at the last probe
	PhaseBackOff  Phase = "BackOff"  // process died, waiting to restart
	PhaseStopping Phase = "Stopping"
)

// ComponentState is what an Executor sees of one cluster's control plane.
type ComponentState struct {
	ClusterID string
	Phase     Phase
	// PID of the running child (0 if none).
	PID int
	// Ready: the last /readyz probe returned 200.
	Ready bool
	// Restarts counts process restarts after the first start.
	Restarts       int
	StartedAt      time.Time // of the current/last process
	LastReadyAt    time.Time // last successful /readyz probe
	LastExitAt     time.Time
	LastExitReason string // e.g. "exit status 1: <last log lines>"
}

// Running reports whether a control-plane process is up.
func (s ComponentState) Running() bool { return s.PID != 0 }

// LocalExecutorOptions configure a LocalExecutor; zero values mean defaults.
type LocalExecutorOptions struct {
	// Executable is the kplane binary run as `EXE controlplane-run --dir DIR`
	// (default os.Executable(); tests point it at a built binary).
	Executable string
	// Env is appended to os.Environ() for the child.
	Env []string
	// StopGracePeriod between SIGTERM and SIGKILL (default 15s).
	StopGracePeriod time.Duration
	// InitialBackoff / MaxBackoff of restarts (default 500ms / 10s). The
	// backoff resets once a process ran for ResetBackoffAfter (default 60s).
	InitialBackoff, MaxBackoff, ResetBackoffAfter time.Duration
	// ProbeInterval of /readyz once ready (default 10s; 100ms until ready).
	ProbeInterval time.Duration
	// Logf receives supervisor events (default: discarded).
	Logf func(format string, args ...any)
}

// LocalExecutor runs one child process per cluster and supervises it.
// Children get Pdeathsig=SIGKILL, so they never outlive kplane.
type LocalExecutor struct {
	opts LocalExecutorOptions
	mu   sync.Mutex
	sups map[string]*supervisor
}

var _ Executor = (*LocalExecutor)(nil)

// NewLocalExecutor returns a LocalExecutor.
func NewLocalExecutor(opts LocalExecutorOptions) (*LocalExecutor, error) {
	if opts.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		opts.Executable = exe
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.StopGracePeriod, 15*time.Second)
	def(&opts.InitialBackoff, 500*time.Millisecond)
	def(&opts.MaxBackoff, 10*time.Second)
	def(&opts.ResetBackoffAfter, 60*time.Second)
	def(&opts.ProbeInterval, 10*time.Second)
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	return &LocalExecutor{opts: opts, sups: map[string]*supervisor{}}, nil
}

// Ensure prepares cfg.Dir (Prepare) and starts supervising the cluster's
// child process. If it is already supervised and the spec changed (e.g. new
// log types), the child is restarted gracefully to apply it. Returns the
// error of the first start attempt, if any (the supervisor keeps retrying).
func (e *LocalExecutor) Ensure(ctx context.Context, cfg ClusterConfig) error {
	if e.runningPrepared(cfg) {
		return nil
	}
	spec, _, err := Prepare(cfg)
	if err != nil {
		return err
	}
	specJSON, _ := json.Marshal(spec)
	cfg = cfg.withDefaults()
	now := time.Now()

	e.mu.Lock()
	s := e.sups[cfg.ProcessKey()]
	if s != nil {
		select {
		case <-s.done: // finished (stopped); start a new one
			s = nil
		default:
		}
	}
	if s != nil {
		if s.cfg.ProcessDir() != cfg.ProcessDir() {
			e.mu.Unlock()
			return fmt.Errorf("control plane %s: already running from %s", cfg.ProcessKey(), s.cfg.ProcessDir())
		}
		s.mu.Lock()
		changed := !bytes.Equal(s.specJSON, specJSON)
		s.specJSON = specJSON
		s.cfg = cfg
		s.prepared = now
		s.mu.Unlock()
		e.mu.Unlock()
		if changed {
			select {
			case s.restart <- struct{}{}:
			default:
			}
		}
		return nil
	}
	s = &supervisor{
		e:        e,
		cfg:      cfg,
		specJSON: specJSON,
		prepared: now,
		stop:     make(chan struct{}),
		restart:  make(chan struct{}, 1),
		done:     make(chan struct{}),
		started:  make(chan error, 1),
		state:    ComponentState{ClusterID: cfg.ProcessKey(), Phase: PhaseStarting},
	}
	e.sups[cfg.ProcessKey()] = s
	e.mu.Unlock()
	go s.run()
	select {
	case err := <-s.started:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RecheckFilesEvery is how often Ensure runs Prepare again for a process
// already running its spec (it re-reads and verifies every certificate,
// renewing those near expiry). The reconciler calls Ensure every 100 ms
// while a cluster comes up and on every resync; checking the files each time
// took CPU from the starting apiserver for nothing.
var RecheckFilesEvery = time.Hour

// runningPrepared reports whether cfg's process is supervised with the very
// spec cfg gives and its files were prepared less than RecheckFilesEvery ago.
func (e *LocalExecutor) runningPrepared(cfg ClusterConfig) bool {
	if cfg.Validate() != nil {
		return false
	}
	cfg = cfg.withDefaults()
	e.mu.Lock()
	s := e.sups[cfg.ProcessKey()]
	e.mu.Unlock()
	if s == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
	}
	specJSON, _ := json.Marshal(BuildProcessSpec(cfg))
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.ProcessDir() == cfg.ProcessDir() && bytes.Equal(s.specJSON, specJSON) &&
		time.Since(s.prepared) < RecheckFilesEvery
}

// Stop stops the cluster's child (SIGTERM, SIGKILL after StopGracePeriod) and
// waits until it is gone. Unknown clusters are a no-op (use KillStale(dir) for
// a leftover process of a previous kplane run).
func (e *LocalExecutor) Stop(ctx context.Context, clusterID string) error {
	e.mu.Lock()
	s := e.sups[clusterID]
	e.mu.Unlock()
	if s == nil {
		return nil
	}
	s.stopOnce.Do(func() { close(s.stop) })
	select {
	case <-s.done:
	case <-ctx.Done():
		return fmt.Errorf("cluster %s: stop: %w", clusterID, ctx.Err())
	}
	e.mu.Lock()
	if e.sups[clusterID] == s {
		delete(e.sups, clusterID)
	}
	e.mu.Unlock()
	return nil
}

// StopAll stops every supervised cluster (kplane shutdown).
func (e *LocalExecutor) StopAll(ctx context.Context) error {
	e.mu.Lock()
	ids := make([]string, 0, len(e.sups))
	for id := range e.sups {
		ids = append(ids, id)
	}
	e.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Go(func() { errs[i] = e.Stop(ctx, id) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// State reports the supervisor's view of the cluster.
func (e *LocalExecutor) State(clusterID string) ComponentState {
	e.mu.Lock()
	s := e.sups[clusterID]
	e.mu.Unlock()
	if s == nil {
		return ComponentState{ClusterID: clusterID, Phase: PhaseStopped}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// KillStale kills a control-plane process left over from a previous kplane
// run for dir: the pid in DIR/pid, if /proc/PID/cmdline is
// `... controlplane-run --dir DIR`. It waits until the process is gone.
func KillStale(dir string) (killed bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return false, nil
	}
	if !isControlPlaneProcess(pid, dir) {
		return false, nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return false, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			return true, fmt.Errorf("stale process %d still alive", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true, nil
}

// isControlPlaneProcess reports whether pid's command line has
// `controlplane-run ... --dir dir`.
func isControlPlaneProcess(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	sub := slices.Index(args, controlPlaneRunCommand)
	if sub < 0 {
		return false
	}
	for i := sub + 1; i < len(args); i++ {
		if args[i] == "--dir="+dir || (args[i] == "--dir" && i+1 < len(args) && args[i+1] == dir) {
			return true
		}
	}
	return false
}

// processAlive: the process exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// state is the field after "(comm)".
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}

// controlPlaneRunCommand is kplane's hidden child subcommand.
const controlPlaneRunCommand = "controlplane-run"

// ParentPIDEnv is set in the child to kplane's pid; the child exits when its
// parent changes (belt and braces next to Pdeathsig).
const ParentPIDEnv = "KPLANE_PARENT_PID"

type supervisor struct {
	e        *LocalExecutor
	stop     chan struct{}
	stopOnce sync.Once
	restart  chan struct{}
	done     chan struct{}
	started  chan error // first start attempt

	mu       sync.Mutex
	cfg      ClusterConfig
	specJSON []byte
	prepared time.Time // last Prepare of cfg's files
	state    ComponentState
}

func (s *supervisor) update(f func(*ComponentState)) {
	s.mu.Lock()
	f(&s.state)
	s.mu.Unlock()
}

func (s *supervisor) run() {
	defer close(s.done)
	opts := s.e.opts
	backoff := opts.InitialBackoff
	first := true
	for {
		s.mu.Lock()
		cfg := s.cfg
		s.mu.Unlock()
		select { // the child reads the latest spec.json anyway
		case <-s.restart:
		default:
		}
		if killed, err := KillStale(cfg.ProcessDir()); err != nil {
			opts.Logf("control plane %s: killing stale process: %v", cfg.ProcessKey(), err)
		} else if killed {
			opts.Logf("control plane %s: killed stale process from a previous run", cfg.ProcessKey())
		}
		p, err := s.startChild(cfg)
		if first {
			s.started <- err
			first = false
		}
		if err != nil {
			opts.Logf("control plane %s: start: %v", cfg.ProcessKey(), err)
			s.update(func(st *ComponentState) {
				st.Phase, st.PID, st.Ready = PhaseBackOff, 0, false
				st.LastExitAt, st.LastExitReason = time.Now(), "start: "+err.Error()
			})
		} else {
			reason := s.watch(cfg, p)
			switch reason {
			case exitStopped:
				s.update(func(st *ComponentState) { st.Phase = PhaseStopped })
				return
			case exitRestart:
				backoff = opts.InitialBackoff
				s.update(func(st *ComponentState) { st.Restarts++ })
				continue
			}
			if time.Since(p.startedAt) >= opts.ResetBackoffAfter {
				backoff = opts.InitialBackoff
			}
		}
		select {
		case <-s.stop:
			s.update(func(st *ComponentState) { st.Phase = PhaseStopped })
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, opts.MaxBackoff)
		s.update(func(st *ComponentState) { st.Restarts++ })
	}
}

type child struct {
	cmd       *exec.Cmd
	waitErr   chan error
	logFile   string
	logOffset int64
	startedAt time.Time
}

// processLogMax: the child's stdout/stderr file (DIR/logs/process.log) is
// truncated at start when larger than this.
const processLogMax = 8 << 20

// ProcessLogPath is DIR/logs/process.log: the child's own stdout/stderr
// (startup errors, panics), independent of the EKS log types.
func ProcessLogPath(dir string) string { return filepath.Join(dir, "logs", "process.log") }

func (s *supervisor) startChild(cfg ClusterConfig) (*child, error) {
	dir := cfg.ProcessDir()
	logPath := ProcessLogPath(dir)
	if fi, err := os.Stat(logPath); err == nil && fi.Size() > processLogMax {
		_ = os.Truncate(logPath, 0)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	off, _ := logf.Seek(0, io.SeekEnd)
	fmt.Fprintf(logf, "--- %s kplane: starting control plane %s\n", time.Now().Format(time.RFC3339), cfg.ProcessKey())

	cmd := exec.Command(s.e.opts.Executable, controlPlaneRunCommand, "--dir", dir)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), s.e.opts.Env...), ParentPIDEnv+"="+strconv.Itoa(os.Getpid()))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig: syscall.SIGKILL, // never outlive kplane
		Setpgid:   true,            // terminal ^C goes to kplane, which stops children in order
	}
	if err := spawn(cmd); err != nil {
		return nil, err
	}
	now := time.Now()
	_ = pkiutil.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600)
	c := &child{cmd: cmd, waitErr: make(chan error, 1), logFile: logPath, logOffset: off, startedAt: now}
	go func() { c.waitErr <- cmd.Wait() }()
	s.update(func(st *ComponentState) {
		st.Phase, st.PID, st.Ready, st.StartedAt = PhaseStarting, cmd.Process.Pid, false, now
	})
	s.e.opts.Logf("cluster %s: started control plane pid %d", cfg.ProcessKey(), cmd.Process.Pid) // bench/controlplanebench reads this line
	return c, nil
}

type exitKind int

const (
	exitDied exitKind = iota
	exitStopped
	exitRestart
)

// watch probes readiness until the child exits or a stop/restart is requested.
func (s *supervisor) watch(cfg ClusterConfig, c *child) exitKind {
	probeCtx, cancelProbe := context.WithCancel(context.Background())
	probeDone := make(chan struct{})
	go func() { defer close(probeDone); s.probe(probeCtx, cfg) }()
	defer func() { cancelProbe(); <-probeDone }()

	var kind exitKind
	var err error
	select {
	case err = <-c.waitErr:
		kind = exitDied
	case <-s.stop:
		kind = exitStopped
		s.update(func(st *ComponentState) { st.Phase = PhaseStopping })
		err = s.terminate(c)
	case <-s.restart:
		kind = exitRestart
		err = s.terminate(c)
	}
	_ = os.Remove(filepath.Join(cfg.ProcessDir(), "pid"))
	reason := "exited"
	if err != nil {
		reason = err.Error()
	}
	if kind == exitDied {
		if tail := logTail(c.logFile, c.logOffset, 5); tail != "" {
			reason += ": " + tail
		}
		s.e.opts.Logf("control plane %s: pid %d died: %s", cfg.ProcessKey(), c.cmd.Process.Pid, reason)
	} else if kind == exitRestart {
		reason = "restarted to apply a new spec (" + reason + ")"
	} else {
		reason = "stopped (" + reason + ")"
	}
	s.update(func(st *ComponentState) {
		st.PID, st.Ready = 0, false
		st.LastExitAt, st.LastExitReason = time.Now(), reason
		if kind == exitDied {
			st.Phase = PhaseBackOff
		}
	})
	return kind
}

// terminate sends SIGTERM, then SIGKILL after the grace period, and returns
// the process's exit error.
func (s *supervisor) terminate(c *child) error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.waitErr:
		return err
	case <-time.After(s.e.opts.StopGracePeriod):
	}
	_ = c.cmd.Process.Kill()
	return <-c.waitErr
}

// probe polls /readyz (fast until the first success, then ProbeInterval).
func (s *supervisor) probe(ctx context.Context, cfg ClusterConfig) {
	client, err := AdminHTTPClient(cfg)
	if err != nil {
		return
	}
	defer client.CloseIdleConnections()
	url := cfg.LocalEndpoint() + "/readyz"
	interval := 100 * time.Millisecond // until ready: a create waits on this
	for {
		code, _, err := getStatus(ctx, client, url)
		if ctx.Err() != nil {
			return
		}
		ready := err == nil && code == http.StatusOK
		s.update(func(st *ComponentState) {
			st.Ready = ready
			if ready {
				st.LastReadyAt = time.Now()
				st.Phase = PhaseRunning
			} else if st.Phase == PhaseRunning {
				st.Phase = PhaseStarting
			}
		})
		if ready {
			interval = s.e.opts.ProbeInterval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// logTail returns the last n non-empty lines written to file after offset.
func logTail(file string, offset int64, n int) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	const maxTail = 4096
	start := max(offset, fi.Size()-maxTail)
	b := make([]byte, fi.Size()-start)
	if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "--- ") {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// Children are started from one goroutine locked to its OS thread for the
// life of the process: Pdeathsig fires when the *thread* that forked the child
// exits (go.dev/issue/27505), and a locked thread that never exits makes it
// fire only when kplane itself dies.
var (
	spawnOnce sync.Once
	spawnCh   chan spawnReq
)

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

// ChildNice is the nice value control-plane processes run at. kplane's API
// and the datastore every cluster depends on stay at kplane's own priority,
// so that busy or many control planes cannot starve them; among themselves
// the control planes share the CPU evenly. Nice is per thread on Linux and
// a child inherits its forking thread's, so it is set once on the thread
// that forks (it does nothing else) and every thread of every child has it.
const ChildNice = 10

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as kplane
			// Raising one's own nice needs no privilege; if it fails, children
			// simply run at kplane's priority.
			_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), ChildNice)
			for r := range spawnCh {
				r.err <- r.cmd.Start()
			}
		}()
	})
	r := spawnReq{cmd: cmd, err: make(chan error, 1)}
	spawnCh <- r
	return <-r.err
}
