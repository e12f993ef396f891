package components

import (
	"io"
	"sync"
	"sync/atomic"
)

type atomicBool = atomic.Bool

// lockedWriter serializes writes of concurrent loggers sharing one file.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
