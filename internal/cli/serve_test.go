package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// asKplane makes this test binary a kplane when the environment says so, so
// that tests run `kplane serve` as a real separate process.
const asKplane = "KPLANE_CLI_TEST_AS_KPLANE"

func TestMain(m *testing.M) {
	if os.Getenv(asKplane) == "1" {
		cmd := NewRootCommand()
		cmd.SetArgs(os.Args[1:])
		if err := cmd.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveProcess is `kplane serve` running as a child of the test.
type serveProcess struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	lines  chan string // stdout, line by line
	done   chan struct{}
	err    error // Wait's, once done is closed
}

// startServe starts `kplane serve` on dataDir, listening on a free loopback port.
func startServe(t *testing.T, dataDir string) *serveProcess {
	t.Helper()
	p := &serveProcess{lines: make(chan string, 16), done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--log-level", "warn")
	p.cmd.Env = append(os.Environ(), asKplane+"=1")
	p.cmd.Stderr = &lockedWriter{mu: &p.mu, b: &p.stderr}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.stdout.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

func (p *serveProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String() + p.stderr.String()
}

// waitServing waits for the line saying kplane serves.
func (p *serveProcess) waitServing(t *testing.T) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case l := <-p.lines:
			if strings.Contains(l, "is serving the EKS API at") {
				return
			}
		case <-p.done:
			t.Fatalf("kplane serve exited before serving: %v\n%s", p.err, p.output())
		case <-deadline:
			t.Fatalf("kplane serve not serving after 2m\n%s", p.output())
		}
	}
}

// waitExit waits for the process to end; a process that does not end within
// limit is hung, and is killed.
func (p *serveProcess) waitExit(t *testing.T, limit time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("kplane serve still running %v after it was expected to stop (killed)\n%s", limit, p.output())
		return nil
	}
}

// A second `kplane serve` on a data directory a running kplane holds stops at
// once with an error naming the directory and the holder's PID, instead of
// waiting forever on the embedded etcd's lock.
func TestSecondServeOnHeldDataDirExits(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	first := startServe(t, dataDir)
	first.waitServing(t)
	if want := fmt.Sprintf("kplane (pid %d)", first.cmd.Process.Pid); !strings.Contains(first.output(), want) {
		t.Errorf("first kplane does not print its pid (%q):\n%s", want, first.output())
	}

	second := startServe(t, dataDir)
	began := time.Now()
	err := second.waitExit(t, 20*time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("second kplane: %v, want exit status 1\n%s", err, second.output())
	}
	for _, want := range []string{dataDir, fmt.Sprintf("pid %d", first.cmd.Process.Pid)} {
		if !strings.Contains(second.output(), want) {
			t.Errorf("second kplane's error does not name %q:\n%s", want, second.output())
		}
	}
	t.Logf("second kplane exited after %v: %s", time.Since(began).Round(time.Millisecond), strings.TrimSpace(second.output()))

	// The first still serves, and SIGTERM stops it cleanly.
	select {
	case <-first.done:
		t.Fatalf("first kplane exited: %v\n%s", first.err, first.output())
	default:
	}
	first.cmd.Process.Signal(syscall.SIGTERM)
	if err := first.waitExit(t, time.Minute); err != nil {
		t.Errorf("first kplane after SIGTERM: %v\n%s", err, first.output())
	}

	// Its directory is free again.
	third := startServe(t, dataDir)
	third.waitServing(t)
	third.cmd.Process.Signal(syscall.SIGTERM)
	if err := third.waitExit(t, time.Minute); err != nil {
		t.Errorf("kplane on the freed directory after SIGTERM: %v\n%s", err, third.output())
	}
}

// SIGTERM stops kplane at any stage of its start: before the datastore is
// open, while the embedded etcd starts, while kplane fills it, once serving.
func TestSIGTERMDuringStartStops(t *testing.T) {
	for _, after := range []time.Duration{0, 10 * time.Millisecond, 50 * time.Millisecond, 150 * time.Millisecond,
		300 * time.Millisecond, 600 * time.Millisecond, 1200 * time.Millisecond, 2500 * time.Millisecond} {
		t.Run(after.String(), func(t *testing.T) {
			p := startServe(t, filepath.Join(t.TempDir(), "data"))
			time.Sleep(after)
			p.cmd.Process.Signal(syscall.SIGTERM)
			err := p.waitExit(t, 30*time.Second)
			// Before Go installs its handler the signal's default action ends
			// the process; after, kplane stops and exits 0.
			var exit *exec.ExitError
			if err != nil && !(errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGTERM) {
				t.Errorf("after SIGTERM at %v: %v\n%s", after, err, p.output())
			}
			serving := strings.Contains(p.output(), "is serving")
			t.Logf("SIGTERM at %v (serving: %v): %v", after, serving, err)
		})
	}
}
