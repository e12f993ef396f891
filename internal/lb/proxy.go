package lb

import (
	"io"
	"net"
	"net/netip"
	"sync"
)

// proxyConn is one client connection joined to one backend connection.
type proxyConn struct {
	src            netip.Addr
	client, server *net.TCPConn
	once           sync.Once
}

// close ends both sides; the copy goroutines then return.
func (c *proxyConn) close() {
	c.once.Do(func() {
		c.client.Close()
		c.server.Close()
	})
}

// serve finds a backend for an accepted client connection and proxies it.
// Every backend is tried at most once, best first (see pick), so a dead
// replica costs the client a failed dial, not an error, while a live one
// exists; only when all fail is the client connection closed.
func (l *listener) serve(client *net.TCPConn, src netip.Addr) {
	defer l.wg.Done()
	var tried []*backend
	for {
		l.mu.Lock()
		be := l.pick(tried)
		l.mu.Unlock()
		if be == nil {
			l.mu.Lock()
			l.failed++
			l.mu.Unlock()
			l.log.Warn("no backend reachable, closing client connection", "src", src.String(), "tried", len(tried))
			client.Close()
			return
		}
		tried = append(tried, be)
		server, err := l.dial(be)
		l.mu.Lock()
		if err != nil && l.ctx.Err() != nil { // stopping, not the backend's fault
			be.active--
			l.mu.Unlock()
			client.Close()
			return
		}
		if err != nil {
			be.active--
			be.suspect = true
			be.dialFailures++
			l.mu.Unlock()
			l.log.Debug("dial to backend failed, trying the next", "backend", be.Name, "addr", be.Addr, "err", err)
			continue
		}
		be.suspect = false
		if l.stopped || !l.access.Allowed(src) {
			// Removed, or access changed, while this connection was dialing.
			be.active--
			l.mu.Unlock()
			server.Close()
			client.Close()
			return
		}
		pc := &proxyConn{src: src, client: client, server: server}
		l.conns[pc] = struct{}{}
		l.accepted++
		l.mu.Unlock()

		pc.pipe()

		l.mu.Lock()
		delete(l.conns, pc)
		be.active--
		l.mu.Unlock()
		return
	}
}

func (l *listener) dial(be *backend) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: l.cfg.DialTimeout, KeepAliveConfig: keepAlive}
	c, err := d.DialContext(l.ctx, "tcp", be.Addr)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// pipe copies both ways until both are done.
func (c *proxyConn) pipe() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.copyHalf(c.server, c.client)
	}()
	c.copyHalf(c.client, c.server)
	<-done
	c.close()
}

// copyHalf copies src to dst. At EOF it forwards the half-close (FIN) and
// leaves the other direction running: a client may shut down its write
// side and still read the answer. On an error (a reset, or close() from
// Remove or an access change) both sides are closed so the other
// direction ends too.
//
// The copy goes through a pooled buffer, not TCPConn.ReadFrom's splice:
// apiserver traffic is small TLS records, for which splice's pipe costs
// more than it saves (bench/lbbench: 61 µs of CPU per request with splice).
func (c *proxyConn) copyHalf(dst, src *net.TCPConn) {
	bp := copyBuffers.Get().(*[]byte)
	_, err := io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *bp)
	copyBuffers.Put(bp)
	if err != nil {
		c.close()
		return
	}
	dst.CloseWrite()
}

// copyBuffers hold one direction's copy buffer; 32 KiB is two TLS records.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
