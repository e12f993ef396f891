package lb

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// keepAlive is set on both sides of every proxied connection, so a client
// or replica that vanished without a FIN or RST (a host gone, a cable
// pulled) is noticed in about a minute instead of holding the pair forever:
// kube-apiserver watch connections sit idle for long stretches.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3}

// listener is one endpoint: its socket, its backends and its connections.
type listener struct {
	name string
	addr string // as configured (Listener.Addr), to tell an update from a move
	cfg  Config
	log  *slog.Logger
	ln   *net.TCPListener
	also map[string]net.Listener // Listener.Also by key, under mu

	ctx    context.Context // cancelled by stop: ends dials and checks in flight
	cancel context.CancelFunc
	kick   chan struct{} // asks the health loop to check now (after an update)
	wg     sync.WaitGroup

	mu       sync.Mutex
	stopped  bool
	access   Access
	check    func(context.Context, Backend) error
	backends []*backend
	rr       int // where the next pick starts looking, for round-robin among equals
	conns    map[*proxyConn]struct{}

	// counters for the metrics, under mu
	accepted, refused, failed uint64
}

func listen(name string, l Listener, cfg Config) (*listener, error) {
	lc := net.ListenConfig{KeepAliveConfig: keepAlive}
	ln, err := lc.Listen(context.Background(), "tcp", l.Addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	nl := &listener{
		name: name, addr: l.Addr, cfg: cfg,
		log: cfg.Log.With("listener", name),
		ln:  ln.(*net.TCPListener),
		ctx: ctx, cancel: cancel,
		kick:  make(chan struct{}, 1),
		conns: map[*proxyConn]struct{}{},
	}
	nl.update(l)
	nl.wg.Add(2)
	go nl.acceptLoop(nl.ln)
	go nl.healthLoop()
	nl.log.Info("load balancer listening", "addr", nl.ln.Addr().String(), "backends", len(l.Backends))
	return nl, nil
}

// update applies a new configuration in place. Backends are matched by
// Name and Addr, so one that stays keeps its health and its connections.
// Connections to a backend that left the list are kept: the replica's own
// shutdown ends them gracefully, as kube-apiserver drains on SIGTERM.
// Connections whose source the new Access refuses are closed now.
func (l *listener) update(nl Listener) {
	l.mu.Lock()
	l.access = nl.Access.clone()
	l.check = nl.Check
	if l.check == nil {
		l.check = l.dialCheck
	}
	old := make(map[Backend]*backend, len(l.backends))
	for _, be := range l.backends {
		old[be.Backend] = be
	}
	next := make([]*backend, 0, len(nl.Backends))
	added := false
	for _, b := range nl.Backends {
		if be, ok := old[b]; ok {
			if be != nil {
				next = append(next, be)
			}
			old[b] = nil // a duplicate in the list is the same backend
			continue
		}
		old[b] = nil
		next = append(next, newBackend(b))
		added = true
	}
	for _, be := range old {
		if be != nil {
			be.removed = true
		}
	}
	l.backends = next
	var drop []*proxyConn
	for c := range l.conns {
		if !l.access.Allowed(c.src) {
			drop = append(drop, c)
		}
	}
	l.mu.Unlock()
	for _, c := range drop {
		l.log.Debug("closing connection the new access settings refuse", "src", c.src.String())
		c.close()
	}
	if added {
		// Check a new replica now rather than at the next tick: until its
		// first check it counts as healthy.
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// stop closes the socket and every connection and waits for all of the
// listener's goroutines.
func (l *listener) stop() {
	l.mu.Lock()
	l.stopped = true
	conns := make([]*proxyConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	also := l.also
	l.also = nil
	l.mu.Unlock()
	l.cancel()
	l.ln.Close()
	for _, ln := range also {
		ln.Close()
	}
	for _, c := range conns {
		c.close()
	}
	l.wg.Wait()
	l.log.Info("load balancer stopped", "addr", l.ln.Addr().String())
}

// ensureAlso opens the sockets of socks not open yet and closes those
// whose key is gone. Connections accepted on a closed socket stay. A socket
// that cannot be opened is logged and tried again at the next Ensure: the
// endpoint's own socket serves meanwhile.
func (l *listener) ensureAlso(socks []Socket) {
	l.mu.Lock()
	defer l.mu.Unlock()
	want := map[string]bool{}
	for _, s := range socks {
		want[s.Key] = true
		if l.also[s.Key] != nil || l.stopped {
			continue
		}
		ln, err := s.Listen()
		if err != nil {
			l.log.Warn("load balancer: cannot open socket", "socket", s.Key, "err", err)
			continue
		}
		if l.also == nil {
			l.also = map[string]net.Listener{}
		}
		l.also[s.Key] = ln
		l.wg.Add(1)
		go l.acceptLoop(ln)
		l.log.Info("load balancer listening", "socket", s.Key, "addr", ln.Addr().String())
	}
	for key, ln := range l.also {
		if !want[key] {
			ln.Close()
			delete(l.also, key)
			l.log.Info("load balancer socket closed", "socket", key)
		}
	}
}

func (l *listener) acceptLoop(ln net.Listener) {
	defer l.wg.Done()
	for {
		nc, err := ln.Accept()
		var c *net.TCPConn
		if err == nil {
			var ok bool
			if c, ok = nc.(*net.TCPConn); !ok {
				nc.Close()
				continue
			}
			c.SetKeepAliveConfig(keepAlive)
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait instead of spinning.
			l.log.Warn("accept failed", "err", err)
			select {
			case <-l.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		src := sourceAddr(c)
		l.mu.Lock()
		ok := l.access.Allowed(src)
		if !ok {
			l.refused++
		}
		l.mu.Unlock()
		if !ok {
			// RST rather than FIN: the client fails at once instead of
			// sending a TLS hello into a closed pipe. The source address
			// is all that is logged; nothing of the connection is read.
			l.log.Debug("refused connection by endpoint access", "src", src.String())
			c.SetLinger(0)
			c.Close()
			continue
		}
		l.wg.Add(1)
		go l.serve(c, src)
	}
}

func (l *listener) status() []BackendStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]BackendStatus, len(l.backends))
	for i, be := range l.backends {
		out[i] = be.status()
	}
	return out
}

// sourceAddr is a connection's client address, for Access.
func sourceAddr(c net.Conn) netip.Addr {
	return c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
}
