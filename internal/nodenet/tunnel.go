package nodenet

import (
	"io"
	"net"
	"sync"
)

// connSet holds a proxy's open connections, so that stopping the proxy
// closes every one of them (their copies then end) and waits for their
// handlers.
type connSet struct {
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup // one per add not yet matched by its remove
}

// add holds conns; once the set is closed it closes them instead and
// returns false. Each add that returns true is matched by one remove.
func (s *connSet) add(conns ...net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	for _, c := range conns {
		s.conns[c] = struct{}{}
	}
	s.wg.Add(1)
	return true
}

// remove closes conns and forgets them.
func (s *connSet) remove(conns ...net.Conn) {
	s.mu.Lock()
	for _, c := range conns {
		delete(s.conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	s.wg.Done()
}

// closeAll closes every connection held, and any added later, and waits
// until each add was matched by its remove.
func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	s.wg.Wait()
}

// splice copies bytes both ways between a tunnel's client (down; what it
// sent after its request may be buffered in downR) and its target (up),
// each direction half-closed when its source ends, until both have ended.
func splice(down net.Conn, downR io.Reader, up net.Conn) {
	done := make(chan struct{})
	go func() {
		io.Copy(up, downR)
		closeWrite(up)
		close(done)
	}()
	io.Copy(down, up)
	closeWrite(down)
	<-done
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}
