package supervise

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

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

// ChildNice is the nice value supervised processes run at. kplane's API
// and the datastore every cluster depends on stay at kplane's own priority,
// so that busy or many children cannot starve them; among themselves the
// children share the CPU evenly. Nice is per thread on Linux and a child
// inherits its forking thread's, so it is set once on the thread that forks
// (it does nothing else) and every thread of every child has it.
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

// ParentPIDEnv is set in every child to kplane's pid (see WatchParent).
const ParentPIDEnv = "KPLANE_PARENT_PID"

// WatchParent, run in a child, cancels ctx when the process that started it
// (ParentPIDEnv) is no longer its parent. Pdeathsig normally kills the child
// first; this covers the window between fork and prctl. It returns when ctx
// ends, at once when the child was not started by a Supervisor.
func WatchParent(ctx context.Context, cancel context.CancelCauseFunc) {
	want, err := strconv.Atoi(os.Getenv(ParentPIDEnv))
	if err != nil || want <= 0 {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if os.Getppid() != want {
			cancel(errors.New("parent process is gone"))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
