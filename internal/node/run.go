package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Components runs the node's Kubernetes components in this process
// (internal/nodecomponents). Passed in so that this package does not import
// Kubernetes. Each function blocks until ctx is done or the component fails.
type Components struct {
	Kubelet   func(ctx context.Context, args []string) error
	KubeProxy func(ctx context.Context, args []string) error
}

// insideEnv marks the agent after it entered the node's namespaces.
const insideEnv = "KPLANE_NODE_INSIDE"

// Timeouts of the agent.
var (
	RuntimeReadyTimeout = 30 * time.Second
	TeardownTimeout     = 20 * time.Second
)

// Run is `kplane node-run --dir DIR`: it runs the node described by
// DIR/spec.json until ctx is done (then it tears the node down and returns
// nil) or a part of the node fails (it tears down and returns the error; the
// supervisor restarts it).
//
// Called outside the node's namespaces, Run enters them and execs itself
// again (same pid), so every thread of the agent and everything it starts
// lives in the node's network namespace and its own mount namespace.
func Run(ctx context.Context, dir string, comps Components) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	spec, err := ReadSpec(dir)
	if err != nil {
		return err
	}
	p := Paths{Dir: dir}
	if os.Getenv(insideEnv) != "1" {
		if err := Check(spec, p); err != nil {
			return err
		}
		return enterAndExec(spec)
	}
	log := slog.Default().With("node", spec.Name)
	step(log, "agent in namespaces")

	root := spec.CgroupRoot
	if root == "" {
		root = DefaultCgroupRoot(spec.Name)
	}
	orig := ownCgroups()
	runErr := run(ctx, spec, p, root, comps, log)
	// Everything the node started: containerd, shims, containers.
	if err := killCgroups(root, TeardownTimeout); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if err := leaveCgroups(orig); err != nil {
		log.Warn("leaving the node's cgroups", "err", err)
	}
	if err := removeCgroups(p); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if ctx.Err() != nil && runErr != nil {
		log.Info("node stopped", "teardown", runErr)
		return nil
	}
	return runErr
}

func run(ctx context.Context, spec Spec, p Paths, root string, comps Components, log *slog.Logger) error {
	if err := inotifyRoom(InotifyInstances); err != nil {
		return err
	}
	if err := setupMounts(p); err != nil {
		return fmt.Errorf("mount namespace: %w", err)
	}
	if err := setupCgroups(p, root); err != nil {
		return fmt.Errorf("cgroups: %w", err)
	}
	if err := joinAgentCgroup(root); err != nil {
		return err
	}
	if err := WriteConfigs(spec, p, root); err != nil {
		return err
	}
	img, err := PauseImage()
	if err != nil {
		return err
	}
	if err := WriteImageArchive(p.PauseImage(), SandboxImage, img); err != nil {
		return fmt.Errorf("sandbox image: %w", err)
	}
	step(log, "configs written")

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	if err := startContainerd(p, containerdEnv(spec, os.Environ()), func(err error) {
		cancel(fmt.Errorf("containerd exited: %v (see %s)", err, filepath.Join(p.LogDir(), "containerd.log")))
	}); err != nil {
		return err
	}
	step(log, "containerd started")
	if err := waitRuntime(ctx, p); err != nil {
		return err
	}
	step(log, "containerd ready")
	archives, _ := filepath.Glob(filepath.Join(p.Dir, "images", "*.tar"))
	for _, a := range append([]string{p.PauseImage()}, archives...) {
		if err := importArchive(ctx, p, a); err != nil {
			return err
		}
	}
	log.Info("container runtime ready", "socket", p.Socket())
	step(log, "images imported")

	go func() { cancel(comps.Kubelet(ctx, KubeletArgs(spec, p))) }()
	if spec.ProxyMode != "" && comps.KubeProxy != nil {
		go func() { cancel(comps.KubeProxy(ctx, KubeProxyArgs(spec, p))) }()
	}
	<-ctx.Done()
	if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}

// StepMessage is the message of the agent's log lines marking its start's
// steps; their "at" is the time to the nanosecond (bench/nodebench reads them).
const StepMessage = "node step"

func step(log *slog.Logger, name string) {
	log.Info(StepMessage, "step", name, "at", time.Now().UTC().Format(time.RFC3339Nano))
}

