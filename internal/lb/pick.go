package lb

import "time"

// backend is one Backend's state inside a listener; every field below
// Backend is guarded by the listener's mu.
type backend struct {
	Backend

	checked  bool // a check has ended since the backend was added
	healthy  bool
	fails    int // consecutive failed checks
	lastErr  string
	since    time.Time
	checking bool // a check is in flight: the next tick skips it
	removed  bool // no longer in the listener's list

	// suspect is set when a dial to the backend failed and cleared by the
	// next successful dial or check: until then new connections try it
	// after the others, so a replica that just died costs at most one
	// failed dial rather than one per connection until the checks notice.
	suspect bool

	// draining is set by Balancer.Drain and cleared by the next failed
	// check: a replica about to restart takes no new connection until it
	// went down and a check passed again. A replica whose checks still
	// pass DrainTimeout after it was drained did not restart after all.
	draining  bool
	drainedAt time.Time

	active       int // open connections, plus dials in flight
	dialFailures uint64
}

func newBackend(b Backend) *backend {
	return &backend{Backend: b, healthy: true, since: time.Now()}
}

// tier orders backends for a new connection: healthy (or not yet checked)
// first, then those whose last dial failed, then the ones checks put out
// (tried only when nothing better answers, as an NLB fails open).
func (be *backend) tier() int {
	t := 0
	if !be.healthy || be.draining {
		t = 2
	}
	if be.suspect {
		t++
	}
	return t
}

func (be *backend) status() BackendStatus {
	return BackendStatus{
		Backend: be.Backend, Healthy: be.healthy, Checked: be.checked,
		LastError: be.lastErr, Since: be.since, Conns: be.active, Draining: be.draining,
	}
}

// pick chooses the backend for a connection's next dial attempt, among
// those not tried yet: the best tier, then the fewest connections, ties
// going round-robin. It counts the connection on the backend at once, so
// concurrent picks see each other. Nil when every backend has been tried.
// Called with l.mu held.
//
// Least connections rather than plain round-robin: kube-apiserver clients
// keep one long-lived connection (HTTP/2, watches) each, so the number of
// connections is what loads a replica, and a replica that restarted with
// none gets the new ones until it has caught up.
func (l *listener) pick(tried []*backend) *backend {
	n := len(l.backends)
	if n == 0 {
		return nil
	}
	start := l.rr % n
	l.rr++
	var best *backend
	for i := range n {
		be := l.backends[(start+i)%n]
		if contains(tried, be) {
			continue
		}
		if best == nil || be.tier() < best.tier() ||
			be.tier() == best.tier() && be.active < best.active {
			best = be
		}
	}
	if best != nil {
		best.active++
	}
	return best
}

func contains(bs []*backend, b *backend) bool {
	for _, x := range bs {
		if x == b {
			return true
		}
	}
	return false
}
