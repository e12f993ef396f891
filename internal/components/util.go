package components

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

type atomicBool = atomic.Bool

// MaxLogFileBytes: a component log file larger than this is renamed to
// NAME.1 (replacing an older one) and started anew.
var MaxLogFileBytes int64 = 100 << 20

// logFile is an append-only log file shared by concurrent loggers; it
// serializes writes and rotates the file at MaxLogFileBytes.
type logFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64
}

func openLogFile(path string) (*logFile, error) {
	l := &logFile{path: path}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *logFile) open() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, fi.Size()
	return nil
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return len(p), nil // closed: drop
	}
	if l.size+int64(len(p)) > MaxLogFileBytes && l.size > 0 {
		l.f.Close()
		_ = os.Rename(l.path, l.path+".1")
		if err := l.open(); err != nil {
			l.f = nil
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// MaxErrorLogBytes bounds the error messages copied to the process's stderr
// over its life: the parent cuts that file (process.log) only when the
// process starts again.
var MaxErrorLogBytes = 4 << 20

// processErrors receives every component's error and fatal messages.
var processErrors = &cappedWriter{w: os.Stderr, left: MaxErrorLogBytes}

// withErrors returns a writer for a component's klog text output that writes
// everything to w (its EKS log file, or io.Discard when that log type is
// off) and also copies error and fatal messages to processErrors, so that
// why a component failed (e.g. "leaderelection lost") is in process.log
// whatever log types are on. klog's text format writes one message per
// Write, its first byte the severity (I, W, E, F).
func withErrors(w io.Writer) io.Writer { return errorTee{w: w, errs: processErrors} }

type errorTee struct {
	w    io.Writer
	errs io.Writer
}

func (t errorTee) Write(p []byte) (int, error) {
	if len(p) > 0 && (p[0] == 'E' || p[0] == 'F') {
		t.errs.Write(p)
	}
	return t.w.Write(p)
}

// cappedWriter writes until left bytes are spent, then says so once and
// drops the rest.
type cappedWriter struct {
	mu      sync.Mutex
	w       io.Writer
	left    int
	dropped bool
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(p) > c.left {
		if !c.dropped {
			c.dropped = true
			fmt.Fprintln(c.w, "kplane: further error messages of this process go only to the component logs")
		}
		return len(p), nil
	}
	c.left -= len(p)
	return c.w.Write(p)
}