// enterAndExec enters spec's network namespace and a new mount namespace on
// this (locked) thread and execs this program again there: execve keeps the
// calling thread's namespaces for the whole new process.
func enterAndExec(spec Spec) error {
	runtime.LockOSThread() // never unlocked: this thread becomes the process
	fd, err := unix.Open(spec.NetNSPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("node network namespace: %w", err)
	}
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering network namespace %s: %w", spec.NetNSPath, err)
	}
	unix.Close(fd)
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("new mount namespace: %w", err)
	}
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return err
	}
	return syscall.Exec(exe, os.Args, append(os.Environ(), insideEnv+"=1"))
}

// sysctlOverrides are host-global sysctls the kubelet sets to these values
// unless they already hold them: inside the node's mount namespace, files of
// the node's own with those values are bound over them, so the host's stay.
var sysctlOverrides = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

// setupMounts makes the mount namespace a slave of the host's (the node's
// mounts never reach the host; the host's unmounts, such as a network
// namespace kplane removes, reach the node, so its copy holds nothing
// alive) and binds the node's own
// /var/lib, /var/log, /run and sysctl files.
func setupMounts(p Paths) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("making / a slave mount: %w", err)
	}
	for _, b := range []struct{ src, dst string }{
		{p.VarLib(), "/var/lib"},
		{p.VarLog(), "/var/log"},
		{p.Run(), "/run"},
	} {
		if err := os.MkdirAll(b.src, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(b.src, b.dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding %s over %s: %w", b.src, b.dst, err)
		}
	}
	if err := os.MkdirAll(p.SysctlDir(), 0o700); err != nil {
		return err
	}
	for name, v := range sysctlOverrides {
		dst := filepath.Join("/proc/sys", name)
		if _, err := os.Stat(dst); err != nil {
			continue
		}
		src := filepath.Join(p.SysctlDir(), strings.ReplaceAll(name, "/", "."))
		if err := os.WriteFile(src, []byte(v+"\n"), 0o644); err != nil {
			return err
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding %s over %s: %w", src, dst, err)
		}
	}
	return nil
}

// leaveCgroups moves this process back to the cgroups it started in (orig,
// from ownCgroups), so that the node's cgroups can be removed.
func leaveCgroups(orig map[string]string) error {
	hier, err := cgroupV1Hierarchies()
	if err != nil {
		return err
	}
	pid := []byte(fmt.Sprint(os.Getpid()))
	var errs []error
	for _, h := range hier {
		if err := os.WriteFile(filepath.Join(h, orig[filepath.Base(h)], "cgroup.procs"), pid, 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// startContainerd starts containerd with env and calls exited when it ends.
// Pdeathsig fires when the *thread* that forked the child ends, so the
// child is started and waited for on one locked thread that lives as long
// as containerd does.
func startContainerd(p Paths, env []string, exited func(error)) error {
	if err := os.MkdirAll(p.LogDir(), 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(p.LogDir(), "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_ = os.Remove(p.Socket())
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer logf.Close()
		cmd := exec.Command("containerd", "--config", p.ContainerdConfig())
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("starting containerd: %w", err)
			return
		}
		started <- nil
		exited(cmd.Wait())
	}()
	return <-started
}

// waitRuntime waits until containerd answers on its socket.
func waitRuntime(ctx context.Context, p Paths) error {
	deadline := time.Now().Add(RuntimeReadyTimeout)
	var last error
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		cmd := exec.CommandContext(ctx, "ctr", "--address", p.Socket(), "version")
		if out, err := cmd.CombinedOutput(); err == nil {
			return nil
		} else {
			last = fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("containerd not ready within %v: %v", RuntimeReadyTimeout, last)
}

// importArchive loads a docker-save or OCI archive into the node's runtime,
// in the CRI's namespace (k8s.io) where the kubelet sees it.
func importArchive(ctx context.Context, p Paths, archive string) error {
	cmd := exec.CommandContext(ctx, "ctr", "--address", p.Socket(), "--namespace", "k8s.io",
		"images", "import", archive)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("importing %s: %v: %s", archive, err, strings.TrimSpace(string(out)))
	}
	return nil
}
