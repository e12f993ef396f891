package lb

import (
	"context"
	"net"
	"time"
)

// healthLoop checks every backend each HealthInterval, each check in its own
// goroutine so one replica that hangs until HealthTimeout delays no other.
// A backend whose check is still running is skipped at the next tick.
//
// With the defaults (1 s, FailAfter 1, 1 s timeout) a replica that died
// (connection refused) is out within about a second; one that hangs is out
// when its first check times out, at most 2 s after it began to hang. New connections stop
// trying a dead replica first as soon as one dial to it fails (pick.go).
func (l *listener) healthLoop() {
	defer l.wg.Done()
	t := time.NewTicker(l.cfg.HealthInterval)
	defer t.Stop()
	for {
		l.startChecks()
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		case <-l.kick:
		}
	}
}

func (l *listener) startChecks() {
	l.mu.Lock()
	check := l.check
	var todo []*backend
	for _, be := range l.backends {
		if !be.checking {
			be.checking = true
			todo = append(todo, be)
		}
	}
	l.mu.Unlock()
	for _, be := range todo {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			ctx, cancel := context.WithTimeout(l.ctx, l.cfg.HealthTimeout)
			err := check(ctx, be.Backend)
			cancel()
			if l.ctx.Err() != nil {
				return // stopping: the result means nothing
			}
			l.record(be, err)
		}()
	}
}

// record applies one check's result. FailAfter consecutive failures put a
// serving backend out; one success brings it back. A backend that has
// never passed a check is out at its first failure: there is nothing to
// debounce for a replica that is still starting.
//
// Connections already open to a backend that goes out are left alone:
// kube-apiserver fails /readyz first when it shuts down gracefully and
// then finishes its requests, and a replica that really died has its
// connections reset by the kernel anyway.
func (l *listener) record(be *backend, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	be.checking = false
	if be.removed {
		return
	}
	wasChecked := be.checked
	be.checked = true
	now := time.Now()
	if err == nil {
		be.fails, be.lastErr, be.suspect = 0, "", false
		if be.draining && now.Sub(be.drainedAt) > DrainTimeout {
			be.draining = false
			l.log.Warn("drained backend still passes its checks, sending to it again", "backend", be.Name, "addr", be.Addr)
		}
		if !be.healthy {
			be.healthy, be.since = true, now
			l.log.Info("backend healthy", "backend", be.Name, "addr", be.Addr)
		}
		return
	}
	be.fails++
	be.lastErr = err.Error()
	be.draining = false // it went down: the checks decide from now on
	if be.healthy && (be.fails >= l.cfg.FailAfter || !wasChecked) {
		be.healthy, be.since = false, now
		l.log.Warn("backend unhealthy, sending no new connections to it", "backend", be.Name, "addr", be.Addr, "fails", be.fails, "err", err)
	}
}

// DrainTimeout: a drained backend whose checks still pass this long after
// Drain is sent to again (the restart it was drained for did not happen).
var DrainTimeout = 10 * time.Second

// drain marks b draining, unless the checks already put it out.
func (l *listener) drain(b Backend) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, be := range l.backends {
		if be.Backend == b && be.healthy && !be.draining {
			be.draining, be.drainedAt = true, time.Now()
			l.log.Info("backend draining, sending no new connections to it", "backend", be.Name, "addr", be.Addr)
		}
	}
}

// dialCheck is the check of a Listener without Check: the port accepts.
func (l *listener) dialCheck(ctx context.Context, b Backend) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", b.Addr)
	if err != nil {
		return err
	}
	return c.Close()
}
