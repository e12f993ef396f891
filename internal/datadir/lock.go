// Package datadir keeps one `kplane serve` per data directory. A second one
// on the same directory would otherwise wait forever on the embedded etcd's
// file lock, silent and deaf to SIGTERM; with Lock it stops at once, naming
// the process that holds the directory.
package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lockFile holds the PID of the kplane serving from the directory, and is
// flock(2)ed while it runs. The kernel drops the lock when that process
// ends, however it ends (SIGKILL included), so a stale file never blocks.
const lockFile = "serve.lock"

// ErrInUse is the error (wrapped in an *InUseError) when another process
// holds the directory.
var ErrInUse = errors.New("data directory in use")

// InUseError names the directory and the process holding it.
type InUseError struct {
	Dir string
	PID int // 0 if the holder's PID could not be read
}

func (e *InUseError) Error() string {
	holder := "another kplane"
	if e.PID > 0 {
		holder = fmt.Sprintf("another kplane (pid %d)", e.PID)
	}
	return fmt.Sprintf("data directory %s is in use by %s: stop it first, or give this one another --data-dir", e.Dir, holder)
}

func (e *InUseError) Unwrap() error { return ErrInUse }

// Lock is a held data directory.
type Lock struct{ f *os.File }

// Acquire creates dir if needed and takes it for this process, or returns an
// *InUseError at once if another process holds it.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, lockFile)
	// Go opens files close-on-exec: child processes never inherit the lock.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &InUseError{Dir: dir, PID: holderPID(path)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, err
	}
	return &Lock{f: f}, nil
}

// holderPID reads the PID the holder wrote. It writes it right after taking
// the lock, so an empty file is read again for a moment.
func holderPID(path string) int {
	for range 20 {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return pid
		}
		time.Sleep(25 * time.Millisecond)
	}
	return 0
}

// Release gives the directory up. The file stays: removing it could let two
// processes each lock a different file of the same name.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
