package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/kplane/kplane/internal/supervise"
)

// Process is one running node agent (`kplane node-run --dir DIR`), a child
// of this process. It is the unit a node executor supervises:
//
//	p, err := node.Start(exe, dir)   // DIR/spec.json written with WriteSpec
//	<-p.Done()                       // exited (p.Err() says why): Teardown(dir), restart
//	p.Stop(ctx)                      // SIGTERM, wait, SIGKILL at ctx's end, Teardown
//	node.Delete(dir)                 // after Stop: nothing of the node is left
//
// Start runs Teardown first, so a node left behind by a killed kplane is
// cleaned before it runs again.
type Process struct {
	Dir  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts `EXE node-run --dir DIR`, its output appended to
// DIR/logs/agent.log. The agent gets SIGKILL if this process dies.
func Start(exe, dir string) (*Process, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	spec, err := ReadSpec(dir)
	if err != nil {
		return nil, err
	}
	if err := Check(spec, Paths{Dir: dir}); err != nil {
		return nil, err
	}
	if err := Teardown(dir); err != nil {
		return nil, fmt.Errorf("cleaning the node's previous run: %w", err)
	}
	if err := os.MkdirAll(Paths{Dir: dir}.LogDir(), 0o700); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(Paths{Dir: dir}.LogDir(), "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(exe, "node-run", "--dir", dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), supervise.ParentPIDEnv+"="+strconv.Itoa(os.Getpid()))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{Dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// PID is the agent's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the agent exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the agent's exit (after Done).
func (p *Process) Err() error { return p.err }

// Stop asks the agent to stop (SIGTERM: it tears the node down), kills it
// when ctx ends first, and then removes whatever is left (Teardown).
func (p *Process) Stop(ctx context.Context) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	err := Teardown(p.Dir)
	var exit *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exit) {
		err = errors.Join(err, p.err)
	}
	return err
}

// StopTimeout is how long Stop is given by callers without a deadline.
const StopTimeout = 30 * time.Second
