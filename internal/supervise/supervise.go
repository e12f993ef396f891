// Package supervise runs child processes of this binary and keeps them
// running: each is `EXE ARGS...` in its own directory, with its pid in
// DIR/pid, its output in DIR/logs/process.log, restarted with backoff when
// it dies and restarted gracefully when its spec changes. It knows nothing of
// what the child runs: a cluster's control plane (internal/controlplane) and
// a worker node are both an Executor built on a Supervisor.
package supervise

import (
	"context"
	"time"
)

// Executor runs processes of one kind, each described by a spec of type S
// and named by a key. Every call is idempotent: the caller (a reconciler)
// calls Ensure again on every pass.
type Executor[S any] interface {
	// Ensure starts the process spec describes, or keeps it running; a
	// running one whose spec changed is restarted to apply it. It returns
	// once the first start was attempted (the error of that attempt); the
	// executor keeps restarting a process that dies until Stop.
	Ensure(ctx context.Context, spec S) error
	// Stop stops the process called key and waits until it is gone. An
	// unknown key is a no-op.
	Stop(ctx context.Context, key string) error
	// State reports what the executor sees of the process called key.
	State(key string) State
	// StopAll stops every process (a clean stop of kplane).
	StopAll(ctx context.Context) error
}

// Phase of a supervised process.
type Phase string

const (
	PhaseStopped  Phase = "Stopped"  // not supervised
	PhaseStarting Phase = "Starting" // process running, not (yet) ready
	PhaseRunning  Phase = "Running"  // process running, ready at the last probe
	PhaseBackOff  Phase = "BackOff"  // process died, waiting to restart
	PhaseStopping Phase = "Stopping"
)

// State is what a Supervisor sees of one process.
type State struct {
	Key   string
	Phase Phase
	// PID of the running child (0 if none).
	PID int
	// Ready: the last readiness probe succeeded.
	Ready bool
	// Restarts counts process restarts after the first start.
	Restarts       int
	StartedAt      time.Time // of the current/last process
	LastReadyAt    time.Time // last successful probe
	LastExitAt     time.Time
	LastExitReason string // e.g. "exit status 1: <last log lines>"
}

// Process is what a Supervisor runs: `EXE Args...` in Dir.
type Process struct {
	// Key names the process to the Supervisor (e.g. a cluster's ID/ZONE).
	Key string
	// Kind says what it is in log lines ("control plane", "node").
	Kind string
	// Dir is the process's directory: its working directory, DIR/pid and
	// DIR/logs/process.log. It must exist and have a logs/ directory.
	Dir string
	// Executable is the program run; "" is Options.Executable.
	Executable string
	// Args follow the executable (a hidden subcommand and its flags). They
	// also recognise a process left from a previous kplane run (KillStale).
	Args []string
	// Spec is what the process runs (typically the bytes of the file it
	// reads at start); when it changes, Ensure restarts the process.
	Spec []byte
	// Ready probes the process; nil means ready once started. It is called
	// every 100 ms until it succeeds, then every Options.ProbeInterval.
	Ready func(ctx context.Context) bool
	// Prepare, if set, runs before every start (the first and each
	// restart), after a stale process was killed: it removes what a dead
	// process left that a new one cannot start beside (a node's containers).
	// An error counts as a failed start.
	Prepare func() error
	// User, if set, runs the process under that user instead of kplane's.
	User *User
}

// User is a user id a process runs as, with the ambient capabilities it
// keeps. kplane must run as root to set it.
type User struct {
	UID, GID    uint32
	AmbientCaps []uintptr
}

// Options configure a Supervisor; zero values mean defaults.
type Options struct {
	// Executable is the binary run (default os.Executable(); tests point it
	// at a built binary).
	Executable string
	// Env is appended to os.Environ() for every child.
	Env []string
	// StopGracePeriod between SIGTERM and SIGKILL (default 15s).
	StopGracePeriod time.Duration
	// InitialBackoff / MaxBackoff of restarts (default 500ms / 10s). The
	// backoff resets once a process ran for ResetBackoffAfter (default 60s).
	InitialBackoff, MaxBackoff, ResetBackoffAfter time.Duration
	// ProbeInterval of Ready once ready (default 10s; 100ms until ready).
	ProbeInterval time.Duration
	// Logf receives supervisor events (default: discarded).
	Logf func(format string, args ...any)
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.StopGracePeriod, 15*time.Second)
	def(&o.InitialBackoff, 500*time.Millisecond)
	def(&o.MaxBackoff, 10*time.Second)
	def(&o.ResetBackoffAfter, 60*time.Second)
	def(&o.ProbeInterval, 10*time.Second)
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}
