package supervise

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/kplane/kplane/internal/fileutil"
)

// Supervisor runs one child process per key and keeps it running. Children
// get Pdeathsig=SIGKILL, so they never outlive kplane.
type Supervisor struct {
	opts  Options
	mu    sync.Mutex
	procs map[string]*supervised
}

var _ Executor[Process] = (*Supervisor)(nil)

// New returns a Supervisor.
func New(opts Options) (*Supervisor, error) {
	if opts.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		opts.Executable = exe
	}
	opts.defaults()
	return &Supervisor{opts: opts, procs: map[string]*supervised{}}, nil
}

// Executable is the program a Process without one of its own runs.
func (s *Supervisor) Executable() string { return s.opts.Executable }

// supervised is one key's process and the goroutine that keeps it running.
type supervised struct {
	stop     chan struct{}
	stopOnce sync.Once
	restart  chan struct{}
	done     chan struct{}
	started  chan error // first start attempt

	mu    sync.Mutex
	proc  Process
	state State
}

func (s *supervised) update(f func(*State)) {
	s.mu.Lock()
	f(&s.state)
	s.mu.Unlock()
}

func (s *supervised) process() Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

func (s *supervised) finished() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Ensure starts supervising p, or, when p.Key is supervised already,
// restarts its process gracefully if p.Spec changed. It returns the error
// of the first start attempt (the supervisor keeps retrying).
func (v *Supervisor) Ensure(ctx context.Context, p Process) error {
	v.mu.Lock()
	s := v.procs[p.Key]
	if s != nil && s.finished() {
		s = nil // stopped; start a new one
	}
	if s != nil {
		v.mu.Unlock()
		s.mu.Lock()
		if s.proc.Dir != p.Dir {
			dir := s.proc.Dir
			s.mu.Unlock()
			return fmt.Errorf("%s %s: already running from %s", p.Kind, p.Key, dir)
		}
		changed := !bytes.Equal(s.proc.Spec, p.Spec)
		s.proc = p
		s.mu.Unlock()
		if changed {
			select {
			case s.restart <- struct{}{}:
			default:
			}
		}
		return nil
	}
	s = &supervised{
		proc:    p,
		stop:    make(chan struct{}),
		restart: make(chan struct{}, 1),
		done:    make(chan struct{}),
		started: make(chan error, 1),
		state:   State{Key: p.Key, Phase: PhaseStarting},
	}
	v.procs[p.Key] = s
	v.mu.Unlock()
	go v.run(s)
	select {
	case err := <-s.started:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Running reports the process supervised under key, if one is (it may be
// in backoff between two starts).
func (v *Supervisor) Running(key string) (Process, bool) {
	v.mu.Lock()
	s := v.procs[key]
	v.mu.Unlock()
	if s == nil || s.finished() {
		return Process{}, false
	}
	return s.process(), true
}

// Stop stops key's child (SIGTERM, SIGKILL after StopGracePeriod) and waits
// until it is gone. Unknown keys are a no-op (KillStale stops a leftover
// process of a previous kplane run).
func (v *Supervisor) Stop(ctx context.Context, key string) error {
	v.mu.Lock()
	s := v.procs[key]
	v.mu.Unlock()
	if s == nil {
		return nil
	}
	s.stopOnce.Do(func() { close(s.stop) })
	select {
	case <-s.done:
	case <-ctx.Done():
		return fmt.Errorf("%s %s: stop: %w", s.process().Kind, key, ctx.Err())
	}
	v.mu.Lock()
	if v.procs[key] == s {
		delete(v.procs, key)
	}
	v.mu.Unlock()
	return nil
}

// StopAll stops every supervised process, all at once.
func (v *Supervisor) StopAll(ctx context.Context) error {
	v.mu.Lock()
	keys := make([]string, 0, len(v.procs))
	for key := range v.procs {
		keys = append(keys, key)
	}
	v.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(keys))
	for i, key := range keys {
		wg.Go(func() { errs[i] = v.Stop(ctx, key) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// State reports the supervisor's view of key's process.
func (v *Supervisor) State(key string) State {
	v.mu.Lock()
	s := v.procs[key]
	v.mu.Unlock()
	if s == nil {
		return State{Key: key, Phase: PhaseStopped}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// run starts s's process, watches it and restarts it until it is stopped.
func (v *Supervisor) run(s *supervised) {
	defer close(s.done)
	opts := v.opts
	backoff := opts.InitialBackoff
	first := true
	for {
		p := s.process()
		select { // the child reads the latest spec anyway
		case <-s.restart:
		default:
		}
		if killed, err := KillStale(p.Dir, p.Args); err != nil {
			opts.Logf("%s %s: killing stale process: %v", p.Kind, p.Key, err)
		} else if killed {
			opts.Logf("%s %s: killed stale process from a previous run", p.Kind, p.Key)
		}
		var c *child
		err := error(nil)
		if p.Prepare != nil {
			err = p.Prepare()
		}
		if err == nil {
			c, err = v.start(s, p)
		}
		if err != nil {
			opts.Logf("%s %s: start: %v", p.Kind, p.Key, err)
			s.update(func(st *State) {
				st.Phase, st.PID, st.Ready = PhaseBackOff, 0, false
				st.LastExitAt, st.LastExitReason = time.Now(), "start: "+err.Error()
			})
		}
		// Ensure returns once the first start is decided, and its caller
		// then reads State: so the state is written first.
		if first {
			s.started <- err
			first = false
		}
		if err == nil {
			switch v.watch(s, p, c) {
			case exitStopped:
				s.update(func(st *State) { st.Phase = PhaseStopped })
				return
			case exitRestart:
				backoff = opts.InitialBackoff
				s.update(func(st *State) { st.Restarts++ })
				continue
			}
			if time.Since(c.startedAt) >= opts.ResetBackoffAfter {
				backoff = opts.InitialBackoff
			}
		}
		select {
		case <-s.stop:
			s.update(func(st *State) { st.Phase = PhaseStopped })
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, opts.MaxBackoff)
		s.update(func(st *State) { st.Restarts++ })
	}
}

type child struct {
	cmd       *exec.Cmd
	waitErr   chan error
	logFile   string
	logOffset int64
	startedAt time.Time
}

func (v *Supervisor) start(s *supervised, p Process) (*child, error) {
	logPath := LogPath(p.Dir)
	logf, off, err := openLog(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	fmt.Fprintf(logf, "--- %s kplane: starting %s %s\n", time.Now().Format(time.RFC3339), p.Kind, p.Key)

	exe := p.Executable
	if exe == "" {
		exe = v.opts.Executable
	}
	cmd := exec.Command(exe, p.Args...)
	cmd.Dir = p.Dir
	cmd.Env = append(append(os.Environ(), v.opts.Env...), ParentPIDEnv+"="+strconv.Itoa(os.Getpid()))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig: syscall.SIGKILL, // never outlive kplane
		Setpgid:   true,            // terminal ^C goes to kplane, which stops children in order
	}
	if u := p.User; u != nil {
		// The child takes its ambient capabilities only at exec, so before
		// that, as the new user, it may be unable to reach exe or p.Dir
		// (e.g. under a 0700 temp directory). It runs exe from a descriptor
		// opened here and enters p.Dir itself (childcmd).
		f, err := os.Open(exe)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		cmd.Path, cmd.Dir, cmd.ExtraFiles = "/proc/self/fd/3", "", []*os.File{f}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID}
		cmd.SysProcAttr.AmbientCaps = u.AmbientCaps
	}
	if err := spawn(cmd); err != nil {
		return nil, err
	}
	now := time.Now()
	_ = fileutil.WriteFile(PIDPath(p.Dir), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600)
	c := &child{cmd: cmd, waitErr: make(chan error, 1), logFile: logPath, logOffset: off, startedAt: now}
	go func() { c.waitErr <- cmd.Wait() }()
	s.update(func(st *State) {
		st.Phase, st.PID, st.Ready, st.StartedAt = PhaseStarting, cmd.Process.Pid, false, now
	})
	v.opts.Logf("%s %s: started pid %d", p.Kind, p.Key, cmd.Process.Pid) // bench/controlplanebench reads this line
	return c, nil
}

type exitKind int

const (
	exitDied exitKind = iota
	exitStopped
	exitRestart
)

// watch probes readiness until the child exits or a stop/restart is requested.
func (v *Supervisor) watch(s *supervised, p Process, c *child) exitKind {
	probeCtx, cancelProbe := context.WithCancel(context.Background())
	probeDone := make(chan struct{})
	go func() { defer close(probeDone); v.probe(probeCtx, s, p) }()
	defer func() { cancelProbe(); <-probeDone }()

	var kind exitKind
	var err error
	select {
	case err = <-c.waitErr:
		kind = exitDied
	case <-s.stop:
		kind = exitStopped
		s.update(func(st *State) { st.Phase = PhaseStopping })
		v.opts.Logf("%s %s: stopping pid %d", p.Kind, p.Key, c.cmd.Process.Pid)
		err = v.terminate(c)
	case <-s.restart:
		kind = exitRestart
		v.opts.Logf("%s %s: stopping pid %d to apply a new spec", p.Kind, p.Key, c.cmd.Process.Pid)
		err = v.terminate(c)
	}
	_ = os.Remove(PIDPath(p.Dir))
	reason := "exited"
	if err != nil {
		reason = err.Error()
	}
	switch kind {
	case exitDied:
		if tail := LogTail(c.logFile, c.logOffset, 5); tail != "" {
			reason += ": " + tail
		}
		v.opts.Logf("%s %s: pid %d died: %s", p.Kind, p.Key, c.cmd.Process.Pid, reason)
	case exitRestart:
		reason = "restarted to apply a new spec (" + reason + ")"
	default:
		reason = "stopped (" + reason + ")"
	}
	if kind != exitDied {
		v.opts.Logf("%s %s: pid %d exited", p.Kind, p.Key, c.cmd.Process.Pid) // bench/upgradebench reads this line
	}
	s.update(func(st *State) {
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
func (v *Supervisor) terminate(c *child) error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.waitErr:
		return err
	case <-time.After(v.opts.StopGracePeriod):
	}
	_ = c.cmd.Process.Kill()
	return <-c.waitErr
}

// probe runs p.Ready (fast until the first success, then ProbeInterval).
func (v *Supervisor) probe(ctx context.Context, s *supervised, p Process) {
	ready := p.Ready
	if ready == nil {
		ready = func(context.Context) bool { return true }
	}
	interval := 100 * time.Millisecond // until ready: a create waits on this
	for {
		ok := ready(ctx)
		if ctx.Err() != nil {
			return
		}
		became, pid := false, 0
		s.update(func(st *State) {
			became, pid = ok && !st.Ready, st.PID
			st.Ready = ok
			if ok {
				st.LastReadyAt = time.Now()
				st.Phase = PhaseRunning
			} else if st.Phase == PhaseRunning {
				st.Phase = PhaseStarting
			}
		})
		if became {
			v.opts.Logf("%s %s: pid %d ready", p.Kind, p.Key, pid) // bench/upgradebench reads this line
		}
		if ok {
			interval = v.opts.ProbeInterval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
