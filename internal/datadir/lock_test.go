package datadir

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A helper process: holds the directory named by the environment until its
// stdin closes.
func TestMain(m *testing.M) {
	if dir := os.Getenv("DATADIR_TEST_HOLD"); dir != "" {
		l, err := Acquire(dir)
		if err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		fmt.Println("held")
		var b [1]byte
		os.Stdin.Read(b[:])
		l.Release()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// holder starts a second process that takes dir, and returns it once it holds it.
func holder(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DATADIR_TEST_HOLD="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	line := make([]byte, 64)
	n, _ := out.Read(line)
	if got := strings.TrimSpace(string(line[:n])); got != "held" {
		t.Fatalf("holder: %q", got)
	}
	return cmd
}

func TestAcquireRefusesWhileAnotherProcessHolds(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	h := holder(t, dir)

	start := time.Now()
	_, err := Acquire(dir)
	var inUse *InUseError
	if !errors.As(err, &inUse) || !errors.Is(err, ErrInUse) {
		t.Fatalf("Acquire while held: %v", err)
	}
	if inUse.PID != h.Process.Pid || inUse.Dir != dir {
		t.Errorf("error names pid %d dir %s, want pid %d dir %s", inUse.PID, inUse.Dir, h.Process.Pid, dir)
	}
	for _, want := range []string{dir, fmt.Sprintf("pid %d", h.Process.Pid)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	t.Logf("refused in %v: %v", time.Since(start).Round(time.Microsecond), err)

	// SIGKILL of the holder frees the directory: the kernel drops its lock.
	h.Process.Kill()
	h.Wait()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	defer l.Release()
	b, _ := os.ReadFile(filepath.Join(dir, lockFile))
	if got := strings.TrimSpace(string(b)); got != fmt.Sprint(os.Getpid()) {
		t.Errorf("lock file holds %q, want this process's pid %d", got, os.Getpid())
	}
}

func TestReleaseLetsAnotherProcessTake(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	holder(t, dir) // fails the test unless the second process gets it
}
