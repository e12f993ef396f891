package supervise

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The test binary is also the child: with childEnv set it runs as
// `TEST child --dir DIR MODE` (sleep: until SIGTERM; die: exit 1 at once).
const childEnv = "SUPERVISE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		runChild(os.Args[1:])
		return
	}
	os.Exit(m.Run())
}

func runChild(args []string) {
	mode := args[len(args)-1]
	fmt.Println("child", mode, "pid", os.Getpid())
	if mode == "whoami" { // as childcmd does: enter --dir, then read a file of root's there
		if err := os.Chdir(args[len(args)-2]); err != nil {
			fmt.Println("chdir:", err)
			os.Exit(1)
		}
		b, err := os.ReadFile("secret")
		fmt.Printf("uid %d gid %d read %q %v\n", os.Getuid(), os.Getgid(), b, err)
	}
	if mode == "die" {
		fmt.Println("giving up: no such thing")
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	os.Exit(0)
}

func newSupervisor(t *testing.T) *Supervisor {
	t.Helper()
	// The test's temp root is removed by the first cleanup registered,
	// which runs last: after StopAll, so no restarting child writes into
	// the directories while they are removed (they were left behind).
	t.TempDir()
	v, err := New(Options{
		Executable: os.Args[0], Env: []string{childEnv + "=1"},
		InitialBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, StopGracePeriod: 5 * time.Second,
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := v.StopAll(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return v
}

func processDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A process runs with its pid file, keeps running through an Ensure with the
// same spec, is restarted by a new spec, and is gone after Stop.
func TestEnsureRestartOnSpecChangeStop(t *testing.T) {
	v := newSupervisor(t)
	dir := processDir(t)
	p := Process{Key: "a", Kind: "test", Dir: dir, Args: []string{"child", "--dir", dir, "sleep"}, Spec: []byte("1")}
	ctx := context.Background()
	if err := v.Ensure(ctx, p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ready", func() bool { return v.State("a").Phase == PhaseRunning })
	first := v.State("a").PID
	if b, _ := os.ReadFile(PIDPath(dir)); strings.TrimSpace(string(b)) != strconv.Itoa(first) {
		t.Fatalf("pid file %q, want %d", b, first)
	}
	if !CommandLineHas(first, []string{"child", "--dir=" + dir}) || CommandLineHas(first, []string{"child", "--dir", "/elsewhere"}) {
		t.Fatalf("CommandLineHas does not tell pid %d's command line %q", first, CommandLine(first))
	}
	if err := v.Ensure(ctx, p); err != nil {
		t.Fatal(err)
	}
	if st := v.State("a"); st.PID != first || st.Restarts != 0 {
		t.Fatalf("same spec: state %+v, want pid %d unrestarted", st, first)
	}
	if got, ok := v.Running("a"); !ok || string(got.Spec) != "1" {
		t.Fatalf("Running: %+v %v", got, ok)
	}
	p.Spec = []byte("2")
	if err := v.Ensure(ctx, p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "restart", func() bool { st := v.State("a"); return st.PID != 0 && st.PID != first && st.Ready })
	if st := v.State("a"); st.Restarts != 1 || !strings.Contains(st.LastExitReason, "new spec") {
		t.Fatalf("after a spec change: %+v", st)
	}
	if Alive(first) {
		t.Fatalf("old process %d still alive", first)
	}
	p.Dir = t.TempDir()
	if err := v.Ensure(ctx, p); err == nil {
		t.Fatal("Ensure of a running key from another directory succeeded")
	}
	second := v.State("a").PID
	if err := v.Stop(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if st := v.State("a"); st.Phase != PhaseStopped || st.PID != 0 {
		t.Fatalf("after Stop: %+v", st)
	}
	if Alive(second) {
		t.Fatalf("process %d alive after Stop", second)
	}
	if _, err := os.Stat(PIDPath(dir)); !os.IsNotExist(err) {
		t.Fatalf("pid file after Stop: %v", err)
	}
}

// A process that dies is restarted with backoff, and its state says why it died.
func TestDiedIsRestartedWithReason(t *testing.T) {
	v := newSupervisor(t)
	dir := processDir(t)
	p := Process{Key: "b", Kind: "test", Dir: dir, Args: []string{"child", "die"},
		Ready: func(context.Context) bool { return false }}
	if err := v.Ensure(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "restarts", func() bool { return v.State("b").Restarts >= 2 })
	st := v.State("b")
	if !strings.Contains(st.LastExitReason, "exit status 1") || !strings.Contains(st.LastExitReason, "giving up: no such thing") {
		t.Fatalf("exit reason %q lacks the status and the log's last lines", st.LastExitReason)
	}
	if st.Ready {
		t.Fatal("ready although the probe never succeeded")
	}
	if b, _ := os.ReadFile(LogPath(dir)); strings.Count(string(b), "--- ") < 2 {
		t.Fatalf("process log has no start marker per start:\n%s", b)
	}
}

// KillStale kills the process named in DIR/pid only when its command line
// is the one given.
func TestKillStale(t *testing.T) {
	dir := processDir(t)
	cmd := exec.Command(os.Args[0], "child", "--dir", dir, "sleep")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer cmd.Process.Kill()
	if err := os.WriteFile(PIDPath(dir), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if killed, err := KillStale(dir, []string{"other", "--dir", dir}); killed || err != nil {
		t.Fatalf("another command line: killed %v, %v", killed, err)
	}
	select {
	case <-exited:
		t.Fatal("the process of another command line was killed")
	case <-time.After(100 * time.Millisecond):
	}
	if killed, err := KillStale(dir, []string{"child", "--dir", dir}); !killed || err != nil {
		t.Fatalf("its own command line: killed %v, %v", killed, err)
	}
	<-exited
}

func TestLogTail(t *testing.T) {
	f := filepath.Join(t.TempDir(), "log")
	os.WriteFile(f, []byte("old\n--- marker\none\n\ntwo\nthree\n"), 0o600)
	if got := LogTail(f, 4, 2); got != "two | three" {
		t.Fatalf("LogTail = %q", got)
	}
	if got := LogTail(f, 0, 9); got != "old | one | two | three" {
		t.Fatalf("LogTail from 0 = %q", got)
	}
}

// Prepare runs before every start, once per restart; while it fails the
// process is not started and the failure is the exit reason.
func TestPrepareRunsBeforeEveryStart(t *testing.T) {
	v := newSupervisor(t)
	dir := processDir(t)
	var prepared atomic.Int32
	p := Process{Key: "p", Kind: "test", Dir: dir, Args: []string{"child", "die"},
		Prepare: func() error { prepared.Add(1); return nil }}
	if err := v.Ensure(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "restarts", func() bool { return v.State("p").Restarts >= 2 })
	if n, st := prepared.Load(), v.State("p"); int(n) < st.Restarts {
		t.Fatalf("Prepare ran %d times for %d restarts", n, st.Restarts)
	}
	if err := v.Stop(context.Background(), "p"); err != nil {
		t.Fatal(err)
	}

	q := Process{Key: "q", Kind: "test", Dir: processDir(t), Args: []string{"child", "sleep"},
		Prepare: func() error { return fmt.Errorf("leftovers in the way") }}
	if err := v.Ensure(context.Background(), q); err == nil || !strings.Contains(err.Error(), "leftovers in the way") {
		t.Fatalf("first start with a failing Prepare: %v", err)
	}
	if st := v.State("q"); st.PID != 0 || !strings.Contains(st.LastExitReason, "leftovers in the way") {
		t.Fatalf("state %+v: want no process and the Prepare error", st)
	}
}

// A process with a User runs as that user with its ambient capabilities,
// although its executable (the test binary, under go test's 0700 directory)
// and its directory are out of that user's reach before exec.
func TestUserRunsAsItsIDWithItsCapabilities(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running a child as another user needs root")
	}
	v := newSupervisor(t)
	dir := processDir(t)
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	const id = 2113929300
	p := Process{Key: "u", Kind: "test", Dir: dir, Args: []string{"child", "--dir", dir, "whoami"},
		User: &User{UID: id, GID: id, AmbientCaps: []uintptr{1 /* CAP_DAC_OVERRIDE */}}}
	if err := v.Ensure(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("uid %d gid %d read \"s3cret\" <nil>", id, id)
	waitFor(t, "the child's line", func() bool {
		b, _ := os.ReadFile(LogPath(dir))
		return strings.Contains(string(b), want)
	})
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", v.State("u").PID))
	if !strings.Contains(string(status), fmt.Sprintf("Uid:\t%d\t%d", id, id)) || !strings.Contains(string(status), "CapEff:\t0000000000000002") {
		t.Fatalf("child's status:\n%s", status)
	}
}
