// Package lb is the TCP load balancer in front of a cluster's control-plane
// replicas: it owns the cluster's endpoint (host:port), forwards each client
// connection to one healthy replica's kube-apiserver and enforces the
// endpoint's public/private access on the client's source address.
//
// It works at layer 4, like an AWS NLB: bytes pass through untouched, so the
// apiserver's own certificate and client-certificate auth keep working.
// See docs/architecture.md ("Load balancer") for the choices it makes.
package lb

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Backend is one replica behind a listener.
type Backend struct {
	Name string // the replica, e.g. its zone "us-west-2a"
	Addr string // host:port of the replica's kube-apiserver
}

// Listener is one endpoint and the replicas behind it.
type Listener struct {
	Addr     string // the endpoint's host:port, fixed for the cluster's life
	Backends []Backend
	Access   Access
	// Check reports whether a backend is ready; the caller does the HTTPS
	// GET /readyz with the cluster's CA and a client certificate. Called
	// with a timeout context. Nil means a TCP connect check.
	Check func(ctx context.Context, b Backend) error
	// Also are further sockets of the same endpoint, with the same
	// backends, access and health: the endpoint as seen from inside a VPC
	// (a socket in the VPC's network namespace, see internal/nodenet). One
	// that cannot be opened is logged and tried again by the next Ensure.
	Also []Socket
}

// Socket is a further socket of an endpoint, opened by the caller.
type Socket struct {
	// Key names the socket across Ensure calls: a socket whose key stays
	// keeps listening; a new key is opened, a key gone is closed.
	Key    string
	Listen func() (net.Listener, error)
}

// Config tunes every listener of a Balancer. Zero values take the defaults.
type Config struct {
	// Each check is a /readyz with an etcd round trip behind it, about 3 ms
	// of CPU in all, once per second per replica: with 1 s interval and
	// timeout and one failure enough, a replica failing at any moment is out
	// within 2 s (docs/benchmarks.md has the idle cost).
	HealthInterval time.Duration // default 1s
	HealthTimeout  time.Duration // default 1s
	FailAfter      int           // consecutive failed checks before a backend is out; default 1
	DialTimeout    time.Duration // default 1s
	Log            *slog.Logger  // default: discard
}

// BackendStatus is what the health checks know of one backend.
type BackendStatus struct {
	Backend
	Healthy   bool
	Checked   bool // false until the first check ends; such a backend counts as healthy
	LastError string
	Since     time.Time // when Healthy last changed (or the backend was added)
	Conns     int       // open client connections to it
	Draining  bool      // Drain was called and no check has failed since
}

// Balancer runs any number of named listeners.
type Balancer struct {
	cfg    Config
	mu     sync.Mutex
	ls     map[string]*listener
	closed bool
}

// New returns a Balancer with no listeners.
func New(cfg Config) *Balancer {
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = time.Second
	}
	if cfg.HealthTimeout <= 0 {
		cfg.HealthTimeout = time.Second
	}
	if cfg.FailAfter <= 0 {
		cfg.FailAfter = 1
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Balancer{cfg: cfg, ls: map[string]*listener{}}
}

// ErrClosed is returned by Ensure after Close.
var ErrClosed = errors.New("lb: balancer closed")

// Ensure creates the listener called name or updates it in place (backends,
// access, check) without dropping connections that are still allowed;
// idempotent. A different Addr moves the listener: the new address is bound
// first, so on error the old one keeps serving. Listening errors are returned.
func (b *Balancer) Ensure(name string, l Listener) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	cur := b.ls[name]
	if cur != nil && (cur.addr == l.Addr || sameAddr(cur.ln.Addr(), l.Addr)) {
		cur.addr = l.Addr
		cur.update(l)
		cur.ensureAlso(l.Also)
		return nil
	}
	nl, err := listen(name, l, b.cfg)
	if err != nil {
		return err
	}
	if cur != nil {
		cur.stop()
	}
	b.ls[name] = nl
	nl.ensureAlso(l.Also)
	return nil
}

// Remove stops listening on name's endpoint and closes its connections.
func (b *Balancer) Remove(name string) {
	b.mu.Lock()
	l := b.ls[name]
	delete(b.ls, name)
	b.mu.Unlock()
	if l != nil {
		l.stop()
	}
}

// Drain takes backend out of name's rotation now, ahead of its health
// checks: new connections go to the other backends (or to it only when
// none of them answers, as to a backend the checks put out) until one of
// its checks fails and a later one passes. A replica about to restart
// (a rolling update) is drained first, so its shutdown need not wait for
// the next check to notice that it stopped being ready. Connections open
// to it stay: its graceful shutdown ends them. Unknown names and
// backends are ignored.
func (b *Balancer) Drain(name string, backend Backend) {
	if l := b.get(name); l != nil {
		l.drain(backend)
	}
}

// Status is each backend's health, in the order of Listener.Backends; nil
// for an unknown listener.
func (b *Balancer) Status(name string) []BackendStatus {
	if l := b.get(name); l != nil {
		return l.status()
	}
	return nil
}

// Addr is the address name's listener is bound to (the real port when
// Listener.Addr asked for port 0), or "" for an unknown listener.
func (b *Balancer) Addr(name string) string {
	if l := b.get(name); l != nil {
		return l.ln.Addr().String()
	}
	return ""
}

// Close stops every listener and closes all connections.
func (b *Balancer) Close() {
	b.mu.Lock()
	b.closed = true
	ls := b.ls
	b.ls = map[string]*listener{}
	b.mu.Unlock()
	for _, l := range ls {
		l.stop()
	}
}

func (b *Balancer) get(name string) *listener {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ls[name]
}

// sameAddr reports whether addr names the address bound, as when a caller
// that asked for port 0 passes the port it got.
func sameAddr(bound net.Addr, addr string) bool {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return false
	}
	bt := bound.(*net.TCPAddr)
	return a.Port == bt.Port && a.IP.Equal(bt.IP)
}

// listeners is a snapshot for the metrics collector.
func (b *Balancer) listeners() []*listener {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*listener, 0, len(b.ls))
	for _, l := range b.ls {
		out = append(out, l)
	}
	return out
}
